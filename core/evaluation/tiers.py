"""Day-level pool statistics (docs/ARCHITECTURE.md, "Metrics"): tier rates, random reference, paired tests.

Small pure functions over numpy arrays. Shapes: T days, P parts, nK pool sizes.
``y`` is a (T, P) bool event matrix, ``p`` a (T, P) float score matrix; ``hits`` (T, nK)
int counts the events in each day's top-K pool; indicators (T, nK) bool mark the days a
pool reaches the good tier. Tier rates and Wilson bounds are (nK,) per tier;
hypergeom_at_least gives the random-pool reference, mcnemar_exact/holm/compare the
paired model-vs-baseline test over the K range. Re-exported by :mod:`core.evaluation.metrics`.

Part ids in prose are 1-based (as in the data files); array positions are 0-based, so
"ties broken by lower part id" means "by lower column index".
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

DEFAULT_TIERS: dict[str, int] = {"excellent": 5, "good": 4, "fair": 3}
DEFAULT_KS = range(20, 28)
WILSON_Z = 1.959964


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
            out[name] = {
                "min_hits": m,
                "n": T,
                "count": count,
                "rate": count / T if T else count * np.nan,
                "exact_count": exact,
                "exact_rate": exact / T if T else exact * np.nan,
            }
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
    out = np.array(
        [_hyper_at_least(int(P), int(e), int(kk), int(mm)) for e, kk, mm in zip(*(a.ravel() for a in b))],
        dtype=np.float64,
    ).reshape(b[0].shape)
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
    from scipy.special import bdtr  # lazy: keeps `import core.evaluation.metrics` (and this module) light

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
    return {
        "ks": ks,
        "n": T,
        "alpha": alpha,
        "model_rate": ra.tolist(),
        "base_rate": rb.tolist(),
        "model_only": (a & ~b).sum(axis=0).tolist(),
        "base_only": (~a & b).sum(axis=0).tolist(),
        "p_value": pv.tolist(),
        "p_holm": adj.tolist(),
        "beats": bool(beats_at),
        "beats_at": beats_at,
        "worse_at": worse_at,
    }


def lift_capture(model_rate, random_rate, oracle_rate) -> float:
    """Mean over K of (model - random) / (oracle - random); Ks where the oracle does not
    beat random (zero denominator) are skipped; NaN when none is left."""
    m, r, o = (np.asarray(x, dtype=np.float64) for x in (model_rate, random_rate, oracle_rate))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = (m - r) / (o - r)
    ratio = ratio[np.isfinite(ratio)]
    return float(ratio.mean()) if ratio.size else float("nan")
