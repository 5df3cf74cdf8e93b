"""The candidate rules of every kind, counted for all parts at once on one window of days.

A window is the target days [start, stop) of the history; an antecedent may look back at up
to `lookback` earlier rows (for the validation window those are training rows, already
known; the training window has nothing before row 0). Nothing at or after `stop` is read.

Each kind gives, per candidate, the 2x2 counts its test needs (see `core.rules.stats`):
`n` antecedent days in the window, `x` of them with the consequent, the consequent's null
rate per antecedent day `base`, and for the hypergeometric kinds the window's `N` days and
the consequent's `M` days. The antecedent matrices are built with cumulative sums over the
time axis and the counts for every (p, q) pair come from one (P x T) @ (T x P) product.

Kinds (part ids 0-based here, 1-based in rulebooks):

* follow_within (a, b): p occurred on some day in [s - b, s - a] -> q on day s more likely.
* inhibition (a, b): the same antecedent -> q on day s less likely.
* cooccurrence: p and q on the same day more often than exactly-K days imply (p < q).
* long_absence g: p not seen on the g days before s -> p on day s more likely.
* calendar: day s is weekday w (or in month m) -> p more likely.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

KINDS = ("follow_within", "inhibition", "cooccurrence", "long_absence", "calendar")
KIND_CODE = {k: i for i, k in enumerate(KINDS)}
HYPER, BINOM = 0, 1  # which exact test
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
CAL_WEEKDAY, CAL_MONTH = 0, 1


@dataclass
class Table:
    """One row per candidate (struct of arrays); the same settings give the same rows in the same
    order on every window, so the training and validation tables align row by row."""

    kind: np.ndarray  # int8 code into KINDS
    ant: np.ndarray  # antecedent part (0-based), -1 for calendar
    cons: np.ndarray  # consequent part (0-based)
    a: np.ndarray  # follow/inhibition: window min; long_absence: gap; calendar: CAL_WEEKDAY | CAL_MONTH
    b: np.ndarray  # follow/inhibition: window max; calendar: weekday 0..6 or month 0..11
    direction: np.ndarray  # +1 more likely, -1 less likely
    test: np.ndarray  # HYPER | BINOM
    n: np.ndarray  # antecedent days (trials)
    x: np.ndarray  # antecedent days with the consequent
    base: np.ndarray  # the consequent's null rate per trial
    N: np.ndarray  # days in the window
    M: np.ndarray  # consequent days in the window

    def __len__(self) -> int:
        return int(self.kind.size)

    @staticmethod
    def concat(tables: list[Table]) -> Table:
        if not tables:
            return Table(*(np.zeros(0, dtype=np.int64) for _ in fields(Table)))
        return Table(*(np.concatenate([getattr(t, f.name) for t in tables]) for f in fields(Table)))

    def take(self, idx: np.ndarray) -> Table:
        return Table(*(getattr(self, f.name)[idx] for f in fields(Table)))


def weekday_index(dates: np.ndarray) -> np.ndarray:
    """0 = Monday .. 6 = Sunday (1970-01-01 was a Thursday)."""
    return ((dates.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.int64)


def month_index(dates: np.ndarray) -> np.ndarray:
    """0 = January .. 11 = December."""
    return (dates.astype("datetime64[M]").astype(np.int64) % 12).astype(np.int64)


def _cumsum(Y: np.ndarray) -> np.ndarray:
    C = np.zeros((Y.shape[0] + 1, Y.shape[1]), dtype=np.int32)
    np.cumsum(Y, axis=0, dtype=np.int32, out=C[1:])
    return C


def recent_counts(C: np.ndarray, s: np.ndarray, a: int, b: int) -> np.ndarray:
    """(len(s), P): occurrences in rows [s - b, s - a] (clipped at row 0), from the cumsum C."""
    hi = np.clip(s - a + 1, 0, None)
    lo = np.clip(s - b, 0, None)
    lo = np.minimum(lo, hi)
    return C[hi] - C[lo]


def _pairs_table(kind: str, n_ant, x, base, N, M, a: int, b: int, direction: int) -> Table:
    """Rows for every ordered (p, q) from (P,) antecedent counts and a (P, P) hit matrix."""
    P = x.shape[0]
    p, q = np.divmod(np.arange(P * P), P)
    size = P * P
    return Table(
        kind=np.full(size, KIND_CODE[kind], dtype=np.int64),
        ant=p,
        cons=q,
        a=np.full(size, a, dtype=np.int64),
        b=np.full(size, b, dtype=np.int64),
        direction=np.full(size, direction, dtype=np.int64),
        test=np.full(size, HYPER, dtype=np.int64),
        n=np.asarray(n_ant, dtype=np.int64)[p],
        x=np.asarray(x, dtype=np.int64).ravel(),
        base=np.asarray(base, dtype=np.float64)[q],
        N=np.full(size, N, dtype=np.int64),
        M=np.asarray(M, dtype=np.int64)[q],
    )


def follow(Yext: np.ndarray, off: int, windows, *, inhibition: bool = True) -> list[Table]:
    """follow_within (and inhibition, the same counts read the other way) for every window."""
    C = _cumsum(Yext)
    s = np.arange(off, Yext.shape[0])
    Yt = Yext[off:].astype(np.float64)
    N = Yt.shape[0]
    M = Yt.sum(axis=0)
    base = M / max(N, 1)
    out = []
    for a, b in windows:
        A = (recent_counts(C, s, a, b) > 0).astype(np.float64)
        hits = np.rint(A.T @ Yt)
        n_ant = A.sum(axis=0)
        out.append(_pairs_table("follow_within", n_ant, hits, base, N, M, a, b, +1))
        if inhibition:
            out.append(_pairs_table("inhibition", n_ant, hits, base, N, M, a, b, -1))
    return out


def cooccurrence(Yext: np.ndarray, off: int) -> list[Table]:
    """Unordered pairs p < q on the same day, against the rate exactly-K days imply.

    Null rate of q on a day with p: c_pq = r_q (K - 1) / sqrt((K - r_p)(K - r_q)), the
    symmetrised mean-field rate r_q (K - 1) / (K - r_p) (the other K - 1 slots shared in
    proportion to the other parts' rates); exact, (K - 1) / (P - 1), for uniform days. K is
    the window's mean events a day."""
    Yt = Yext[off:].astype(np.float64)
    N, P = Yt.shape
    M = Yt.sum(axis=0)
    r = M / max(N, 1)
    K = float(Yt.sum()) / max(N, 1)
    both = np.rint(Yt.T @ Yt)
    p, q = np.triu_indices(P, k=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        c = r[q] * (K - 1) / np.sqrt((K - r[p]) * (K - r[q]))
    size = p.size
    return [
        Table(
            kind=np.full(size, KIND_CODE["cooccurrence"], dtype=np.int64),
            ant=p.astype(np.int64),
            cons=q.astype(np.int64),
            a=np.zeros(size, dtype=np.int64),
            b=np.zeros(size, dtype=np.int64),
            direction=np.ones(size, dtype=np.int64),
            test=np.full(size, BINOM, dtype=np.int64),
            n=M[p].astype(np.int64),
            x=both[p, q].astype(np.int64),
            base=np.nan_to_num(c, nan=0.0),
            N=np.full(size, N, dtype=np.int64),
            M=M[q].astype(np.int64),
        )
    ]


def long_absence(Yext: np.ndarray, off: int, first_row: int, gaps) -> list[Table]:
    """p unseen on the g rows before day s (and at least g rows of history exist) -> p on day s."""
    C = _cumsum(Yext)
    s = np.arange(off, Yext.shape[0])
    Yt = Yext[off:]
    N, P = Yt.shape
    M = Yt.sum(axis=0).astype(np.int64)
    base = M / max(N, 1)
    out = []
    for g in gaps:
        known = (first_row + s) >= g
        A = (recent_counts(C, s, 1, g) == 0) & known[:, None]
        n_ant = A.sum(axis=0)
        x = (A & Yt).sum(axis=0)
        parts = np.arange(P, dtype=np.int64)
        out.append(
            Table(
                kind=np.full(P, KIND_CODE["long_absence"], dtype=np.int64),
                ant=parts,
                cons=parts.copy(),
                a=np.full(P, g, dtype=np.int64),
                b=np.zeros(P, dtype=np.int64),
                direction=np.ones(P, dtype=np.int64),
                test=np.full(P, HYPER, dtype=np.int64),
                n=n_ant.astype(np.int64),
                x=x.astype(np.int64),
                base=base,
                N=np.full(P, N, dtype=np.int64),
                M=M,
            )
        )
    return out


def calendar(Yext: np.ndarray, off: int, dates_ext: np.ndarray, which) -> list[Table]:
    """Weekday w (7 rows per part) and month m (12 rows per part) -> p more likely."""
    Yt = Yext[off:].astype(np.float64)
    N, P = Yt.shape
    M = Yt.sum(axis=0)
    base = M / max(N, 1)
    d = dates_ext[off:]
    out = []
    for code, name, size, idx in (
        (CAL_WEEKDAY, "weekday", 7, weekday_index),
        (CAL_MONTH, "month", 12, month_index),
    ):
        if name not in which:
            continue
        onehot = np.zeros((N, size))
        onehot[np.arange(N), idx(d)] = 1.0
        hits = np.rint(onehot.T @ Yt)  # (size, P)
        n_ant = onehot.sum(axis=0)
        v, q = np.divmod(np.arange(size * P), P)
        out.append(
            Table(
                kind=np.full(size * P, KIND_CODE["calendar"], dtype=np.int64),
                ant=np.full(size * P, -1, dtype=np.int64),
                cons=q.astype(np.int64),
                a=np.full(size * P, code, dtype=np.int64),
                b=v.astype(np.int64),
                direction=np.ones(size * P, dtype=np.int64),
                test=np.full(size * P, HYPER, dtype=np.int64),
                n=n_ant[v].astype(np.int64),
                x=hits.ravel().astype(np.int64),
                base=base[q],
                N=np.full(size * P, N, dtype=np.int64),
                M=M[q].astype(np.int64),
            )
        )
    return out
