"""Dates in a data file: parsed a block at a time with numpy, the format inferred from the
whole column (docs/ARCHITECTURE.md, "Data").

A cell is first reduced to its *shape* (which separator, where the four-digit year is) and
three numbers, vectorised over a block of rows; once every block is read, the format is
chosen from the whole column (`infer_format`) and the numbers become dates (`to_dates`).

Formats: ``YYYY-MM-DD`` (ISO), ``M/D/YYYY``, ``D/M/YYYY``, ``D.M.YYYY``, ``YYYYMMDD``
inferred; any order of Y, M and D with ``-``, ``/``, ``.`` (or none, year first) when
given (`parse_format`). Leading zeros are optional; years have four digits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

# cell codes (shared with core.data.validate)
_OK, _MISS, _BAD, _RANGE, _NODAY = 0, 1, 2, 3, 4
_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>", "nat"})  # compared lower-cased

# shapes: 0 bad, 1 missing, 2 + 4 * kind + sep with kind 0 = year first, 1 = year last
SEPS = ("-", "/", ".", "")
_S_BAD, _S_MISS = 0, 1
_WIDTH = 12  # the longest date cell: DD/MM/YYYY is 10; anything over 12 is not a date


def _shape(year_first: bool, sep: str) -> int:
    return 2 + 4 * (0 if year_first else 1) + SEPS.index(sep)


@dataclass(frozen=True)
class DateFormat:
    """order: "ymd" | "mdy" | "dmy"; sep: one of SEPS ("" only for ymd)."""

    order: str
    sep: str

    @property
    def name(self) -> str:
        if self.order == "ymd":
            return self.sep.join(("YYYY", "MM", "DD"))
        return self.sep.join({"mdy": ("M", "D", "YYYY"), "dmy": ("D", "M", "YYYY")}[self.order])

    @property
    def shape(self) -> int:
        return _shape(self.order == "ymd", self.sep)

    def __str__(self) -> str:
        return self.name


ISO = DateFormat("ymd", "-")
FORMAT_NAMES = ("YYYY-MM-DD", "M/D/YYYY", "D/M/YYYY", "D.M.YYYY", "YYYYMMDD")
_SPEC = re.compile(r"(Y{4}|M{1,2}|D{1,2})([-/.]?)(Y{4}|M{1,2}|D{1,2})\2(Y{4}|M{1,2}|D{1,2})")


def parse_format(spec: str) -> DateFormat:
    """'M/D/YYYY', 'DD.MM.YYYY', 'YYYY-MM-DD', 'YYYYMMDD', 'iso', ... -> DateFormat; ValueError
    naming the accepted forms otherwise."""
    s = spec.strip().upper()
    if s == "ISO":
        return ISO
    m = _SPEC.fullmatch(s)
    if m:
        order = "".join(t[0].lower() for t in (m[1], m[3], m[4]))
        sep = m[2]
        if order in ("ymd", "mdy", "dmy") and (sep or order == "ymd"):
            return DateFormat(order, sep)
    raise ValueError(
        f"{spec!r} is not a date format: use one of {', '.join(FORMAT_NAMES)} "
        "(or another order of D, M and YYYY with -, / or .)"
    )


# ----------------------------------------------------------------------------- per block
def split_dates(strs: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cells -> (shape int8, a, b, c int32): the three numbers in written order (for
    YYYYMMDD: year, month, day). Vectorised: the cells become a (t, 12) byte matrix; rows
    with the same separator positions and length (a handful: 1/2/2001, 1/13/2001, ...) are
    read at fixed offsets together. Python only looks at cells that are not dates."""
    t = len(strs)
    shape = np.full(t, _S_BAD, np.int8)
    a = np.zeros(t, np.int64)
    b = np.zeros(t, np.int64)
    c = np.zeros(t, np.int64)
    if not t:
        return shape, a.astype(np.int32), b.astype(np.int32), c.astype(np.int32)
    joined = "".join(strs)
    if joined.isascii() and "\x00" not in joined:  # the usual case: no Python loop
        M = np.array(strs, dtype=f"S{_WIDTH + 1}").view(np.uint8).reshape(t, _WIDTH + 1)
        ok = M[:, _WIDTH] == 0  # longer than _WIDTH: not a date
        M = M[:, :_WIDTH]
        if ok.all() and (M[:, 9] != 0).all() and not M[:, 10].any() and (M[:, 4] == 45).all() and (M[:, 7] == 45).all():
            Dg = M[:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int32) - 48
            if ((Dg >= 0) & (Dg <= 9)).all():  # every cell YYYY-MM-DD: the usual file, at fixed offsets
                y = Dg[:, 0] * 1000 + Dg[:, 1] * 100 + Dg[:, 2] * 10 + Dg[:, 3]
                shape[:] = _shape(True, "-")
                return shape, y, Dg[:, 4] * 10 + Dg[:, 5], Dg[:, 6] * 10 + Dg[:, 7]
        lens = (M != 0).sum(1)
    else:
        lens = np.fromiter(map(len, strs), np.int64, t)
        ok = (lens <= _WIDTH) & np.fromiter((s.isascii() and "\x00" not in s for s in strs), bool, t)
        M = np.array([s if k else "" for s, k in zip(strs, ok)], dtype=f"S{_WIDTH}")
        M = M.view(np.uint8).reshape(t, _WIDTH)
    dig = (M >= 48) & (M <= 57)
    sep = (M == 45) | (M == 47) | (M == 46)
    nsep = sep.sum(1)
    ok &= ((dig | sep).sum(1) == lens) & ((nsep == 2) | (nsep == 0)) & (lens > 0)
    p1 = np.argmax(sep, 1)
    later = sep.copy()
    later[np.arange(t), p1] = False
    p2 = np.argmax(later, 1)
    two = nsep == 2
    rows = np.arange(t)
    ok &= ~two | (M[rows, p1] == M[rows, p2])
    first = M[rows, p1]
    kind = np.where(two, np.where(first == 45, 0, np.where(first == 47, 1, 2)), 0)
    key = np.where(ok, ((kind * 16 + np.where(two, p1, 0)) * 16 + np.where(two, p2, 0)) * 16 + lens, -1)
    D = M.astype(np.int64) - 48
    for k in np.unique(key):
        if k < 0:
            continue
        idx = np.flatnonzero(key == k)
        q1, q2, n = int(k) // 256 % 16, int(k) // 16 % 16, int(k) % 16
        ch = SEPS[int(k) // 4096]

        def num(lo: int, hi: int, idx=idx) -> np.ndarray:
            v = np.zeros(len(idx), np.int64)
            for j in range(lo, hi):
                v = v * 10 + D[idx, j]
            return v

        if q2 == 0:  # no separator: YYYYMMDD only
            if n == 8:
                shape[idx] = _shape(True, "")
                a[idx], b[idx], c[idx] = num(0, 4), num(4, 6), num(6, 8)
            continue
        l0, l1, l2 = q1, q2 - q1 - 1, n - q2 - 1
        if l0 == 4 and 1 <= l1 <= 2 and 1 <= l2 <= 2:
            shape[idx] = _shape(True, ch)
        elif 1 <= l0 <= 2 and 1 <= l1 <= 2 and l2 == 4:
            shape[idx] = _shape(False, ch)
        else:
            continue
        a[idx], b[idx], c[idx] = num(0, q1), num(q1 + 1, q2), num(q2 + 1, n)
    for i in np.flatnonzero(shape == _S_BAD):
        if strs[i].lower() in _MISSING:
            shape[i] = _S_MISS
    return shape, a.astype(np.int32), b.astype(np.int32), c.astype(np.int32)


# ----------------------------------------------------------------------------- inference
@dataclass(frozen=True)
class Inferred:
    fmt: DateFormat
    why: str
    row: int | None = None  # the row that settled day/month order, for the caller to name


class Ambiguous(Exception):
    """The column fits M/D and D/M alike: `example` is the row index of a cell to quote."""

    def __init__(self, sep: str, example: int):
        super().__init__(sep)
        self.sep, self.example = sep, example


def infer_format(shape: np.ndarray, a: np.ndarray, b: np.ndarray) -> Inferred:
    """The format of a whole column: its commonest shape; for day and month written before
    the year, a number above 12 in one place settles which is the day. Raises Ambiguous
    when nothing settles it (dots excepted: D.M.YYYY is the dotted convention)."""
    codes, counts = np.unique(shape[shape >= 2], return_counts=True)
    if not codes.size:
        return Inferred(ISO, "no cell holds a date; ISO YYYY-MM-DD expected")
    top = int(codes[np.argmax(counts)])
    n, total = int(counts.max()), int(counts.sum())
    kind, s = divmod(top - 2, 4)
    sep = SEPS[s]
    share = "every date" if n == total else f"{n:,} of {total:,} dates"
    if kind == 0:
        f = DateFormat("ymd", sep)
        return Inferred(f, f"{share} written {f.name}")
    mine = shape == top
    a_big = np.flatnonzero(mine & (a > 12))
    b_big = np.flatnonzero(mine & (b > 12))
    if a_big.size and (not b_big.size or a_big.size >= b_big.size):
        f = DateFormat("dmy", sep)
        return Inferred(f, f"{share} written {f.name}: the first number goes above 12", int(a_big[0]))
    if b_big.size:
        f = DateFormat("mdy", sep)
        return Inferred(f, f"{share} written {f.name}: the second number goes above 12", int(b_big[0]))
    if sep == ".":
        f = DateFormat("dmy", sep)
        return Inferred(f, f"{share} written {f.name} (dotted dates are day first; no number above 12 says otherwise)")
    if not (mine & (a != b)).any():  # 1/1, 2/2, ...: the same day either way
        f = DateFormat("mdy", sep)
        return Inferred(f, f"{share} written {f.name} (day and month are equal on every row)")
    raise Ambiguous(sep, int(np.flatnonzero(mine & (a != b))[0]))


def to_dates(shape: np.ndarray, a: np.ndarray, b: np.ndarray, c: np.ndarray, fmt: DateFormat):
    """(datetime64[D] with NaT where bad, codes _OK/_MISS/_BAD/_NODAY) under `fmt`."""
    t = len(shape)
    if fmt.order == "ymd":
        y, m, d = a, b, c
    elif fmt.order == "mdy":
        m, d, y = a, b, c
    else:
        d, m, y = a, b, c
    y, m, d = y.astype(np.int64), m.astype(np.int64), d.astype(np.int64)
    fits = (shape == fmt.shape) & (m >= 1) & (m <= 12) & (d >= 1) & (d <= 31)
    ym = ((np.where(fits, y, 1970) - 1970) * 12 + np.where(fits, m, 1) - 1).astype("datetime64[M]")
    dates = ym.astype("datetime64[D]") + (np.where(fits, d, 1) - 1)
    real = fits & (dates.astype("datetime64[M]") == ym)
    codes = np.zeros(t, np.int8)
    codes[shape != fmt.shape] = _BAD
    codes[(shape == fmt.shape) & ~real] = _NODAY
    codes[shape == _S_MISS] = _MISS
    dates[codes != _OK] = np.datetime64("NaT")
    return dates, codes
