"""The maths of pool sizing (core.pools): input checks, rescaling a day's probabilities to
a conditional Bernoulli design, its weights, and exact hit distributions of pools.

The derivation (why P(hits = h) = e_h(w_S) e_{E-h}(w_rest) / e_E(w), and how rows are
rescaled and clipped before solving for weights) is in the docstring of core.pools.table.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from core import cbern
from core.evaluation.metrics import DEFAULT_TIERS

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
        lo = np.log(eps / xb.max(axis=1))  # every entry at the floor: sum = P*eps < E
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
    lp = cbern.log_esp(np.where(mask, w, 0.0), E)  # (..., E+1): e_h(pool)
    lr = cbern.log_esp(np.where(mask, 0.0, w), E)  # e_j(rest)
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
    logd = F[kk] + B[kk][:, :, ::-1]  # (nK, N, E+1)
    return _normalise_log(logd).transpose(1, 0, 2)


def _or_better(dist: np.ndarray) -> np.ndarray:
    """(..., E+1) distribution -> (..., E+1) tail P(hits >= m), m = 0..E."""
    return np.clip(np.cumsum(dist[..., ::-1], axis=-1)[..., ::-1], 0.0, 1.0)
