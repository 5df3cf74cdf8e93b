"""The statistics behind a rule's evidence: Wilson intervals, one-sided exact p-values, FDR.

Every function is vectorised over numpy arrays (one call for all candidates of a window).

Which test, and why (docs/ARCHITECTURE.md, "Rules"):

* A rule whose antecedent lies strictly before the consequent's day (follow-within,
  inhibition, long absence) or is fixed in advance (calendar) is tested with the
  **hypergeometric** (Fisher's exact, one-sided) on the window's 2x2 table: of the window's
  N days, M have the consequent part; the antecedent holds on n of them; x of those n have
  the consequent. It is the permutation test of the consequent's days over the window, so it
  compares with the part's own base rate M/N in the same window, and it accounts for that rate
  being estimated on the same days (a binomial against M/N overstates the variance by
  1/(1 - n/N), badly for an antecedent that holds on most days). The within-day coupling of
  exactly-K days does not enter: the antecedent is a function of earlier days (or of the
  date), so under "days are independent" the sum over days of antecedent x (consequent - rate)
  is a martingale whose variance is the binomial one.
* Same-day **co-occurrence** is different: on a day with exactly K of P parts, q's chance
  given that p is present is not its base rate but about r_q (K - 1) / (K - r_p) (exactly
  (K - 1) / (P - 1) = 0.105 against 5/39 = 0.128 for uniform days), so every pair would look
  inhibitory at lift 0.82 against the plain base rate. The count of days with both is tested
  as a **binomial** over p's days against that conditional rate (symmetrised, see
  `core.rules.kinds.cooccurrence`). With a varying number of events a day the mean K is used.
"""

from __future__ import annotations

import numpy as np
from scipy import stats as st

Z95 = 1.959963984540054  # two-sided 95%


def wilson(x, n, z: float = Z95) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval of the proportion x / n (no continuity correction), as
    `scipy.stats.binomtest(x, n).proportion_ci(method="wilson")` computes it; n = 0 gives [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    safe = np.where(n > 0, n, 1.0)
    p = x / safe
    z2 = z * z
    denom = 1.0 + z2 / safe
    centre = (p + z2 / (2 * safe)) / denom
    half = z * np.sqrt(p * (1 - p) / safe + z2 / (4 * safe * safe)) / denom
    lo = np.where(n > 0, np.clip(centre - half, 0.0, 1.0), 0.0)
    hi = np.where(n > 0, np.clip(centre + half, 0.0, 1.0), 1.0)
    return lo, hi


def lift_interval(x, n, base, z: float = Z95) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Lift = (x / n) / base with the Wilson interval of x / n divided by base (the base rate
    comes from the whole window, thousands of days, so its own error is left out)."""
    x = np.asarray(x, dtype=np.float64)
    n = np.asarray(n, dtype=np.float64)
    base = np.asarray(base, dtype=np.float64)
    lo, hi = wilson(x, n, z)
    with np.errstate(divide="ignore", invalid="ignore"):
        conf = np.where(n > 0, x / np.where(n > 0, n, 1.0), np.nan)
        return conf / base, lo / base, hi / base


def hypergeom_p(x, N, M, n, direction) -> np.ndarray:
    """One-sided Fisher exact p-value: P(X >= x) for direction +1 (more likely), P(X <= x) for
    -1 (less likely), X ~ Hypergeom(N days, M consequent days, n antecedent days)."""
    x, N, M, n, d = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64) for a in (x, N, M, n, direction)))
    out = np.empty(x.shape)
    up = d > 0
    out[up] = st.hypergeom.sf(x[up] - 1, N[up], M[up], n[up])
    out[~up] = st.hypergeom.cdf(x[~up], N[~up], M[~up], n[~up])
    return np.clip(out, 0.0, 1.0)


def binom_p(x, n, p, direction) -> np.ndarray:
    """One-sided exact binomial p-value: P(X >= x) (direction +1) or P(X <= x) (-1), X ~ Bin(n, p)."""
    x, n, d = np.broadcast_arrays(*(np.asarray(a, dtype=np.int64) for a in (x, n, direction)))
    p = np.broadcast_to(np.asarray(p, dtype=np.float64), x.shape)
    out = np.empty(x.shape)
    up = d > 0
    out[up] = st.binom.sf(x[up] - 1, n[up], p[up])
    out[~up] = st.binom.cdf(x[~up], n[~up], p[~up])
    return np.clip(out, 0.0, 1.0)


def fdr_adjust(p, method: str = "bh") -> np.ndarray:
    """Benjamini-Hochberg ("bh") or Benjamini-Yekutieli ("by") adjusted p-values (q-values),
    as `scipy.stats.false_discovery_control(p, method=...)`: reject at level q where adjusted <= q."""
    p = np.asarray(p, dtype=np.float64).ravel()
    m = p.size
    if m == 0:
        return p.copy()
    if np.any(np.isnan(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("p-values must lie in [0, 1]")
    order = np.argsort(p, kind="stable")
    ranks = np.arange(1, m + 1, dtype=np.float64)
    scaled = p[order] * m / ranks
    if method == "by":
        scaled *= np.sum(1.0 / ranks)
    elif method != "bh":
        raise ValueError(f"unknown FDR method {method!r} (bh or by)")
    adj = np.minimum.accumulate(scaled[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.clip(adj, 0.0, 1.0)
    return out
