"""Seeded synthetic data: a planted daily process with exact truth, and a uniform control.

``planted``: each day t every part p gets a logit

    base_p + weekday_p(t) + alpha_p * h_p(t) + sum_{(a, p, lift)} lift * y_{t-1, a}

where ``h_p(t) = decay_p * h_p(t-1) + y_{t-1, p}`` (Hawkes-style memory with exponential
decay; ``alpha_p > 0`` excites, ``alpha_p < 0`` inhibits) and ``weekday_p(t) =
amplitude * cos(2 pi (weekday(t) - favoured_p) / 7)`` for the seasonal parts. The day's
events are a conditional Bernoulli draw (independent Bernoulli with odds exp(logit),
conditioned on exactly K successes), and the day's truth is that design's exact
inclusion probabilities (:mod:`core.cbern`), so ``truth`` has no Monte Carlo error.

``uniform``: every K-subset equally likely; truth K/P. The leakage control.

Part ids are 1-based everywhere a user sees them (CSV, params); arrays are 0-based.
Deterministic: numpy ``Generator(PCG64(seed))``; ``write`` output is byte-for-byte
reproducible (fixed zip timestamps; the truth uses only IEEE basic arithmetic, with a
portable ``exp``, in a fixed order, so it has the same bits on every machine).
"""
from __future__ import annotations

import argparse
import io
import json
import math
import sys
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from core import cbern
from core.errors import InputError
from core.fsutil import atomic_open, atomic_write_bytes

__all__ = ["PlantedParams", "Synthetic", "SyntheticError", "generate", "write",
           "truth_path", "KINDS", "FORMAT_VERSION"]

KINDS = ("planted", "uniform")
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
            "excite": {"parts": list(excite), "alpha": float(self.excite_alpha),
                       "decay": float(self.excite_decay)},
            "inhibit": {"parts": list(inhibit), "alpha": float(self.inhibit_alpha),
                        "decay": float(self.inhibit_decay)},
            "weekday": {"parts": list(weekday), "favoured": list(fav),
                        "amplitude": float(self.weekday_amplitude)},
            "pairs": [[a, b, l] for a, b, l in pairs],
        }


@dataclass(frozen=True, eq=False)
class Synthetic:
    """A generated data set.

    dates: (T,) datetime64[D], consecutive days. Y: (T, P) bool, exactly K True a row.
    truth: (T, P) float64, each day's exact inclusion probabilities (rows sum to K).
    kind: "planted" | "uniform". seed: the generator seed. params: JSON-able dict of
    everything that defines the process (resolved layout for planted).
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


def _planted(T: int, P: int, K: int, rng: np.random.Generator, wd: np.ndarray,
             lay: dict) -> tuple[np.ndarray, np.ndarray]:
    """Simulate the planted process. Returns (Y (T,P) bool, W (T,P) day-normalised odds).

    The sampler uses math.exp (fast); the returned odds come from the same logits
    through :func:`_exp_portable`, so the truth has the same bits on every machine. The
    two differ by an ulp or so, which changes a draw with probability ~1e-16 per part.
    """
    base = np.asarray(lay["base_logits"], dtype=np.float64)
    static = np.tile(base, (7, 1))  # (7, P): base + weekday term per weekday
    amp = lay["weekday"]["amplitude"]
    for p, f in zip(lay["weekday"]["parts"], lay["weekday"]["favoured"]):
        for d in range(7):
            m = (d - f) % 7
            static[d, p - 1] += amp * _COS7[min(m, 7 - m)]
    static_rows = [static[d].tolist() for d in range(7)]
    hawkes = ([(p - 1, lay["excite"]["alpha"], lay["excite"]["decay"]) for p in lay["excite"]["parts"]]
              + [(p - 1, lay["inhibit"]["alpha"], lay["inhibit"]["decay"]) for p in lay["inhibit"]["parts"]])
    pairs = [(a - 1, b - 1, lift) for a, b, lift in lay["pairs"]]
    h = [0.0] * len(hawkes)
    U = rng.random((T, P)).tolist()  # the uniforms the sequential sampler consumes
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
        top = max(logit)
        lo = min(logit)
        v = [exp(x - top) for x in logit]  # max 1
        chosen = cbern._sample_list(v, K, U[t], rescale=K * (top - lo) + log_binom > 600.0)
        L[t] = logit
        Y[t, chosen] = True
        prev = set(chosen)
    return Y, _exp_portable(L - L.max(axis=1, keepdims=True))


def generate(kind: str, *, days: int, parts: int = 39, per_day: int = 5, seed: int = 0,
             start: str = "1995-01-02", params: PlantedParams | None = None) -> Synthetic:
    """Generate `days` consecutive days from `start` with `per_day` of `parts` parts a day.

    kind "planted" follows `params` (default ``PlantedParams()``); "uniform" draws every
    K-subset with equal probability (params must be None). Deterministic in `seed`.
    """
    if kind not in KINDS:
        raise SyntheticError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
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
    meta = {"kind": kind, "days": T, "parts": P, "per_day": K, "seed": seed,
            "start": str(d0), "format_version": FORMAT_VERSION}
    if kind == "uniform":
        if params is not None:
            raise SyntheticError("uniform data takes no planted params")
        keys = rng.random((T, P))
        idx = np.argsort(keys, axis=1, kind="stable")[:, :K]  # a uniformly random K-subset
        Y = np.zeros((T, P), dtype=bool)
        np.put_along_axis(Y, idx, True, axis=1)
        truth = np.full((T, P), K / P)
        return Synthetic(dates, Y, truth, kind, seed, meta)
    params = PlantedParams() if params is None else params
    lay = params.resolve(P)
    Y, W = _planted(T, P, K, rng, _weekday(dates), lay)
    truth = cbern.inclusion_probabilities(W, K)
    return Synthetic(dates, Y, truth, kind, seed, {**meta, "planted": lay})


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


def write(out: str | Path, syn: Synthetic) -> list[Path]:
    """Write the draws CSV at `out` and the truth sidecar ``<stem>.truth.npz`` beside it.

    CSV: header ``date,e1..eK``, one line per day, part ids ascending (1-based), "\\n"
    line ends. NPZ arrays: truth (T,P) float64, dates (T,) datetime64[D], K, P, seed
    (int64 scalars), kind (str), params (JSON str), format_version. Both files are
    written atomically and are byte-for-byte reproducible. Returns [csv, npz].
    """
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
    with atomic_open(out, "wb") as fh:
        fh.write(_csv_bytes(syn))
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
        description="Generate a synthetic draws CSV and its <stem>.truth.npz "
                    "(same as `synapse data generate`).")
    ap.add_argument("--kind", choices=KINDS, default="planted")
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
        syn = generate(a.kind, days=a.days, parts=a.parts, per_day=a.per_day, seed=a.seed,
                       start=a.start)
        paths = write(a.out, syn)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for p in paths:
        print(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
