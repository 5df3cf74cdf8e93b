"""Conditional Bernoulli: independent Bernoulli(p_i) conditioned on exactly K successes.

With odds ``w_i = p_i / (1 - p_i)`` the probability of a K-subset S is

    P(S) = prod_{i in S} w_i / e_K(w),

where ``e_k`` is the k-th elementary symmetric polynomial (ESP) of the weights. Only the
odds matter, and only up to a common factor per row, so every function here works on
weights ``w >= 0`` and normalises each row internally.

Numerics. Each row is divided by its K-th largest weight, and the ESP tables are built
by forward (prefix) and backward (suffix) recursions over parts,
``e_k(w_1..w_j) = e_k(w_1..w_{j-1}) + w_j e_{k-1}(w_1..w_{j-1})``, with each table row
rescaled by its maximum so nothing overflows. Leave-one-out quantities come from
combining a prefix with a suffix (never from the subtraction recursion
``e_k(w_{-i}) = e_k(w) - w_i e_{k-1}(w_{-i})``, which cancels catastrophically when
``w_i`` is large). Supported: finite weights >= 0 with at least K of them positive in
each row; inclusion probabilities match brute force to 1e-12 for log-weights spread
over hundreds of nats (tested with standard deviation 100). :func:`log_esp` runs in log
space and takes any finite weights. :func:`inclusion_probabilities` uses only
elementwise +, *, / and max in a fixed order, so its bits do not depend on the CPU.

Shapes: ``...`` is any batch shape (e.g. days), ``P`` the number of parts, ``K`` the
number of successes (0 <= K <= P).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = [
    "esp",
    "log_esp",
    "inclusion_probabilities",
    "sample",
    "solve_weights",
]


# ---------------------------------------------------------------------------- helpers


def _check(w: np.ndarray | list, K: int) -> np.ndarray:
    w = np.asarray(w, dtype=np.float64)
    if w.ndim < 1:
        raise ValueError("w must have at least one axis (..., P)")
    P = w.shape[-1]
    if not (isinstance(K, (int, np.integer)) and 0 <= K <= P):
        raise ValueError(f"K must be an integer in 0..{P}, got {K!r}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    if K > 0 and np.any(np.count_nonzero(w > 0, axis=-1) < K):
        raise ValueError(f"every row needs at least K={K} positive weights")
    return w


def _normalise(w: np.ndarray, K: int) -> tuple[np.ndarray, np.ndarray]:
    """Divide each row by its K-th largest weight (the max when K=0).

    Returns (w / c, log c) with shapes (..., P) and (...).
    """
    P = w.shape[-1]
    k = max(K, 1)
    c = np.partition(w, P - k, axis=-1)[..., P - k]
    c = np.where(c > 0, c, 1.0)
    return w / c[..., None], np.log(c)


def _tables(v: np.ndarray, K: int, reverse: bool) -> tuple[np.ndarray, np.ndarray]:
    """Scaled ESP tables over prefixes (or suffixes when `reverse`).

    v: (N, P) normalised weights. Returns (E, logscale), E of shape (P+1, K+1, N) and
    logscale (P+1, N): forward ``E[j, k] * exp(logscale[j]) = e_k(v[:, :j])``; reverse
    ``E[j, k] * exp(logscale[j]) = e_k(v[:, j:])``. Each E[j] column has max 1.
    """
    N, P = v.shape
    vt = np.ascontiguousarray(v.T)  # (P, N): one contiguous row per part
    E = np.zeros((P + 1, K + 1, N))
    ls = np.zeros((P + 1, N))
    start = P if reverse else 0
    E[start, 0] = 1.0
    order = range(P - 1, -1, -1) if reverse else range(P)
    prev = start
    tmp = np.empty((K, N))
    for i in order:
        nxt = i if reverse else i + 1
        cur = E[nxt]
        cur[:] = E[prev]
        if K > 0:
            np.multiply(E[prev, :-1], vt[i], out=tmp)
            cur[1:] += tmp
        m = cur.max(axis=0)  # >= the previous max (1), so never 0
        cur /= m
        ls[nxt] = ls[prev] + np.log(m)
        prev = nxt
    return E, ls


# ---------------------------------------------------------------------------- ESPs


def log_esp(w, K: int) -> np.ndarray:
    """Natural log of the elementary symmetric polynomials e_0..e_K of each row.

    w: (..., P) weights >= 0. Returns (..., K+1); ``-inf`` where e_k = 0. The forward
    recursion runs in log space (``logaddexp``), so any finite weights work.
    """
    w = np.asarray(w, dtype=np.float64)
    P = w.shape[-1] if w.ndim else 0
    if w.ndim < 1 or not (isinstance(K, (int, np.integer)) and 0 <= K <= P):
        raise ValueError(f"need w of shape (..., P) and 0 <= K <= P, got {w.shape}, K={K!r}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("weights must be finite and >= 0")
    batch = w.shape[:-1]
    with np.errstate(divide="ignore"):
        lw = np.log(w.reshape(-1, P))
    L = np.full((lw.shape[0], K + 1), -np.inf)
    L[:, 0] = 0.0
    for i in range(P):
        if K > 0:
            L[:, 1:] = np.logaddexp(L[:, 1:], lw[:, i, None] + L[:, :-1])
    return L.reshape(*batch, K + 1)


def esp(w, K: int) -> np.ndarray:
    """Elementary symmetric polynomials e_0..e_K of each row of weights.

    w: (..., P) weights >= 0. Returns (..., K+1) float64 with ``e_0 = 1``; accurate
    wherever the result itself is representable (``exp`` of :func:`log_esp`, so it
    overflows to ``inf`` only when e_k really exceeds ~1e308).
    """
    return np.exp(log_esp(w, K))


# ---------------------------------------------------------------------------- inclusion


def inclusion_probabilities(w, K: int) -> np.ndarray:
    """Exact first-order inclusion probabilities of the conditional Bernoulli design.

    w: (..., P) weights (odds) >= 0, at least K positive per row. Returns (..., P):
    ``pi_i = P(i in S)`` where ``P(S) ∝ prod_{i in S} w_i`` over K-subsets S. Each row
    sums to K (up to rounding). For each part, ``pi_i = w_i a_i / (w_i a_i + b_i)``
    with ``a_i = e_{K-1}(w_{-i})`` and ``b_i = e_K(w_{-i})`` taken from a prefix table
    times a suffix table (same scale in numerator and denominator, so the scales cancel).
    """
    w = _check(w, K)
    batch, P = w.shape[:-1], w.shape[-1]
    if K == 0:
        return np.zeros(w.shape)
    if K == P:
        return np.ones(w.shape)
    v, _ = _normalise(w.reshape(-1, P), K)
    F, _ = _tables(v, K, reverse=False)  # F[i] = e(v[:, :i])
    B, _ = _tables(v, K, reverse=True)  # B[i] = e(v[:, i:])
    # a_i = sum_{j=0}^{K-1} F[i, j] * B[i+1, K-1-j];  b_i = sum_{j=0}^{K} F[i, j] * B[i+1, K-j]
    Fi = F[:P]  # (P, K+1, N)
    Bi = B[1:]  # (P, K+1, N)
    a = np.zeros((P, v.shape[0]))
    b = Fi[:, K] * Bi[:, 0]
    for j in range(K):  # fixed summation order: bit-for-bit reproducible
        a += Fi[:, j] * Bi[:, K - 1 - j]
        b += Fi[:, j] * Bi[:, K - j]
    num = v.T * a
    pi = num / (num + b)
    return pi.T.reshape(*batch, P)


# ---------------------------------------------------------------------------- sampling


def _sample_list(w: list[float], K: int, u, rescale: bool = True) -> list[int]:
    """Sequential conditional-Bernoulli draw on plain floats (the hot path).

    w: P weights >= 0 (normalised, e.g. by the K-th largest); u: P uniforms in [0, 1).
    Part i is taken with probability ``w_i e_{r-1}(w_{i+1:}) / e_r(w_{i:})`` where r is
    the number still to take, from a backward table of suffix ESPs. With `rescale`
    each table row is scaled to max 1 (any dynamic range); without it the caller
    guarantees the unscaled table stays well inside the float range (about 3x faster).
    Returns the chosen indices in ascending order.
    """
    P = len(w)
    rows: list[list[float]] = [None] * (P + 1)  # type: ignore[list-item]
    last = [1.0] + [0.0] * K
    rows[P] = last
    ks = range(K, 0, -1)
    for i in range(P - 1, -1, -1):
        wi = w[i]
        cur = last[:]
        for k in ks:
            cur[k] += wi * last[k - 1]
        if rescale:
            m = max(cur)
            if m != 1.0:
                cur = [x / m for x in cur]
        rows[i] = cur
        last = cur
    out: list[int] = []
    r = K
    for i in range(P):
        if r == 0:
            break
        if P - i == r:  # must take all that remain
            out.extend(range(i, P))
            break
        nxt = rows[i + 1]
        take = w[i] * nxt[r - 1]
        if u[i] * (take + nxt[r]) < take:
            out.append(i)
            r -= 1
    return out


def _needs_rescale(v: np.ndarray, K: int) -> bool:
    """Could an unscaled suffix-ESP table of v (P,) leave the safe float range?"""
    P = v.shape[-1]
    pos = v[v > 0]
    if pos.size == 0 or K == 0:
        return False
    hi = max(math.log(float(pos.max())), 0.0)
    lo = min(math.log(float(pos.min())), 0.0)
    log_binom = math.lgamma(P + 1) - math.lgamma(K + 1) - math.lgamma(P - K + 1)
    return K * hi + log_binom + 1.0 > 600.0 or K * lo < -600.0


def sample(w, K: int, rng: np.random.Generator) -> np.ndarray:
    """Draw one K-subset from the conditional Bernoulli design with weights w.

    w: (P,) weights >= 0 (at least K positive); rng: a numpy Generator, from which
    exactly P uniforms are drawn per call (so a seeded stream is reproducible).
    Uses the exact sequential method over parts with a backward ESP table.
    Returns (K,) int64 part indices (0-based), sorted ascending.
    """
    w = _check(w, K)
    if w.ndim != 1:
        raise ValueError(f"sample takes one weight vector (P,), got shape {w.shape}")
    P = w.shape[0]
    u = rng.random(P).tolist()
    v, _ = _normalise(w, K)
    idx = _sample_list(v.tolist(), K, u, rescale=_needs_rescale(v, K))
    return np.asarray(idx, dtype=np.int64)


# ---------------------------------------------------------------------------- inverse map


def _pair_inclusion(w: np.ndarray, K: int, pi: np.ndarray) -> np.ndarray:
    """Second-order inclusion probabilities. w, pi: (N, P). Returns (N, P, P).

    ``pi_ij = pi_j * P(i in S | j in S)``, and given j the rest of the sample is the
    conditional Bernoulli design with K-1 draws from the weights without j.
    The diagonal holds pi_i.
    """
    N, P = w.shape
    keep = np.array([[i for i in range(P) if i != j] for j in range(P)])  # (P, P-1)
    cond = inclusion_probabilities(w[:, keep], K - 1)  # (N, P, P-1): [n, j, i'] = P(i|j)
    M = np.ones((N, P, P))
    rows = np.repeat(np.arange(P), P - 1)
    M[:, rows, keep.ravel()] = cond.reshape(N, -1)
    return M * pi[:, :, None]  # [n, j, i] = pi_j P(i | j) = pi_ij (symmetric)


def solve_weights(pi, K: int, iters: int = 200, tol: float = 1e-10) -> np.ndarray:
    """Weights whose conditional-Bernoulli inclusion probabilities equal ``pi``.

    pi: (..., P) targets with 0 < pi < 1 and each row summing to K. Returns (..., P)
    weights (odds), each row scaled to geometric mean 1 (they are defined up to a
    factor per row), with ``max |inclusion_probabilities(w, K) - pi| <= tol`` per row.

    Method: fixed-point iteration from ``w = pi / (1 - pi)``, renormalised each step,
    in its odds form ``w <- w * odds(pi) / odds(incl(w))`` (the same fixed point as
    ``w <- w * pi / incl(w)``, but it does not stall when some pi are near 1), vectorised
    over rows; converged rows are frozen. Rows still unconverged after 50 sweeps (very
    skewed targets) finish with damped Newton steps on log w, using the exact Jacobian
    ``d pi_i / d log w_j = pi_ij - pi_i pi_j``. Raises RuntimeError if a row has not
    converged after `iters` iterations in all.
    """
    pi = np.asarray(pi, dtype=np.float64)
    if pi.ndim < 1:
        raise ValueError("pi must have shape (..., P)")
    batch, P = pi.shape[:-1], pi.shape[-1]
    if not (isinstance(K, (int, np.integer)) and 0 < K < P):
        raise ValueError(f"K must be an integer in 1..{P - 1}, got {K!r}")
    if not np.all((pi > 0) & (pi < 1)):
        raise ValueError("targets must satisfy 0 < pi < 1")
    sums = pi.sum(axis=-1)
    if not np.allclose(sums, K, rtol=0, atol=1e-8 * K):
        raise ValueError(f"each row of pi must sum to K={K} (got sums in [{sums.min():.10g}, {sums.max():.10g}])")
    target = pi.reshape(-1, P)
    tlogit = np.log(target) - np.log1p(-target)
    theta = tlogit.copy()
    active = np.arange(target.shape[0])
    fixed_sweeps = 50
    for it in range(iters):
        th = theta[active]
        th -= th.mean(axis=1, keepdims=True)
        cur = inclusion_probabilities(np.exp(th), K)
        err = np.max(np.abs(cur - target[active]), axis=1)
        keep = err > tol
        theta[active] = th
        active, th, cur, err = active[keep], th[keep], cur[keep], err[keep]
        if active.size == 0:
            break
        if it < fixed_sweeps:
            theta[active] = th + tlogit[active] - (np.log(cur) - np.log1p(-cur))
        else:
            theta[active] = _newton_step(th, cur, target[active], err, K)
    else:
        th = theta[active] - theta[active].mean(axis=1, keepdims=True)
        cur = inclusion_probabilities(np.exp(th), K)
        theta[active] = th
        active = active[np.max(np.abs(cur - target[active]), axis=1) > tol]
    if active.size:
        raise RuntimeError(f"solve_weights: {active.size} row(s) did not converge to {tol:g} in {iters} iterations")
    return np.exp(theta).reshape(*batch, P)


def _newton_step(theta: np.ndarray, cur: np.ndarray, target: np.ndarray, err: np.ndarray, K: int) -> np.ndarray:
    """One damped Newton step on log-weights (N, P) towards `target`; returns new theta."""
    N, P = theta.shape
    J = _pair_inclusion(np.exp(theta), K, cur) - cur[:, :, None] * cur[:, None, :]
    J[:, np.arange(P), np.arange(P)] = cur * (1.0 - cur)
    # J is singular along the all-ones direction (scaling w changes nothing): pin it.
    step = np.linalg.solve(J + 1.0, (target - cur)[:, :, None])[:, :, 0]
    out = theta + step
    t = np.ones(N)
    for _ in range(30):  # halve the step where it does not reduce the error
        cand = theta + t[:, None] * step
        cand -= cand.mean(axis=1, keepdims=True)
        e = np.max(np.abs(inclusion_probabilities(np.exp(cand), K) - target), axis=1)
        ok = e < err
        out = np.where(ok[:, None], cand, out)
        if ok.all():
            break
        t = np.where(ok, t, t / 2)
        err = np.where(ok, -np.inf, err)  # accepted rows stay accepted
    return out
