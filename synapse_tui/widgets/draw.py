"""Drawing a run's plots with plotext, for the dashboard and for `synapse runs show --plot`.

Each `draw_*` takes `plt` — the `plotext` module itself or a `textual_plotext` widget's
`.plt`, which speak the same API — clears it, draws, and returns what it drew
({"lines": {label: (xs, ys)}, ...}) so tests and callers can check the data without
reading pixels. Nothing here imports plotext or Textual: the caller owns `plt`.

The curves come from core.service.series (loss_series, ema, downsample_minmax,
tier_series, reliability_points), so both front ends plot the same numbers.
"""

from __future__ import annotations

import math

from core.service.series import downsample_minmax, ema, nice_ticks, reliability_points, tier_series

# (r, g, b) colours: one per role, the same in every plot and legend.
TRAIN = (230, 145, 56)
VAL = (86, 156, 214)
BEST = (106, 190, 90)
MODEL = (86, 156, 214)
MODEL_CI = (60, 95, 130)
BASELINE = (230, 145, 56)
RANDOM = (128, 128, 128)
ORACLE = (200, 100, 200)
BEATS = (106, 190, 90)
BEFORE = (230, 145, 56)
AFTER = (86, 156, 214)
DIAGONAL = (110, 110, 110)

# ASCII-only markers (terminals without UTF-8) and what a UTF-8 terminal gets.
ASCII_MARKERS = {
    "main": "*",
    "second": "+",
    "band": ".",
    "faint": "o",
    "reference": "-",
    "best": "^",
    "beats": "#",
    "before": "o",
    "after": "*",
}
UNICODE_MARKERS = {
    "main": "braille",
    "second": "braille",
    "band": "braille",
    "faint": "dot",
    "reference": "·",
    "best": "▲",
    "beats": "◆",
    "before": "○",
    "after": "●",
}
# Without colour (a pipe, NO_COLOR) lines that only colour told apart get their own marker.
MONO_MARKERS = {**UNICODE_MARKERS, "second": "+", "band": "·", "faint": "•", "reference": "-"}

# plotext's frame and the markers, one ASCII character each (so styled text keeps its spans).
ASCII_FRAME = str.maketrans(
    {
        "─": "-",
        "│": "|",
        "┌": "+",
        "┐": "+",
        "└": "+",
        "┘": "+",
        "┤": "|",
        "├": "|",
        "┬": "+",
        "┴": "+",
        "┼": "+",
        "•": ".",
        "·": ".",
        "▲": "^",
        "◆": "#",
        "●": "*",
        "○": "o",
        "–": "-",
        "▁": "_",
        "█": "#",
    }
)

SPARK = "▁▂▃▄▅▆▇█"
SPARK_ASCII = "_.-=+*#@"


def markers(ascii_only: bool, mono: bool = False) -> dict[str, str]:
    return ASCII_MARKERS if ascii_only else (MONO_MARKERS if mono else UNICODE_MARKERS)


def sparkline(values, ascii_only: bool = False) -> str:
    """One character per value, its height relative to the largest; an empty (0) bin gets the
    lowest bar and any non-empty one at least the second lowest, so they stay apart."""
    chars = SPARK_ASCII if ascii_only else SPARK
    vals = [v if isinstance(v, (int, float)) and math.isfinite(v) and v > 0 else 0 for v in values]
    top = max(vals, default=0)
    top_i = len(chars) - 1
    return "".join(chars[0] if v <= 0 else chars[max(1, math.ceil(v / top * top_i))] for v in vals)


def _swatch(marker: str, ascii_only: bool) -> str:
    """How a line drawn with `marker` reads in a legend."""
    if marker == "braille":
        return "--" if ascii_only else "──"
    if marker == "dot":
        return ".." if ascii_only else "••"
    return marker * 2 if len(marker) == 1 and marker in ".+-*·•o" else marker


def _reset(plt) -> None:
    plt.clear_data()
    plt.clear_figure()


def _finite(xs, ys) -> tuple[list, list]:
    pts = [(x, y) for x, y in zip(xs, ys) if isinstance(y, (int, float)) and math.isfinite(y)]
    return [p[0] for p in pts], [p[1] for p in pts]


def draw_loss(
    plt,
    series: dict,
    *,
    width: int = 80,
    smoothing: float = 0.0,
    log_y: bool = False,
    ascii_only: bool = False,
    title: bool = True,
    labels: bool = True,
    mono: bool = False,
) -> dict:
    """Train and validation loss by epoch (`loss_series` of the run's epoch events), EMA-smoothed
    with `smoothing` (0: raw), min/max-downsampled to `width` columns, the best epoch marked
    on the validation curve, a log y axis with `log_y`."""
    _reset(plt)
    m = markers(ascii_only, mono)
    epochs = list(series.get("epoch") or [])
    drawn: dict[str, tuple[list, list]] = {}
    legend: list[tuple[str, str, tuple]] = []
    buckets = max(10, int(width))
    for key, colour, marker in (("train", TRAIN, m["second"]), ("val", VAL, m["main"])):
        ys = list(series.get(key) or [])
        if smoothing:
            ys = ema(ys, smoothing)
        xs, ys = _finite(epochs, ys)
        if log_y:
            xs, ys = [x for x, y in zip(xs, ys) if y > 0], [y for y in ys if y > 0]
        if not xs:
            continue
        xs, ys = downsample_minmax(xs, ys, buckets)
        plt.plot(xs, ys, label=key if labels else None, color=colour, marker=marker)
        drawn[key] = (xs, ys)
        legend.append((_swatch(marker, ascii_only), key, colour))
    best = series.get("best_epoch")
    best_point = None
    if best is not None and "val" in drawn and best in epochs:
        val = list(series.get("val") or [])
        smooth_val = ema(val, smoothing) if smoothing else val
        y = smooth_val[epochs.index(best)]
        if math.isfinite(y) and (y > 0 or not log_y):
            best_point = (best, y)
            plt.scatter([best], [y], color=BEST, marker=m["best"], label=f"best e{best}" if labels else None)
            legend.append((m["best"], f"best e{best}", BEST))
    if log_y and drawn:
        plt.yscale("log")
    elif drawn:
        ys = [y for _, line in drawn.values() for y in line]
        lo, hi = min(ys), max(ys)
        if hi - lo < 1e-6 * max(1.0, abs(hi)):  # one epoch, or a flat line: give the axis some room
            pad = max(abs(hi) * 0.01, 1e-6)
            plt.ylim(lo - pad, hi + pad)
    if drawn:
        lo, hi = min(epochs), max(epochs)
        room = max(8, len(str(hi)) + 4)  # a label and the gap to the next one
        ticks = nice_ticks(lo, hi, most=max(2, int(width) // room), integer=True)
        if ticks:
            plt.xticks(ticks)
        if title:
            bits = ["loss"]
            if smoothing:
                bits.append(f"EMA {smoothing:.2f}")
            if log_y:
                bits.append("log y")
            plt.title(" · ".join(bits) if not ascii_only else " - ".join(bits))
            plt.xlabel("epoch")
    elif title:
        plt.title("loss: no epochs yet" if series.get("epoch") is not None else "loss")
    return {"lines": drawn, "best": best_point, "smoothing": smoothing, "log_y": log_y, "legend": legend}


def draw_tiers(
    plt,
    curves: dict | None,
    tier: str,
    *,
    beats_tier: str | None = "good",
    width: int = 80,
    ascii_only: bool = False,
    title: bool = True,
    labels: bool = True,
    mono: bool = False,
) -> dict:
    """tier-or-better@K on test (`tier_curves` of the run's report) for the model, its 95% Wilson
    interval (two faint lines), the best baseline, random and the oracle; the Ks where the
    paired McNemar + Holm test says the model beats the baseline marked on the model's line
    (only on `beats_tier`, the tier that test is about)."""
    _reset(plt)
    m = markers(ascii_only, mono)
    s = tier_series(curves, tier)
    ks = s["ks"]
    drawn: dict[str, tuple[list, list]] = {}
    legend: list[tuple[str, str, tuple]] = []
    label_of = {
        "model": s["primary"] or "model",
        "baseline": s["baseline_name"] or "baseline",
        "random": "random",
        "oracle": "oracle",
    }
    for key, colour, marker in (
        ("oracle", ORACLE, m["faint"]),
        ("random", RANDOM, m["reference"]),
        ("ci_low", MODEL_CI, m["band"]),
        ("ci_high", MODEL_CI, m["band"]),
        ("baseline", BASELINE, m["second"]),
        ("model", MODEL, m["main"]),
    ):
        if s[key] is None:
            continue
        xs, ys = _finite(ks, s[key])
        if not xs:
            continue
        label = "95% CI" if key == "ci_low" else (None if key == "ci_high" else label_of[key])
        plt.plot(xs, ys, color=colour, marker=marker, label=label if labels else None)
        drawn[key] = (xs, ys)
        if label:
            legend.append((_swatch(marker, ascii_only), label, colour))
    beats = []
    if tier == beats_tier and s["model"] is not None and s["beats_at"]:
        pts = [(k, s["model"][ks.index(k)]) for k in s["beats_at"] if math.isfinite(s["model"][ks.index(k)])]
        if pts:
            beats = pts
            plt.scatter(
                [p[0] for p in pts],
                [p[1] for p in pts],
                color=BEATS,
                marker=m["beats"],
                label=f"beats {label_of['baseline']}" if labels else None,
            )
            legend.append((m["beats"], "beats it", BEATS))
    if drawn:
        room = len(str(max(ks))) + 2  # a label and the gap to the next one
        # every K while they are evenly spaced and their labels fit side by side, else round ones
        even = len({b - a for a, b in zip(ks, ks[1:])}) <= 1
        ticks = (
            list(ks)
            if even and len(ks) <= max(2, int(width) // max(5, room))
            else nice_ticks(min(ks), max(ks), most=max(2, int(width) // max(6, room + 1)), integer=True)
        )
        plt.xticks(ticks)
        if title:
            plt.xlabel("K")
    if title:
        plt.title(f"{tier}-or-better@K (test)" if drawn else f"{tier}-or-better@K: not evaluated yet")
    order = [label_of["model"], label_of["baseline"], "beats it", "95% CI", "random", "oracle"]
    legend.sort(key=lambda item: order.index(item[1]) if item[1] in order else len(order))
    return {"lines": drawn, "beats": beats, "tier": tier, "legend": legend}


def draw_reliability(
    plt,
    reliability: dict | None,
    *,
    ascii_only: bool = False,
    title: bool = True,
    labels: bool = True,
    mono: bool = False,
) -> dict:
    """Mean outcome against mean predicted probability per bin on test, before and after
    calibration, against the diagonal; the axes span the bins that hold predictions."""
    _reset(plt)
    m = markers(ascii_only, mono)
    rel = reliability or {}
    before, after = reliability_points(rel.get("before")), reliability_points(rel.get("after"))
    drawn: dict[str, tuple[list, list]] = {}
    legend: list[tuple[str, str, tuple]] = []
    vals = before["p"] + before["y"] + after["p"] + after["y"]
    if vals:
        top = min(1.0, max(vals) * 1.05)
        plt.plot([0, top], [0, top], color=DIAGONAL, marker=m["reference"])
        drawn["diagonal"] = ([0, top], [0, top])
        for key, pts, colour in (("before", before, BEFORE), ("after", after, AFTER)):
            if pts["p"]:
                plt.scatter(pts["p"], pts["y"], color=colour, marker=m[key], label=key if labels else None)
                drawn[key] = (pts["p"], pts["y"])
                legend.append((m[key], key, colour))
        legend.append((_swatch(m["reference"], ascii_only), "y=x", DIAGONAL))
        plt.xlim(0, top)
        plt.ylim(0, top)
        if title:
            plt.xlabel("predicted")
            plt.ylabel("observed")
    if title:
        n = rel.get("bins")
        plt.title(f"reliability (test{f', {n} bins' if n else ''})" if vals else "reliability: not evaluated yet")
    return {
        "lines": drawn,
        "counts": after["counts"] or before["counts"],
        "total": after["total"] or before["total"],
        "legend": legend,
    }


__all__ = [
    "ASCII_FRAME",
    "ASCII_MARKERS",
    "UNICODE_MARKERS",
    "draw_loss",
    "draw_reliability",
    "draw_tiers",
    "markers",
    "sparkline",
]
