"""The dependence plot as text: a sweep's validation metric against one swept key.

`draw_dependence` is pure (no Textual): numbers in, a rich Text of `width` x `height` out.
Numeric keys are placed on their own scale (log when every value is positive and they span
20x or more), other keys (strings, booleans, lists) as strips, one column per value in the
grid's order. Runs that land on the same cell are spread sideways, so every run is a mark;
the winner is drawn with its own mark. Every glyph has an ASCII twin (glyphs.py).
"""

from __future__ import annotations

import json
import math
from typing import Any

from rich.text import Text

from synapse_tui.formatting import clean
from synapse_tui.screens.sweeps.glyphs import fmt, glyphs, value_text

Y_LABEL = 9  # the y axis labels' width, the axis included
POINT_STYLE = "cyan"
WINNER_STYLE = "bold yellow"


def _key(v: Any) -> str:
    return json.dumps(v, sort_keys=True, default=str)


def x_positions(values: list[Any], numeric: bool, width: int) -> tuple[dict[str, int], bool]:
    """{value key: column in 0..width-1} for the key's distinct values (in order), and whether log."""
    if not values:
        return {}, False
    lo_pad, span = 2, max(1, width - 5)
    if numeric and len(values) > 1:
        xs = [float(v) for v in values]
        log = min(xs) > 0 and max(xs) / min(xs) >= 20
        t = [math.log10(x) for x in xs] if log else xs
        lo, hi = min(t), max(t)
        if hi > lo:
            return {_key(v): lo_pad + round((ti - lo) / (hi - lo) * span) for v, ti in zip(values, t)}, log
    n = len(values)
    if n == 1:
        return {_key(values[0]): lo_pad + span // 2}, False
    return {_key(v): lo_pad + round(i / (n - 1) * span) for i, v in enumerate(values)}, False


def draw_dependence(
    imp: dict[str, Any] | None,
    values: list[Any],
    *,
    width: int,
    height: int,
    ascii_only: bool = False,
    winner_run_id: str | None = None,
    metric_label: str = "val Brier",
    lower_is_better: bool = True,
) -> Text:
    """`imp`: one entry of the sweep view's `importance` (key, numeric, points); `values`: the key's
    distinct values in order (the sweep view's `keys[i].values`)."""
    g = glyphs(ascii_only)
    out = Text(no_wrap=True, overflow="crop")
    if imp is None:
        out.append("no swept key: this sweep has no grid (-g KEY=V1,V2)", style="dim")
        return out
    key = clean(imp["key"])
    points = imp.get("points") or []
    plot_w = max(10, width - Y_LABEL)
    rows = max(3, height - 3)
    pos, log = x_positions(values, bool(imp.get("numeric")), plot_w)
    better = "lower" if lower_is_better else "higher"
    out.append(f"{metric_label} vs {key}", style="bold")
    out.append(
        f"  ({better} is better{', log x' if log else ''}{'' if imp.get('numeric') else ', strips'})", style="dim"
    )
    out.append(f"  {g['winner']} winner  {g['point']} run", style="dim")
    out.append("\n")
    if not points:
        out.append(f"no run with a {metric_label} yet (runs still queued or running, or none succeeded)", style="dim")
        return out
    ys = [float(p["metric"]) for p in points]
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-12:
        pad = max(abs(hi) * 1e-3, 1e-6)
        lo, hi = lo - pad, hi + pad
    grid: list[list[tuple[str, str] | None]] = [[None] * plot_w for _ in range(rows)]
    # the winner first, so it takes its own cell and the others move aside
    order = sorted(range(len(points)), key=lambda i: points[i].get("run_id") != winner_run_id)
    for i in order:
        p = points[i]
        col = pos.get(_key(p["value"]))
        if col is None:
            continue
        row = rows - 1 - round((float(p["metric"]) - lo) / (hi - lo) * (rows - 1))
        won = p.get("run_id") == winner_run_id
        mark = (g["winner"], WINNER_STYLE) if won else (g["point"], POINT_STYLE)
        for off in (0, 1, -1, 2, -2, 3, -3):
            c = col + off
            if 0 <= c < plot_w and grid[row][c] is None:
                grid[row][c] = mark
                break
    digits = min(7, max(3, 1 - math.floor(math.log10(hi - lo))))  # enough to tell the labels apart
    labels = {0: fmt(hi, digits), rows - 1: fmt(lo, digits), (rows - 1) // 2: fmt((lo + hi) / 2, digits)}
    for r in range(rows):
        out.append(f"{labels.get(r, ''):>{Y_LABEL - 1}}"[: Y_LABEL - 1], style="dim")
        out.append(g["vline"], style="dim")
        for c in range(plot_w):
            m = grid[r][c]
            if m is None:
                out.append(" ")
            else:
                out.append(m[0], style=m[1])
        out.append("\n")
    axis = [g["hline"]] * plot_w
    for c in pos.values():
        if 0 <= c < plot_w:
            axis[c] = g["tick"]
    out.append(" " * (Y_LABEL - 1) + g["corner"] + "".join(axis) + "\n", style="dim")
    # value labels under their ticks, skipping any that would overlap the previous one
    line = [" "] * plot_w
    last_end = -1
    for v in values:
        at = pos.get(_key(v))
        if at is None:
            continue
        text = clean(value_text(v))
        start = max(0, min(plot_w - len(text), at - len(text) // 2))
        if start <= last_end:
            continue
        line[start : start + len(text)] = list(text[: plot_w - start])
        last_end = start + len(text)
    out.append(" " * Y_LABEL + "".join(line).rstrip())
    return out
