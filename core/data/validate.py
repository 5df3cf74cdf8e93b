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

from core.data.dates import ISO, Ambiguous, DateFormat, infer_format, to_dates
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
    value_cols: list[int]  # header positions of the part columns, in part order (e1..eK, part_1..part_P)
    how: str = "by name"  # how the layout was found, for `describe`
    echo: bool = True
    date_format: DateFormat = ISO
    date_given: bool = False  # the format came from --date-format / data.date_format

    def col(self, j: int) -> str:
        """Column j as a message names it: its name when it is a plain e3/part_3/m_3-style
        name (or echo is on, quoted when not plain), else its position."""
        name = self.names[j]
        if _PLAIN_COL.fullmatch(name) and (self.echo or _E_COL.fullmatch(name) or _PART_COL.fullmatch(name)):
            return name
        if self.echo:
            return repr(name) if len(name) <= _ECHO_MAX else repr(name[:_ECHO_MAX]) + "..."
        return f"column {j + 1}"

    @property
    def part_names(self) -> list[str]:
        return [self.names[j] for j in self.value_cols]


_PLAIN_COL = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,19}")
_DATE_NAME = re.compile(r"(?:[a-z0-9]+[_ ])?date(?:[_ ][a-z0-9]+)?|drawdate|datum|fecha")
_NUM_COL = re.compile(r"(.*?)([0-9]+)")
_COLUMNS_HINT = "or name the columns in the config's data.columns ({date: ..., parts: [...]})"


def _expected(parts: int | None, events_per_day: int | None) -> str:
    k, p = events_per_day or 5, parts or DEFAULT_PARTS
    return f"date,e1,...,e{k} (draws) or date,part_1,...,part_{p} (multihot)"


def _expected_shape(parts: int | None, events_per_day: int | None) -> str:
    return (
        f"{_expected(parts, events_per_day)}: a date column and {events_per_day or 'K'} integer columns "
        f"of any names, {_COLUMNS_HINT}"
    )


Sample = Callable[[int], list[str]]  # column index -> its first cells (stripped)


def _datelike(cells: list[str]) -> bool:
    """Whether most of a column's non-missing sample cells have the shape of a date."""
    from core.data.dates import split_dates

    shape, _, _, _ = split_dates(cells)
    filled = int((shape != 1).sum())
    return filled > 0 and 2 * int((shape >= 2).sum()) >= filled


def _ints(cells: list[str]) -> bool:
    """Whether most of a column's non-missing sample cells are integers (no sample: the
    first data line is ragged, and that line's own error is the one to report)."""
    if not cells:
        return True
    _, codes = _parse_ints(cells)
    filled = codes != _MISS
    return bool(filled.any() and 2 * int((codes == _OK).sum()) >= int(filled.sum()))


def _zero_one(cols: list[list[str]]) -> bool:
    """Whether sample columns read as multihot: a tenth or more of their integer cells are 0
    (a draws file has no part 0) and nine in ten or more are 0 or 1."""
    n = zeros = ones = 0
    for cells in cols:
        vals, codes = _parse_ints(cells)
        v = vals[codes == _OK]
        n, zeros, ones = n + len(v), zeros + int((v == 0).sum()), ones + int((v == 1).sum())
    return len(cols) > 1 and n > 0 and 10 * zeros >= n and 10 * (zeros + ones) >= 9 * n


def _layout(
    names: list[str],
    where: _Where,
    parts: int | None,
    events_per_day: int | None,
    sample: Sample | None = None,
    columns: dict | None = None,
) -> _Layout:
    """The header's layout: named (date,e1..eK / date,part_1..part_P), mapped (`columns`:
    {"date": name, "parts": [names], "layout": "draws"|"multihot"}) or found by shape (a
    date column and integer columns whatever their names; `sample` gives a column's first
    cells). Raises the header's first problem."""
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
    if columns is not None:
        return _mapped(names, keys, where, parts, events_per_day, sample, columns)
    cells: Sample = sample if sample is not None else (lambda j: [])
    date_col = seen.get("date")
    if date_col is None:
        named = [i for i, k in enumerate(keys) if _DATE_NAME.fullmatch(k)]
        date_col = named[0] if named else None
    if date_col is None and len(names) > 1 and _datelike(cells(0)):
        date_col = 0
    if date_col is None:
        raise where.header(
            f"missing column 'date' (the header is {where.quote(','.join(names))}): no column is named date and "
            f"the first column does not hold dates; expected {_expected_shape(parts, events_per_day)}"
        )
    old = any(_E_COL.fullmatch(k) or _PART_COL.fullmatch(k) for i, k in enumerate(keys) if i != date_col)
    if old:
        return _named(names, keys, date_col, where, parts, events_per_day)
    return _by_shape(names, keys, date_col, where, parts, events_per_day, cells)


def _named(
    names: list[str], keys: list[str], date_col: int, where: _Where, parts: int | None, events_per_day: int | None
) -> _Layout:
    """date,e1..eK or date,part_1..part_P: the names are the layout, checked strictly."""
    expected = _expected(parts, events_per_day)
    draws: dict[int, int] = {}
    multi: dict[int, int] = {}
    unknown: list[str] = []
    for i, k in enumerate(keys):
        if i == date_col:
            continue
        if m := _E_COL.fullmatch(k):
            draws[int(m[1])] = i
        elif m := _PART_COL.fullmatch(k):
            multi[int(m[1])] = i
        else:
            unknown.append(where.quote(names[i]) if where.echo else f"{i + 1}")
    if unknown:
        s = "s" if len(unknown) > 1 else ""
        raise where.header(f"unknown column{s} {_listed(unknown)}; expected {expected}, {_COLUMNS_HINT}")
    if draws and multi:
        raise where.header(
            "the header mixes draws columns (e1, e2, ...) with multihot columns "
            f"(part_1, part_2, ...); use one layout: {expected}"
        )
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
        return _Layout("draws", names, date_col, [draws[j] for j in range(1, k + 1)], "named e1..eK", where.echo)
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
    return _Layout("multihot", names, date_col, [multi[j] for j in range(1, p + 1)], "named part_1..part_P", where.echo)


def _by_shape(
    names: list[str],
    keys: list[str],
    date_col: int,
    where: _Where,
    parts: int | None,
    events_per_day: int | None,
    cells: Sample,
) -> _Layout:
    """A date column and integer columns whatever their names (m_1.., N_1.., n1.., ball1..):
    numbered alike (one prefix, numbers from 0 or 1 with none skipped) they are taken in
    number order, else in header order. Mostly 0/1 (see `_zero_one`) makes it multihot, else draws."""
    rest = [i for i in range(len(names)) if i != date_col]
    if not rest:
        raise where.header(f"no part columns besides the date; expected {_expected_shape(parts, events_per_day)}")
    nums = [_NUM_COL.fullmatch(names[i]) for i in rest]
    family = all(nums) and len({m[1].lower().rstrip("_ ") for m in nums if m}) == 1
    if family:
        got = {int(m[2]): i for m, i in zip(nums, rest) if m}
        lo = 0 if 0 in got else 1
        top = max(got)
        stem = nums[0][1] if nums[0] else ""
        gone = [j for j in range(lo, top + 1) if j not in got]
        if gone:
            s = "s" if len(gone) > 1 else ""
            labels = [f"{stem}{j}" for j in gone]
            if not where.echo:
                labels = [f"number {j}" for j in gone]
            elif not all(_PLAIN_COL.fullmatch(x) for x in labels):
                labels = [where.quote(x) for x in labels]
            raise where.header(
                f"missing column{s} {_listed(labels)}: numbered part columns must run {lo}..{top} with none skipped"
            )
        order = [got[j] for j in range(lo, top + 1)]
        how = f"by shape: {len(order)} numbered integer columns"
    else:
        order = []
        unknown: list[int] = []
        for i in rest:
            (order if _ints(cells(i)) else unknown).append(i)
        if unknown:
            s = "s" if len(unknown) > 1 else ""
            shown = [where.quote(names[i]) if where.echo else f"{i + 1}" for i in unknown]
            raise where.header(
                f"unknown column{s} {_listed(shown)}: {'they do' if s else 'it does'} not hold part ids; expected "
                f"{_expected_shape(parts, events_per_day)}"
            )
        how = f"by shape: {len(order)} integer columns"
    multihot = _zero_one([cells(i) for i in order])
    if multihot:
        if parts is not None and len(order) != parts:
            raise where.header(
                f"the header has {len(order)} 0/1 part columns but parts is {parts}; expected "
                f"{_expected_shape(parts, events_per_day)}"
            )
        return _Layout("multihot", names, date_col, order, how, where.echo)
    if events_per_day is not None and len(order) != events_per_day:
        lay = _Layout("draws", names, date_col, order, how, where.echo)
        raise where.header(
            f"the header has {len(order)} part columns ({_listed([lay.col(i) for i in order])}) but "
            f"events_per_day is {events_per_day}; {_COLUMNS_HINT}"
        )
    return _Layout("draws", names, date_col, order, how, where.echo)


def _mapped(
    names: list[str],
    keys: list[str],
    where: _Where,
    parts: int | None,
    events_per_day: int | None,
    sample: Sample | None,
    columns: dict,
) -> _Layout:
    """The columns named by the config's data.columns; other columns are ignored."""
    header = where.quote(",".join(names))

    def find(name: object, what: str) -> int:
        if not isinstance(name, str) or not name.strip():
            raise where.file(f"data.columns: {what} must be a column name, got {name!r}")
        n = name.strip()
        if n in names:
            return names.index(n)
        if n.lower() in keys:
            return keys.index(n.lower())
        raise where.header(f"data.columns: {what} {n!r} is not a column of the header (the header is {header})")

    date = columns.get("date")
    plist = columns.get("parts")
    if date is None:
        raise where.file("data.columns needs 'date': the name of the date column")
    if not isinstance(plist, list | tuple) or not plist:
        raise where.file("data.columns needs 'parts': a list of the part columns' names")
    date_col = find(date, "date column")
    order: list[int] = []
    for n in plist:
        j = find(n, "part column")
        if j == date_col:
            raise where.file(f"data.columns: {n!r} is the date column and cannot be a part column too")
        if j in order:
            raise where.file(f"data.columns: part column {n!r} is listed twice")
        order.append(j)
    layout = columns.get("layout") or columns.get("format")
    if layout not in (None, "auto", "draws", "multihot"):
        raise where.file(f"data.columns: layout {layout!r} must be draws or multihot")
    if layout in (None, "auto"):
        zero_one = sample is not None and _zero_one([sample(i) for i in order])
        layout = "multihot" if zero_one else "draws"
    how = f"data.columns: {len(order)} part columns"
    if layout == "multihot" and parts is not None and len(order) != parts:
        raise where.file(f"data.columns lists {len(order)} multihot part columns but parts is {parts}")
    if layout == "draws" and events_per_day is not None and len(order) != events_per_day:
        raise where.file(f"data.columns lists {len(order)} part columns but events_per_day is {events_per_day}")
    return _Layout(layout, names, date_col, order, how, where.echo)


# ----------------------------------------------------------------------------- the date column
def _date_column(
    lay: _Layout,
    shape: np.ndarray,
    a: np.ndarray,
    b: np.ndarray,
    c: np.ndarray,
    date_format: DateFormat | None,
    where: _Where,
    raw: Callable[[int, int], str],
) -> tuple[np.ndarray, np.ndarray, dict]:
    """The date column's (dates, codes) under the given format or the one inferred from the
    whole column, and what was detected (for `describe`). Raises when the order of day and
    month cannot be told."""
    j = lay.date_col
    if date_format is not None:
        fmt, why = date_format, "given (--date-format / data.date_format)"
        lay.date_given = True
    else:
        try:
            inf = infer_format(shape, a, b)
        except Ambiguous as e:
            i, sep = e.example, e.sep
            raise where.row(
                i,
                f"the dates could be M{sep}D{sep}YYYY or D{sep}M{sep}YYYY ({where.quote(raw(j, i))} and every other "
                "date has both numbers at most 12); say which with --date-format M/D/YYYY or --date-format D/M/YYYY "
                "(synapse data), or data.date_format in the config (-o data.date_format=M/D/YYYY)",
            ) from None
        fmt, why = inf.fmt, inf.why
        if inf.row is not None:
            why += f" ({where.name(inf.row)}: {where.quote(raw(j, inf.row))})"
    lay.date_format = fmt
    dates, codes = to_dates(shape, a, b, c, fmt)
    name = (lambda k: lay.names[k]) if lay.echo else lay.col
    info = {
        "layout": lay.fmt,
        "detected": lay.how,
        "date_column": name(j),
        "date_format": fmt.name,
        "date_format_why": why,
        "part_columns": [name(k) for k in lay.value_cols],
    }
    return dates, codes, info


# ----------------------------------------------------------------------------- cell parsing
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
    col = lay.col(j)
    if j == lay.date_col:
        f = lay.date_format
        if code == _MISS:
            return f"missing date ({where.shown(raw)})"
        if code == _NODAY:
            read = "" if f == ISO and not lay.date_given else f" read as {f.name}"
            return f"bad date {where.quote(raw)}: there is no such day{read}"
        if lay.date_given:
            return f"bad date {where.quote(raw)}: expected a date {f.name} (the date format given)"
        if f == ISO:
            return f"bad date {where.quote(raw)}: expected an ISO date YYYY-MM-DD like the rest of the column"
        return f"bad date {where.quote(raw)}: expected a date {f.name} like the rest of the column"
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
    cols = [lay.col(lay.value_cols[k]) for k in np.flatnonzero(row == v)]
    return (
        f"part {v} appears {'twice' if len(cols) == 2 else f'{len(cols)} times'} on {_day(date)} "
        f"(columns {', '.join(cols)})"
    )
