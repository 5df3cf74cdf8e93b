"""Drawing any per-epoch metric of 1..8 runs with plotext, for the dashboard's `MetricPlot`
and for `synapse runs show --plot --metric`.

Two steps, so a widget can cache the costly one: `metric_lines` (pure: the runs' curves
for a metric and an x axis, EMA-smoothed, min/max-downsampled to the plot's width) and
`plot_metric` (clears `plt` — the `plotext` module or a `textual_plotext` widget's
`.plt` — and draws them); `draw_metric` does both. Nothing here imports plotext or
Textual. Each run keeps its colour (`RUN_COLOURS`, by position) and, where colour cannot
be relied on (ASCII mode, no colour), a marker of its own (`RUN_MARKERS`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from core.service.series import (
    X_MODES,
    ema,
    epoch_table,
    metric_label,
    nice_ticks,
    tick_labels,
)
from synapse_tui.widgets.draw import BEST, markers

MAX_RUNS = 8
# One colour per run (A..H), the same in a plot, its legend and the compare screen's tables.
RUN_COLOURS: list[tuple[int, int, int]] = [
    (86, 156, 214),  # blue
    (230, 145, 56),  # orange
    (106, 190, 90),  # green
    (200, 100, 200),  # magenta
    (220, 200, 70),  # yellow
    (80, 200, 200),  # cyan
    (230, 90, 90),  # red
    (170, 130, 95),  # brown
]
# One ASCII marker per run: lines that colour alone would tell apart stay apart in ASCII or mono.
RUN_MARKERS = "*+ox#%@="
COMPANION_MARKER = {True: ".", False: "dot"}  # the dotted partner curve (train loss next to val loss)

_UNITS = ((1.0, "s"), (60.0, "min"), (3600.0, "h"), (86400.0, "d"))


def run_colour(i: int) -> tuple[int, int, int]:
    return RUN_COLOURS[i % len(RUN_COLOURS)]


def run_marker(i: int, ascii_only: bool, mono: bool = False) -> str:
    """The marker of the i-th run's line: braille on a UTF-8 colour terminal, else its own character."""
    return RUN_MARKERS[i % len(RUN_MARKERS)] if ascii_only or mono else "braille"


def partner(metric: str) -> str | None:
    """The metric drawn beside `metric` as a dotted line on request: val_X <-> train_X."""
    for a, b in (("val_", "train_"), ("train_", "val_")):
        if metric.startswith(a) and metric != "train_seconds":
            return b + metric[len(a) :]
    return None


def _table(run: Mapping) -> Mapping:
    table = run.get("table")
    if isinstance(table, Mapping):
        return table
    return epoch_table(run.get("epochs") or [])


def time_unit(seconds: float) -> tuple[float, str]:
    """The unit a wall-clock axis reaching `seconds` reads best in: (seconds per unit, name)."""
    unit = _UNITS[0]
    for u in _UNITS:
        if seconds >= 2 * u[0]:
            unit = u
    return unit


def downsample(xs: Sequence[float], ys: Sequence[float], buckets: int, *, positive: bool = False) -> tuple[list, list]:
    """The finite points (y > 0 with `positive`, for a log axis) of a curve, min/max-downsampled
    to at most 2 * `buckets` points exactly as `core.service.series.downsample_minmax` does
    (each bucket's lowest and highest point, in x order), with numpy: 8 runs x 10,000 epochs
    in a few milliseconds."""
    import numpy as np

    x = np.asarray(xs, dtype=float)
    y = np.asarray(ys, dtype=float)
    ok = np.isfinite(x) & np.isfinite(y)
    if positive:
        ok &= y > 0
    x, y = x[ok], y[ok]
    n = len(x)
    if buckets <= 0 or n <= 2 * buckets:
        return x.tolist(), y.tolist()
    keep: list[int] = []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        if hi > lo:
            chunk = y[lo:hi]
            i_min, i_max = lo + int(np.argmin(chunk)), lo + int(np.argmax(chunk))
            keep += [i_min] if i_min == i_max else sorted((i_min, i_max))
    idx = np.asarray(keep, dtype=int)
    return x[idx].tolist(), y[idx].tolist()


def metric_lines(
    runs: Sequence[Mapping],
    metric: str,
    x: str = "epoch",
    *,
    width: int = 80,
    smoothing: float = 0.0,
    log_y: bool = False,
    also: str | None = None,
) -> dict:
    """The curves of `metric` for each run, ready to draw (pure; cache it by its arguments).

    `runs`: [{"label": "A", "table": epoch_table(events)} or {"label", "epochs": events}],
    at most MAX_RUNS drawn. `also`: a second metric drawn dotted in each run's colour
    (train_loss next to val_loss). Returns {"lines": [{"run": i, "label", "metric",
    "xs", "ys", "best": (best epoch, x, y) or None}], "runs": how many, "missing": [labels
    of runs without the metric], "untrained": [those of them with no epochs at all],
    "no_wall": [labels of runs whose events carry no time], "metric", "x", "also",
    "smoothing", "log_y"}.
    """
    if x not in X_MODES:
        raise ValueError(f"x must be one of {X_MODES}, got {x!r}")
    buckets = max(10, int(width))
    lines: list[dict] = []
    missing: list[str] = []
    no_wall: list[str] = []
    untrained: list[str] = []  # of the missing: runs with no epochs at all
    for i, run in enumerate(list(runs)[:MAX_RUNS]):
        label = str(run.get("label") or chr(ord("A") + i))
        table = _table(run)
        cols = table.get("metrics") or {}
        if metric not in cols:
            missing.append(label)
            if not table.get("epoch"):
                untrained.append(label)
            continue
        xs_all = list(table.get("epoch") or []) if x == "epoch" else list(table.get("wall") or [])
        if x == "wall" and table.get("wall_source") is None:
            no_wall.append(label)
            continue
        for name in (metric, also):
            if name is None or name not in cols:
                continue
            ys = list(cols[name])
            if smoothing:
                ys = ema(ys, smoothing)
            px, py = downsample(xs_all, ys, buckets, positive=log_y)
            if not px:
                continue
            best = _best_point(table, xs_all, ys, log_y) if name == metric else None
            lines.append({"run": i, "label": label, "metric": name, "xs": px, "ys": py, "best": best})
    return {
        "lines": lines,
        "runs": min(len(runs), MAX_RUNS),
        "missing": missing,
        "untrained": untrained,
        "no_wall": no_wall,
        "metric": metric,
        "x": x,
        "also": also,
        "smoothing": smoothing,
        "log_y": log_y,
    }


def _best_point(table: Mapping, xs: list, ys: list, log_y: bool) -> tuple[int, float, float] | None:
    """(best epoch, x, y) on a curve: the epoch of the checkpoint kept, the run's last
    `best_epoch` (the loop logs it each epoch); None when it is not on the curve."""
    bests = [b for b in (table.get("metrics") or {}).get("best_epoch") or [] if math.isfinite(b)]
    epochs = list(table.get("epoch") or [])
    if not bests or int(bests[-1]) not in epochs:
        return None
    j = epochs.index(int(bests[-1]))
    x, y = xs[j], ys[j]
    if not (math.isfinite(x) and math.isfinite(y)) or (log_y and y <= 0):
        return None
    return int(bests[-1]), float(x), float(y)


def plot_metric(
    plt,
    prepared: Mapping,
    *,
    width: int = 80,
    height: int | None = None,
    ascii_only: bool = False,
    title: bool = True,
    labels: bool = True,
    mono: bool = False,
    best: bool = False,
) -> dict:
    """Draw `metric_lines(...)` on `plt`; returns what it drew, as draw.py's functions do:
    {"lines": {legend label: (xs, ys)}, "legend": [(swatch, label, rgb)], "missing",
    "no_wall", "metric", "x", "unit" (the wall clock's unit, or None), "log_y", "smoothing",
    "best": {run label: (epoch, x, y)}}. `best` marks each run's best epoch (the checkpoint
    kept) on its curve, as the run screen's loss plot does."""
    plt.clear_data()
    plt.clear_figure()
    metric, x, also = prepared["metric"], prepared["x"], prepared.get("also")
    smoothing, log_y = prepared.get("smoothing") or 0.0, bool(prepared.get("log_y"))
    drawn: dict[str, tuple[list, list]] = {}
    legend: list[tuple[str, str, tuple]] = []
    all_x: list[float] = []
    all_y: list[float] = []
    for ln in prepared["lines"]:
        i, companion = ln["run"], ln["metric"] != metric
        colour = run_colour(i)
        marker = COMPANION_MARKER[ascii_only] if companion else run_marker(i, ascii_only, mono)
        key = f"{ln['label']} {metric_label(ln['metric'])}" if also else ln["label"]
        plt.plot(ln["xs"], ln["ys"], label=key if labels else None, color=colour, marker=marker)
        drawn[key] = (ln["xs"], ln["ys"])
        legend.append((_swatch(marker, ascii_only), key, colour))
        all_x += ln["xs"]
        all_y += ln["ys"]
    marks: dict[str, tuple[int, float, float]] = {}
    if best:
        bm = markers(ascii_only, mono)["best"]
        for ln in prepared["lines"]:
            if ln.get("best") is None or ln["metric"] != metric:
                continue
            ep, bx, by = ln["best"]
            marks[ln["label"]] = (ep, bx, by)
            one = len({line["run"] for line in prepared["lines"]}) == 1
            name = f"best e{ep}" if one else f"{ln['label']} best e{ep}"
            plt.scatter(
                [bx], [by], color=BEST if one else run_colour(ln["run"]), marker=bm, label=name if labels else None
            )
            legend.append((bm, name, BEST if one else run_colour(ln["run"])))
    unit = None
    if drawn:
        if log_y:
            plt.yscale("log")
        else:
            lo, hi = min(all_y), max(all_y)
            if hi - lo < 1e-6 * max(1.0, abs(hi)):  # one epoch, or a flat line: give the axis some room
                pad = max(abs(hi) * 0.01, 1e-6)
                lo, hi = lo - pad, hi + pad
                plt.ylim(lo, hi)
            if height:
                yt = nice_ticks(lo, hi, most=max(3, min(7, int(height) // 3)))
                if len(yt) >= 2:
                    plt.yticks(yt, tick_labels(yt))
        x_lo, x_hi = min(all_x), max(all_x)
        if x == "epoch":
            room = max(8, len(str(int(x_hi))) + 4)
            ticks = nice_ticks(x_lo, x_hi, most=max(2, int(width) // room), integer=True)
            if ticks:
                plt.xticks(ticks, tick_labels(ticks))
        else:
            per, unit = time_unit(x_hi)
            scaled = nice_ticks(x_lo / per, x_hi / per, most=max(2, int(width) // 9))
            if scaled:
                plt.xticks([t * per for t in scaled], [f"{s}{unit}" for s in tick_labels(scaled)])
        if title:
            plt.xlabel("epoch" if x == "epoch" else f"wall clock ({unit} since the first epoch began)")
    if title:
        plt.title(metric_title(prepared, bool(drawn), ascii_only))
    return {
        "lines": drawn,
        "legend": legend,
        "missing": list(prepared["missing"]),
        "no_wall": list(prepared.get("no_wall") or []),
        "metric": metric,
        "x": x,
        "unit": unit,
        "log_y": log_y,
        "smoothing": smoothing,
        "best": marks,
    }


def metric_title(prepared: Mapping, drawn: bool, ascii_only: bool) -> str:
    metric, x, also = prepared["metric"], prepared["x"], prepared.get("also")
    label = metric_label(metric)
    if not drawn:
        if prepared.get("no_wall"):
            return f"{label}: no timestamps or epoch seconds for a wall clock"
        if prepared.get("untrained") and len(prepared["untrained"]) >= prepared.get("runs", 0):
            return f"{label}: no epochs yet"
        if prepared["missing"] and len(prepared["missing"]) >= prepared.get("runs", 0):
            return f"{label}: not recorded by {'this run' if prepared.get('runs') == 1 else 'these runs'}"
        return f"{label}: no epochs yet"
    text = f"{label} by {'epoch' if x == 'epoch' else 'wall clock'}"
    if also and any(ln["metric"] == also for ln in prepared["lines"]):
        text += f" (+ {also.split('_', 1)[0] if partner(metric) == also else metric_label(also)})"
    bits = [text]
    if prepared.get("smoothing"):
        bits.append(f"EMA {prepared['smoothing']:.2f}")
    if prepared.get("log_y"):
        bits.append("log y")
    return (" - " if ascii_only else " · ").join(bits)


def _swatch(marker: str, ascii_only: bool) -> str:
    if marker == "braille":
        return "--" if ascii_only else "──"
    if marker == "dot":
        return ".." if ascii_only else "••"
    return marker * 2


def draw_metric(
    plt,
    runs: Sequence[Mapping],
    metric: str,
    x: str = "epoch",
    *,
    width: int = 80,
    height: int | None = None,
    smoothing: float = 0.0,
    log_y: bool = False,
    also: str | None = None,
    ascii_only: bool = False,
    title: bool = True,
    labels: bool = True,
    mono: bool = False,
    best: bool = False,
) -> dict:
    """`metric_lines` then `plot_metric`: `metric` of each run against `x` ("epoch" or "wall")."""
    prepared = metric_lines(runs, metric, x, width=width, smoothing=smoothing, log_y=log_y, also=also)
    return plot_metric(
        plt,
        prepared,
        width=width,
        height=height,
        ascii_only=ascii_only,
        title=title,
        labels=labels,
        mono=mono,
        best=best,
    )


__all__ = [
    "MAX_RUNS",
    "RUN_COLOURS",
    "RUN_MARKERS",
    "downsample",
    "draw_metric",
    "metric_lines",
    "partner",
    "metric_title",
    "plot_metric",
    "run_colour",
    "run_marker",
    "time_unit",
]
