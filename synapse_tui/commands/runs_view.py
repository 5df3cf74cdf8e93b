"""What `synapse runs ls|fields|compare` print: rich tables and the cell formatting they share.

The commands are in runs, `runs show`'s tables in runs_show; what they show is computed
by core.service. Only rich and the CLI helpers at import time; nothing heavy.
"""

from __future__ import annotations

import json
from datetime import datetime, UTC
from typing import Any

from rich.table import Table
from rich.text import Text

from core.runs import parse_ts
from core.service.compare import MISSING, config_diff, good_per_k
from synapse_tui.cliutil import console, k_ranges, say, tell
from synapse_tui.formatting import ago as _ago, cell, clean, clock as _clock, num as _num
from synapse_tui.theme import STATUS_STYLE


# --------------------------------------------------------------------------- formatting


def _age(row: dict, now: datetime) -> float | None:
    created = parse_ts(row.get("created"))
    return None if created is None else (now - created).total_seconds()


def _beats(row: dict) -> str:
    b = row.get("beats_reference")
    if b is None:
        return "–"
    if not b:
        return "no"
    return k_ranges(row.get("beats_at") or []) or "yes"


# Every cell below that holds text from a run (ids, model and scorer names, config values)
# goes in as a cleaned rich Text (formatting.cell): never read as markup, no control sequence.


def _verdict(v: str | None) -> Text:
    if not v:
        return Text("–", style="dim")
    return Text(clean(v), style="green" if v == "APPROVED" else "red")


def _status(s: str | None) -> Text:
    return Text(clean(s or "?"), style=STATUS_STYLE.get(s or "", ""))


TAGS_WIDTH = 24


def _tags(row: dict) -> Text:
    """The tags of a row (cut to TAGS_WIDTH), `archived` first for an archived run."""
    words = (["archived"] if row.get("archived") else []) + [str(t) for t in row.get("tags") or []]
    text = " ".join(words)
    if len(text) > TAGS_WIDTH:
        text = text[: TAGS_WIDTH - 1] + "…"
    return Text(clean(text) or "", style="dim" if row.get("archived") and len(words) == 1 else "cyan")


def _heading(text: str) -> None:
    console.print(Text(clean(text), style="bold"), soft_wrap=True)


# --------------------------------------------------------------------------- ls, fields


# Columns of `runs ls`: (header, justify, priority). With less width than they need,
# the lowest priorities go first (the run id, status and the headline metrics stay).
_LS_COLUMNS = (
    ("run", "left", 0),
    ("model", "left", 2),
    ("status", "left", 1),
    ("#", "right", 9),
    ("age", "right", 6),
    ("took", "right", 7),
    ("ECE", "right", 3),
    ("B.skill", "right", 5),
    ("good+@K", "right", 3),
    ("beats", "left", 8),
    ("verdict", "left", 4),
    ("tags", "left", 10),
)


PIPE_WIDTH = 10_000  # `runs ls` output that goes to no terminal is never cut to fit


def runs_table(rows: list[dict], now: datetime | None = None, width: int | None = None) -> Table:
    """The compact table of `runs ls` (all columns fit 100; narrower drops the least important)."""
    now = now or datetime.now(UTC)
    width = width or console.width
    cells = []
    for r in rows:
        good = "–" if r.get("best_good_or_better") is None else f"{r['best_good_or_better']:.3f}@{r.get('best_k')}"
        cells.append(
            [
                cell(r["run_id"]),
                cell(r.get("model") or "–"),
                _status(r.get("status")),
                str(r.get("attempt") or "–"),
                _ago(_age(r, now)),
                _clock(r.get("duration_s")),
                _num(r.get("ece_after")),
                _num(r.get("brier_skill"), 4, signed=True),
                cell(good),
                _beats(r),
                _verdict(r.get("verdict")),
                _tags(r),
            ]
        )
    need = [max([len(h)] + [len(str(c[i])) for c in cells]) + 1 for i, (h, _, _) in enumerate(_LS_COLUMNS)]
    keep = list(range(len(_LS_COLUMNS)))
    if not any(r.get("tags") or r.get("archived") for r in rows):
        keep.remove(len(_LS_COLUMNS) - 1)  # no run is tagged: no empty tags column
    for i in sorted(keep, key=lambda i: -_LS_COLUMNS[i][2]):
        if sum(need[j] for j in keep) <= width or _LS_COLUMNS[i][2] <= 1:
            break
        keep.remove(i)
    table = Table(box=None, padding=(0, 1, 0, 0), pad_edge=False, header_style="bold", show_edge=False)
    for i in keep:
        header, justify, _ = _LS_COLUMNS[i]
        table.add_column(
            header,
            justify=justify,
            no_wrap=True,
            overflow="ellipsis",
            min_width=need[i] - 1 if header == "run" else None,
        )
    for c in cells:
        table.add_row(*[c[i] for i in keep])
    return table


def annotations_table(items: list[dict]) -> Table:
    """The table of `runs tag` (and what `runs note` shows): run, tags, archived, note."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    table.add_column("run", no_wrap=True)
    table.add_column("tags")
    table.add_column("archived")
    table.add_column("note", overflow="fold")
    for it in items:
        table.add_row(
            cell(it["run_id"]),
            Text(clean(" ".join(it.get("tags") or [])) or "–", style="cyan"),
            "yes" if it.get("archived") else "no",
            Text(clean(it.get("note") or "–", newlines=True)),
        )
    return table


def touches_table(items: list[dict]) -> Table:
    """The table of `runs touches`: when, which run, what looked, its config and data, whether it was deleted."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for col in ("when", "run", "what", "config", "data", ""):
        table.add_column(
            col, no_wrap=col != "what", overflow="ellipsis" if col == "run" else "fold", min_width=len(col) or 7
        )
    for t in items:
        when = str(t.get("ts") or "?")[:16].replace("T", " ")[2:]  # 26-12-07 23:12
        state = Text("deleted", style="yellow") if t["source"] == "deleted" else ""
        table.add_row(
            when,
            cell(t["run_id"]),
            cell(t.get("what") or ("unreadable" if t.get("unreadable") else "–")),
            cell((t.get("config_hash") or "–")[:8]),
            cell((t.get("data_sha256") or "–")[:8]),
            state,
        )
    return table


def fields_table(items: list[dict]) -> Table:
    """The table of `runs fields`."""
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    for col in ("field", "type", "aliases", "meaning"):
        table.add_column(col)
    for f in items:
        table.add_row(f["name"], f["type"], ", ".join(f["aliases"]), f["help"])
    return table


# --------------------------------------------------------------------------- compare


def _fmt_value(v: Any) -> str:
    if v is MISSING:
        return "(absent)"
    if isinstance(v, (list, dict)):
        return json.dumps(v, separators=(",", ":"))
    if v is None:
        return "null"
    return str(v)


# (label, row key, digits, better: +1 higher, -1 lower, 0 not ranked)
_SUMMARY_ROWS = (
    ("model", "model", None, 0),
    ("job", "job", None, 0),
    ("status", "status", None, 0),
    ("primary", "primary", None, 0),
    ("reference", "reference", None, 0),
    ("calibration", "calibration", None, 0),
    ("AUC", "auc", 4, 1),
    ("PR-AUC", "pr_auc", 4, 1),
    ("Brier skill", "brier_skill", 4, 1),
    ("ECE before", "ece_before", 4, -1),
    ("ECE after", "ece_after", 4, -1),
    ("classwise ECE", "classwise_ece", 4, -1),
    ("best good+", "best_good_or_better", 3, 1),
    ("best K", "best_k", None, 0),
    ("lift capture", "lift_capture", 3, 1),
    ("beats reference", "beats", None, 0),
    ("verdict", "verdict", None, 0),
    ("best val loss", "best_val_loss", 5, -1),
    ("epochs", "epochs", None, 0),
    ("took", "took", None, 0),
    ("test touches", "test_touches", None, 0),
    ("test window", "test_window", None, 0),
    ("test days", "test_days", None, 0),
)


def _print_compare(c: dict) -> None:
    ids, labels, rows, tests = c["ids"], c["labels"], c["rows"], c["tests"]
    for lab, i, row in zip(labels, ids, rows):
        console.print(
            Text.assemble(
                (f"{lab} ", "bold"),
                clean(i),
                (clean(f"  {row.get('model') or '?'} · "), "dim"),
                _status(row.get("status")),
            )
        )
    console.print()
    diff = config_diff(c["cfgs"])
    _heading("config differences" if diff else "configs: identical")
    if diff:
        ct = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        ct.add_column("key", no_wrap=True)
        for lab in labels:
            ct.add_column(lab, overflow="fold")
        for k, vals in diff.items():
            ct.add_row(cell(k), *[cell(_fmt_value(v)) for v in vals])
        console.print(ct)
    console.print()
    _heading("summary (test window)")
    summary = [_summary_cells(row, pred) for row, pred in zip(rows, c["preds"])]
    st = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    st.add_column("", no_wrap=True, min_width=max(len(r[0]) for r in _SUMMARY_ROWS))
    for lab in labels:
        st.add_column(lab, justify="right", no_wrap=True)
    for label, key, digits, better in _SUMMARY_ROWS:
        vals = [cells[key] for cells in summary]
        st.add_row(label, *_ranked_cells(vals, digits, better))
    console.print(st)
    gob = good_per_k(c["reports"])
    if gob["ks"]:
        console.print()
        _heading("good-or-better@K of each run's primary (test)")
        gt = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        gt.add_column("K", justify="right")
        for lab in labels:
            gt.add_column(lab, justify="right")
        gt.add_column("random", justify="right", style="dim")
        for j, k in enumerate(gob["ks"]):
            gt.add_row(str(k), *_ranked_cells([rates[j] for rates in gob["rates"]], 3, 1), _num(gob["random"][j]))
        console.print(gt)
    for t in tests:
        console.print()
        if "skipped" in t:
            tell(
                f"paired test A vs {labels[ids.index(t['run'])]} skipped: {t['skipped']}",
                "note:",
                "yellow",
                stderr=False,
            )
        else:
            _print_paired(t, labels[0], labels[ids.index(t["run"])])
    if any("skipped" not in t for t in tests):
        say("(the paired test is a look at the test window: recorded in each run's manifest test_touches)")


def _ranked_cells(vals: list, digits: int | None, better: int) -> list[Text]:
    """Cells of one row, the best number in bold (better: +1 higher, -1 lower, 0 none)."""
    nums = [v for v in vals if isinstance(v, (int, float)) and not isinstance(v, bool)]
    best = (max(nums) if better > 0 else min(nums)) if better and len(nums) > 1 else None
    out = []
    for v in vals:
        numeric = v is None or (isinstance(v, (int, float)) and not isinstance(v, bool))
        text = _num(v, digits) if digits is not None and numeric else ("–" if v is None else str(v))
        out.append(Text(clean(text), style="bold" if best is not None and v == best else ""))
    return out


def _summary_cells(row: dict, pred: dict) -> dict:
    cells = dict(row)
    cells["beats"] = _beats(row)
    cells["took"] = _clock(row.get("duration_s"))
    d = pred.get("dates")
    cells["test_window"] = f"{d[0]}..{d[-1]}" if d is not None and len(d) else "–"
    cells["test_days"] = len(d) if d is not None else None
    return cells


def _print_paired(t: dict, la: str, lb: str) -> None:
    _heading(f"paired test {la} ({t['a']}) vs {lb} ({t['b']}) on the same {t['window']}")
    say("exact McNemar per K on the good-or-better indicator, Holm-adjusted across K")
    pt = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    for col in ("K", la, lb, f"{la} only", f"{lb} only", "p", "p Holm", ""):
        pt.add_column(col, justify="right" if col else "left")
    for j, k in enumerate(t["ks"]):
        mark, style = "", ""
        if k in t["beats_at"]:
            mark, style = f"{la} better", "green"
        elif k in t["worse_at"]:
            mark, style = f"{lb} better", "red"
        pt.add_row(
            str(k),
            _num(t["model_rate"][j]),
            _num(t["base_rate"][j]),
            str(t["model_only"][j]),
            str(t["base_only"][j]),
            f"{t['p_value'][j]:.2g}",
            f"{t['p_holm'][j]:.2g}",
            mark,
            style=style,
        )
    console.print(pt)
    if t["beats_at"]:
        verdict = f"{la} beats {lb} at K {k_ranges(t['beats_at'])} (Holm-adjusted p < {t['alpha']})"
    elif t["worse_at"]:
        verdict = f"{lb} beats {la} at K {k_ranges(t['worse_at'])} (Holm-adjusted p < {t['alpha']})"
    else:
        verdict = f"no significant difference at any K (Holm-adjusted p >= {t['alpha']})"
    say(verdict)


def runs_csv(rows: list[dict]) -> str:
    """`runs ls --csv`: one line per run, every field the index gives (its name as the header),
    values in full (numbers unrounded, lists and objects as JSON, a missing value empty)."""
    import csv
    import io

    fields = list(dict.fromkeys(k for r in rows for k in r))
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(fields)
    writer.writerows([_csv_value(r.get(k)) for k in fields] for r in rows)
    return buf.getvalue()


def _csv_value(v: Any) -> Any:
    if v is None:
        return ""
    if isinstance(v, float):
        return repr(v)
    return json.dumps(v) if isinstance(v, (list, dict)) else v


__all__ = ["annotations_table", "fields_table", "runs_csv", "runs_table", "touches_table"]
