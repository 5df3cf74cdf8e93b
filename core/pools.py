"""Pool sizing: the hit distribution of a pool, from calibrated per-part probabilities.

A day has exactly ``events`` (E) of P parts. Read a day's calibrated probabilities
``p`` (P,) as the inclusion probabilities of a conditional Bernoulli (CB) design
(independent Bernoulli parts conditioned on exactly E successes, :mod:`core.cbern`):
find the CB weights ``w`` whose inclusion probabilities equal ``p``, and every question
about a pool S (a set of parts kept) has an exact answer. With ``e_k`` the elementary
symmetric polynomials,

    P(hits = h) = e_h(w_S) e_{E-h}(w_rest) / e_E(w),         h = 0..E,

because a day's event set splits into h parts in S and E-h outside it, and the CB
probability of a set is the product of its weights over e_E(w) (Vandermonde:
sum_h e_h(w_S) e_{E-h}(w_rest) = e_E(w), so the distribution sums to 1 exactly). The
mean is always ``sum_{i in S} p_i`` (inclusion probabilities are additive); the tail
P(hits >= m), which users size pools by, depends on the whole design.

Probabilities from a model rarely sum to E exactly and may be 0 or 1, so
:func:`rescale_probabilities` first maps each row to one that sums to E with every
entry in ``[eps, 1 - eps]``: ``q = clip(c * max(p, eps), eps, 1 - eps)`` with the one
factor ``c`` (per row) that makes ``sum q = E``. The ranking is unchanged (q is a
non-decreasing function of p); ``c`` is reported as ``rescale`` (1 for an honest
CB-consistent scorer; far from 1 means the scorer's mass is off). Default eps is 1e-5:
at 1e-6, near-certain parts can defeat the weight solver (a row that fails is retried
at a larger eps, see :func:`pool_weights`); the hit probabilities move by O(eps).

The pool of size K is the top K parts by p, ties broken by the LOWER part id (stable
sort), as in :func:`core.metrics.pool_hits`. Part ids in outputs are 1-based.

Shapes: ``...`` is any batch shape (e.g. days), P parts, E = ``events``, nK pool sizes.
Everything is vectorised numpy; hit distributions for all K of all days come from one
forward and one backward pass of a log-space ESP table over the ranked parts.
"""
from __future__ import annotations

import io
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from core import cbern
from core.fsutil import atomic_write_bytes
from core.metrics import DEFAULT_KS, DEFAULT_TIERS, hypergeom_at_least, wilson_interval

__all__ = [
    "EPS",
    "EPS_LADDER",
    "rescale_probabilities",
    "pool_weights",
    "hit_distribution",
    "topk_hit_distribution",
    "pool_table",
    "suggest_k",
    "backtest",
    "backtest_rows",
    "plot_pool_calibration",
]

EPS = 1e-5  # probabilities are clipped into [EPS, 1 - EPS] before solving for weights
EPS_LADDER = (1e-5, 1e-4, 1e-3)  # a row whose weights cannot be solved at eps is retried at the next


# ------------------------------------------------------------------------ validation

def _events(events, P: int) -> int:
    if not isinstance(events, (int, np.integer)) or isinstance(events, bool) or not 0 < events < P:
        raise ValueError(f"events must be an integer in 1..{P - 1}, got {events!r}")
    return int(events)


def _tiers(tiers: Mapping[str, int] | None, events: int) -> dict[str, int]:
    """name -> min hits, highest first; distinct integers in 1..events."""
    tiers = dict(DEFAULT_TIERS if tiers is None else tiers)
    if not tiers:
        raise ValueError("at least one tier is needed")
    mins = [int(m) for m in tiers.values()]
    if len(set(mins)) != len(mins) or min(mins) < 1 or max(mins) > events:
        raise ValueError(f"tier minimums must be distinct integers in 1..{events}, got {tiers}")
    return dict(sorted(((str(k), int(v)) for k, v in tiers.items()), key=lambda kv: -kv[1]))


def _ks(ks, P: int) -> list[int]:
    ks = [int(k) for k in ks]
    if not ks:
        raise ValueError("at least one pool size K is needed")
    if min(ks) < 0 or max(ks) > P:
        raise ValueError(f"pool sizes must lie in 0..{P}, got {ks}")
    return ks


def _probs(p) -> np.ndarray:
    p = np.asarray(p, dtype=np.float64)
    if p.ndim < 1 or p.shape[-1] < 2:
        raise ValueError(f"p must have shape (..., P) with P >= 2, got {p.shape}")
    if not np.all(np.isfinite(p)):
        raise ValueError("probabilities contain NaN or inf")
    if p.size and (p.min() < 0.0 or p.max() > 1.0):
        raise ValueError(f"probabilities must lie in [0, 1] (got min {p.min()}, max {p.max()})")
    return p


# ------------------------------------------------------------------------ weights

def rescale_probabilities(p, events: int, *, eps: float = EPS) -> tuple[np.ndarray, np.ndarray]:
    """Map each row of p to valid CB inclusion probabilities.

    p: (..., P) probabilities in [0, 1]. Returns (q, c): q (..., P) with each row summing
    to ``events`` and every entry in [eps, 1 - eps], ``q = clip(c * max(p, eps), eps,
    1 - eps)``; c (...,) the per-row rescale factor (exactly 1.0 where p already
    qualifies). ``sum q`` is continuous and non-decreasing in c, from P*eps to
    P*(1-eps), so c exists; it is found by bisection on log c, then made exact on the
    unclipped entries. The order of parts is preserved (ties may be created by clipping).
    """
    p = _probs(p)
    batch, P = p.shape[:-1], p.shape[-1]
    E = _events(events, P)
    if not 0.0 < eps < 0.5 or not P * eps < E < P * (1.0 - eps):
        raise ValueError(f"eps={eps} leaves no room for {E} events among {P} parts")
    x = np.maximum(p.reshape(-1, P), eps)
    N = x.shape[0]
    c = np.ones(N)
    sums = x.sum(axis=1)
    bad = ~((np.abs(sums - E) <= 1e-12 * E) & (x.max(axis=1) <= 1.0 - eps))
    if bad.any():
        xb = x[bad]
        lo = np.log(eps / xb.max(axis=1))          # every entry at the floor: sum = P*eps < E
        hi = np.log((1.0 - eps) / xb.min(axis=1))  # every entry at the cap: sum > E
        for _ in range(64):
            mid = 0.5 * (lo + hi)
            s = np.clip(np.exp(mid)[:, None] * xb, eps, 1.0 - eps).sum(axis=1)
            up = s < E
            lo = np.where(up, mid, lo)
            hi = np.where(up, hi, mid)
        cb = np.exp(0.5 * (lo + hi))
        # exact on the entries strictly inside (eps, 1-eps) at this c (two passes: the
        # clipping pattern is settled to bisection precision, the second pass polishes)
        for _ in range(2):
            z = cb[:, None] * xb
            inside = (z > eps) & (z < 1.0 - eps)
            fixed = np.where(z >= 1.0 - eps, 1.0 - eps, np.where(z <= eps, eps, 0.0)).sum(axis=1)
            free = np.where(inside, xb, 0.0).sum(axis=1)
            ok = free > 0
            cb = np.where(ok, (E - fixed) / np.where(ok, free, 1.0), cb)
        c[bad] = cb
    q = np.clip(c[:, None] * x, eps, 1.0 - eps)
    # final rounding touch: spread the residual over the free entries, proportionally
    resid = E - q.sum(axis=1)
    free = (q > eps) & (q < 1.0 - eps)
    fsum = np.where(free, q, 0.0).sum(axis=1)
    q = np.where(free, q * (1.0 + resid / np.where(fsum > 0, fsum, 1.0))[:, None], q)
    if np.any(np.abs(q.sum(axis=1) - E) > 1e-9 * E):
        raise ArithmeticError("rescale_probabilities: could not make rows sum to events")
    return q.reshape(*batch, P), c.reshape(batch)


def _solve(p: np.ndarray, E: int, eps: float):
    """(w, q, c, eps_used) for rows p (N, P). Near-certain targets (several parts at
    1 - eps with eps ~1e-6) can defeat :func:`core.cbern.solve_weights`; the batch is then
    split in halves until the failing rows are alone, and those are retried at the next
    larger eps of EPS_LADDER (1e-5, 1e-4, 1e-3). eps_used (N,) says which eps each row got."""
    q, c = rescale_probabilities(p, E, eps=eps)
    try:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            w = cbern.solve_weights(q, E)
        if not np.all(np.isfinite(w)):
            raise ArithmeticError("non-finite weights")
        return w, q, c, np.full(p.shape[0], eps)
    except (ValueError, RuntimeError, ArithmeticError):
        if p.shape[0] == 1:
            bigger = [x for x in EPS_LADDER if x > eps * (1 + 1e-9)]
            if not bigger:
                raise
            return _solve(p, E, bigger[0])
        h = p.shape[0] // 2
        a, b = _solve(p[:h], E, eps), _solve(p[h:], E, eps)
        return tuple(np.concatenate([x, y]) for x, y in zip(a, b))


def pool_weights(p, events: int, *, eps: float = EPS, return_rescale: bool = False):
    """CB weights whose inclusion probabilities equal the rescaled p.

    p: (..., P) calibrated probabilities (need not sum to ``events``; see
    :func:`rescale_probabilities`, which also clips into [eps, 1 - eps]). Returns w
    (..., P) > 0, each row with geometric mean 1, such that
    ``cbern.inclusion_probabilities(w, events)`` equals the rescaled q to 1e-10. With
    ``return_rescale=True`` returns (w, q, c, eps_used): also the targets q (..., P), the
    rescale factors c (...,) and the eps each row was solved at (...,): ``eps`` unless
    the row had near-certain parts the solver could not reach, then the next of
    EPS_LADDER (1e-5, 1e-4, 1e-3; beyond that the solver's error is raised).
    """
    p = _probs(p)
    batch, P = p.shape[:-1], p.shape[-1]
    E = _events(events, P)
    w, q, c, used = _solve(p.reshape(-1, P), E, float(eps))
    w, q = w.reshape(*batch, P), q.reshape(*batch, P)
    c, used = c.reshape(batch), used.reshape(batch)
    return (w, q, c, used) if return_rescale else w


# ------------------------------------------------------------------------ hit distributions

def _lse(a: np.ndarray, axis: int = -1) -> np.ndarray:
    m = a.max(axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.exp(a - m).sum(axis=axis, keepdims=True)) + m


def _normalise_log(logd: np.ndarray) -> np.ndarray:
    """exp(logd - logsumexp(logd)) over the last axis; rows that are all -inf raise."""
    z = _lse(logd)
    if not np.all(np.isfinite(z)):
        raise ValueError("no subset of `events` parts has positive probability")
    return np.exp(logd - z)


def hit_distribution(w, pool_mask, events: int) -> np.ndarray:
    """Exact P(hits = h), h = 0..events, of a pool under the CB design with weights w.

    w: (..., P) weights >= 0 (finite; at least ``events`` positive per row); pool_mask:
    (..., P) bool, broadcastable against w, True for the parts kept. Returns
    (..., events+1): ``e_h(w_pool) e_{E-h}(w_rest) / e_E(w)``, computed in log space
    (:func:`core.cbern.log_esp`) and normalised by the sum over h, which is e_E(w).
    """
    w = np.asarray(w, dtype=np.float64)
    mask = np.asarray(pool_mask, dtype=bool)
    w, mask = np.broadcast_arrays(w, mask)
    if w.ndim < 1:
        raise ValueError("w must have shape (..., P)")
    P = w.shape[-1]
    if not isinstance(events, (int, np.integer)) or not 0 <= events <= P:
        raise ValueError(f"events must be an integer in 0..{P}, got {events!r}")
    E = int(events)
    lp = cbern.log_esp(np.where(mask, w, 0.0), E)     # (..., E+1): e_h(pool)
    lr = cbern.log_esp(np.where(mask, 0.0, w), E)     # e_j(rest)
    return _normalise_log(lp + lr[..., ::-1])


def _log_esp_tables(lw: np.ndarray, E: int) -> tuple[np.ndarray, np.ndarray]:
    """Prefix and suffix log-ESP tables of log-weights lw (N, P), ranked order.

    Returns (F, B), each (P+1, N, E+1): F[j] = log e_0..E(w[:, :j]), B[j] = log e(w[:, j:]).
    """
    N, P = lw.shape
    F = np.full((P + 1, N, E + 1), -np.inf)
    B = np.full((P + 1, N, E + 1), -np.inf)
    F[0, :, 0] = 0.0
    B[P, :, 0] = 0.0
    for j in range(P):
        F[j + 1] = F[j]
        np.logaddexp(F[j, :, 1:], lw[:, j, None] + F[j, :, :-1], out=F[j + 1, :, 1:])
    for j in range(P - 1, -1, -1):
        B[j] = B[j + 1]
        np.logaddexp(B[j + 1, :, 1:], lw[:, j, None] + B[j + 1, :, :-1], out=B[j, :, 1:])
    return F, B


def _ranking(p: np.ndarray) -> np.ndarray:
    """Column order, best first: descending p, ties to the lower part id. (..., P)."""
    return np.argsort(-p, axis=-1, kind="stable")


def topk_hit_distribution(w, order, ks, events: int) -> np.ndarray:
    """Hit distributions of the top-K pools of each row, for every K in ks at once.

    w: (N, P) weights > 0; order: (N, P) column ranking, best first; ks: nK pool sizes.
    Returns (N, nK, events+1). The pool of size K is ``order[:, :K]``. One forward and one
    backward log-ESP pass over the ranked parts: e_h(top K) e_{E-h}(the rest).
    """
    w = np.asarray(w, dtype=np.float64)
    order = np.asarray(order)
    N, P = w.shape
    E = int(events)
    ks = _ks(ks, P)
    with np.errstate(divide="ignore"):
        lw = np.log(np.take_along_axis(w, order, axis=1))
    F, B = _log_esp_tables(lw, E)
    kk = np.asarray(ks)
    logd = F[kk] + B[kk][:, :, ::-1]          # (nK, N, E+1)
    return _normalise_log(logd).transpose(1, 0, 2)


def _or_better(dist: np.ndarray) -> np.ndarray:
    """(..., E+1) distribution -> (..., E+1) tail P(hits >= m), m = 0..E."""
    return np.clip(np.cumsum(dist[..., ::-1], axis=-1)[..., ::-1], 0.0, 1.0)


# ------------------------------------------------------------------------ one day's table

def pool_table(p, events: int, ks: Iterable[int] | None = None,
               tiers: Mapping[str, int] | None = None, *, eps: float = EPS) -> dict:
    """Sizing table for one day's pool, JSON-ready.

    p: (P,) calibrated probabilities; ks: pool sizes (default 1..P); tiers: name -> min
    hits (default excellent=5, good=4, fair=3). Parts are ranked by p, ties to the lower
    part id. Returns::

        {"events", "n_parts", "eps" (the clip used), "rescale" (float c), "sum_p" (raw sum),
         "tiers" {name: min_hits}, "ks" [..],
         "ranking" [part ids, 1-based, best first], "p_ranked" [raw p], "q_ranked" [rescaled],
         "pools": [{"k", "parts" [ids, best first], "expected_hits",
                    "hit_distribution" [P(hits=h), h=0..events],
                    "or_better" {tier: P(hits >= min)}, "exact" {tier: P(in this tier only)},
                    "random_or_better" {tier: hypergeometric reference}}, ...]}

    ``expected_hits`` equals the sum of ``q`` over the pool (checked by the tests).
    """
    p = _probs(p)
    if p.ndim != 1:
        raise ValueError(f"pool_table takes one day's probabilities (P,), got {p.shape}")
    P = p.shape[0]
    E = _events(events, P)
    ks = _ks(range(1, P + 1) if ks is None else ks, P)
    tiers = _tiers(tiers, E)
    w, q, c, used = pool_weights(p, E, eps=eps, return_rescale=True)
    order = _ranking(p)
    dist = topk_hit_distribution(w[None], order[None], ks, E)[0]  # (nK, E+1)
    tail = _or_better(dist)
    hvals = np.arange(E + 1)
    names = list(tiers)
    pools = []
    for j, k in enumerate(ks):
        ob = {name: float(tail[j, m]) for name, m in tiers.items()}
        exact = {}
        for i, name in enumerate(names):
            above = ob[names[i - 1]] if i else 0.0
            exact[name] = max(ob[name] - above, 0.0)
        pools.append({
            "k": k,
            "parts": (order[:k] + 1).tolist(),
            "expected_hits": float(dist[j] @ hvals),
            "hit_distribution": dist[j].tolist(),
            "or_better": ob,
            "exact": exact,
            "random_or_better": {name: float(hypergeom_at_least(P, E, k, m)) for name, m in tiers.items()},
        })
    return {
        "events": E, "n_parts": P, "eps": float(used), "rescale": float(c), "sum_p": float(p.sum()),
        "tiers": tiers, "ks": ks,
        "ranking": (order + 1).tolist(), "p_ranked": p[order].tolist(), "q_ranked": q[order].tolist(),
        "pools": pools,
    }


def suggest_k(table: Mapping, tier: str, target: float) -> int | None:
    """Smallest K in a :func:`pool_table` whose P(tier-or-better) >= target; None if none.

    For nested top-K pools P(hits >= m) never decreases with K, so this is the pool size
    at which the tool first promises ``target`` for ``tier``.
    """
    if tier not in table["tiers"]:
        raise ValueError(f"tier {tier!r} is not one of {list(table['tiers'])}")
    if not 0.0 <= float(target) <= 1.0:
        raise ValueError(f"target must lie in [0, 1], got {target!r}")
    for row in sorted(table["pools"], key=lambda r: r["k"]):
        if row["or_better"][tier] >= target:
            return int(row["k"])
    return None


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
        "real_ci_low": float(rlo), "real_ci_high": float(rhi),
        "se": float(se),
        "z": float(diff / se) if se > 0 else (0.0 if diff == 0 else float("nan")),
        "ece": float(np.abs(sp - sr).sum() / n),
        "brier": float(np.mean((pred - real) ** 2)),
        "reliability": {
            "edges": edges.tolist(), "count": count.tolist(),
            "mean_pred": [None if np.isnan(v) else float(v) for v in mean_p],
            "mean_real": [None if np.isnan(v) else float(v) for v in mean_r],
            "ci_low": [None if np.isnan(v) else float(v) for v in np.atleast_1d(lo)],
            "ci_high": [None if np.isnan(v) else float(v) for v in np.atleast_1d(hi)],
        },
    }


def backtest(p_days, y_days, events: int, ks: Iterable[int] = DEFAULT_KS,
             tiers: Mapping[str, int] | None = None, good_tier: str = "good", bins: int = 10,
             *, eps: float = EPS, keep_days: bool = False) -> dict:
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
    dist = topk_hit_distribution(w, order, ks, E)                  # (T, nK, E+1)
    tail = _or_better(dist)
    hits_all = np.zeros((T, P + 1), dtype=np.int64)
    np.cumsum(np.take_along_axis(y, order, axis=1), axis=1, out=hits_all[:, 1:])
    hits = hits_all[:, ks]                                         # (T, nK)
    pred = tail[:, :, m]
    real = (hits >= m).astype(np.float64)
    expected = dist @ np.arange(E + 1)                              # (T, nK)

    per_k = []
    for j, k in enumerate(ks):
        pj = pred[:, j]
        se = float(np.sqrt(np.sum(pj * (1.0 - pj)))) / T
        per_k.append({"k": k, **_calibration(pj, real[:, j], bins, se),
                      "mean_expected_hits": float(expected[:, j].mean()),
                      "mean_hits": float(hits[:, j].mean())})
    nK = len(ks)
    resid_day = (real - pred).sum(axis=1)                           # (T,)
    se_pooled = float(np.sqrt(np.sum(resid_day ** 2))) / (T * nK)
    pooled = _calibration(pred.ravel(), real.ravel(), bins, se_pooled)
    tier_rates = {name: {"min_hits": mm, "pred_rate": tail[:, :, mm].mean(axis=0).tolist(),
                         "real_rate": (hits >= mm).mean(axis=0).tolist()}
                  for name, mm in tiers.items()}
    out = {
        "n_days": T, "n_parts": P, "events": E, "ks": ks, "tiers": tiers, "good_tier": good_tier,
        "min_hits": m, "bins": int(bins), "eps": eps, "eps_raised_days": int(np.count_nonzero(used > eps)),
        "rescale": {"min": float(c.min()), "median": float(np.median(c)), "max": float(c.max())},
        "per_k": per_k, "pooled": pooled, "tier_rates": tier_rates,
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


# ------------------------------------------------------------------------ plot

def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _nan(xs) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in xs], dtype=float)


def plot_pool_calibration(result: Mapping, path: str | Path, *, min_count: int = 20) -> None:
    """Reliability diagram of predicted vs realised P(good-or-better@K), written as a PNG.

    result: a :func:`backtest` result. Pooled over K (bold, Wilson 95% bars), one faint
    line per K (bins with fewer than ``min_count`` days left out: they are noise), the
    diagonal, and the number of (day, K) pairs per bin in a lower panel. Written
    atomically (temp file + rename).
    """
    plt = _pyplot()
    pooled = result["pooled"]
    rel = pooled["reliability"]
    edges = np.asarray(rel["edges"], dtype=float)
    centres = 0.5 * (edges[:-1] + edges[1:])
    good, m = result["good_tier"], result["min_hits"]
    fig, (ax, axn) = plt.subplots(2, 1, figsize=(6.4, 7.0), sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1.1], "hspace": 0.08})
    ax.plot([0, 1], [0, 1], color="0.6", linestyle="--", linewidth=1, label="honest: said = happened")
    cmap = plt.get_cmap("viridis")
    nK = len(result["per_k"])
    for j, row in enumerate(result["per_k"]):
        r = row["reliability"]
        mp, mr = _nan(r["mean_pred"]), _nan(r["mean_real"])
        ok = ~np.isnan(mp) & (np.asarray(r["count"]) >= min_count)
        ax.plot(mp[ok], mr[ok], color=cmap(j / max(nK - 1, 1)), alpha=0.35, linewidth=1,
                marker=".", markersize=3,
                label=(f"each K ({result['ks'][0]}..{result['ks'][-1]}, light = larger)" if j == 0 else None))
    mp, mr = _nan(rel["mean_pred"]), _nan(rel["mean_real"])
    lo, hi = _nan(rel["ci_low"]), _nan(rel["ci_high"])
    ok = ~np.isnan(mp)
    ax.errorbar(mp[ok], mr[ok], yerr=[np.maximum(mr[ok] - lo[ok], 0), np.maximum(hi[ok] - mr[ok], 0)],
                color="#1f77b4", marker="o", markersize=5, linewidth=2, capsize=3,
                label=(f"all K pooled: ECE {pooled['ece']:.3f}\n"
                       f"said {pooled['pred_rate']:.3f} on average, happened {pooled['real_rate']:.3f} "
                       f"[{pooled['real_ci_low']:.3f}, {pooled['real_ci_high']:.3f}]"))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_ylabel(f"share of days the pool really got >= {m} hits")
    ax.set_title(f"Pool calibration: if the tool says 60% for {good}-or-better (>= {m} hits), is it 60%?\n"
                 f"top-K pools, {result['n_days']} days x {nK} pool sizes, {result['bins']} equal-width bins, "
                 f"bars: Wilson 95%", fontsize=9.5)
    ax.legend(loc="best", fontsize=8)
    ax.grid(alpha=0.3)
    width = edges[1] - edges[0]
    axn.bar(centres, rel["count"], width=0.9 * width, color="#1f77b4", alpha=0.6)
    axn.set_ylabel("(day, K)\npairs", fontsize=8)
    axn.set_xlabel(f"predicted P({good}-or-better)")
    axn.grid(alpha=0.3)
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    atomic_write_bytes(Path(path), buf.getvalue())
