"""What the compare screen's panes show, built from the view (core.service.compare.compare_view):
the legend, the curves' note, the metrics with their deltas against A, the config diff and the
paired test. Pure: data in, rich renderables out; the screen passes what it knows (ASCII or not,
its width, the console that measures a table) and shows the result.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from typing import TypeGuard

from rich.console import Console, Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

from synapse_tui.formatting import k_ranges, num
from synapse_tui.theme import STATUS_STYLE
from synapse_tui.widgets.draw_metric import RUN_COLOURS, run_marker

CELL_MAX = 24  # a config-diff cell folds past this many columns (8 runs still fit side by side)

# (label, row key, digits, better: +1 higher, -1 lower, 0 not a number)
SUMMARY_ROWS = (
    ("AUC", "auc", 4, 1),
    ("Brier skill", "brier_skill", 4, 1),
    ("ECE after", "ece_after", 4, -1),
    ("best good+", "best_good_or_better", 3, 1),
    ("lift capture", "lift_capture", 3, 1),
    ("verdict", "verdict", None, 0),
)
CONTEXT_ROWS = (("model", "model"), ("primary", "primary"), ("calibration", "calibration"), ("status", "status"))


def colour(i: int) -> str:
    """Run i's colour (A, B, ...) as rich writes it."""
    return "rgb({},{},{})".format(*RUN_COLOURS[i % len(RUN_COLOURS)])


def is_num(v) -> TypeGuard[int | float]:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def config_value(v) -> str:
    """A config value as it reads in YAML's flow style: strings bare, lists in brackets."""
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + ", ".join(config_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {config_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, default=str)


def short_id(run_id: str) -> str:
    """A run id without its creation time (20261207-231441-logistic-334c -> logistic-334c):
    what tells runs apart when two share a legend line."""
    return re.sub(r"^\d{8}-\d{6}-", "", run_id)


def window_text(w) -> str:
    return "– (not evaluated)" if w is None else f"{w[0]}..{w[1]} ({w[2]} days)"


# ---------------------------------------------------------------------- the legend and the curves' note
def legend(view: dict, *, compact: bool, ascii_only: bool) -> Text | Table:
    """One line a run (A-H in their colours, the id, status, model); `compact` (more than four
    runs on a screen wide enough): two runs a line, so eight take four lines."""
    cells = []
    for i, (lab, run_id, row) in enumerate(zip(view["labels"], view["ids"], view["rows"])):
        out = Text(no_wrap=True, overflow="ellipsis")
        out.append(f" {lab} ", style=f"bold black on {colour(i)}")
        if ascii_only:
            out.append(f" {run_marker(i, True)}", style=colour(i))  # the run's marker in the plots
        out.append(f" {short_id(run_id) if compact else run_id} ")
        status = row.get("status") or "?"
        out.append(status, style=STATUS_STYLE.get(status, ""))
        out.append(f" · {row.get('model') or '?'}", style="dim")
        if row.get("primary") and row.get("primary") != row.get("model"):
            out.append(f" ({row['primary']})", style="dim")
        cells.append(out)
    if not compact:
        return Text("\n").join(cells)
    grid = Table.grid(padding=(0, 2), expand=True)
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
    for j in range(0, len(cells), 2):
        grid.add_row(*cells[j : j + 2], *([Text("")] if j + 1 >= len(cells) else []))
    return grid


def curves_note(view: dict, drawn: dict, metric: str) -> Text:
    """One line above the plots: why a run has no curve (`drawn`: what the metric plot drew),
    else the keys that change the plot."""
    tables = dict(zip(view.get("labels") or [], view.get("tables") or []))
    missing = drawn.get("missing") or []
    untrained = [lab for lab in missing if not (tables.get(lab) or {}).get("epoch")]
    lacking = [lab for lab in missing if lab not in untrained]
    out = Text()
    if untrained:
        out.append(f"{', '.join(untrained)}: no epochs", style="yellow")
        if all((r.get("job") == "baselines") for r, lab in zip(view.get("rows") or [], tables) if lab in untrained):
            out.append(" (baselines runs do not train)", style="dim")
    if lacking:
        out.append("  " if out else "")
        out.append(f"{', '.join(lacking)}: no {metric}", style="yellow")
    if drawn.get("no_wall"):
        out.append("  " if out else "")
        out.append(f"{', '.join(drawn['no_wall'])}: no epoch times", style="yellow")
    if not out:
        out.append("m metric · w epoch/wall clock · T train · [ ] smoothing · L log y", style="dim")
    return out


# ---------------------------------------------------------------------- the metrics and the config diff
def blocks(n: int, build: Callable[[list[int]], Table], *, console: Console, width: int) -> Group:
    """`build(run indices)` (a table of those runs) for all n runs, or, when that is wider
    than `width`, for as many runs a block as fit, the blocks one under the other: every
    block keeps its row labels, so 8 runs read at 80 columns without scrolling sideways."""
    options = console.options.update(max_width=1000)
    for k in range(n, 0, -1):
        built = [build(list(range(i, min(n, i + k)))) for i in range(0, n, k)]
        if k == 1 or all(Measurement.get(console, options, b).maximum <= width for b in built):
            parts: list = []
            for j, block in enumerate(built):
                parts += [Text(""), block] if j else [block]
            return Group(*parts)
    return Group()


def delta_cells(rows: list[dict], key: str, digits: int | None, better: int) -> list[Text]:
    """Row `key` of every run: its value, and past A the difference from A's (green: better)."""
    a = rows[0].get(key)
    out = []
    for i, row in enumerate(rows):
        v = row.get(key)
        if digits is None:
            style = "green" if v == "APPROVED" else ("red" if v else "dim")
            out.append(Text(str(v) if v else "–", style=style))
            continue
        cell = Text(num(v, digits) if is_num(v) else "–")
        if key == "best_good_or_better" and is_num(v) and row.get("best_k") is not None:
            cell.append(f"@{row['best_k']}", style="dim")
        if i and is_num(v) and is_num(a):
            d = v - a
            good = d * better
            shown = num(d, digits, signed=True)
            if float(shown) == 0:
                good = 0  # a difference too small to show is no difference
            cell.append(f" {shown}", style="green" if good > 0 else ("red" if good < 0 else "dim"))
        elif i:
            cell.append(" " * (digits + 4))
        out.append(cell)
    return out


def metrics(view: dict, *, console: Console, width: int) -> Group:
    """The headline metrics side by side with their deltas against A, then the test windows."""
    labels, rows = view["labels"], view["rows"]
    deltas = {key: delta_cells(rows, key, digits, better) for _, key, digits, better in SUMMARY_ROWS}

    def build(idx: list[int]) -> Table:
        table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False, expand=False)
        table.add_column("", no_wrap=True, min_width=max(len(r[0]) for r in (*SUMMARY_ROWS, *CONTEXT_ROWS)))
        for i in idx:
            title = labels[i] if i == 0 else f"{labels[i]}  Δ vs A"
            table.add_column(Text(title, style=f"bold {colour(i)}"), justify="right", no_wrap=True)
        for label, key in CONTEXT_ROWS:
            cells = []
            for i in idx:
                v = rows[i].get(key)
                style = STATUS_STYLE.get(v, "") if key == "status" else ""
                cells.append(Text(str(v) if v is not None else "–", style=style))
            table.add_row(Text(label, style="dim"), *cells)
        for label, key, _, _ in SUMMARY_ROWS:
            table.add_row(label, *[deltas[key][i] for i in idx])
        return table

    table = blocks(len(labels), build, console=console, width=width)
    windows = view["windows"]
    if windows and all(w == windows[0] for w in windows) and windows[0] is not None:
        where = Text(f"All on the same test window: {window_text(windows[0])}.", style="dim")
    else:
        where = Text("Test windows differ (the paired test will refuse those pairs):", style="yellow")
        for lab, w in zip(labels, windows):
            where.append(f"\n  {lab}: {window_text(w)}", style="yellow")
    note = Text("Δ: each run minus A; green is better, red worse (ECE: lower is better).", style="dim")
    return Group(table, Text(""), where, note)


def config_diff(view: dict, *, console: Console, width: int) -> Group | Text:
    """The resolved configs' differing keys, a column a run."""
    diff = view["diff"]
    if not diff:
        return Text("The resolved configs are identical.", style="dim")
    labels = view["labels"]

    def build(idx: list[int]) -> Table:
        table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        table.add_column("key", no_wrap=True)
        for i in idx:
            table.add_column(Text(labels[i], style=f"bold {colour(i)}"), overflow="fold", max_width=CELL_MAX)
        for key, vals in diff.items():
            table.add_row(
                Text(key), *[Text(config_value(vals[i]), style="dim" if vals[i] is None else "") for i in idx]
            )
        return table

    title = Text(f"{len(diff)} key{'s differ' if len(diff) != 1 else ' differs'} (resolved configs)", style="dim")
    return Group(title, blocks(len(labels), build, console=console, width=width))


# ---------------------------------------------------------------------- the paired test
def paired(view: dict, tests: list[dict] | None, *, running: bool, error: str | None) -> Group:
    """The paired test's tab: running, refused, not run yet (what P does) or its tables."""
    parts: list = []
    if running:
        parts.append(Text("running the paired test…", style="dim"))
    elif error:
        parts.append(Text("✗ refused: ", style="bold red") + Text(error, style="red"))
    elif tests is None:
        parts.append(paired_intro(view))
    if tests:
        labels, ids = view.get("labels", []), view.get("ids", [])
        for t in tests:
            parts += [paired_table(t, labels, ids), Text("")]
        parts.append(
            Text(
                "Recorded in each paired run's manifest (test_touches). P runs it again (another touch).",
                style="dim",
            )
        )
    return Group(*parts)


def paired_intro(view: dict) -> Text:
    out = Text()
    out.append("Press P", style="bold")
    out.append(
        " for the paired test: A's primary against each other run's on the same test days, an exact "
        "McNemar test per K on the good-or-better indicator, Holm-adjusted across K.\n\n"
    )
    out.append(
        "It looks at the test window, so it is recorded as a test touch in every paired run's manifest.",
        style="yellow",
    )
    windows = view.get("windows") or []
    if windows and windows[0] is not None and any(w != windows[0] for w in windows[1:]):
        out.append("\n\nThe test windows differ: the test will refuse to pair those runs.", style="red")
    missing = [(lab, m) for lab, m in zip(view.get("labels", []), view.get("missing", [])) if m]
    for lab, m in missing:
        out.append(f"\n{lab}: {m}", style="dim")
    return out


def paired_table(t: dict, labels: list[str], ids: list[str]) -> Text | Group:
    """One pair's test (A against run t["run"]): the rates and discordant days per K, Holm's p."""
    lb = labels[ids.index(t["run"])] if t["run"] in ids else "?"
    i_b = labels.index(lb) if lb in labels else 1
    la = labels[0] if labels else "A"
    if "skipped" in t:
        return Text(f"{la} vs {lb}: skipped — {t['skipped']}", style="yellow")
    head = Text()
    head.append(f"{la}", style=f"bold {colour(0)}")
    head.append(f" ({t['a']}) vs ")
    head.append(f"{lb}", style=f"bold {colour(i_b)}")
    head.append(f" ({t['b']}) on {t['window']}")
    table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
    for col in ("K", la, lb, f"{la} only", f"{lb} only", "p Holm", ""):
        table.add_column(col, justify="right" if col else "left", no_wrap=True)
    for j, k in enumerate(t["ks"]):
        mark, style = "–", "dim"
        if k in t["beats_at"]:
            mark, style = f"{la} better", "green"
        elif k in t["worse_at"]:
            mark, style = f"{lb} better", "red"
        table.add_row(
            str(k),
            num(t["model_rate"][j]),
            num(t["base_rate"][j]),
            str(t["model_only"][j]),
            str(t["base_only"][j]),
            f"{t['p_holm'][j]:.2g}",
            Text(mark, style=style),
        )
    if t["beats_at"]:
        verdict = Text(f"{la} beats {lb} at K {k_ranges(t['beats_at'])} (Holm p < {t['alpha']})", style="green")
    elif t["worse_at"]:
        verdict = Text(f"{lb} beats {la} at K {k_ranges(t['worse_at'])} (Holm p < {t['alpha']})", style="red")
    else:
        verdict = Text(f"no significant difference at any K (Holm p ≥ {t['alpha']})", style="dim")
    return Group(head, table, verdict)
