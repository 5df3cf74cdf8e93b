"""`synapse runs show`: how it prints one run (`core.service.runs.run_detail`).

The command and `--follow` are in runs; the shared cell formatting in runs_view.
"""

from __future__ import annotations

from datetime import datetime, UTC

from core.runs import HEARTBEAT_TIMEOUT_S, parse_ts
from core.runs.status import ACTIVE_STATUSES, DAMAGED_LOG

from rich.table import Table
from rich.text import Text

from synapse_tui.cliutil import console, k_ranges, say, tell
from synapse_tui.commands.runs_view import _age, _ago, _clock, _heading, _num, _status
from synapse_tui.formatting import byte_size, cell, clean


def _epoch_line(e: dict) -> str:
    parts = [f"epoch {e.get('epoch', '?'):>3}"]
    if "fold" in e:
        parts.append(f"fold {e['fold']}")
    for key, label in (("train_loss", "train"), ("val_loss", "val"), ("val_auc", "val AUC")):
        if isinstance(e.get(key), (int, float)):
            parts.append(f"{label} {e[key]:.5f}" if "loss" in key else f"{label} {e[key]:.4f}")
    if isinstance(e.get("lr"), (int, float)):
        parts.append(f"lr {e['lr']:.2g}")
    if isinstance(e.get("seconds"), (int, float)):
        parts.append(f"{e['seconds']:.1f}s")
    if e.get("improved"):
        parts.append("▲ best")
    return "  ".join(parts)


def _utc(ts: str) -> str:
    return f"{ts[:19].replace('T', ' ')} UTC"


def _link(rem: dict, r: dict, now: datetime) -> str:
    """A mirror's link as its follower sees it; the attach hint when no follower lives
    (`follower_alive` comes from the follower's lock: follow.json alone proves nothing)."""
    if rem["follower_alive"]:
        if rem.get("link_down_since"):
            return f"link down since {_utc(rem['link_down_since'])}, retrying"
        if rem["link"] != "up":
            return f"follower {rem['link']}"
        last = parse_ts(rem.get("last_byte_at"))
        quiet = None if last is None else (now - last).total_seconds()
        if quiet is not None and quiet >= HEARTBEAT_TIMEOUT_S:
            return f"link up, no news since {_utc(rem['last_byte_at'])} ({_ago(quiet)} ago)"
        return "following live"
    if rem["done"] and r.get("status") not in ACTIVE_STATUSES:
        return "followed to the end, artifacts fetched"
    return f"no follower: `synapse remote attach {r['run_id']}`"


def _f(v, digits: int = 4) -> str:
    return _num(v, digits) if v is None or isinstance(v, (int, float)) else str(v)


def _print_show(d: dict) -> None:
    r, man = d["run"], d["manifest"]
    now = datetime.now(UTC)
    head = Table.grid(padding=(0, 2))
    head.add_column(style="bold")
    head.add_column()
    # Every value below may come from the run (its events, manifest, remote.json): each goes
    # in as a cleaned rich Text, never as markup and never with a control sequence.
    head.add_row("run", cell(r["run_id"]))
    model = f"{r.get('model') or '?'} ({r.get('job') or '?'} job)"
    if r.get("primary"):
        model += f" · primary {r['primary']} judged against {r.get('reference')}"
    head.add_row("model", cell(model))
    st = Text.assemble(_status(r.get("status")), f" · attempt {r.get('attempt') or 0}")
    if r.get("duration_s") is not None:
        st.append(f" · took {_clock(r['duration_s'])}")
    if r.get("epochs"):
        st.append(f" · {r['epochs']} epochs")
        if r.get("best_val_loss") is not None:
            st.append(f", best val loss {r['best_val_loss']:.5f}")
    head.add_row("status", st)
    when = f"created {(r.get('created') or '?')[:19].replace('T', ' ')} UTC ({_ago(_age(r, now))} ago)"
    if r.get("finished"):
        when += f" · finished {r['finished'][:19].replace('T', ' ')}"
    head.add_row("when", cell(when))
    head.add_row("where", cell(f"{r.get('host') or '?'} · {r.get('device') or '?'}"))
    tags = r.get("tags") or []
    if tags or r.get("archived"):
        head.add_row("tags", cell(" ".join(tags) + (" (archived)" if r.get("archived") else "")))
    if r.get("note"):
        head.add_row("note", cell(str(r["note"])))
    rem = d.get("remote")
    if rem:
        head.add_row(
            "remote",
            cell(
                f"{rem['host']} ({rem['address']}) · {rem['dir']} · {_link(rem, r, now)}"
                + (f" · {rem['reconnects']} reconnects" if rem["reconnects"] else "")
            ),
        )
    data = man.get("data") or {}
    if data:
        head.add_row(
            "data",
            cell(
                f"{data.get('path')} · {data.get('rows')} days x {data.get('parts')} parts · "
                f"sha256 {str(data.get('sha256'))[:12]}"
            ),
        )
    split = (man.get("splits") or [{}])[-1]
    if split:
        parts = [f"{p} {split[p]['n']}" for p in ("train", "val") if p in split]
        if "test" in split:
            te = split["test"]
            parts.append(f"test {te['n']} days ({te['first_date']}..{te['last_date']})")
        folds = len(man.get("splits") or [])
        head.add_row("split", cell(" · ".join(parts) + (f" · last of {folds} folds" if folds > 1 else "")))
    head.add_row("config", cell(f"hash {r.get('config_hash') or '?'}"))
    if r.get("error"):
        head.add_row("error", Text(clean(r["error"]), style="red"))
        if str(r["error"]).startswith(DAMAGED_LOG):  # finished, not lost: resume would train it again
            fix = f"not resumable; `synapse eval {r['run_id']}` evaluates it again, or append its run_finished line"
            head.add_row("repair", cell(fix))
    console.print(head)

    v = d.get("verdict")
    if v:
        color = "green" if v["status"] == "APPROVED" else "red"
        console.print(
            Text.assemble(
                "verdict: ",
                (clean(v["status"]), color),
                (clean(f" (failing: {', '.join(v['failed'])})") if v.get("failed") else ""),
            )
        )
        for c in v.get("criteria", []):
            value = c.get("value")
            shown = k_ranges(value) if isinstance(value, list) else (_f(value) if isinstance(value, float) else value)
            console.print(
                Text(
                    clean(
                        f"  {'✓' if c['ok'] else '✗'} {c['rule']}" + (f" — {shown}" if shown not in (None, "") else "")
                    )
                )
            )
    metrics = d.get("metrics") or {}
    summary = d.get("summary") or {}
    if metrics:
        ks = None
        _heading("test window, every scorer (* primary, ref: its reference)")
        t = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        for col in ("scorer", "calibration", "AUC", "PR-AUC", "B.skill", "ECE raw→cal", "cw ECE", "best good+", "lift"):
            t.add_column(col, justify="left" if col in ("scorer", "calibration") else "right", no_wrap=True)
        for name, m in metrics.items():
            g = m["good_or_better"]
            ks = g["ks"]
            rates = g.get("rate") or []
            j = max(range(len(rates)), key=lambda i: rates[i]) if rates else None
            mark = " *" if name == summary.get("primary") else (" ref" if name == summary.get("reference") else "")
            t.add_row(
                *map(
                    cell,
                    (
                        name + mark,
                        str(m["calibration"]),
                        _f(m["auc_macro"], 3),
                        _f(m["pr_auc_macro"], 3),
                        _f(m["brier_skill"], 4),
                        f"{_f(m['ece_raw'], 3)}→{_f(m['ece'], 3)}",
                        _f(m["classwise_ece"], 3),
                        "–" if j is None else f"{rates[j]:.3f} @{ks[j]}",
                        _f(m["lift_capture"], 2),
                    ),
                ),
                style="bold" if name == summary.get("primary") else "",
            )
        console.print(t)
        primary = summary.get("primary")
        if primary in metrics:
            console.print(_tier_table(primary, metrics, summary.get("reference"), d.get("comparison")))
    if d["epochs"]:
        last = d["epochs"][-1]
        say(f"training: {len(d['epochs'])} epoch events; last: {_epoch_line(last)}")
    for e in d.get("log") or []:
        tell(
            str(e.get("message", "")).strip().splitlines()[-1] if e.get("message") else "",
            f"{e.get('level')}:",
            "yellow" if e.get("level") == "warning" else "red",
            stderr=False,
        )
    touches = d.get("test_touches") or []
    say(f"test window touched {len(touches)} time(s)")
    for tt in touches:
        say(f"  {str(tt.get('ts', '?'))[:19].replace('T', ' ')}  {tt.get('what', '')}")
    arts = d.get("artifacts") or []
    if arts:
        say(f"artifacts in {r['path']}:")
        at = Table.grid(padding=(0, 2))
        at.add_column()
        at.add_column(justify="right", style="dim")
        for a in arts:
            at.add_row(cell("  " + a["name"]), byte_size(a["bytes"]))
        console.print(at)


def _tier_table(primary: str, metrics: dict, reference: str | None, comparison: dict | None) -> Table:
    g = metrics[primary]["good_or_better"]
    ks = g["ks"] or []
    _heading(f"good-or-better@K (test): {primary}" + (f" vs {reference}" if reference else ""))
    t = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    t.add_column("K", justify="right")
    t.add_column(cell(primary), justify="right")
    t.add_column("95% interval", justify="right")
    ref = metrics.get(reference) if reference and reference != primary else None
    if ref:
        t.add_column(cell(reference), justify="right")
    t.add_column("random", justify="right")
    if comparison:
        t.add_column("p (Holm)", justify="right")
    for j, k in enumerate(ks):
        cells = [str(k), _num(g["rate"][j]), f"[{_num(g['ci_low'][j])}, {_num(g['ci_high'][j])}]"]
        if ref:
            cells.append(_num((ref["good_or_better"]["rate"] or [None] * len(ks))[j]))
        cells.append(_num((g.get("random") or [None] * len(ks))[j]))
        style = ""
        if comparison:
            p = (comparison.get("p_holm") or [None] * len(ks))[j]
            cells.append("–" if p is None else f"{p:.2g}")
            if k in (comparison.get("beats_at") or []):
                style = "green"
            elif k in (comparison.get("worse_at") or []):
                style = "red"
        t.add_row(*cells, style=style)
    return t
