"""Evaluation metrics (DESIGN.md 5): ranking, calibration, tier rates, paired tests.

Small pure functions over numpy arrays. Shapes: T days, P parts, nK pool sizes.
``y`` is a (T, P) bool (or 0/1) event matrix, ``p`` a (T, P) float probability matrix.
Ranking metrics match scikit-learn exactly (ties included) without a per-part loop:
one sort per column batch, tie groups found by exact float equality as sklearn does.

Part ids in prose are 1-based (as in the data files); array positions are 0-based, so
"ties broken by lower part id" means "by lower column index".
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping

import numpy as np

DEFAULT_TIERS: dict[str, int] = {"excellent": 5, "good": 4, "fair": 3}
DEFAULT_KS = range(20, 28)
WILSON_Z = 1.959964


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
        return {"edges": edges, "count": c, "mean_p": np.where(c > 0, spp / c, np.nan),
                "mean_y": np.where(c > 0, syy / c, np.nan)}


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


# ------------------------------------------------------------------------ tier rates

def pool_hits(p, y, ks) -> np.ndarray:
    """Hits of the top-K pool by ``p``, (T, len(ks)) int.

    p (T, P) float, y (T, P) bool, ks: pool sizes 0..P. The pool is the K highest
    probabilities of the day, ties broken by the LOWER part id (stable sort of -p).
    """
    p = np.asarray(p, dtype=np.float64)
    y = np.asarray(y, dtype=bool)
    ks = np.asarray(list(ks), dtype=np.int64)
    if p.shape != y.shape or p.ndim != 2:
        raise ValueError(f"p and y must be (T, P) of the same shape, got {p.shape} and {y.shape}")
    if np.isnan(p).any():
        raise ValueError("scores contain NaN")
    if ks.size and (ks.min() < 0 or ks.max() > p.shape[1]):
        raise ValueError(f"pool sizes must lie in 0..{p.shape[1]}, got {ks.tolist()}")
    order = np.argsort(-p, axis=1, kind="stable")
    cum = np.zeros((p.shape[0], p.shape[1] + 1), dtype=np.int64)
    np.cumsum(np.take_along_axis(y, order, axis=1), axis=1, out=cum[:, 1:])
    return cum[:, ks]


def _check_tiers(tiers: Mapping[str, int] | None) -> dict[str, int]:
    tiers = dict(DEFAULT_TIERS if tiers is None else tiers)
    if not tiers:
        raise ValueError("at least one tier is needed")
    mins = [int(m) for m in tiers.values()]
    if len(set(mins)) != len(mins) or min(mins) < 1:
        raise ValueError(f"tier minimums must be distinct positive integers, got {tiers}")
    return dict(sorted(((k, int(v)) for k, v in tiers.items()), key=lambda kv: -kv[1]))


def tier_rates(hits, tiers: Mapping[str, int] | None = None) -> dict:
    """Tier shares per pool size from hits (T, nK).

    tiers: name -> minimum hits, e.g. {"excellent": 5, "good": 4, "fair": 3}. Returns
    {name: {"min_hits", "n", "count", "rate", "exact_count", "exact_rate"}}, ordered from
    the highest tier down, arrays (nK,): ``rate`` is the cumulative "name-or-better"
    share (hits >= min_hits), ``exact_rate`` the share in this tier only (at least its
    minimum, below the next higher tier's).
    """
    hits = np.asarray(hits)
    if hits.ndim == 1:
        hits = hits[:, None]
    T = hits.shape[0]
    out, above = {}, np.zeros(hits.shape[1], dtype=np.int64)
    for name, m in _check_tiers(tiers).items():
        count = (hits >= m).sum(axis=0)
        exact = count - above
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = {"min_hits": m, "n": T, "count": count, "rate": count / T if T else count * np.nan,
                         "exact_count": exact, "exact_rate": exact / T if T else exact * np.nan}
        above = count
    return out


def good_or_better_indicator(hits, tiers: Mapping[str, int] | None = None, good_tier: str = "good") -> np.ndarray:
    """(T, nK) bool per-day indicator hits >= tiers[good_tier], for paired tests."""
    tiers = _check_tiers(tiers)
    if good_tier not in tiers:
        raise ValueError(f"good_tier {good_tier!r} is not one of the tiers {list(tiers)}")
    return np.asarray(hits) >= tiers[good_tier]


def day_indicators(y, p, ks=DEFAULT_KS, tiers=None, good_tier: str = "good") -> np.ndarray:
    """Convenience: (T, nK) good-or-better indicators of the pool ranked by p (T, P)."""
    return good_or_better_indicator(pool_hits(p, y, ks), tiers, good_tier)


# ----------------------------------------------------------------- reference + tests

def wilson_interval(successes, n, z: float = WILSON_Z):
    """Wilson score interval, vectorised. Returns (lo, hi) arrays (floats for scalar
    input) clipped to [0, 1]; NaN where n == 0."""
    x = np.asarray(successes, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        phat = x / n
        z2n = z * z / n
        denom = 1.0 + z2n
        centre = (phat + z2n / 2.0) / denom
        half = z / denom * np.sqrt(np.maximum(phat * (1.0 - phat) / n + z2n / (4.0 * n), 0.0))
        valid = n > 0
        lo = np.where(valid, np.clip(centre - half, 0.0, 1.0), np.nan)
        hi = np.where(valid, np.clip(centre + half, 0.0, 1.0), np.nan)
    lo = np.where(valid & (x == 0), 0.0, lo)  # exact ends, free of rounding
    hi = np.where(valid & (x == n), 1.0, hi)
    if lo.ndim == 0:
        return float(lo), float(hi)
    return lo, hi


def _hyper_at_least(P: int, events: int, k: int, m: int) -> float:
    if not (0 <= events <= P and 0 <= k <= P):
        raise ValueError(f"need 0 <= events, k <= P, got P={P} events={events} k={k}")
    lo = max(m, 0, k - (P - events))
    num = sum(math.comb(events, j) * math.comb(P - events, k - j) for j in range(lo, min(events, k) + 1))
    return num / math.comb(P, k)


def hypergeom_at_least(P: int, events, k, m):
    """Random-pool reference P(hits >= m): a uniformly random K-subset of P parts against
    ``events`` events. Exact (integer arithmetic, one final division). Broadcasts over
    events, k and m; returns a float for scalar input, else an array."""
    b = np.broadcast_arrays(np.asarray(events), np.asarray(k), np.asarray(m))
    out = np.array([_hyper_at_least(int(P), int(e), int(kk), int(mm))
                    for e, kk, mm in zip(*(a.ravel() for a in b))], dtype=np.float64).reshape(b[0].shape)
    return float(out) if out.ndim == 0 else out


def mcnemar_exact(a, b) -> float:
    """Exact McNemar test of paired per-day indicators a, b (T,) bool: a two-sided exact
    binomial test of the discordant counts b10 (a only) vs b01 (b only) with p = 0.5.
    1.0 when there are no discordant pairs."""
    a = np.asarray(a, dtype=bool)
    b = np.asarray(b, dtype=bool)
    b10 = int(np.count_nonzero(a & ~b))
    b01 = int(np.count_nonzero(~a & b))
    n = b10 + b01
    if n == 0 or b10 == b01:
        return 1.0
    from scipy.special import bdtr  # lazy: keeps `import core.metrics` light

    return float(min(1.0, 2.0 * bdtr(min(b10, b01), n, 0.5)))


def holm(pvalues) -> np.ndarray:
    """Holm step-down adjusted p-values: monotone in the raw order, clipped to 1.
    NaN entries stay NaN and do not count towards the family size."""
    p = np.asarray(pvalues, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(~np.isnan(p))
    m = ok.size
    if m:
        order = ok[np.argsort(p[ok], kind="stable")]
        adj = np.maximum.accumulate(p[order] * (m - np.arange(m)))
        out[order] = np.minimum(adj, 1.0)
    return out


def compare(model_ind, base_ind, ks, alpha: float = 0.05) -> dict:
    """Paired comparison of good-or-better indicators, model_ind and base_ind (T, nK) bool.

    Per K: both rates, discordant counts (``model_only`` = b10, ``base_only`` = b01), the
    exact McNemar p and the Holm-adjusted p across the K range. ``beats`` is True when the
    model rate is higher and the adjusted p < alpha at one K at least; ``beats_at`` lists
    those Ks and ``worse_at`` the Ks where the baseline wins by the same rule.
    """
    a = np.asarray(model_ind, dtype=bool)
    b = np.asarray(base_ind, dtype=bool)
    ks = [int(k) for k in ks]
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != len(ks):
        raise ValueError(f"indicators must both be (T, {len(ks)}), got {a.shape} and {b.shape}")
    T = a.shape[0]
    pv = np.array([mcnemar_exact(a[:, j], b[:, j]) for j in range(len(ks))])
    adj = holm(pv)
    ra, rb = a.mean(axis=0) if T else np.full(len(ks), np.nan), b.mean(axis=0) if T else np.full(len(ks), np.nan)
    beats_at = [k for k, x, y, q in zip(ks, ra, rb, adj) if x > y and q < alpha]
    worse_at = [k for k, x, y, q in zip(ks, ra, rb, adj) if x < y and q < alpha]
    return {"ks": ks, "n": T, "alpha": alpha, "model_rate": ra.tolist(), "base_rate": rb.tolist(),
            "model_only": (a & ~b).sum(axis=0).tolist(), "base_only": (~a & b).sum(axis=0).tolist(),
            "p_value": pv.tolist(), "p_holm": adj.tolist(),
            "beats": bool(beats_at), "beats_at": beats_at, "worse_at": worse_at}


def lift_capture(model_rate, random_rate, oracle_rate) -> float:
    """Mean over K of (model - random) / (oracle - random); Ks where the oracle does not
    beat random (zero denominator) are skipped; NaN when none is left."""
    m, r, o = (np.asarray(x, dtype=np.float64) for x in (model_rate, random_rate, oracle_rate))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (m - r) / (o - r)
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.mean()) if ratio.size else float("nan")


# ------------------------------------------------------------------------- evaluate

def jsonable(x):
    """Arrays -> lists, numpy scalars -> python, NaN/inf -> None (strict JSON)."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, np.ndarray):
        if x.dtype.kind == "f" and not np.isfinite(x).all():
            return [jsonable(v) for v in x.tolist()]
        return x.tolist()
    if isinstance(x, (list, tuple)):
        return [jsonable(v) for v in x]
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        return float(x) if math.isfinite(x) else None
    return x


def _tier_block(hits: np.ndarray, tiers: dict[str, int], z: float) -> dict:
    """tier_rates plus Wilson bounds and mean hits."""
    out = tier_rates(hits, tiers)
    for t in out.values():
        t["ci_low"], t["ci_high"] = wilson_interval(t["count"], t["n"], z)
    return out


def evaluate(y, p, *, ks: Iterable[int] = DEFAULT_KS, tiers: Mapping[str, int] | None = None,
             good_tier: str = "good", bins: int = 15, base_rate, p_raw=None, truth=None,
             z: float = WILSON_Z) -> dict:
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
        "n_days": T, "n_parts": P, "events_per_day": events, "events_constant": constant,
        "events_mode": mode, "ks": ks, "tiers": tiers, "good_tier": good_tier, "bins": bins,
        "auc_macro": macro(auc, y),
        "pr_auc_macro": macro(ap, y),
        "parts_scored": int(scored.sum()),
        "auc_per_part": auc, "ap_per_part": ap,
        "brier": b_model, "brier_reference": b_ref,
        "brier_skill": 1.0 - b_model / b_ref if b_ref > 0 else float("nan"),
        "ece": ece_pooled, "classwise_ece": ece_cw,
        "reliability": _reliability_from(count, sp, sy, edges),
        "mean_hits": hits.mean(axis=0) if T else np.full(len(ks), np.nan),
        "tier_rates": model_tiers,
        "good_or_better": {"count": good["count"], "n": T, "rate": good["rate"],
                           "ci_low": good["ci_low"], "ci_high": good["ci_high"], "random": random[good_tier]},
        "raw_tier_rates": None, "oracle": None, "lift_capture": None,
    }
    if p_raw is not None:
        res["raw_tier_rates"] = _tier_block(pool_hits(p_raw, y, ks), tiers, z)
    if truth is not None:
        truth = np.asarray(truth, dtype=np.float64)
        if truth.shape != y.shape:
            raise ValueError(f"truth must be {y.shape}, got {truth.shape}")
        oracle_tiers = _tier_block(pool_hits(truth, y, ks), tiers, z)
        lifts = {name: lift_capture(model_tiers[name]["rate"], random[name], oracle_tiers[name]["rate"])
                 for name in tiers}
        res["oracle"] = {"tier_rates": oracle_tiers, "lift_capture": lifts, "brier": brier(y, truth)}
        res["lift_capture"] = lifts[good_tier]
    return jsonable(res)


_SCALARS = ("auc_macro", "pr_auc_macro", "brier", "brier_reference", "brier_skill", "ece",
            "classwise_ece", "parts_scored", "n_days", "events_per_day")


def rows(result: Mapping, split: str, model: str) -> list[dict]:
    """Flatten an evaluate() result to long rows {split, model, metric, k, value}.

    k is None for metrics that are not per pool size. Metric names: the scalars
    auc_macro, pr_auc_macro, brier, brier_reference, brier_skill, ece, classwise_ece,
    parts_scored, n_days, events_per_day, lift_capture (good tier), oracle_brier; per
    part auc_part_<id>, ap_part_<id> (1-based id); per K mean_hits and, for each tier T,
    T_or_better, T_or_better_ci_low, T_or_better_ci_high, T_or_better_count, T_exact,
    random_T_or_better, and when present raw_T_or_better (+ _ci_low/_ci_high),
    oracle_T_or_better (+ _ci_low/_ci_high) and lift_capture_T (no k).
    """
    out: list[dict] = []

    def add(metric, value, k=None):
        out.append({"split": split, "model": model, "metric": metric, "k": k, "value": value})

    for name in _SCALARS:
        add(name, result.get(name))
    for i, v in enumerate(result.get("auc_per_part") or [], start=1):
        add(f"auc_part_{i}", v)
    for i, v in enumerate(result.get("ap_per_part") or [], start=1):
        add(f"ap_part_{i}", v)
    ks = result["ks"]
    for j, k in enumerate(ks):
        add("mean_hits", result["mean_hits"][j], k)

    def add_tiers(block, prefix, extra=True):
        for name, t in block.items():
            stem = f"{prefix}{name}_or_better"
            for j, k in enumerate(ks):
                add(stem, t["rate"][j], k)
                add(stem + "_ci_low", t["ci_low"][j], k)
                add(stem + "_ci_high", t["ci_high"][j], k)
                if extra:
                    add(stem + "_count", t["count"][j], k)
                    add(f"{prefix}{name}_exact", t["exact_rate"][j], k)
                    add(f"random_{name}_or_better", t["random"][j], k)

    add_tiers(result["tier_rates"], "")
    if result.get("raw_tier_rates"):
        add_tiers(result["raw_tier_rates"], "raw_", extra=False)
    if result.get("oracle"):
        add_tiers(result["oracle"]["tier_rates"], "oracle_", extra=False)
        add("lift_capture", result.get("lift_capture"))
        add("oracle_brier", result["oracle"].get("brier"))
        for name, v in result["oracle"]["lift_capture"].items():
            add(f"lift_capture_{name}", v)
    return out
