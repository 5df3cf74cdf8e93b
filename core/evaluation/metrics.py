"""Evaluation metrics (docs/ARCHITECTURE.md, "Metrics"): ranking, calibration, and evaluate() over them all.

Small pure functions over numpy arrays. Shapes: T days, P parts, nK pool sizes.
``y`` is a (T, P) bool (or 0/1) event matrix, ``p`` a (T, P) float probability matrix.
Ranking metrics match scikit-learn exactly (ties included) without a per-part loop:
one sort per column batch, tie groups found by exact float equality as sklearn does.

Part ids in prose are 1-based (as in the data files); array positions are 0-based, so
"ties broken by lower part id" means "by lower column index".

Layout: per-part scoring (AUC, PR-AUC, Brier, ECE, classwise ECE, reliability) and
evaluate() live here; day-level pool statistics (pool hits, tier rates, Wilson, random
reference, McNemar/Holm comparison, lift capture) in core/evaluation/tiers.py, and the
long rows of a result in core/evaluation/rows.py; this module re-exports them, so
``metrics.X`` is every metric's one name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

from core.evaluation.rows import rows as rows
from core.jsonable import jsonable as jsonable
from core.evaluation.tiers import (
    DEFAULT_KS as DEFAULT_KS,
    DEFAULT_TIERS as DEFAULT_TIERS,
    WILSON_Z as WILSON_Z,
    _check_tiers,
    compare as compare,
    day_indicators as day_indicators,
    good_or_better_indicator as good_or_better_indicator,
    holm as holm,
    hypergeom_at_least as hypergeom_at_least,
    lift_capture as lift_capture,
    mcnemar_exact as mcnemar_exact,
    pool_hits as pool_hits,
    tier_rates as tier_rates,
    wilson_interval as wilson_interval,
)


# --------------------------------------------------------------------------- ranking


def _auc_ap(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P,) ROC AUC and (P,) average precision, both exactly as scikit-learn, from one sort.

    Works on the transposed (P, T) layout so the sort and the scans run along contiguous
    memory. Each part's days are sorted by descending score; a tie group (equal scores,
    exact float equality as sklearn) is one threshold. At each group's last position e,
    with gpos/gneg the group's positives/negatives and tp/fp the cumulative counts:
      AP  = sum_groups gpos * tp_e / (e + 1) / n_pos       (recall step x precision)
      AUC = sum_groups gpos * (n_neg - fp_e + gneg / 2) / (n_pos n_neg)   (midranks)
    The order inside a tie group never matters, so the faster unstable sort is fine.
    """
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    if y.shape != p.shape or y.ndim != 2:
        raise ValueError(f"y and p must be (T, P) of the same shape, got {y.shape} and {p.shape}")
    T, P = p.shape
    if np.isnan(p).any():
        raise ValueError("scores contain NaN")
    if T == 0:
        return np.full(P, np.nan), np.full(P, np.nan)
    neg = -np.ascontiguousarray(p.T)
    order = np.argsort(neg, axis=1)
    s = np.take_along_axis(neg, order, axis=1)
    ys = np.take_along_axis(np.ascontiguousarray(y.T), order, axis=1)
    is_end = np.ones(s.shape, dtype=bool)
    np.not_equal(s[:, 1:], s[:, :-1], out=is_end[:, :-1])
    seen = np.arange(1, T + 1)  # days at or above each position
    tp = np.cumsum(ys, axis=1, dtype=np.int64)
    fp = seen - tp
    n_pos = tp[:, -1]
    n_neg = T - n_pos
    # cumulative counts at the previous group end (= just before this group starts);
    # tp and fp never decrease, so a running max over the group ends carries them.
    prev_tp = np.zeros_like(tp)
    prev_fp = np.zeros_like(fp)
    np.maximum.accumulate(np.where(is_end, tp, 0)[:, :-1], axis=1, out=prev_tp[:, 1:])
    np.maximum.accumulate(np.where(is_end, fp, 0)[:, :-1], axis=1, out=prev_fp[:, 1:])
    gpos = np.where(is_end, tp - prev_tp, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        ap = (gpos * (tp / seen)).sum(axis=1) / n_pos
        auc = (gpos * ((n_neg[:, None] - fp) + 0.5 * (fp - prev_fp))).sum(axis=1) / (n_pos * n_neg)
    auc = np.where((n_pos > 0) & (n_neg > 0), auc, np.nan)
    ap = np.where(n_pos > 0, ap, np.nan)
    return auc, ap


def roc_auc_per_part(y, p) -> np.ndarray:
    """ROC AUC per part, (P,). Equals sklearn roc_auc_score per column, ties by midranks.

    y (T, P) bool, p (T, P) float. NaN where a column has only one class.
    """
    return _auc_ap(y, p)[0]


def average_precision_per_part(y, p) -> np.ndarray:
    """Average precision per part, (P,). Equals sklearn average_precision_score per column
    (ties: one threshold per distinct score). y (T, P) bool, p (T, P). NaN where no positive.
    """
    return _auc_ap(y, p)[1]


def both_classes(y) -> np.ndarray:
    """(P,) bool: the part has at least one positive and one negative day. y (T, P)."""
    y = np.asarray(y, dtype=bool)
    n_pos = y.sum(axis=0)
    return (n_pos > 0) & (n_pos < y.shape[0])


def macro(x, y=None) -> float:
    """Macro mean of a (P,) per-part metric: nanmean over parts with both classes.

    Per-part AUC is NaN exactly where a part lacks a class; AP is NaN without positives
    but 1.0 for an all-positive part, so pass ``y`` (T, P) to mask on both classes
    explicitly. NaN (no warning) when no part qualifies.
    """
    x = np.asarray(x, dtype=np.float64)
    keep = ~np.isnan(x)
    if y is not None:
        keep &= both_classes(y)
    return float(x[keep].mean()) if keep.any() else float("nan")


# ----------------------------------------------------------------------- calibration


def brier(y, p) -> float:
    """Mean over all (day, part) of (p - y)^2. y (T, P) bool, p (T, P) float."""
    d = np.asarray(p, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return float(np.mean(d * d))


def brier_skill(y, p, base_rate) -> float:
    """1 - brier(p) / brier(base_rate broadcast over days).

    base_rate (P,): the per-part TRAINING base rate (passed in, never taken from ``y``).
    NaN when the reference Brier is 0.
    """
    y = np.asarray(y, dtype=np.float64)
    ref = np.broadcast_to(np.asarray(base_rate, dtype=np.float64), y.shape)
    b_ref = brier(y, ref)
    return float(1.0 - brier(y, p) / b_ref) if b_ref > 0 else float("nan")


def _bin_index(p: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-width bin of each probability: bin b holds edges[b] <= p < edges[b+1], the last
    bin also holds p == 1. Returns (index with p's shape, edges (bins+1,))."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    edges = np.linspace(0.0, 1.0, bins + 1)
    lo, hi = (float(p.min()), float(p.max())) if p.size else (0.0, 0.0)
    if not (lo >= 0.0 and hi <= 1.0):  # also catches NaN
        raise ValueError(f"probabilities must lie in [0, 1] (got min {lo}, max {hi})")
    # floor(p * bins), then one step of correction against the exact edges (cheaper
    # than searchsorted, identical result).
    idx = np.minimum((p * bins).astype(np.int64), bins - 1)
    idx -= p < edges[idx]
    idx += (idx < bins - 1) & (p >= edges[np.minimum(idx + 1, bins)])
    return idx, edges


def _bin_sums(y, p, bins: int):
    """Per part and bin: count, sum p, sum y, each (P, bins); plus edges (bins+1,)."""
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if p.ndim == 1:
        p, y = p[:, None], y[:, None]
    P = p.shape[1]
    idx, edges = _bin_index(p, bins)
    flat = (idx + np.arange(P) * bins).ravel()
    n = P * bins
    count = np.bincount(flat, minlength=n).reshape(P, bins)
    sp = np.bincount(flat, weights=p.ravel(), minlength=n).reshape(P, bins)
    sy = np.bincount(flat, weights=y.ravel(), minlength=n).reshape(P, bins)
    return count, sp, sy, edges


def _reliability_from(count, sp, sy, edges) -> dict:
    c, spp, syy = count.sum(axis=0), sp.sum(axis=0), sy.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "edges": edges,
            "count": c,
            "mean_p": np.where(c > 0, spp / c, np.nan),
            "mean_y": np.where(c > 0, syy / c, np.nan),
        }


def reliability(y, p, bins: int = 15) -> dict:
    """Pooled reliability table over all (day, part) pairs.

    Equal-width bins on [0, 1], last bin closed. Returns arrays: ``edges`` (bins+1,),
    ``count`` (bins,) int, ``mean_p`` and ``mean_y`` (bins,), NaN for empty bins.
    """
    return _reliability_from(*_bin_sums(y, p, bins))


def _ece_from(count, sp, sy) -> tuple[float, float]:
    N = count.sum()
    pooled = float(np.abs(sp.sum(axis=0) - sy.sum(axis=0)).sum() / N) if N else float("nan")
    per_part_n = count.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_part = np.abs(sp - sy).sum(axis=1) / per_part_n
    classwise = float(per_part.mean()) if per_part.size and N else float("nan")
    return pooled, classwise


def ece(y, p, bins: int = 15) -> float:
    """Pooled expected calibration error: sum_b n_b/N |mean p_b - mean y_b| over all
    (day, part) pairs; equal-width bins, last bin closed. y, p (T, P).

    Warning: with exactly K events a day a constant K/P predictor has pooled ECE 0 (all
    pairs fall in one bin whose mean y is K/P), so read ECE beside Brier skill and
    classwise ECE.
    """
    return _ece_from(*_bin_sums(y, p, bins)[:3])[0]


def classwise_ece(y, p, bins: int = 15) -> float:
    """Mean over parts of each part's ECE (its own T days, same bins). y, p (T, P)."""
    return _ece_from(*_bin_sums(y, p, bins)[:3])[1]


# ------------------------------------------------------------------------- evaluate


def _tier_block(hits: np.ndarray, tiers: dict[str, int], z: float) -> dict:
    """tier_rates plus Wilson bounds and mean hits."""
    out = tier_rates(hits, tiers)
    for t in out.values():
        t["ci_low"], t["ci_high"] = wilson_interval(t["count"], t["n"], z)
    return out


def evaluate(
    y,
    p,
    *,
    ks: Iterable[int] = DEFAULT_KS,
    tiers: Mapping[str, int] | None = None,
    good_tier: str = "good",
    bins: int = 15,
    base_rate,
    p_raw=None,
    truth=None,
    z: float = WILSON_Z,
) -> dict:
    """Every metric of one (split, model) as a JSON-ready dict (NaN written as None).

    y (T, P) bool events; p (T, P) final (calibrated) probabilities; base_rate (P,) per-part
    training base rate; p_raw (T, P) optional raw scores (tier rates of the raw ranking);
    truth (T, P) optional true inclusion probabilities (oracle pool + lift capture).
    Per-K values are lists aligned with ``ks``. See rows() for the flat form.
    """
    y = np.asarray(y, dtype=bool)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 2 or y.shape != p.shape:
        raise ValueError(f"y and p must be (T, P) of the same shape, got {y.shape} and {p.shape}")
    T, P = y.shape
    ks = [int(k) for k in ks]
    tiers = _check_tiers(tiers)
    if good_tier not in tiers:
        raise ValueError(f"good_tier {good_tier!r} is not one of the tiers {list(tiers)}")
    base_rate = np.asarray(base_rate, dtype=np.float64)
    if base_rate.shape != (P,):
        raise ValueError(f"base_rate must be ({P},), got {base_rate.shape}")

    per_day = y.sum(axis=1)
    constant = bool(T == 0 or (per_day == per_day[0]).all())
    mode = int(per_day[0]) if constant and T else (Counter(per_day.tolist()).most_common(1)[0][0] if T else 0)
    events = mode if constant else float(per_day.mean())

    auc, ap = _auc_ap(y, p)
    scored = both_classes(y)
    count, sp, sy, edges = _bin_sums(y, p, bins)
    ece_pooled, ece_cw = _ece_from(count, sp, sy)
    ref = np.broadcast_to(base_rate, y.shape)
    b_model, b_ref = brier(y, p), brier(y, ref)

    ks_arr = np.asarray(ks)
    random = {name: hypergeom_at_least(P, mode, ks_arr, m) for name, m in tiers.items()}
    hits = pool_hits(p, y, ks)
    model_tiers = _tier_block(hits, tiers, z)
    for name, t in model_tiers.items():
        t["random"] = random[name]
    good = model_tiers[good_tier]
    res = {
        "n_days": T,
        "n_parts": P,
        "events_per_day": events,
        "events_constant": constant,
        "events_mode": mode,
        "ks": ks,
        "tiers": tiers,
        "good_tier": good_tier,
        "bins": bins,
        "auc_macro": macro(auc, y),
        "pr_auc_macro": macro(ap, y),
        "parts_scored": int(scored.sum()),
        "auc_per_part": auc,
        "ap_per_part": ap,
        "brier": b_model,
        "brier_reference": b_ref,
        "brier_skill": 1.0 - b_model / b_ref if b_ref > 0 else float("nan"),
        "ece": ece_pooled,
        "classwise_ece": ece_cw,
        "reliability": _reliability_from(count, sp, sy, edges),
        "mean_hits": hits.mean(axis=0) if T else np.full(len(ks), np.nan),
        "tier_rates": model_tiers,
        "good_or_better": {
            "count": good["count"],
            "n": T,
            "rate": good["rate"],
            "ci_low": good["ci_low"],
            "ci_high": good["ci_high"],
            "random": random[good_tier],
        },
        "raw_tier_rates": None,
        "oracle": None,
        "lift_capture": None,
    }
    if p_raw is not None:
        res["raw_tier_rates"] = _tier_block(pool_hits(p_raw, y, ks), tiers, z)
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        if truth.shape != y.shape:
            raise ValueError(f"truth must be {y.shape}, got {truth.shape}")
        oracle_tiers = _tier_block(pool_hits(truth, y, ks), tiers, z)
        lifts = {
            name: lift_capture(model_tiers[name]["rate"], random[name], oracle_tiers[name]["rate"]) for name in tiers
        }
        res["oracle"] = {"tier_rates": oracle_tiers, "lift_capture": lifts, "brier": brier(y, truth)}
        res["lift_capture"] = lifts[good_tier]
    return jsonable(res)
