"""Curves for plots, shared by the dashboard and `synapse runs show --plot`: a run's loss
history from its epoch events, EMA smoothing, and min/max downsampling so a redraw of a
10,000-epoch history costs what a redraw of a screen's width costs."""
from __future__ import annotations

import math
from typing import Sequence


def loss_series(epochs: Sequence[dict]) -> dict:
    """Epoch events -> {"epoch", "train", "val" (lists, NaN where missing), "best_epoch"}.

    With rolling-origin folds only the last fold's epochs are kept (the ones its
    checkpoint comes from). `best_epoch` is the last epoch marked `improved`, else the one
    with the lowest validation loss.
    """
    folds = [e.get("fold") for e in epochs if isinstance(e, dict)]
    last_fold = folds[-1] if folds else None
    rows = [e for e in epochs if isinstance(e, dict) and e.get("fold") == last_fold
            and isinstance(e.get("epoch"), (int, float))]
    out = {"epoch": [int(e["epoch"]) for e in rows], "train": [_num(e.get("train_loss")) for e in rows],
           "val": [_num(e.get("val_loss")) for e in rows], "best_epoch": None}
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
        out.append(acc / (1 - weight ** n) if weight else v)
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
