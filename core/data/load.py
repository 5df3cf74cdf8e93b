"""Load and validate a daily event file (section 2 of the design).

Two layouts, told apart by the header:

* draws     ``date,e1,...,eK``           the part ids (1..P) that occurred that day
* multihot  ``date,part_1,...,part_P``   0/1 per part

as CSV (plain or gzip-compressed) or Parquet (needs pyarrow). Every problem becomes ONE
`DataError` naming the file, the 1-based line (the header is line 1; Parquet names the
row in the message instead) and the problem in plain words. When a file has several
problems the first one in file order is reported. Loading never writes anything.

Speed: the text is split once and each column is validated with numpy; Python-level
loops only run to explain a problem that the vectorised checks have already found.
"""
from __future__ import annotations

import csv
import gzip
import hashlib
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from core.errors import DataError
from core.fsutil import atomic_write_bytes

__all__ = ["DEFAULT_PARTS", "Dataset", "load_dataset", "describe", "write_draws_csv", "write_multihot_csv"]

DEFAULT_PARTS = 39

_MISSING = frozenset({"", "nan", "na", "n/a", "null", "none", "<na>", "nat"})  # compared lower-cased
_INT = re.compile(r"[+-]?[0-9]+")
_E_COL = re.compile(r"e([1-9][0-9]*)")
_PART_COL = re.compile(r"part_([1-9][0-9]*)")
_MAX_INFERRED_PARTS = 10_000  # without `parts`, P is the largest id seen, up to this
_BIG = 2**62  # huge ids are clipped to this (still out of range) so int64 never overflows

# cell codes
_OK, _MISS, _BAD, _RANGE, _NODAY = 0, 1, 2, 3, 4


# ----------------------------------------------------------------------------- dataset
@dataclass(frozen=True, eq=False)
class Dataset:
    """A validated event sequence: `Y[t, p]` is True when part p+1 occurred on `dates[t]`."""

    dates: np.ndarray  # (T,) datetime64[D], strictly increasing
    Y: np.ndarray  # (T, P) bool
    path: Path
    sha256: str  # of the file's bytes
    fmt: str  # "draws" | "multihot"
    warnings: tuple[str, ...] = ()

    @property
    def T(self) -> int:
        return int(self.Y.shape[0])

    @property
    def P(self) -> int:
        return int(self.Y.shape[1])

    @cached_property
    def gaps(self) -> list[tuple[np.datetime64, np.datetime64, int]]:
        """(previous date, next date, missing days) for every jump of more than one day."""
        return _gaps(self.dates)

    @property
    def n_gaps(self) -> int:
        return len(self.gaps)

    @property
    def missing_days(self) -> int:
        return sum(g[2] for g in self.gaps)


def _gaps(dates: np.ndarray) -> list[tuple[np.datetime64, np.datetime64, int]]:
    if len(dates) < 2:
        return []
    step = np.diff(dates).astype(np.int64)
    at = np.flatnonzero(step > 1)
    return [(dates[i], dates[i + 1], int(step[i] - 1)) for i in at]


# ----------------------------------------------------------------------------- locating
class _Where:
    """Turns a data-row index into a DataError at the right line (CSV) or row (Parquet)."""

    def __init__(self, path: Path | str, lineno: np.ndarray | None, header_line: int | None):
        self.path, self.lineno, self.header_line = str(path), lineno, header_line

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


def _shown(raw: str) -> str:
    return "an empty cell" if raw == "" else repr(raw)


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
            raise where.header(f"column {names[i]!r} appears twice in the header (columns {seen[k] + 1} and {i + 1})")
        seen[k] = i
    if "date" not in seen:
        raise where.header(f"missing column 'date' (the header is {','.join(names)!r}); expected {expected}")
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
            unknown.append(repr(names[i]))
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        raise where.header(f"unknown column{s} {_listed(unknown)}; expected {expected}")
    if draws and multi:
        raise where.header("the header mixes draws columns (e1, e2, ...) with multihot columns "
                           f"(part_1, part_2, ...); use one layout: {expected}")
    if not draws and not multi:
        raise where.header(f"no event columns after 'date'; expected {expected}")
    if draws:
        k = max(draws)
        missing = [f"e{j}" for j in range(1, k + 1) if j not in draws]
        if missing:
            s = "s" if len(missing) > 1 else ""
            raise where.header(f"missing column{s} {_listed(missing)}: draws columns must be e1..e{k} with none skipped")
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
            pass
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


def _validate(lay: _Layout, dates: np.ndarray, dcodes: np.ndarray, V: np.ndarray, VC: np.ndarray,
              raw: Callable[[int, int], str], where: _Where, parts: int | None, events_per_day: int | None,
              allow_unsorted: bool, stop: _Cand | None) -> tuple[np.ndarray, np.ndarray, list[str]]:
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
        problem = _cell_problem(lay, int(C[i, j]), j, raw(j, i), value, parts)
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
                return where.row(i, f"{int(n[i])} events on {_day(dates[i])} (parts: {on or 'none'}) "
                                    f"but events_per_day is {events_per_day}")
            cands.append((i, 1, wrong))

    # 3. duplicate dates (reported at the later line, naming both)
    idx = np.flatnonzero(dok)
    order = idx[np.argsort(dates[idx], kind="stable")]
    same = dates[order[1:]] == dates[order[:-1]]
    if same.any():
        later, earlier = order[1:][same], order[:-1][same]
        k = int(np.argmin(later))
        i, e = int(later[k]), int(earlier[k])
        cands.append((i, 2, lambda i=i, e=e: where.row(
            i, f"date {_day(dates[i])} appears twice ({where.names(e, i)})")))

    # 4. dates out of order
    descents = idx[1:][dates[idx[1:]] < dates[idx[:-1]]]
    if descents.size and not allow_unsorted:
        i = int(descents[0])
        prev = int(idx[np.searchsorted(idx, i) - 1])
        cands.append((i, 3, lambda i=i, q=prev: where.row(
            i, f"date {_day(dates[i])} comes after {_day(dates[q])} ({where.name(q)}): dates must increase "
               "down the file (--allow-unsorted sorts them)")))

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


def _cell_problem(lay: _Layout, code: int, j: int, raw: str, value: int, parts: int | None) -> str:
    col = lay.names[j]
    if j == lay.date_col:
        if code == _MISS:
            return f"missing date ({_shown(raw)})"
        if code == _NODAY:
            return f"bad date {raw!r}: there is no such day"
        return f"bad date {raw!r}: expected an ISO date YYYY-MM-DD"
    if code == _MISS:
        return f"missing value in column {col} ({_shown(raw)})"
    if lay.fmt == "multihot":
        return f"value {raw!r} in column {col} is not 0 or 1"
    if code == _BAD:
        return f"part id {raw!r} in column {col} is not an integer"
    v = raw.lstrip("+") if abs(value) >= _BIG else value
    if parts is None and value > _MAX_INFERRED_PARTS:
        return (f"part id {v} is out of range: without a given number of parts, ids may go up to "
                f"{_MAX_INFERRED_PARTS} (column {col})")
    if parts is None:
        return f"part id {v} is out of range: part ids start at 1 (column {col})"
    return f"part id {v} is out of range 1..{parts} (column {col})"


def _twice(lay: _Layout, row: np.ndarray, date: np.datetime64) -> str:
    vals, counts = np.unique(row, return_counts=True)
    v = int(vals[np.argmax(counts > 1)])
    cols = [lay.names[lay.value_cols[k]] for k in np.flatnonzero(row == v)]
    return f"part {v} appears {'twice' if len(cols) == 2 else f'{len(cols)} times'} on {_day(date)} " \
           f"(columns {', '.join(cols)})"


# ----------------------------------------------------------------------------- CSV
def _load_csv(path: Path, data: bytes, parts, events_per_day, allow_unsorted):
    where = _Where(path, None, 1)
    stop_line: tuple[int, str] | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        problem = (f"bytes that are not UTF-8 (0x{data[e.start]:02x} at byte {e.start - start + 1} of the line); "
                   "save the file as UTF-8")
        text = data[:start].decode("utf-8")  # the lines before it are valid; check them first
        stop_line = (line, problem)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    nonblank = [i for i, s in enumerate(lines) if s.strip()]
    if not nonblank:
        if stop_line:
            raise DataError(stop_line[1], path=str(path), line=stop_line[0])
        raise where.file("the file has no header line (it is blank)")
    where.header_line = nonblank[0] + 1
    header = next(csv.reader([lines[nonblank[0]]]))
    rows = nonblank[1:]
    if not rows and stop_line is None:
        raise where.file(f"the file has a header but no data rows (header: {lines[nonblank[0]].strip()!r})")
    if len(header) == 1:
        for sep, word in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise where.header(f"the header is separated by {word}, not commas; save the file as "
                                   f"comma-separated: {_expected(parts, events_per_day)}")
    lay = _layout(header, where, parts, events_per_day)
    warnings = []
    n = nonblank[-1] + 1 - len(nonblank)  # blank lines before the last row (trailing ones are harmless)
    if n:
        warnings.append(f"skipped {n} blank line{'s' if n > 1 else ''}")

    f = len(header)
    body = [lines[i] for i in rows]
    where.lineno = np.asarray(rows, np.int64) + 1
    quoted = '"' in text
    if quoted:
        split = [next(csv.reader([s])) for s in body]
        nf = np.fromiter(map(len, split), np.int64, len(body))
    else:
        nf = np.fromiter((s.count(",") + 1 for s in body), np.int64, len(body))
    stop: _Cand | None = None
    if (r := _first(nf != f)) is not None:
        many = "too many" if nf[r] > f else "too few"
        stop = (r, -1, lambda r=r: where.row(r, f"this line has {nf[r]} fields but the header has {f} ({many})"))
    elif stop_line is not None:
        r = len(body)
        stop = (r, -1, lambda: DataError(stop_line[1], path=str(path), line=stop_line[0]))
    else:
        r = len(body)
    if r == 0:
        raise stop[2]()
    if quoted:
        cols = [[row[j].strip() for row in split[:r]] for j in range(f)]
    else:
        flat = ",".join(body[:r]).split(",")
        if " " in text or "\t" in text:
            flat = [c.strip() for c in flat]
        cols = [flat[j::f] for j in range(f)]
    dates, dcodes = _parse_dates(cols[lay.date_col])
    parsed = [_parse_ints(cols[j]) for j in lay.value_cols]
    V = np.stack([v for v, _ in parsed], 1)
    VC = np.stack([c for _, c in parsed], 1)
    dates, Y, more = _validate(lay, dates, dcodes, V, VC, lambda j, i: cols[j][i], where,
                               parts, events_per_day, allow_unsorted, stop)
    return lay.fmt, dates, Y, warnings + more


# ----------------------------------------------------------------------------- Parquet
def _load_parquet(path: Path, data: bytes, parts, events_per_day, allow_unsorted):
    where = _Where(path, None, None)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise where.file("reading Parquet files needs pyarrow, which is not installed: "
                         "pip install 'synapse[parquet]'") from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise where.file(f"not a readable Parquet file ({e})") from None
    lay = _layout(list(table.column_names), where, parts, events_per_day)
    if table.num_rows == 0:
        raise where.file("the file has columns but no data rows")
    cols = [table.column(j).combine_chunks() for j in range(table.num_columns)]
    dates, dcodes = _arrow_dates(cols[lay.date_col], lay.names[lay.date_col], where, pa)
    parsed = [_arrow_ints(cols[j], lay.names[j], where, pa) for j in lay.value_cols]
    V = np.stack([v for v, _ in parsed], 1)
    VC = np.stack([c for _, c in parsed], 1)

    def raw(j: int, i: int) -> str:
        v = cols[j][i].as_py()
        return "" if v is None else str(v)

    dates, Y, warnings = _validate(lay, dates, dcodes, V, VC, raw, where, parts, events_per_day,
                                   allow_unsorted, None)
    return lay.fmt, dates, Y, warnings


def _arrow_dates(col, name: str, where: _Where, pa) -> tuple[np.ndarray, np.ndarray]:
    t = pa.types
    null = col.is_null().to_numpy(zero_copy_only=False)
    if t.is_string(col.type) or t.is_large_string(col.type):
        return _parse_dates(["" if s is None else s for s in col.to_pylist()])
    if t.is_date(col.type):
        days = col.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        dates = days.astype("datetime64[D]")
        codes = np.where(null, _MISS, _OK).astype(np.int8)
    elif t.is_timestamp(col.type):
        stamps = col.cast(pa.timestamp(col.type.unit)).fill_null(0).to_numpy(zero_copy_only=False)
        dates = stamps.astype("datetime64[D]")
        codes = np.where(null, _MISS, np.where(dates != stamps, _BAD, _OK)).astype(np.int8)
    else:
        raise where.header(f"column {name!r} has type {col.type}; expected dates or ISO date strings")
    dates[codes != _OK] = np.datetime64("NaT")
    return dates, codes


def _arrow_ints(col, name: str, where: _Where, pa) -> tuple[np.ndarray, np.ndarray]:
    t = pa.types
    null = col.is_null().to_numpy(zero_copy_only=False)
    if t.is_string(col.type) or t.is_large_string(col.type):
        return _parse_ints(["" if s is None else s for s in col.to_pylist()])
    if t.is_integer(col.type) or t.is_boolean(col.type):
        vals = col.cast(pa.int64(), safe=False).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
        return vals, np.where(null, _MISS, _OK).astype(np.int8)
    if t.is_floating(col.type):
        x = col.cast(pa.float64()).fill_null(np.nan).to_numpy(zero_copy_only=False)
        miss = np.isnan(x)
        whole = np.isfinite(x) & (np.floor(x) == x)
        codes = np.where(miss, _MISS, np.where(whole, _OK, _BAD)).astype(np.int8)
        vals = np.where(whole, np.clip(np.where(whole, x, 0), -_BIG, _BIG), 0).astype(np.int64)
        return vals, codes
    raise where.header(f"column {name!r} has type {col.type}; expected integers")


# ----------------------------------------------------------------------------- public API
def load_dataset(path: str | Path, *, parts: int | None = None, events_per_day: int | None = None,
                 allow_unsorted: bool = False) -> Dataset:
    """Read and validate a draws or multihot file (CSV, CSV.gz or Parquet).

    parts: the number of parts P. Draws: ids above it are errors (default: the largest id
    seen). Multihot: the part columns must be exactly part_1..part_P.
    events_per_day: when set, every day must have exactly this many events.
    allow_unsorted: sort rows by date (with a warning) instead of refusing them.
    Raises DataError for every problem with the file; ValueError for bad arguments.
    """
    if parts is not None and parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if events_per_day is not None and events_per_day < 1:
        raise ValueError(f"events_per_day must be >= 1, got {events_per_day}")
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except IsADirectoryError:
        raise DataError("is a directory, not a data file", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror or e})", path=path) from None
    sha = hashlib.sha256(data).hexdigest()
    if not data:
        raise DataError("the file is empty (0 bytes)", path=path)
    if path.suffix.lower() in (".parquet", ".pq") or data[:4] == b"PAR1":
        fmt, dates, Y, warnings = _load_parquet(path, data, parts, events_per_day, allow_unsorted)
    else:
        if data[:2] == b"\x1f\x8b":
            try:
                data = gzip.decompress(data)
            except (OSError, EOFError) as e:
                raise DataError(f"looks gzip-compressed but cannot be decompressed ({e})", path=path) from None
            if not data:
                raise DataError("the file is empty (0 bytes once decompressed)", path=path)
        fmt, dates, Y, warnings = _load_csv(path, data, parts, events_per_day, allow_unsorted)
    gaps = _gaps(dates)
    if gaps:
        total = sum(g[2] for g in gaps)
        a, b, n = max(gaps, key=lambda g: g[2])
        warnings.append(f"{len(gaps)} gap{'s' if len(gaps) > 1 else ''} in the dates ({total} missing "
                        f"day{'s' if total > 1 else ''} in all; largest {n} between {_day(a)} and {_day(b)})")
    dates = np.ascontiguousarray(dates, dtype="datetime64[D]")
    Y = np.ascontiguousarray(Y, dtype=bool)
    dates.flags.writeable = False
    Y.flags.writeable = False
    return Dataset(dates=dates, Y=Y, path=path, sha256=sha, fmt=fmt, warnings=tuple(warnings))


def describe(ds: Dataset, *, largest_gaps: int = 5) -> dict:
    """A JSON-ready summary of a loaded dataset (what `synapse data describe` prints)."""
    t, p = ds.T, ds.P
    counts = ds.Y.sum(0).astype(int)
    per_day = ds.Y.sum(1).astype(int)
    values, n_days = np.unique(per_day, return_counts=True)
    gaps = ds.gaps
    biggest = sorted(gaps, key=lambda g: (-g[2], g[0]))[:largest_gaps]
    start, end = (_day(ds.dates[0]), _day(ds.dates[-1])) if t else (None, None)
    return {
        "path": str(ds.path),
        "sha256": ds.sha256,
        "format": ds.fmt,
        "T": t,
        "P": p,
        "start": start,
        "end": end,
        "span_days": int((ds.dates[-1] - ds.dates[0]).astype(int)) + 1 if t else 0,
        "gaps": {
            "count": len(gaps),
            "missing_days": sum(g[2] for g in gaps),
            "largest": [{"after": _day(a), "before": _day(b), "missing_days": n} for a, b, n in biggest],
        },
        "per_part_frequency": [
            {"part": k + 1, "count": int(counts[k]), "rate": float(counts[k] / t) if t else 0.0} for k in range(p)
        ],
        "events_per_day_histogram": {str(int(v)): int(n) for v, n in zip(values, n_days)},
        "events_per_day_mean": float(per_day.mean()) if t else 0.0,
        "events_per_day_min": int(per_day.min()) if t else 0,
        "events_per_day_max": int(per_day.max()) if t else 0,
        "warnings": list(ds.warnings),
    }


def _for_writing(dates, Y) -> tuple[np.ndarray, np.ndarray]:
    Y = np.asarray(Y)
    if Y.ndim != 2 or Y.shape[1] < 1:
        raise ValueError(f"Y must be a (days, parts) array with at least one part, got shape {Y.shape}")
    if Y.dtype != bool:
        if not np.isin(Y, (0, 1)).all():
            raise ValueError("Y must hold only 0/1 (or bool) values")
        Y = Y.astype(bool)
    d = np.asarray(dates)
    d = d.astype("datetime64[D]") if d.size else d.astype("datetime64[D]").reshape(0)
    if d.shape != (Y.shape[0],):
        raise ValueError(f"dates has shape {d.shape} but Y has {Y.shape[0]} rows")
    if Y.shape[0] == 0:
        raise ValueError("no days to write")
    text = np.datetime_as_string(d, unit="D")
    if np.isnat(d).any() or (np.char.str_len(text) != 10).any():
        raise ValueError("every date must be a real day in the years 0000..9999")
    return text, Y


def write_draws_csv(path: str | Path, dates, Y) -> None:
    """Write `date,e1..eK` (ids ascending, 1-based) atomically; every day needs the same K."""
    text, Y = _for_writing(dates, Y)
    n = Y.sum(1)
    if n[0] == 0 or (n != n[0]).any():
        bad = int(np.argmax(n != n[0])) if n[0] else 0
        raise ValueError(f"draws need the same number (>= 1) of events every day: day 0 has {int(n[0])}, "
                         f"day {bad} has {int(n[bad])}")
    k = int(n[0])
    ids = (np.nonzero(Y)[1].reshape(-1, k) + 1).astype(str)
    head = "date," + ",".join(f"e{j}" for j in range(1, k + 1))
    body = "\n".join(",".join(r) for r in np.column_stack([text, ids]).tolist())
    atomic_write_bytes(path, f"{head}\n{body}\n".encode("ascii"))


def write_multihot_csv(path: str | Path, dates, Y) -> None:
    """Write `date,part_1..part_P` with 0/1 atomically."""
    text, Y = _for_writing(dates, Y)
    t, p = Y.shape
    cells = np.full((t, 11 + 2 * p), ord(","), np.uint8)
    cells[:, :10] = np.frombuffer("".join(text.tolist()).encode("ascii"), np.uint8).reshape(t, 10)
    cells[:, 11::2] = Y.astype(np.uint8) + ord("0")
    cells[:, -1] = ord("\n")
    head = "date," + ",".join(f"part_{j}" for j in range(1, p + 1)) + "\n"
    atomic_write_bytes(path, head.encode("ascii") + cells.tobytes())
