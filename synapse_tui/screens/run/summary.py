"""The run screen's words, built from what `read_run` returned: the breadcrumb line, the
headline over the tabs, the summary pane (numbers, comparison, verdict, test touches), the
table of every scorer, the legends under the plots and what an empty plot says.

Pure: data in, rich text out, nothing queried from the screen. `ascii_only` writes the
glyphs as ASCII (glyphs.RUN_ASCII).
"""

from __future__ import annotations

import math
from datetime import datetime, UTC

from rich.table import Table
from rich.text import Text

from core.runs import parse_ts
from synapse_tui.formatting import clock, k_ranges, num
from synapse_tui.screens.run.glyphs import RUN_ASCII, ascii_text
from synapse_tui.theme import STATUS_STYLE
from synapse_tui.widgets.draw import sparkline

CRITERIA = {"ece": "ECE", "brier_skill": "Brier skill", "beats_reference": "beats"}  # verdict rules, short


def _out(text: Text, ascii_only: bool) -> Text:
    return ascii_text(text) if ascii_only else text


CANCELLING = "cancelling…"  # said from a confirmed cancel until the run's status changes


def crumbs_text(
    prefix: str,
    run_id: str,
    view: dict | None,
    loss: dict,
    *,
    deleted: bool = False,
    ascii_only: bool = False,
    cancelling: bool = False,
) -> Text:
    """`prefix` and the run id, then model · host · status · epoch · time taken so far.
    `loss`: the loss curves the screen shows (the follower may have seen epochs the view has not);
    `cancelling`: a cancel was confirmed and the status has not changed yet."""
    out = Text(prefix, style="dim")
    out.append(run_id, style="bold")
    if deleted:
        out.append("   run deleted", style="bold red")
        return _out(out, ascii_only)
    row = (view or {}).get("run") or {}
    if not row:
        return _out(out, ascii_only)
    out.append("   ")
    remote = (view or {}).get("remote")
    where = f"{remote['host']} (remote)" if remote else str(row.get("host") or "?")
    bits: list[tuple[str, str]] = [(str(row.get("model") or "?"), ""), (where, "dim")]
    status = row.get("status") or "?"
    attempt = row.get("attempt") or 0
    if cancelling:
        bits.append((CANCELLING, "bold yellow"))
    else:
        bits.append((status + (f" #{attempt}" if attempt > 1 else ""), STATUS_STYLE.get(status, "")))
    if remote and remote.get("link_down_since") and status == "running":
        bits.append((f"link down since {remote['link_down_since'][11:19]}", "bold yellow"))
    epochs = loss.get("epoch") or []
    top = row.get("max_epochs")
    if epochs or row.get("epochs"):
        e = epochs[-1] if epochs else row.get("epochs")
        bits.append((f"epoch {e}" + (f"/{top}" if top else ""), ""))
    bits.append((clock(elapsed(row)), ""))
    for i, (text, style) in enumerate(bits):
        if i:
            out.append(" · ", style="dim")
        out.append(text, style=style)
    return _out(out, ascii_only)


def elapsed(row: dict) -> float | None:
    """Seconds since a running run started; a finished one's duration."""
    if row.get("status") == "running":
        t = parse_ts(row.get("started"))
        return None if t is None else (datetime.now(UTC) - t).total_seconds()
    return row.get("duration_s")


def headline(view: dict | None, *, deleted: bool = False, ascii_only: bool = False) -> Text:
    """Two lines over the tabs on a small terminal, where the summary pane is below the fold."""
    if deleted:
        return _out(Text("run deleted — what was read last is still shown", style="bold red"), ascii_only)
    s = (view or {}).get("summary") or {}
    v = (view or {}).get("verdict") or {}
    if not s:
        return Text("")
    out = Text()
    out.append(
        f"AUC {num(s.get('auc'), 3)} · Brier skill {num(s.get('brier_skill'), 4, signed=True)} · "
        f"ECE {num(s.get('ece_before'), 3)} → {num(s.get('ece_after'), 3)} · "
    )
    status = v.get("status")
    out.append(status or "–", style="bold green" if status == "APPROVED" else "bold red")
    return _out(out, ascii_only)


def summary_text(view: dict, loss: dict, *, ascii_only: bool = False, cancelling: bool = False) -> Text:
    """The summary pane's lines: the headline numbers, the comparison with the reference, the
    verdict and its criteria, test touches; for a run not evaluated yet, its epochs so far
    (`cancelling`: said instead of its status)."""
    row, s = view.get("run") or {}, view.get("summary") or {}
    out = Text()
    if row.get("error"):
        out.append(f"error: {row['error']}\n", style="bold red")
    if not s:
        status = row.get("status") or "?"
        if cancelling:
            out.append(CANCELLING, style="bold yellow")
            out.append(" (it stops after its current epoch): ", style="dim")
        else:
            out.append(f"{status}: ", style=STATUS_STYLE.get(status, ""))
        out.append("not evaluated yet" if status in ("queued", "running") else "no evaluation")
        if loss.get("epoch"):
            best = loss.get("best_epoch")
            vals = [v for v in loss.get("val") or [] if not math.isnan(v)]
            out.append(f"\nepoch {loss['epoch'][-1]}" + (f"/{row['max_epochs']}" if row.get("max_epochs") else ""))
            if best is not None:
                out.append(f" · best e{best}")
            if vals:
                out.append(f" · val loss {min(vals):.5f}")
        touches(out, view)
        return _out(out, ascii_only)
    out.append(
        f"AUC {num(s.get('auc'), 3)} · PR-AUC {num(s.get('pr_auc'), 3)} · "
        f"Brier skill {num(s.get('brier_skill'), 4, signed=True)}\n"
    )
    out.append(
        f"ECE {num(s.get('ece_before'), 4)} → {num(s.get('ece_after'), 4)} ({s.get('calibration') or '–'})"
        f" · lift {num(s.get('lift_capture'), 2)}\n"
    )
    ref = s.get("reference") or s.get("best_baseline") or "the baseline"
    comp = view.get("comparison") or {}
    beats = s.get("beats_at") or []
    if beats:
        ks, ph = comp.get("ks") or [], comp.get("p_holm") or []
        ps = [ph[ks.index(k)] for k in beats if k in ks and ks.index(k) < len(ph) and ph[ks.index(k)] is not None]
        out.append(f"beats {ref} K={k_ranges(beats)}", style="green")
        if ps:
            out.append(f" (Holm p≤{max(ps):.2g})", style="green")
    elif comp:
        worse = comp.get("worse_at") or []
        if worse:
            out.append(f"{ref} beats it at K={k_ranges(worse)}", style="red")
        else:
            out.append(f"does not beat {ref} at any K (Holm p≥{comp.get('alpha', 0.05)})", style="yellow")
    else:
        out.append(f"judged against {ref}")
    out.append("\n")
    v = view.get("verdict") or {}
    status = v.get("status")
    out.append("verdict ")
    out.append(status or "–", style="bold green" if status == "APPROVED" else "bold red")
    for c in v.get("criteria") or []:
        out.append("  ")
        out.append("✓" if c.get("ok") else "✗", style="green" if c.get("ok") else "red")
        short = CRITERIA.get(c.get("name"), c.get("rule"))
        out.append(f" {short if c.get('ok') else c.get('rule')}", style="" if c.get("ok") else "red")
    n = len(view.get("test_touches") or [])
    out.append(" · test×")
    out.append(str(n), style="bold yellow" if n > 1 else "")
    if s.get("best_good_or_better") is not None:
        out.append(
            f"\nbest good+ {num(s.get('best_good_or_better'), 3)}@{s.get('best_k')} · {s.get('primary')} vs {ref}",
            style="dim",
        )
    split = ((view.get("manifest") or {}).get("splits") or [{}])[-1].get("test") or {}
    if split:
        out.append(f"\ntest {split.get('first_date')}..{split.get('last_date')} ({split.get('n')} days)", style="dim")
    return _out(out, ascii_only)


def touches(out: Text, view: dict) -> None:
    """Append how often the test window was touched (more than once shows in yellow)."""
    n = len(view.get("test_touches") or [])
    out.append("\ntest window touched ")
    out.append(f"×{n}", style="yellow" if n > 1 else "")


def scorers_table(view: dict, *, ascii_only: bool = False) -> Table | None:
    """Every scorer of the evaluation on test, the primary first (what the verdict weighed)."""
    metrics = view.get("metrics") or {}
    if not metrics:
        return None
    s = view.get("summary") or {}
    primary, ref = s.get("primary"), s.get("reference")
    t = Table(
        box=None,
        padding=(0, 1),
        pad_edge=False,
        header_style="bold",
        title="every scorer on test",
        title_justify="left",
        title_style="dim",
    )
    for col in ("scorer", "calibration", "AUC", "B.skill", "ECE", "best good+"):
        t.add_column(col, justify="left" if col in ("scorer", "calibration") else "right", no_wrap=True)
    order = sorted(metrics, key=lambda n: (n != primary, n != ref))
    for name in order:
        m = metrics[name]
        g = m.get("good_or_better") or {}
        rates, ks = g.get("rate") or [], g.get("ks") or []
        j = max(range(len(rates)), key=lambda i: rates[i] if rates[i] is not None else -1) if rates else None
        best = "–" if j is None or rates[j] is None else f"{rates[j]:.3f}@{ks[j] if j < len(ks) else '?'}"
        mark = " *" if name == primary else (" ref" if name == ref else "")
        shown = (name + mark).translate(RUN_ASCII) if ascii_only else name + mark
        t.add_row(
            shown,
            str(m.get("calibration") or "–"),
            num(m.get("auc_macro"), 3),
            num(m.get("brier_skill"), 4, signed=True),
            num(m.get("ece"), 3),
            best,
            style="bold" if name == primary else "",
        )
    return t


def empty_texts(view: dict) -> tuple[str, str]:
    """What the loss plot, and the tier and reliability plots, say while they have nothing to draw."""
    row = view.get("run") or {}
    status = row.get("status")
    if row.get("job") == "baselines":
        loss_text = "no loss curves: a baselines run does not train"
    elif status in ("queued", "running"):
        loss_text = f"{status}: no epoch yet"
    else:
        loss_text = "no epochs recorded"
    not_yet = (
        "not evaluated yet: the test window is scored when training ends"
        if status in ("queued", "running")
        else f"{status or 'this run'}: not evaluated"
    )
    return loss_text, not_yet


def legend_text(drawn: dict, *, counts: bool = False, ascii_only: bool = False) -> Text:
    """The legend line under a plot, from what it last drew (`RunPlot.drawn`); `counts`: first
    a sparkline of the points per bin (the reliability diagram cannot show them)."""
    out = Text(no_wrap=True, overflow="ellipsis")
    if counts and drawn.get("counts"):
        out.append("n ", style="dim")
        out.append(sparkline(drawn["counts"], ascii_only))
        out.append("  ")
    for i, (sym, label, rgb) in enumerate(drawn.get("legend") or []):
        if i:
            out.append("  ")
        out.append(sym, style="bold rgb({},{},{})".format(*rgb))
        out.append(f" {label}")
    return _out(out, ascii_only)
