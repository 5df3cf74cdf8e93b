"""Backtest of pool sizing (core.pools): is the promised P(good-or-better@K) what happened?

Predicted vs realised, per pool size K and pooled over K, with reliability bins; and the
long rows of a result for metrics.csv.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from core.evaluation.metrics import DEFAULT_KS, wilson_interval
from core.pools.distribution import (
    EPS,
    _events,
    _ks,
    _or_better,
    _probs,
    _ranking,
    _tiers,
    pool_weights,
    topk_hit_distribution,
)

# ------------------------------------------------------------------------ backtest


def _calibration(pred: np.ndarray, real: np.ndarray, bins: int, se: float) -> dict:
    """Reliability of predicted probabilities pred (N,) against 0/1 outcomes real (N,).

    se: standard error of mean(real) - mean(pred) (passed in: model-based per K, day-
    clustered when pooled over K).
    """
    n = pred.size
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.minimum(np.searchsorted(edges, pred, side="right") - 1, bins - 1)  # last bin closed
    count = np.bincount(idx, minlength=bins)
    sp = np.bincount(idx, weights=pred, minlength=bins)
    sr = np.bincount(idx, weights=real, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_p = np.where(count > 0, sp / count, np.nan)
        mean_r = np.where(count > 0, sr / count, np.nan)
    lo, hi = wilson_interval(sr, count)
    n_real = float(real.sum())
    rlo, rhi = wilson_interval(n_real, n)
    pred_rate, real_rate = float(pred.mean()), float(real.mean())
    diff = real_rate - pred_rate
    return {
        "n": int(n),
        "pred_rate": pred_rate,
        "real_rate": real_rate,
        "real_ci_low": float(rlo),
        "real_ci_high": float(rhi),
        "se": float(se),
        "z": float(diff / se) if se > 0 else (0.0 if diff == 0 else float("nan")),
        "ece": float(np.abs(sp - sr).sum() / n),
        "brier": float(np.mean((pred - real) ** 2)),
        "reliability": {
            "edges": edges.tolist(),
            "count": count.tolist(),
            "mean_pred": [None if np.isnan(v) else float(v) for v in mean_p],
            "mean_real": [None if np.isnan(v) else float(v) for v in mean_r],
            "ci_low": [None if np.isnan(v) else float(v) for v in np.atleast_1d(lo)],
            "ci_high": [None if np.isnan(v) else float(v) for v in np.atleast_1d(hi)],
        },
    }


def backtest(
    p_days,
    y_days,
    events: int,
    ks: Iterable[int] = DEFAULT_KS,
    tiers: Mapping[str, int] | None = None,
    good_tier: str = "good",
    bins: int = 10,
    *,
    eps: float = EPS,
    keep_days: bool = False,
) -> dict:
    """Is the tool's pool promise honest? Predicted vs realised P(good-or-better@K).

    p_days (T, P) each day's calibrated probabilities; y_days (T, P) bool, exactly
    ``events`` True a day. For every day t and K: predicted = P(hits >= min_hits of
    good_tier) of that day's top-K pool (ranked by p, ties to the lower id) from the CB
    design fitted to p (:func:`pool_weights`); realised = that pool's hits >= min_hits.

    Returns a JSON-ready dict::

        {"n_days", "n_parts", "events", "ks", "tiers", "good_tier", "min_hits", "bins", "eps",
         "eps_raised_days" (days whose near-certain parts needed a larger clip, see pool_weights),
         "rescale": {"min", "median", "max"}          (per-day factor c),
         "per_k": [{"k", **stats, "mean_expected_hits", "mean_hits"}, ...],
         "pooled": {**stats}                            (all T x nK (day, K) pairs),
         "tier_rates": {tier: {"min_hits", "pred_rate" [nK], "real_rate" [nK]}}}

    stats: ``n``, ``pred_rate`` (mean predicted), ``real_rate`` (realised share) with its
    Wilson 95% ``real_ci_low``/``real_ci_high``, ``se`` and ``z`` of real - pred (per K:
    model-based sqrt(sum p(1-p))/T; pooled: clustered by day, since the K share a day),
    ``ece`` (sum_b n_b/N |mean pred_b - mean real_b|, equal-width bins on [0, 1], last bin
    closed), ``brier`` (mean (pred - real)^2), and ``reliability`` {"edges", "count",
    "mean_pred", "mean_real", "ci_low", "ci_high"} (per bin; None where empty).
    With ``keep_days`` also "days": {"pred", "real"} (T, nK) arrays (not JSON).
    """
    p = _probs(p_days)
    y = np.asarray(y_days, dtype=bool)
    if p.ndim != 2 or p.shape != y.shape:
        raise ValueError(f"p_days and y_days must be (T, P) of the same shape, got {p.shape} and {y.shape}")
    T, P = p.shape
    if T == 0:
        raise ValueError("backtest needs at least one day")
    E = _events(events, P)
    per_day = y.sum(axis=1)
    if np.any(per_day != E):
        t = int(np.flatnonzero(per_day != E)[0])
        raise ValueError(f"day {t} has {int(per_day[t])} events, expected exactly {E}")
    ks = _ks(ks, P)
    tiers = _tiers(tiers, E)
    if good_tier not in tiers:
        raise ValueError(f"good_tier {good_tier!r} is not one of the tiers {list(tiers)}")
    if not isinstance(bins, (int, np.integer)) or bins < 1:
        raise ValueError(f"bins must be an integer >= 1, got {bins!r}")
    m = tiers[good_tier]

    w, _, c, used = pool_weights(p, E, eps=eps, return_rescale=True)
    order = _ranking(p)
    dist = topk_hit_distribution(w, order, ks, E)  # (T, nK, E+1)
    tail = _or_better(dist)
    hits_all = np.zeros((T, P + 1), dtype=np.int64)
    np.cumsum(np.take_along_axis(y, order, axis=1), axis=1, out=hits_all[:, 1:])
    hits = hits_all[:, ks]  # (T, nK)
    pred = tail[:, :, m]
    real = (hits >= m).astype(np.float64)
    expected = dist @ np.arange(E + 1)  # (T, nK)

    per_k = []
    for j, k in enumerate(ks):
        pj = pred[:, j]
        se = float(np.sqrt(np.sum(pj * (1.0 - pj)))) / T
        per_k.append(
            {
                "k": k,
                **_calibration(pj, real[:, j], bins, se),
                "mean_expected_hits": float(expected[:, j].mean()),
                "mean_hits": float(hits[:, j].mean()),
            }
        )
    nK = len(ks)
    resid_day = (real - pred).sum(axis=1)  # (T,)
    se_pooled = float(np.sqrt(np.sum(resid_day**2))) / (T * nK)
    pooled = _calibration(pred.ravel(), real.ravel(), bins, se_pooled)
    tier_rates = {
        name: {
            "min_hits": mm,
            "pred_rate": tail[:, :, mm].mean(axis=0).tolist(),
            "real_rate": (hits >= mm).mean(axis=0).tolist(),
        }
        for name, mm in tiers.items()
    }
    out = {
        "n_days": T,
        "n_parts": P,
        "events": E,
        "ks": ks,
        "tiers": tiers,
        "good_tier": good_tier,
        "min_hits": m,
        "bins": int(bins),
        "eps": eps,
        "eps_raised_days": int(np.count_nonzero(used > eps)),
        "rescale": {"min": float(c.min()), "median": float(np.median(c)), "max": float(c.max())},
        "per_k": per_k,
        "pooled": pooled,
        "tier_rates": tier_rates,
    }
    if keep_days:
        out["days"] = {"pred": pred, "real": real.astype(bool)}
    return out


_ROW_STATS = ("n", "pred_rate", "real_rate", "real_ci_low", "real_ci_high", "se", "z", "ece", "brier")


def backtest_rows(result: Mapping) -> list[dict]:
    """Long rows {metric, k, value} of a :func:`backtest` result, for metrics.csv.

    Per K (k = the pool size) and pooled over K (k = None): pool_n, pool_pred_rate,
    pool_real_rate, pool_real_ci_low, pool_real_ci_high, pool_se, pool_z, pool_ece,
    pool_brier (all about the good tier); per K also pool_expected_hits, pool_mean_hits
    and, for every tier T, pool_pred_T_or_better and pool_real_T_or_better; no k:
    pool_rescale_min, pool_rescale_median, pool_rescale_max.
    """
    out: list[dict] = []

    def add(metric, value, k=None):
        out.append({"metric": metric, "k": k, "value": value})

    for j, row in enumerate(result["per_k"]):
        k = row["k"]
        for s in _ROW_STATS:
            add(f"pool_{s}", row[s], k)
        add("pool_expected_hits", row["mean_expected_hits"], k)
        add("pool_mean_hits", row["mean_hits"], k)
        for name, t in result["tier_rates"].items():
            add(f"pool_pred_{name}_or_better", t["pred_rate"][j], k)
            add(f"pool_real_{name}_or_better", t["real_rate"][j], k)
    for s in _ROW_STATS:
        add(f"pool_{s}", result["pooled"][s])
    for key in ("min", "median", "max"):
        add(f"pool_rescale_{key}", result["rescale"][key])
    return out
