"""Seeded synthetic data: a planted daily process with exact truth, and a uniform control.

``planted``: each day t every part p gets a logit

    base_p + weekday_p(t) + alpha_p * h_p(t) + sum_{(a, p, lift)} lift * y_{t-1, a}

where ``h_p(t) = decay_p * h_p(t-1) + y_{t-1, p}`` (Hawkes-style memory with exponential
decay; ``alpha_p > 0`` excites, ``alpha_p < 0`` inhibits) and ``weekday_p(t) =
amplitude * cos(2 pi (weekday(t) - favoured_p) / 7)`` for the seasonal parts. How the
day's K events are drawn from the weights ``w_p = exp(logit_p)`` is the ``sampling``:

- ``"cbern"`` (default): conditional Bernoulli (independent Bernoulli with odds w,
  conditioned on exactly K successes), the design the models' K-of-P likelihood assumes.
  The truth is its exact inclusion probabilities (:mod:`core.cbern`), no Monte Carlo
  error, the same bits on every machine.
- ``"successive"``: successive sampling without replacement (the Plackett-Luce top-K
  set): K picks, each among the parts not yet picked with probability proportional to w,
  drawn as an exponential race (the K smallest of ``E_p / w_p``, ``E_p ~ Exp(1)``). A
  different design with the same logits, so quality benchmarks can test models on data
  not drawn the way the models assume. The truth is each day's inclusion probabilities
  by quadrature of the exponential-race integral
  (:func:`successive_inclusion_probabilities`), with its error estimate recorded in
  ``params["truth_method"]`` (below 1e-10 on every day, or generation fails; against
  brute-force enumeration the error is about 1e-14).

``uniform``: every K-subset equally likely; truth K/P. The leakage control.

Part ids are 1-based everywhere a user sees them (CSV, params); arrays are 0-based.
Deterministic: numpy ``Generator(PCG64(seed))``; ``write`` output is byte-for-byte
reproducible (fixed zip timestamps). The cbern truth uses only IEEE basic arithmetic, with
a portable ``exp``, in a fixed order, so it has the same bits on every machine. The
successive truth uses numpy's ``exp``/``log`` and LAPACK-computed Gauss-Legendre nodes, so
it is deterministic on one machine but may differ in the last bits between machines.
"""

from __future__ import annotations

import argparse
import dataclasses
import io
import json
import math
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from core import cbern
from core.errors import InputError
from core.fsutil import atomic_open, atomic_write_bytes

__all__ = [
    "PlantedParams",
    "Synthetic",
    "SyntheticError",
    "RaceTruth",
    "generate",
    "write",
    "successive_inclusion_probabilities",
    "truth_path",
    "KINDS",
    "SAMPLINGS",
    "FORMAT_VERSION",
]

KINDS = ("planted", "uniform")
SAMPLINGS = ("cbern", "successive")
FORMAT_VERSION = 1
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


class SyntheticError(InputError, ValueError):
    """Bad generator arguments or parameters (exit code 2 from the CLI)."""


# ---------------------------------------------------------------------------- params


@dataclass(frozen=True)
class PlantedParams:
    """Strengths and layout of the planted process. Part ids are 1-based.

    Any layout field left as None is filled in from the number of parts P by a fixed
    rule (``resolve`` shows the result; the truth file stores it):

    - base logits: ``base_spread * q_p`` with q evenly spaced over [-1, 1] and spread
      over ids by the stride-16 permutation (so neighbouring ids differ);
    - self-excited parts: ids with ``id % 6 == 1``; inhibited: ``id % 6 == 4``;
    - weekday parts: ids with ``id % 6`` in {2, 5}; favoured weekdays cycle Mon..Sun;
    - pairs: ``(b + 3, b, pair_lift)`` for every ``b % 6 == 3`` with ``b + 3 <= P``
      (a and b carry no other mechanism, so each pair's effect is measurable alone).
    """

    base_spread: float = 0.15
    base_logits: tuple[float, ...] | None = None
    excite_parts: tuple[int, ...] | None = None
    excite_alpha: float = 1.0
    excite_decay: float = 0.6
    inhibit_parts: tuple[int, ...] | None = None
    inhibit_alpha: float = -1.6
    inhibit_decay: float = 0.5
    weekday_parts: tuple[int, ...] | None = None
    weekday_favoured: tuple[int, ...] | None = None  # 0=Mon .. 6=Sun, one per weekday part
    weekday_amplitude: float = 0.7
    pairs: tuple[tuple[int, int, float], ...] | None = None  # (a, b, lift in log-odds)
    pair_lift: float = 1.2

    def resolve(self, parts: int) -> dict:
        """Concrete layout for P=`parts`: a JSON-able dict (ids 1-based)."""
        P = int(parts)
        ids = range(1, P + 1)
        if self.base_logits is not None:
            base = [float(x) for x in self.base_logits]
            if len(base) != P:
                raise SyntheticError(f"base_logits has {len(base)} values, need P={P}")
        else:
            q = np.linspace(-1.0, 1.0, P) if P > 1 else np.zeros(1)
            stride = 16
            while math.gcd(stride, P) != 1:
                stride += 1
            perm = (np.arange(P) * stride) % P  # part perm[j] gets the j-th level
            levels = np.empty(P)
            levels[perm] = q
            base = [round(float(self.base_spread * x), 12) for x in levels]

        def pick(given, rule):
            out = tuple(int(i) for i in given) if given is not None else tuple(i for i in ids if rule(i))
            for i in out:
                if not 1 <= i <= P:
                    raise SyntheticError(f"part id {i} out of range 1..{P}")
            if len(set(out)) != len(out):
                raise SyntheticError(f"duplicate part ids in {out}")
            return out

        excite = pick(self.excite_parts, lambda i: i % 6 == 1)
        inhibit = pick(self.inhibit_parts, lambda i: i % 6 == 4)
        if set(excite) & set(inhibit):
            raise SyntheticError("a part cannot be both self-excited and self-inhibited")
        weekday = pick(self.weekday_parts, lambda i: i % 6 in (2, 5))
        if self.weekday_favoured is not None:
            fav = tuple(int(d) for d in self.weekday_favoured)
            if len(fav) != len(weekday) or any(not 0 <= d <= 6 for d in fav):
                raise SyntheticError("weekday_favoured needs one weekday 0..6 per weekday part")
        else:
            fav = tuple(j % 7 for j in range(len(weekday)))
        if self.pairs is not None:
            pairs = tuple((int(a), int(b), float(l)) for a, b, l in self.pairs)
        else:
            pairs = tuple((b + 3, b, float(self.pair_lift)) for b in ids if b % 6 == 3 and b + 3 <= P)
        for a, b, _ in pairs:
            if not (1 <= a <= P and 1 <= b <= P) or a == b:
                raise SyntheticError(f"bad pair ({a}, {b}): ids must be distinct and in 1..{P}")
        for name, v in (("excite_decay", self.excite_decay), ("inhibit_decay", self.inhibit_decay)):
            if not 0.0 <= v < 1.0:
                raise SyntheticError(f"{name} must be in [0, 1), got {v}")
        return {
            "base_logits": base,
            "excite": {"parts": list(excite), "alpha": float(self.excite_alpha), "decay": float(self.excite_decay)},
            "inhibit": {"parts": list(inhibit), "alpha": float(self.inhibit_alpha), "decay": float(self.inhibit_decay)},
            "weekday": {"parts": list(weekday), "favoured": list(fav), "amplitude": float(self.weekday_amplitude)},
            "pairs": [[a, b, l] for a, b, l in pairs],
        }


@dataclass(frozen=True, eq=False)
class Synthetic:
    """A generated data set.

    dates: (T,) datetime64[D], consecutive days. Y: (T, P) bool, exactly K True a row.
    truth: (T, P) float64, each day's inclusion probabilities (rows sum to K): exact for
    cbern sampling, to the accuracy in ``params["truth_method"]`` for successive.
    kind: "planted" | "uniform". seed: the generator seed. params: JSON-able dict of
    everything that defines the process (resolved layout for planted). It holds
    ``"sampling"`` only for successive data, so cbern files keep the bytes they had
    before sampling was a choice; :attr:`sampling` reads it either way.
    """

    dates: np.ndarray
    Y: np.ndarray
    truth: np.ndarray
    kind: str
    seed: int
    params: dict = field(default_factory=dict)

    @property
    def K(self) -> int:
        return int(self.Y[0].sum()) if len(self.Y) else int(self.params.get("per_day", 0))

    @property
    def P(self) -> int:
        return int(self.Y.shape[1])

    @property
    def sampling(self) -> str:
        return str(self.params.get("sampling", "cbern"))


# ---------------------------------------------------------------------------- generation


def _weekday(dates: np.ndarray) -> np.ndarray:
    """Monday=0 .. Sunday=6 for datetime64[D] dates (1970-01-01 was a Thursday)."""
    return ((dates.astype(np.int64) + 3) % 7).astype(np.int64)


# cos(2 pi m / 7) for m = 0..3, as literals: libm's cos may differ in the last bit
# between machines, and the truth file must not.
_COS7 = (1.0, 0.6234898018587336, -0.22252093395631434, -0.900968867902419)
# Cody-Waite split of ln 2 (the high part has trailing zero bits, so k * _LN2_HI is exact).
_LN2_HI = 0.693147180369123816490
_LN2_LO = 1.90821492927058770002e-10
_EXP_COEF = tuple(1.0 / math.factorial(n) for n in range(14))


def _exp_portable(x: np.ndarray) -> np.ndarray:
    """exp(x) for x <= 0 from +, -, *, / and ldexp only: the same bits on every machine.

    (numpy's exp has CPU-specific SIMD paths and libm has FMA variants; either can
    change the last bit, which would change the truth file's bytes.) Accuracy is a few
    ulp: range reduction x = k ln2 + r, |r| <= ln2 / 2, then a degree-13 Taylor
    polynomial (truncation error < 1e-17). Values below about exp(-745) become 0.
    """
    x = np.asarray(x, dtype=np.float64)
    k = np.maximum(np.rint(x * 1.4426950408889634), -1080.0)  # 1 / ln 2
    r = (x - k * _LN2_HI) - k * _LN2_LO
    p = np.full_like(r, _EXP_COEF[-1])
    for c in _EXP_COEF[-2::-1]:
        p = p * r + c
    return np.where(x < -745.5, 0.0, np.ldexp(p, k.astype(np.int64)))


def _planted(
    T: int, P: int, K: int, rng: np.random.Generator, wd: np.ndarray, lay: dict, sampling: str
) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the planted process. Returns (Y (T,P) bool, W (T,P) day-normalised odds).

    Both samplings consume the same uniforms, one per part and day. The samplers work
    from the logits with math.exp / np.log (fast); the returned odds come from the same
    logits through :func:`_exp_portable`, so the cbern truth has the same bits on every
    machine. The two differ by an ulp or so, which changes a draw with probability ~1e-16
    per part.
    """
    base = np.asarray(lay["base_logits"], dtype=np.float64)
    static = np.tile(base, (7, 1))  # (7, P): base + weekday term per weekday
    amp = lay["weekday"]["amplitude"]
    for p, f in zip(lay["weekday"]["parts"], lay["weekday"]["favoured"]):
        for d in range(7):
            m = (d - f) % 7
            static[d, p - 1] += amp * _COS7[min(m, 7 - m)]
    static_rows = [static[d].tolist() for d in range(7)]
    hawkes = [(p - 1, lay["excite"]["alpha"], lay["excite"]["decay"]) for p in lay["excite"]["parts"]] + [
        (p - 1, lay["inhibit"]["alpha"], lay["inhibit"]["decay"]) for p in lay["inhibit"]["parts"]
    ]
    pairs = [(a - 1, b - 1, lift) for a, b, lift in lay["pairs"]]
    h = [0.0] * len(hawkes)
    U = rng.random((T, P))  # the uniforms the sequential sampler consumes
    clocks = None
    if sampling == "successive":
        with np.errstate(divide="ignore"):  # U = 0 gives clock 0: log -inf, picked first
            clocks = np.log(-np.log1p(-U)).tolist()  # log E, E ~ Exp(1)
    U = U.tolist()
    Y = np.zeros((T, P), dtype=bool)
    L = np.empty((T, P), dtype=np.float64)
    prev: set[int] = set()
    exp = math.exp
    wd_list = wd.tolist()
    # Unscaled sampler tables are safe while K * (logit range) + log C(P, K) stays small.
    log_binom = math.lgamma(P + 1) - math.lgamma(K + 1) - math.lgamma(P - K + 1)
    for t in range(T):
        logit = static_rows[wd_list[t]][:]
        for j, (p, alpha, decay) in enumerate(hawkes):
            hj = decay * h[j] + (1.0 if p in prev else 0.0)
            h[j] = hj
            logit[p] += alpha * hj
        for a, b, lift in pairs:
            if a in prev:
                logit[b] += lift
        if clocks is None:
            top = max(logit)
            lo = min(logit)
            v = [exp(x - top) for x in logit]  # max 1
            chosen = cbern._sample_list(v, K, U[t], rescale=K * (top - lo) + log_binom > 600.0)
        else:
            # Part p arrives at E_p / w_p; logs keep tiny weights from dividing by zero.
            arrival = [e - x for e, x in zip(clocks[t], logit)]
            chosen = sorted(range(P), key=arrival.__getitem__)[:K]
        L[t] = logit
        Y[t, chosen] = True
        prev = set(chosen)
    return Y, _exp_portable(L - L.max(axis=1, keepdims=True))


# ---------------------------------------------------------------------------- successive truth

# Accept a day's quadrature once every probability moves by at most this between a rule
# and the next finer one (and the row sums to K as closely): the accepted, finer value is
# then far more accurate than the difference (about 1e-14 on planted days).
_RACE_TOL = 1e-10
# Single-scale rule: u = 1 - exp(-s t) with s = (sum of the P-K+1 smallest weights) / 8.
# Part i counts only while it and P-K others are all still out, which dies at least at that
# summed rate, so the integrand vanishes like (1-u)^7 at u = 1 and Gauss-Legendre converges
# fast; weights spread over orders of magnitude vary on scales one such map cannot resolve.
_RACE_SLOWEST = 8.0
_RACE_U_NODES = (16, 32)
# Multi-scale rule for those days: a Gauss-Legendre panel on [0, 1/sum(w)], then geometric
# panels up to where the tail is below e^-40, _RACE_PANEL_NODES nodes each.
_RACE_PANELS = (8, 16, 32, 64, 128, 256)
_RACE_PANEL_NODES = 12
_RACE_BLOCK = 1 << 14  # days x nodes per vectorised block: keeps the DP tables in cache


class RaceTruth(NamedTuple):
    """Successive-sampling inclusion probabilities and how well they are known.

    pi: (N, P). error: (N,) per day, the largest change of any probability between the
    accepted rule and the next coarser one (an estimate of the coarser rule's error, so
    conservative for pi). nodes: (N,) quadrature nodes of the accepted rule.
    """

    pi: np.ndarray
    error: np.ndarray
    nodes: np.ndarray


def _race_rule(W: np.ndarray, K: int, rung: tuple[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """Nodes t and weights (N, n) in time for the rows of W, by rule ("u", n) or ("panels", p)."""
    N, P = W.shape
    slowest = np.sort(W, axis=1)[:, : P - K + 1].sum(axis=1)
    form, size = rung
    if form == "u":
        x, a = np.polynomial.legendre.leggauss(size)
        s = slowest / _RACE_SLOWEST
        v = (1.0 - x) / 2.0  # 1 - u
        return -np.log(v) / s[:, None], (a / (2.0 * v)) / s[:, None]
    # With t_end as below, K * C(P, K-1) * exp(-slowest * t_end) bounds the mass after t_end.
    log_c = math.lgamma(P + 1) - math.lgamma(K) - math.lgamma(P - K + 2)
    t_end = (40.0 + log_c + math.log(K)) / slowest
    t_first = 1.0 / W.sum(axis=1)
    edges = t_first[:, None] * (t_end / t_first)[:, None] ** (np.arange(size + 1) / size)
    edges = np.concatenate([np.zeros((N, 1)), edges], axis=1)
    x, a = np.polynomial.legendre.leggauss(_RACE_PANEL_NODES)
    lo, width = edges[:, :-1, None], np.diff(edges, axis=1)[:, :, None]
    return (lo + width * (x + 1.0) / 2.0).reshape(N, -1), (width * a / 2.0).reshape(N, -1)


def _race_integral(W: np.ndarray, K: int, t: np.ndarray, wt: np.ndarray) -> np.ndarray:
    """sum_m wt[m] w_i exp(-w_i t[m]) Pr(fewer than K others arrived by t[m]), per row and part.

    Part j has arrived by t with probability q_j = 1 - exp(-w_j t), independently, so the
    count of the others is Poisson-binomial; its leave-one-out distribution (counts < K
    only) combines prefix tables F with suffix cumulative tables C, O(P K) per node,
    without the subtractions that cancel when some q_j is near 1.
    """
    N, P = W.shape
    n = t.shape[1]
    M = N * n
    stay = np.exp(-W[:, None, :] * t[:, :, None])  # 1 - q: part not yet arrived
    stayT = np.ascontiguousarray(stay.reshape(M, P).T)
    goneT = 1.0 - stayT
    F = np.zeros((P + 1, K, M))  # F[j, k] = Pr(k of parts 0..j-1 arrived)
    F[0, 0] = 1.0
    for j in range(P):
        np.multiply(F[j], stayT[j], out=F[j + 1])
        F[j + 1, 1:] += F[j, :-1] * goneT[j]
    C = np.ones((K, M))  # C[b] = Pr(at most b of parts j+1..P-1 arrived)
    fewer = np.empty((P, M))
    for j in range(P - 1, -1, -1):
        fewer[j] = (F[j] * C[::-1]).sum(axis=0)
        nxt = C * stayT[j]
        nxt[1:] += C[:-1] * goneT[j]
        C = nxt
    f = fewer.T.reshape(N, n, P) * stay * W[:, None, :]
    return (f * wt[:, :, None]).sum(axis=1)


def _race_nodes(rung: tuple[str, int]) -> int:
    form, size = rung
    return size if form == "u" else (size + 1) * _RACE_PANEL_NODES


def _race_apply(W: np.ndarray, K: int, rung: tuple[str, int]) -> np.ndarray:
    step = max(1, _RACE_BLOCK // _race_nodes(rung))
    out = np.empty(W.shape)
    for i in range(0, len(W), step):
        t, wt = _race_rule(W[i : i + step], K, rung)
        out[i : i + step] = _race_integral(W[i : i + step], K, t, wt)
    return out


def successive_inclusion_probabilities(w, K: int) -> RaceTruth:
    """Inclusion probabilities of successive sampling of K parts without replacement.

    w: (N, P) weights >= 0, at least K positive a row; each pick chooses among the parts
    not yet picked with probability proportional to w. Equivalently part i arrives at
    E_i / w_i (E_i ~ Exp(1)) and the K earliest are the set, so

        pi_i = integral_0^inf w_i exp(-w_i t) Pr(fewer than K others arrived by t) dt.

    Each day goes up a ladder of Gauss-Legendre rules (16 and 32 nodes in u = 1 -
    exp(-s t), then 8, 16, .. 256 geometric panels in t for spread weights) until two
    consecutive rules agree to 1e-10 in every probability and the row sums to K within
    1e-10; a day that never does raises SyntheticError. Against brute-force enumeration
    the accepted values are within about 1e-14, also for weights spread over tens of
    nats. Results depend only on the row (never on which rows share a block), so a
    prefix of days gives a prefix. Deterministic on one machine, not bit-portable.
    """
    W = np.asarray(w, dtype=np.float64)
    if W.ndim != 2 or not isinstance(K, (int, np.integer)) or not 1 <= K <= W.shape[1]:
        raise SyntheticError(f"need weights of shape (N, P) and K in 1..P, got {W.shape}, K={K!r}")
    if not np.all(np.isfinite(W)) or np.any(W < 0):
        raise SyntheticError("weights must be finite and >= 0")
    if np.any(np.count_nonzero(W > 0, axis=1) < K):
        raise SyntheticError(f"every day needs at least K={K} positive weights")
    W = W / W.max(axis=1, keepdims=True)  # only ratios matter; keeps t in range
    rungs = [("u", n) for n in _RACE_U_NODES] + [("panels", p) for p in _RACE_PANELS]
    pi = np.empty(W.shape)
    error = np.empty(len(W))
    nodes = np.empty(len(W), dtype=np.int64)
    todo = np.arange(len(W))
    prev = _race_apply(W, K, rungs[0])
    for rung in rungs[1:]:
        cur = _race_apply(W[todo], K, rung)
        err = np.abs(cur - prev).max(axis=1)
        ok = (err <= _RACE_TOL) & (np.abs(cur.sum(axis=1) - K) <= _RACE_TOL)
        done = todo[ok]
        pi[done], error[done] = cur[ok], err[ok]
        nodes[done] = _race_nodes(rung)
        todo, prev = todo[~ok], cur[~ok]
        if not len(todo):
            return RaceTruth(pi, error, nodes)
    raise SyntheticError(
        f"successive-sampling truth did not reach {_RACE_TOL:g} on {len(todo)} "
        f"day(s), the first row {todo[0]}: its weights are too spread"
    )


def generate(
    kind: str,
    *,
    days: int,
    parts: int = 39,
    per_day: int = 5,
    seed: int = 0,
    start: str = "1995-01-02",
    params: PlantedParams | None = None,
    sampling: str = "cbern",
) -> Synthetic:
    """Generate `days` consecutive days from `start` with `per_day` of `parts` parts a day.

    kind "planted" follows `params` (default ``PlantedParams()``) and draws each day's
    set by `sampling` (see the module docstring: "cbern" or "successive"); "uniform" draws
    every K-subset with equal probability (params must be None, sampling "cbern": with
    equal weights both designs are that same draw). Deterministic in `seed`.
    """
    if kind not in KINDS:
        raise SyntheticError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
    if sampling not in SAMPLINGS:
        raise SyntheticError(f"sampling must be one of {', '.join(SAMPLINGS)}, got {sampling!r}")
    for name, v in (("days", days), ("parts", parts), ("per_day", per_day), ("seed", seed)):
        if not isinstance(v, (int, np.integer)) or isinstance(v, bool):
            raise SyntheticError(f"{name} must be an integer, got {v!r}")
    T, P, K, seed = int(days), int(parts), int(per_day), int(seed)
    if T < 1:
        raise SyntheticError(f"days must be >= 1, got {T}")
    if P < 1:
        raise SyntheticError(f"parts must be >= 1, got {P}")
    if not 1 <= K <= P:
        raise SyntheticError(f"per_day must be in 1..{P}, got {K}")
    if seed < 0:
        raise SyntheticError(f"seed must be >= 0, got {seed}")
    try:
        d0 = np.datetime64(start, "D")
    except ValueError as e:
        raise SyntheticError(f"start must be an ISO date YYYY-MM-DD, got {start!r}") from e
    if np.isnat(d0):
        raise SyntheticError(f"start must be an ISO date YYYY-MM-DD, got {start!r}")
    dates = d0 + np.arange(T)
    rng = np.random.Generator(np.random.PCG64(seed))
    meta = {
        "kind": kind,
        "days": T,
        "parts": P,
        "per_day": K,
        "seed": seed,
        "start": str(d0),
        "format_version": FORMAT_VERSION,
    }
    if kind == "uniform":
        if params is not None:
            raise SyntheticError("uniform data takes no planted params")
        if sampling != "cbern":
            raise SyntheticError(
                f"sampling {sampling!r} is for planted data; uniform data has "
                "equal weights, where every design is the same uniform draw"
            )
        keys = rng.random((T, P))
        idx = np.argsort(keys, axis=1, kind="stable")[:, :K]  # a uniformly random K-subset
        Y = np.zeros((T, P), dtype=bool)
        np.put_along_axis(Y, idx, True, axis=1)
        truth = np.full((T, P), K / P)
        return Synthetic(dates, Y, truth, kind, seed, meta)
    params = PlantedParams() if params is None else params
    lay = params.resolve(P)
    Y, W = _planted(T, P, K, rng, _weekday(dates), lay, sampling)
    if sampling == "cbern":
        truth = cbern.inclusion_probabilities(W, K)
        return Synthetic(dates, Y, truth, kind, seed, {**meta, "planted": lay})
    race = successive_inclusion_probabilities(W, K)
    row_sum = float(np.abs(race.pi.sum(axis=1) - K).max())
    least = _race_nodes(("u", _RACE_U_NODES[-1]))
    more = int(np.count_nonzero(race.nodes > least))
    nodes = f"{least} nodes a day" + (f", {more} days up to {int(race.nodes.max())}" if more else "")
    method = (
        f"exponential-race quadrature (Gauss-Legendre, {nodes}), max error estimate "
        f"{float(race.error.max()):.1e}, max row-sum error {row_sum:.1e}"
    )
    return Synthetic(
        dates, Y, race.pi, kind, seed, {**meta, "planted": lay, "sampling": sampling, "truth_method": method}
    )


# ---------------------------------------------------------------------------- writing


def truth_path(csv_path: str | Path) -> Path:
    """The truth sidecar beside a data file: ``<stem>.truth.npz``."""
    p = Path(csv_path)
    return p.with_name(p.stem + ".truth.npz")


def _csv_bytes(syn: Synthetic) -> bytes:
    K = syn.K
    header = "date," + ",".join(f"e{i}" for i in range(1, K + 1)) + "\n"
    ids = (np.nonzero(syn.Y)[1] + 1).reshape(len(syn.Y), K)  # row-major: ascending per row
    dstr = np.datetime_as_string(syn.dates, unit="D")
    lines = [d + "," + ",".join(map(str, row)) for d, row in zip(dstr.tolist(), ids.tolist())]
    return (header + "\n".join(lines) + "\n").encode("ascii")


LAYOUTS = ("draws", "draws-us")
REAL_WEEKDAYS = (0, 1, 3, 5)  # Mon, Tue, Thu, Sat: the early draw days of the real layout


def real_calendar(start: str, n: int, weekly_years: int, weekdays: tuple[int, ...] = REAL_WEEKDAYS) -> np.ndarray:
    """`n` draw dates from `start`: only `weekdays` (0 = Mon) for the first `weekly_years`
    years, then every day (the calendar of a real history: four draws a week at first)."""
    first = np.datetime64(start, "D")
    switch = np.datetime64(f"{first.astype(object).year + weekly_years:04d}-{str(first)[5:]}", "D")
    weekly_span = int((switch - first).astype(np.int64)) if weekly_years > 0 else 0
    early = first + np.arange(weekly_span)
    early = early[np.isin((early.astype(np.int64) + 3) % 7, weekdays)][:n]
    late = switch + np.arange(max(n - len(early), 0))
    if weekly_years <= 0:
        late = first + np.arange(n)
    return np.concatenate([early, late]).astype("datetime64[D]")


def with_calendar(syn: Synthetic, dates: np.ndarray) -> Synthetic:
    """The same draws and truth on other dates (one per row, increasing)."""
    dates = np.asarray(dates).astype("datetime64[D]")
    if dates.shape != (len(syn.Y),) or (np.diff(dates).astype(np.int64) < 1).any():
        raise SyntheticError(f"need {len(syn.Y)} increasing dates, got shape {dates.shape}")
    return dataclasses.replace(syn, dates=dates)


def _csv_bytes_us(syn: Synthetic) -> bytes:
    """The layout real histories come in: ``date,m_1..m_K``, US dates M/D/YYYY without
    leading zeros, parts ascending within the row, no newline after the last row."""
    K = syn.K
    header = "date," + ",".join(f"m_{i}" for i in range(1, K + 1)) + "\n"
    ids = (np.nonzero(syn.Y)[1] + 1).reshape(len(syn.Y), K)
    d = syn.dates.astype("datetime64[D]")
    y = d.astype("datetime64[Y]").astype(np.int64) + 1970
    m = d.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (d - d.astype("datetime64[M]").astype("datetime64[D]")).astype(np.int64) + 1
    lines = [
        f"{mm}/{dd}/{yy}," + ",".join(map(str, row))
        for mm, dd, yy, row in zip(m.tolist(), day.tolist(), y.tolist(), ids.tolist())
    ]
    return (header + "\n".join(lines)).encode("ascii")


def _npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz (zip of .npy, stored) with fixed timestamps and attributes: same bytes every time."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        for name, arr in arrays.items():
            member = io.BytesIO()
            np.lib.format.write_array(member, np.asarray(arr), allow_pickle=False)
            zi = zipfile.ZipInfo(name + ".npy", date_time=_ZIP_TIME)
            zi.create_system = 3
            zi.external_attr = 0o644 << 16
            zi.compress_type = zipfile.ZIP_STORED
            zf.writestr(zi, member.getvalue())
    return buf.getvalue()


def write(out: str | Path, syn: Synthetic, layout: str = "draws") -> list[Path]:
    """Write the draws CSV at `out` and the truth sidecar ``<stem>.truth.npz`` beside it.

    CSV: header ``date,e1..eK``, one line per day, part ids ascending (1-based), "\\n"
    line ends. NPZ arrays: truth (T,P) float64, dates (T,) datetime64[D], K, P, seed
    (int64 scalars), kind (str), params (JSON str), format_version. Both files are
    written atomically and are byte-for-byte reproducible. Returns [csv, npz].
    layout "draws-us" writes the CSV the way real histories come (`_csv_bytes_us`).
    """
    if layout not in LAYOUTS:
        raise SyntheticError(f"layout must be one of {', '.join(LAYOUTS)}, got {layout!r}")
    if syn.Y.shape[0] == 0:
        raise SyntheticError("nothing to write: no days")
    k = syn.Y.sum(axis=1)
    if not np.all(k == k[0]):
        raise SyntheticError("every day must have the same number of events to write draws")
    out = Path(out)
    npz = truth_path(out)
    arrays = {
        "truth": np.ascontiguousarray(syn.truth, dtype=np.float64),
        "dates": syn.dates.astype("datetime64[D]"),
        "K": np.int64(syn.K),
        "P": np.int64(syn.P),
        "seed": np.int64(syn.seed),
        "kind": np.str_(syn.kind),
        "params": np.str_(json.dumps(syn.params, sort_keys=True, separators=(",", ":"))),
        "format_version": np.int64(FORMAT_VERSION),
    }
    out.parent.mkdir(parents=True, exist_ok=True)  # --out may name a new folder; atomic writes make none
    with atomic_open(out, "wb") as fh:
        fh.write(_csv_bytes_us(syn) if layout == "draws-us" else _csv_bytes(syn))
    try:
        atomic_write_bytes(npz, _npz_bytes(arrays))
    except BaseException:
        out.unlink(missing_ok=True)  # a data file without its truth would be half a result
        raise
    return [out, npz]


# ---------------------------------------------------------------------------- CLI


def _main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m core.data.synthetic",
        description="Generate a synthetic draws CSV and its <stem>.truth.npz (same as `synapse data generate`).",
    )
    ap.add_argument("--kind", choices=KINDS, default="planted")
    ap.add_argument("--sampling", choices=SAMPLINGS, default="cbern")
    ap.add_argument("--days", type=int, default=11_000)
    ap.add_argument("--parts", type=int, default=39)
    ap.add_argument("--per-day", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--start", default="1995-01-02")
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--force", action="store_true", help="overwrite existing files")
    a = ap.parse_args(argv)
    try:
        existing = [p for p in (a.out, truth_path(a.out)) if p.exists()]
        if existing and not a.force:
            raise SyntheticError(f"{existing[0]} exists; pass --force to overwrite")
        syn = generate(
            a.kind, days=a.days, parts=a.parts, per_day=a.per_day, seed=a.seed, start=a.start, sampling=a.sampling
        )
        paths = write(a.out, syn)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
