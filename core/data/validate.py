"""Shared validation of a daily event file: header layout, cell parsing and the checks.

`core.data.load` (CSV) and `core.data.parquet` turn a file into columns of cells and
hand them here. Every problem becomes ONE `DataError` naming the file and the 1-based
line (CSV) or row (Parquet); when there are several, the first in file order wins.

Speed: each column is validated with numpy; Python-level loops only run to explain a
problem that the vectorised checks have already found.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from collections.abc import Callable, Sequence

import numpy as np

from core.errors import DataError

DEFAULT_PARTS = 39

_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>", "nat"})  # compared lower-cased
_INT = re.compile(r"[+-]?[0-9]+")
_E_COL = re.compile(r"e([1-9][0-9]*)")
_PART_COL = re.compile(r"part_([1-9][0-9]*)")
_MAX_INFERRED_PARTS = 10_000  # without `parts`, P is the largest id seen, up to this
_BIG = 2**62  # huge ids are clipped to this (still out of range) so int64 never overflows
_ECHO_MAX = 40  # characters of a cell or header a message quotes

# How to accept unsorted dates, said in the words of whoever loads the file: the `synapse
# data` commands have a flag, a run takes the config key, and a finished run's data is fixed.
UNSORTED_HINT_CLI = "--allow-unsorted sorts them"
UNSORTED_HINT_CONFIG = "set data.allow_unsorted: true in the config, or -o data.allow_unsorted=true, to sort them"
UNSORTED_HINT_RUN = "the run's config has data.allow_unsorted false: sort the file by date"

# cell codes
_OK, _MISS, _BAD, _RANGE, _NODAY = 0, 1, 2, 3, 4


# ----------------------------------------------------------------------------- locating
class _Where:
    """Turns a data-row index into a DataError at the right line (CSV) or row (Parquet)."""

    def __init__(
        self,
        path: Path | str,
        lineno: np.ndarray | None,
        header_line: int | None,
        echo: bool = True,
        unsorted_hint: str | None = None,
    ):
        self.path, self.lineno, self.header_line, self.echo = str(path), lineno, header_line, echo
        self.unsorted_hint = unsorted_hint or UNSORTED_HINT_CLI

    def quote(self, raw: str) -> str:
        """File content as a message may show it (docs/ARCHITECTURE.md, "Data"): escaped by
        repr (no control characters reach a terminal) and cut at _ECHO_MAX characters; with
        echo off (a file named by a run's manifest, not by the user) only its length."""
        if not self.echo:
            return f"a value of {len(raw)} character{'s' if len(raw) != 1 else ''}"
        return repr(raw) if len(raw) <= _ECHO_MAX else repr(raw[:_ECHO_MAX]) + "..."

    def shown(self, raw: str) -> str:
        return "an empty cell" if raw == "" else self.quote(raw)

    def name(self, i: int) -> str:
        return f"row {i + 1}" if self.lineno is None else f"line {int(self.lineno[i])}"

    def names(self, i: int, j: int) -> str:
        kind = "rows" if self.lineno is None else "lines"
        a, b = self.name(i).split()[1], self.name(j).split()[1]
        return f"{kind} {a} and {b}"

    def row(self, i: int, problem: str) -> DataError:
        if self.lineno is None:
            return DataError(f"row {i + 1}: {problem}", path=self.path)
        return DataError(problem, path=self.path, line=int(self.lineno[i]))

    def header(self, problem: str) -> DataError:
        return DataError(problem, path=self.path, line=self.header_line)

    def file(self, problem: str) -> DataError:
        return DataError(problem, path=self.path)


def _listed(names: Sequence[str], limit: int = 6) -> str:
    head = ", ".join(names[:limit])
    return head if len(names) <= limit else f"{head} and {len(names) - limit} more"


# ----------------------------------------------------------------------------- header
@dataclass
class _Layout:
    fmt: str
    names: list[str]  # header as written (stripped)
    date_col: int
    value_cols: list[int]  # header positions of e1..eK or part_1..part_P, in that order


def _expected(parts: int | None, events_per_day: int | None) -> str:
    k, p = events_per_day or 5, parts or DEFAULT_PARTS
    return f"date,e1,...,e{k} (draws) or date,part_1,...,part_{p} (multihot)"


def _layout(names: list[str], where: _Where, parts: int | None, events_per_day: int | None) -> _Layout:
    names = [n.strip() for n in names]
    keys = [n.lower() for n in names]
    expected = _expected(parts, events_per_day)
    for i, k in enumerate(keys):
        if k == "":
            raise where.header(f"column {i + 1} of the header has no name (a stray comma?); expected {expected}")
    seen: dict[str, int] = {}
    for i, k in enumerate(keys):
        if k in seen:
            raise where.header(
                f"column {where.quote(names[i])} appears twice in the header (columns {seen[k] + 1} and {i + 1})"
            )
        seen[k] = i
    if "date" not in seen:
        raise where.header(f"missing column 'date' (the header is {where.quote(','.join(names))}); expected {expected}")
    draws: dict[int, int] = {}
    multi: dict[int, int] = {}
    unknown: list[str] = []
    for i, k in enumerate(keys):
        if k == "date":
            continue
        if m := _E_COL.fullmatch(k):
            draws[int(m[1])] = i
        elif m := _PART_COL.fullmatch(k):
            multi[int(m[1])] = i
        else:
            unknown.append(where.quote(names[i]) if where.echo else f"{i + 1}")
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        raise where.header(f"unknown column{s} {_listed(unknown)}; expected {expected}")
    if draws and multi:
        raise where.header(
            "the header mixes draws columns (e1, e2, ...) with multihot columns "
            f"(part_1, part_2, ...); use one layout: {expected}"
        )
    if not draws and not multi:
        raise where.header(f"no event columns after 'date'; expected {expected}")
    if draws:
        k = max(draws)
        missing = [f"e{j}" for j in range(1, k + 1) if j not in draws]
        if missing:
            s = "s" if len(missing) > 1 else ""
            raise where.header(
                f"missing column{s} {_listed(missing)}: draws columns must be e1..e{k} with none skipped"
            )
        if events_per_day is not None and k != events_per_day:
            raise where.header(f"the header has {k} event columns (e1..e{k}) but events_per_day is {events_per_day}")
        return _Layout("draws", names, seen["date"], [draws[j] for j in range(1, k + 1)])
    top = max(multi)
    if parts is not None and top > parts:
        extra = [f"part_{j}" for j in sorted(multi) if j > parts]
        s = "s" if len(extra) > 1 else ""
        raise where.header(f"extra column{s} {_listed(extra)}: expected part_1..part_{parts} (parts={parts})")
    p = parts if parts is not None else top
    missing = [f"part_{j}" for j in range(1, p + 1) if j not in multi]
    if missing:
        s = "s" if len(missing) > 1 else ""
        why = f" (parts={parts})" if parts is not None else ""
        raise where.header(f"missing column{s} {_listed(missing)}: multihot columns must be part_1..part_{p}{why}")
    return _Layout("multihot", names, seen["date"], [multi[j] for j in range(1, p + 1)])


# ----------------------------------------------------------------------------- cell parsing
def _parse_dates(strs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strict ISO YYYY-MM-DD -> (datetime64[D] with NaT where bad, codes)."""
    t = len(strs)
    joined = "".join(strs)
    if len(joined) == 10 * t and joined.isascii():
        shaped = np.ones(t, bool)
        raw = np.frombuffer(joined.encode("ascii"), np.uint8).reshape(t, 10)
    else:
        shaped = np.fromiter((len(s) == 10 and s.isascii() for s in strs), bool, t)
        raw = np.full((t, 10), ord("0"), np.uint8)
        raw[:, [4, 7]] = ord("-")
        good = "".join(s for s, ok in zip(strs, shaped) if ok)
        raw[shaped] = np.frombuffer(good.encode("ascii"), np.uint8).reshape(-1, 10)
    dig = raw[:, [0, 1, 2, 3, 5, 6, 8, 9]].astype(np.int64) - ord("0")
    shaped &= ((dig >= 0) & (dig <= 9)).all(1) & (raw[:, 4] == ord("-")) & (raw[:, 7] == ord("-"))
    dig[~shaped] = [1, 9, 7, 0, 0, 1, 0, 1]
    year = dig[:, 0] * 1000 + dig[:, 1] * 100 + dig[:, 2] * 10 + dig[:, 3]
    month = dig[:, 4] * 10 + dig[:, 5]
    day = dig[:, 6] * 10 + dig[:, 7]
    fits = (month >= 1) & (month <= 12) & (day >= 1)
    ym = ((year - 1970) * 12 + np.where(fits, month, 1) - 1).astype("datetime64[M]")
    dates = ym.astype("datetime64[D]") + (np.where(fits, day, 1) - 1)
    real = fits & (dates.astype("datetime64[M]") == ym)
    codes = np.zeros(t, np.int8)
    codes[~real] = _NODAY
    for i in np.flatnonzero(~shaped):
        codes[i] = _MISS if strs[i].lower() in _MISSING else _BAD
    dates[codes != _OK] = np.datetime64("NaT")
    return dates, codes


def _parse_ints(strs: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Strict integers -> (int64 values, codes); bad cells hold 0."""
    t = len(strs)
    joined = "".join(strs)
    if joined.isascii() and joined.isdigit() and "" not in strs:
        if len(joined) == t:  # all one digit: the common multihot case
            return np.frombuffer(joined.encode("ascii"), np.uint8).astype(np.int64) - ord("0"), np.zeros(t, np.int8)
        try:
            return np.fromiter(map(int, strs), np.int64, t), np.zeros(t, np.int8)
        except OverflowError:
            pass  # a number too large for int64: the per-value pass below names its line
    vals = np.zeros(t, np.int64)
    codes = np.zeros(t, np.int8)
    for i, s in enumerate(strs):
        if _INT.fullmatch(s):
            vals[i] = max(-_BIG, min(_BIG, int(s)))
        else:
            codes[i] = _MISS if s.lower() in _MISSING else _BAD
    return vals, codes


# ----------------------------------------------------------------------------- validation
_Cand = tuple[int, int, Callable[[], DataError]]  # (row, priority, make error)


def _first(mask: np.ndarray) -> int | None:
    at = np.flatnonzero(mask)
    return int(at[0]) if at.size else None


def _validate(
    lay: _Layout,
    dates: np.ndarray,
    dcodes: np.ndarray,
    V: np.ndarray,
    VC: np.ndarray,
    raw: Callable[[int, int], str],
    where: _Where,
    parts: int | None,
    events_per_day: int | None,
    allow_unsorted: bool,
    stop: _Cand | None,
) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """V, VC: (T, n value columns) values and codes. Raises the first problem in file order."""
    t = len(dates)
    draws = lay.fmt == "draws"
    cellok = VC == _OK
    if draws:
        if parts is not None:
            p = parts
        else:
            usable = cellok & (V <= _MAX_INFERRED_PARTS)
            p = max(int(V[usable].max()) if usable.any() else 1, 1)
        VC[cellok & ((V < 1) | (V > p))] = _RANGE
    else:
        p = V.shape[1]
        VC[(VC == _BAD) | (cellok & ((V < 0) | (V > 1)))] = _RANGE
    cands: list[_Cand] = [] if stop is None else [stop]

    # 1. cell problems, in header order within a row
    C = np.zeros((t, len(lay.names)), np.int8)
    C[:, lay.date_col] = dcodes
    C[:, lay.value_cols] = VC
    if (i := _first(C.any(1))) is not None:
        j = int(np.flatnonzero(C[i])[0])
        value = 0 if j == lay.date_col else int(V[i, lay.value_cols.index(j)])
        problem = _cell_problem(lay, int(C[i, j]), j, raw(j, i), value, parts, where)
        cands.append((i, 0, lambda i=i, problem=problem: where.row(i, problem)))
    rowok = (VC == _OK).all(1)
    dok = dcodes == _OK

    # 2. a part twice in a row (draws) / wrong number of events (multihot)
    if draws and V.shape[1] > 1:
        S = np.sort(V, axis=1)
        if (i := _first((S[:, 1:] == S[:, :-1]).any(1) & rowok)) is not None:
            cands.append((i, 1, lambda i=i: where.row(i, _twice(lay, V[i], dates[i]))))
    if not draws and events_per_day is not None:
        n = V.sum(1)
        if (i := _first((n != events_per_day) & rowok)) is not None:

            def wrong(i=i):
                on = ", ".join(str(k + 1) for k in np.flatnonzero(V[i]))
                return where.row(
                    i,
                    f"{int(n[i])} events on {_day(dates[i])} (parts: {on or 'none'}) "
                    f"but events_per_day is {events_per_day}",
                )

            cands.append((i, 1, wrong))

    # 3. duplicate dates (reported at the later line, naming both)
    idx = np.flatnonzero(dok)
    order = idx[np.argsort(dates[idx], kind="stable")]
    same = dates[order[1:]] == dates[order[:-1]]
    if same.any():
        later, earlier = order[1:][same], order[:-1][same]
        k = int(np.argmin(later))
        i, e = int(later[k]), int(earlier[k])
        cands.append(
            (i, 2, lambda i=i, e=e: where.row(i, f"date {_day(dates[i])} appears twice ({where.names(e, i)})"))
        )

    # 4. dates out of order
    descents = idx[1:][dates[idx[1:]] < dates[idx[:-1]]]
    if descents.size and not allow_unsorted:
        i = int(descents[0])
        prev = int(idx[np.searchsorted(idx, i) - 1])
        cands.append(
            (
                i,
                3,
                lambda i=i, q=prev: where.row(
                    i,
                    f"date {_day(dates[i])} comes after {_day(dates[q])} ({where.name(q)}): dates must increase "
                    f"down the file ({where.unsorted_hint})",
                ),
            )
        )

    if cands:
        raise min(cands, key=lambda c: (c[0], c[1]))[2]()

    if draws:
        Y = np.zeros((t, p), bool)
        Y[np.arange(t)[:, None], V - 1] = True
    else:
        Y = V.astype(bool)
    warnings: list[str] = []
    if descents.size:
        order = np.argsort(dates, kind="stable")
        moved = int((order != np.arange(t)).sum())
        dates, Y = dates[order], Y[order]
        warnings.append(f"sorted {moved} rows that were out of date order")
    return dates, Y, warnings


def _day(d: np.datetime64) -> str:
    return str(np.datetime64(d, "D"))


def _cell_problem(lay: _Layout, code: int, j: int, raw: str, value: int, parts: int | None, where: _Where) -> str:
    col = lay.names[j]  # one of date, eN, part_N: the layout checked it
    if j == lay.date_col:
        if code == _MISS:
            return f"missing date ({where.shown(raw)})"
        if code == _NODAY:
            return f"bad date {where.quote(raw)}: there is no such day"
        return f"bad date {where.quote(raw)}: expected an ISO date YYYY-MM-DD"
    if code == _MISS:
        return f"missing value in column {col} ({where.shown(raw)})"
    if lay.fmt == "multihot":
        return f"value {where.quote(raw)} in column {col} is not 0 or 1"
    if code == _BAD:
        return f"part id {where.quote(raw)} in column {col} is not an integer"
    v: int | str = value
    if abs(value) >= _BIG:  # clipped: the digits as written, capped like any quoted content
        digits = raw.lstrip("+")
        v = "beyond 2**62" if not where.echo else digits if len(digits) <= _ECHO_MAX else digits[:_ECHO_MAX] + "..."
    if parts is None and value > _MAX_INFERRED_PARTS:
        return (
            f"part id {v} is out of range: without a given number of parts, ids may go up to "
            f"{_MAX_INFERRED_PARTS} (column {col})"
        )
    if parts is None:
        return f"part id {v} is out of range: part ids start at 1 (column {col})"
    return f"part id {v} is out of range 1..{parts} (column {col})"


def _twice(lay: _Layout, row: np.ndarray, date: np.datetime64) -> str:
    vals, counts = np.unique(row, return_counts=True)
    v = int(vals[np.argmax(counts > 1)])
    cols = [lay.names[lay.value_cols[k]] for k in np.flatnonzero(row == v)]
    return (
        f"part {v} appears {'twice' if len(cols) == 2 else f'{len(cols)} times'} on {_day(date)} "
        f"(columns {', '.join(cols)})"
    )
