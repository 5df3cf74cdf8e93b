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
sort), as in :func:`core.evaluation.metrics.pool_hits`. Part ids in outputs are 1-based.

Shapes: ``...`` is any batch shape (e.g. days), P parts, E = ``events``, nK pool sizes.
Everything is vectorised numpy; hit distributions for all K of all days come from one
forward and one backward pass of a log-space ESP table over the ranked parts.

"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import numpy as np

from core.evaluation.metrics import hypergeom_at_least
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


# ------------------------------------------------------------------------ one day's table


def pool_table(
    p, events: int, ks: Iterable[int] | None = None, tiers: Mapping[str, int] | None = None, *, eps: float = EPS
) -> dict:
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
        pools.append(
            {
                "k": k,
                "parts": (order[:k] + 1).tolist(),
                "expected_hits": float(dist[j] @ hvals),
                "hit_distribution": dist[j].tolist(),
                "or_better": ob,
                "exact": exact,
                "random_or_better": {name: float(hypergeom_at_least(P, E, k, m)) for name, m in tiers.items()},
            }
        )
    return {
        "events": E,
        "n_parts": P,
        "eps": float(used),
        "rescale": float(c),
        "sum_p": float(p.sum()),
        "tiers": tiers,
        "ks": ks,
        "ranking": (order + 1).tolist(),
        "p_ranked": p[order].tolist(),
        "q_ranked": q[order].tolist(),
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
