"""Curves for plots, shared by the dashboard and `synapse runs show --plot`: a run's loss
history from its epoch events, EMA smoothing, and min/max downsampling so a redraw of a
10,000-epoch history costs what a redraw of a screen's width costs."""

from __future__ import annotations

import math
from collections.abc import Sequence


def loss_series(epochs: Sequence[dict]) -> dict:
    """Epoch events -> {"epoch", "train", "val" (lists, NaN where missing), "best_epoch"}.

    With rolling-origin folds only the last fold's epochs are kept (the ones its
    checkpoint comes from). `best_epoch` is the last epoch marked `improved`, else the one
    with the lowest validation loss.
    """
    folds = [e.get("fold") for e in epochs if isinstance(e, dict)]
    last_fold = folds[-1] if folds else None
    rows = [
        e
        for e in epochs
        if isinstance(e, dict) and e.get("fold") == last_fold and isinstance(e.get("epoch"), (int, float))
    ]
    out = {
        "epoch": [int(e["epoch"]) for e in rows],
        "train": [_num(e.get("train_loss")) for e in rows],
        "val": [_num(e.get("val_loss")) for e in rows],
        "best_epoch": None,
    }
    improved = [int(e["epoch"]) for e in rows if e.get("improved")]
    if improved:
        out["best_epoch"] = improved[-1]
    elif rows:
        finite = [(v, ep) for v, ep in zip(out["val"], out["epoch"]) if not math.isnan(v)]
        out["best_epoch"] = min(finite)[1] if finite else None
    return out


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average, TensorBoard style: weight 0 is the raw series, 0.99 very
    smooth; debiased so the first points are not pulled toward zero; NaN passes through."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out, acc, n = [], 0.0, 0
    for v in values:
        if v is None or math.isnan(v):
            out.append(math.nan)
            continue
        acc, n = weight * acc + (1 - weight) * v, n + 1
        out.append(acc / (1 - weight**n) if weight else v)
    return out


def downsample_minmax(xs: Sequence[float], ys: Sequence[float], buckets: int) -> tuple[list, list]:
    """At most 2 * `buckets` points: each bucket of consecutive points keeps its lowest and
    highest y (in x order), so spikes survive and a plot looks as it would at full length."""
    n = len(xs)
    if buckets <= 0 or n <= 2 * buckets:
        return list(xs), list(ys)
    ox, oy = [], []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        idx = [i for i in range(lo, hi) if not math.isnan(ys[i])]
        if not idx:
            continue
        i_min = min(idx, key=lambda i: ys[i])
        i_max = max(idx, key=lambda i: ys[i])
        for i in sorted({i_min, i_max}):
            ox.append(xs[i])
            oy.append(ys[i])
    return ox, oy


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else math.nan


def tier_names(curves: dict | None, first: str | None = "good") -> list[str]:
    """The tiers of `core.service.runs.tier_curves`, strictest first (most hits needed), with
    `first` (the config's good tier) moved to the front when present."""
    tiers = (curves or {}).get("tiers") or {}

    def hits(name: str) -> float:
        oracle = tiers[name].get("oracle") or {}
        mh = oracle.get("min_hits")
        return -mh if isinstance(mh, (int, float)) else 0.0

    names = sorted(tiers, key=lambda n: (hits(n), n))
    if first in names:
        names.remove(first)
        names.insert(0, first)
    return names


def tier_series(curves: dict | None, tier: str) -> dict:
    """One tier of `tier_curves` as plot-ready lines over K (NaN where a value is missing):

    {"ks", "model", "ci_low", "ci_high", "baseline", "random", "oracle" (lists, or None when
    the run has no such line), "primary", "baseline_name", "beats_at", "worse_at"}.
    """
    curves = curves or {}
    ks = list(curves.get("ks") or [])
    block = (curves.get("tiers") or {}).get(tier) or {}

    def line(values) -> list[float] | None:
        if not isinstance(values, list):
            return None
        vals = [_num(v) for v in values[: len(ks)]]
        vals += [math.nan] * (len(ks) - len(vals))
        return None if all(math.isnan(v) for v in vals) else vals

    def rates(entry, key="rate"):
        return line(entry.get(key)) if isinstance(entry, dict) else line(entry)

    model = block.get("model") if isinstance(block.get("model"), dict) else {}
    return {
        "ks": ks,
        "model": rates(model),
        "ci_low": rates(model, "ci_low"),
        "ci_high": rates(model, "ci_high"),
        "baseline": rates(block.get("baseline")),
        "random": rates(block.get("random")),
        "oracle": rates(block.get("oracle")),
        "primary": curves.get("primary"),
        "baseline_name": curves.get("baseline"),
        "beats_at": [k for k in curves.get("beats_at") or [] if k in ks],
        "worse_at": [k for k in curves.get("worse_at") or [] if k in ks],
    }


def reliability_points(block: dict | None) -> dict:
    """A reliability block (`run_view(...)["reliability"]["before"|"after"]`: per-bin mean_p,
    mean_y, count) -> {"p", "y", "count"} of the bins that hold predictions, plus "counts"
    (every bin's count, empty ones as 0, for a histogram) and "total"."""
    block = block or {}
    mp, my, cnt = block.get("mean_p") or [], block.get("mean_y") or [], block.get("count") or []
    out = {"p": [], "y": [], "count": [], "counts": [], "total": 0}
    for i, c in enumerate(cnt):
        n = int(c) if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) else 0
        out["counts"].append(n)
        out["total"] += n
        p = _num(mp[i]) if i < len(mp) else math.nan
        y = _num(my[i]) if i < len(my) else math.nan
        if n > 0 and not (math.isnan(p) or math.isnan(y)):
            out["p"].append(p)
            out["y"].append(y)
            out["count"].append(n)
    return out


def nice_ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> list[float]:
    """Round tick positions (steps of 1, 2 or 5 times a power of ten) covering [lo, hi], at
    most `most` of them (at least one); `integer` keeps steps of at least 1 (epochs, K)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    most = max(1, most)
    span = hi - lo
    if span == 0:
        return [lo]
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10, 20) if m * power * most >= span)
    if integer:
        step = max(1, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * max(1.0, abs(hi)) and len(ticks) < most + 1:
        ticks.append(int(round(t)) if integer else round(t, 12))
        t += step
    return ticks or [lo]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Short labels for evenly spaced tick positions (`nice_ticks`): whole numbers without a
    decimal point, else just the decimals the step needs (0.37, 0.375), scientific notation
    for very small or very large values (2.1e-05); never a negative zero."""
    vals = [float(t) for t in ticks]
    if not vals:
        return []
    steps = [abs(b - a) for a, b in zip(vals, vals[1:]) if b != a]
    step = min(steps) if steps else (abs(vals[0]) or 1.0)
    top = max(abs(v) for v in vals)

    def clean(text: str) -> str:
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    if top and (top >= 1e5 or top < 1e-3 or step < 1e-4):
        digits = max(0, math.floor(math.log10(top) + 1e-9) - math.floor(math.log10(step) + 1e-9)) if step else 1
        return [clean("0" if abs(v) < step * 1e-6 else f"{v:.{min(digits, 6)}e}") for v in vals]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 or any(v != round(v) for v in vals) else 0
    while decimals < 12 and len({f"{v:.{decimals}f}" for v in vals}) < len(set(vals)):
        decimals += 1
    return [clean(f"{v:.{decimals}f}") for v in vals]
