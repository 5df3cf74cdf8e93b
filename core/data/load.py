"""Load and validate a daily event file (docs/ARCHITECTURE.md, "Data").

Two layouts, told apart by the header:

* draws     ``date,e1,...,eK``           the part ids (1..P) that occurred that day
* multihot  ``date,part_1,...,part_P``   0/1 per part

as CSV (plain or gzip-compressed) or Parquet (needs pyarrow). Every problem becomes ONE
`DataError` naming the file, the 1-based line (the header is line 1; Parquet names the
row in the message instead) and the problem in plain words. When a file has several
problems the first one in file order is reported. Loading never writes anything.

Speed: the text is split once and each column is validated with numpy; Python-level
loops only run to explain a problem that the vectorised checks have already found.

This module holds the `Dataset`, the CSV reader, the public API and the writers. The
header/cell checks shared by both formats are in `core.data.validate`, the Parquet
reader in `core.data.parquet` (pyarrow is imported only when a Parquet file is read).
"""

from __future__ import annotations

import csv
import hashlib
import os
import stat
import zlib
from dataclasses import dataclass, field
from functools import cached_property
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from core.data.dates import DateFormat, parse_format, split_dates
from core.data.parquet import _load_parquet
from core.data.validate import (  # noqa: F401  (DEFAULT_PARTS: re-exported, public here)
    DEFAULT_PARTS,
    _Cand,
    _date_column,
    _day,
    _expected,
    _first,
    _layout,
    _parse_ints,
    _validate,
    _Where,
)
from core.errors import DataError
from core.fsutil import atomic_write_bytes

__all__ = ["DEFAULT_PARTS", "Dataset", "load_dataset", "describe", "write_draws_csv", "write_multihot_csv"]


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
    detected: dict = field(default_factory=dict)  # layout, date column and format, part columns, and why

    @property
    def date_format(self) -> str | None:
        return self.detected.get("date_format")

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


_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def _weekly(dates: np.ndarray) -> str:
    """'4 draws a week (Mon, Tue, Thu, Sat)' for a stretch of dates."""
    span = int((dates[-1] - dates[0]).astype(np.int64)) + 1
    per_week = 7 * len(dates) / span
    near = round(per_week)
    text = f"{near} draws a week" if abs(per_week - near) < 0.15 else f"about {per_week:.1f} draws a week"
    counts = np.bincount((dates.astype(np.int64) + 3) % 7, minlength=7)
    used = np.flatnonzero(counts >= 0.05 * len(dates))
    if len(used) < 7 and counts[used].sum() >= 0.95 * len(dates):
        text += f" ({', '.join(_WEEKDAYS[i] for i in used)})"
    return text


def calendar(dates: np.ndarray) -> str:
    """The calendar in words: 'daily', 'daily, with 3 gaps (5 missing days)', '4 draws a week
    (Mon, Tue, Thu, Sat) until 1998-03-02, then daily from 1998-03-03', '2 draws a week'."""
    dates = np.asarray(dates).astype("datetime64[D]")
    if len(dates) < 2:
        return "a single day" if len(dates) else "no days"
    step = np.diff(dates).astype(np.int64)
    gaps = np.flatnonzero(step > 1)
    if not gaps.size:
        return "daily"
    if gaps.size <= 0.05 * len(step):
        missing = int(step[gaps].sum() - gaps.size)
        s = "s" if gaps.size > 1 else ""
        return f"daily, with {gaps.size} gap{s} ({missing:,} missing day{'s' if missing > 1 else ''})"
    if len(dates) < 14:
        return f"irregular ({len(dates)} dates over {int((dates[-1] - dates[0]).astype(np.int64)) + 1} days)"
    cut = int(gaps[-1]) + 1  # the daily run at the end starts here
    if len(dates) - cut >= 28:
        return f"{_weekly(dates[:cut])} until {_day(dates[cut - 1])}, then daily from {_day(dates[cut])}"
    return _weekly(dates)


# ----------------------------------------------------------------------------- CSV
_ROWS_PER_BLOCK = 2048  # x 40 multihot cells x ~50 bytes a str: ~4 MB of cells at a time


def _load_csv(
    path: Path,
    data: bytes | bytearray,
    parts,
    events_per_day,
    allow_unsorted,
    echo: bool = True,
    unsorted_hint: str | None = None,
    date_format: DateFormat | None = None,
    columns: dict | None = None,
):
    where = _Where(path, None, 1, echo, unsorted_hint)
    stop_line: tuple[int, str] | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        problem = (
            f"bytes that are not UTF-8 (0x{data[e.start]:02x} at byte {e.start - start + 1} of the line); "
            "save the file as UTF-8"
        )
        text = data[:start].decode("utf-8")  # the lines before it are valid; check them first
        stop_line = (line, problem)
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    if lines[-1] == "":
        lines.pop()
    nonblank = np.flatnonzero(np.fromiter((not s.isspace() and s != "" for s in lines), bool, len(lines)))
    if not nonblank.size:
        if stop_line:
            raise DataError(stop_line[1], path=str(path), line=stop_line[0])
        raise where.file("the file has no header line (it is blank)")
    where.header_line = int(nonblank[0]) + 1
    header = next(csv.reader([lines[nonblank[0]]], skipinitialspace=True))
    rows = nonblank[1:]
    if not rows.size and stop_line is None:
        raise where.file(f"the file has a header but no data rows (header: {where.quote(lines[nonblank[0]].strip())})")
    if len(header) == 1:
        for sep, word in ((";", "semicolons"), ("\t", "tabs")):
            if sep in header[0]:
                raise where.header(
                    f"the header is separated by {word}, not commas; save the file as "
                    f"comma-separated: {_expected(parts, events_per_day)}"
                )
    warnings = []
    n = int(nonblank[-1]) + 1 - len(nonblank)  # blank lines before the last row (trailing ones are harmless)
    if n:
        warnings.append(f"skipped {n} blank line{'s' if n > 1 else ''}")

    f = len(header)
    where.lineno = rows + 1
    quoted = '"' in text
    spaced = " " in text or "\t" in text
    del text  # `lines` holds copies; the block parse below is what bounds memory

    def cells(line: str) -> list[str]:
        if quoted:
            return [c.strip() for c in next(csv.reader([line], skipinitialspace=True))]
        return [c.strip() for c in line.split(",")] if spaced else line.split(",")

    def split_block(b0: int) -> tuple[list[list[str]], np.ndarray, int | None]:
        """A block's columns of cells (up to its first ragged row), field counts, first ragged row."""
        body = [lines[i] for i in rows[b0 : b0 + _ROWS_PER_BLOCK]]
        split = [cells(s) for s in body] if quoted else None
        nf = (
            np.fromiter(map(len, split), np.int64, len(body))
            if split is not None
            else np.fromiter((s.count(",") + 1 for s in body), np.int64, len(body))
        )
        bad = _first(nf != f)
        n = len(body) if bad is None else bad
        cols: list[list[str]] = []
        if n:
            if split is not None:
                cols = [[row[j] for row in split[:n]] for j in range(f)]
            else:
                flat = ",".join(body[:n]).split(",")
                if spaced:
                    flat = [c.strip() for c in flat]
                cols = [flat[j::f] for j in range(f)]
        return cols, nf, bad

    first = split_block(0) if rows.size else ([], np.zeros(0, np.int64), None)
    lay = _layout(
        [h.strip() for h in header],
        where,
        parts,
        events_per_day,
        sample=lambda j: first[0][j] if first[0] else [],
        columns=columns,
    )
    multihot = lay.fmt == "multihot"

    # Cells are parsed a block of rows at a time into numpy arrays: one Python string per
    # cell for the whole file costs ~50 bytes a cell (4.5 GB for a 200 MB file), a block's
    # worth is a few MB. Multihot values are clipped to -1..2 and kept as int8: the checks
    # only ask "0, 1 or neither". Dates are kept as their shape and three numbers until the
    # whole column is read: the format is inferred from all of it.
    stop: _Cand | None = None
    r = len(rows)  # rows before the first ragged one: those are checked
    blocks: list[tuple] = []
    for b0 in range(0, len(rows), _ROWS_PER_BLOCK):
        cols, nf, bad = first if b0 == 0 else split_block(b0)
        if cols:
            dparts = split_dates(cols[lay.date_col])
            parsed = [_parse_ints(cols[j]) for j in lay.value_cols]
            v = np.stack([p for p, _ in parsed], 1)
            blocks.append(
                (dparts, np.clip(v, -1, 2).astype(np.int8) if multihot else v, np.stack([c for _, c in parsed], 1))
            )
            del cols, parsed
        if bad is not None:
            r, count = b0 + bad, int(nf[bad])
            many = "too many" if count > f else "too few"
            stop = (
                r,
                -1,
                lambda r=r, count=count, many=many: where.row(
                    r, f"this line has {count} fields but the header has {f} ({many})"
                ),
            )
            break
    first = ([], first[1], first[2])
    if stop is None and stop_line is not None:
        stop = (r, -1, lambda: DataError(stop_line[1], path=str(path), line=stop_line[0]))
    if r == 0:
        assert stop is not None
        raise stop[2]()
    shape, da, db, dc = (np.concatenate([b[0][k] for b in blocks]) for k in range(4))
    V = np.concatenate([b[1] for b in blocks])
    VC = np.concatenate([b[2] for b in blocks])
    del blocks
    raw = lambda j, i: cells(lines[int(rows[i])])[j]  # noqa: E731
    dates, dcodes, info = _date_column(lay, shape, da, db, dc, date_format, where, raw)
    dates, Y, more = _validate(
        lay,
        dates,
        dcodes,
        V,
        VC,
        raw,
        where,
        parts,
        events_per_day,
        allow_unsorted,
        stop,
    )
    return lay.fmt, dates, Y, warnings + more, info


# ----------------------------------------------------------------------------- public API
MAX_DATA_BYTES = 1 << 30  # 1 GiB of CSV once decompressed: ~10 million days of multihot P=39
MAX_DATA_ENV = "SYNAPSE_MAX_DATA_BYTES"
_CHUNK = 1 << 20


def max_data_bytes() -> int:
    """The largest data file (decompressed) the loader reads: $SYNAPSE_MAX_DATA_BYTES, else 1 GiB."""
    raw = os.environ.get(MAX_DATA_ENV, "").strip()
    if not raw:
        return MAX_DATA_BYTES
    try:
        value = int(raw)
    except ValueError:
        raise DataError(f"${MAX_DATA_ENV}={raw!r} is not a whole number of bytes") from None
    if value < 1:
        raise DataError(f"${MAX_DATA_ENV}={raw!r} must be at least 1")
    return value


def _too_big(limit: int, what: str) -> str:
    return f"{what} is larger than the {limit:,}-byte limit on data files (set ${MAX_DATA_ENV} to read a larger one)"


def _file_kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "a directory"
    if stat.S_ISFIFO(mode):
        return "a FIFO (named pipe)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def _read_regular(path: Path, limit: int) -> tuple[bytearray, str]:
    """(bytes, sha256) of a regular file of at most `limit` bytes, read in chunks.

    Opened non-blocking and checked with fstat before the first read: opening a FIFO for
    reading otherwise waits for a writer forever, and /dev/zero never ends."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise DataError("no such file", path=path) from None
    except IsADirectoryError:
        raise DataError("is a directory, not a data file", path=path) from None
    except OSError as e:
        raise DataError(f"cannot read the file ({e.strerror or e})", path=path) from None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            raise DataError("is a directory, not a data file", path=path)
        if not stat.S_ISREG(st.st_mode):
            raise DataError(f"is {_file_kind(st.st_mode)}, not a regular data file", path=path)
        if st.st_size > limit:
            raise DataError(_too_big(limit, f"the file ({st.st_size:,} bytes)"), path=path)
    except BaseException:
        os.close(fd)
        raise
    with os.fdopen(fd, "rb", buffering=0) as fh:
        sha = hashlib.sha256()
        data = bytearray()
        try:
            while chunk := fh.read(_CHUNK):
                sha.update(chunk)
                data += chunk
                if len(data) > limit:  # it grew while being read
                    raise DataError(_too_big(limit, "the file"), path=path)
        except OSError as e:
            raise DataError(f"cannot read the file ({e.strerror or e})", path=path) from None
    return data, sha.hexdigest()


def _gunzip(data: bytearray, limit: int, path: Path) -> bytearray:
    """Every gzip member of `data`, decompressed a bounded piece at a time: a few KB of gzip
    can stand for gigabytes, so the output is capped at `limit` as it is produced."""
    out = bytearray()
    rest = bytes(data)
    try:
        while True:
            member = zlib.decompressobj(16 + zlib.MAX_WBITS)
            buf = rest
            while True:
                out += member.decompress(buf, limit + 1 - len(out))
                if len(out) > limit:
                    raise DataError(_too_big(limit, "the decompressed data"), path=path)
                buf = member.unconsumed_tail
                if member.eof or not buf:
                    break
            if not member.eof:
                raise DataError(
                    "looks gzip-compressed but cannot be decompressed (the compressed data is truncated)", path=path
                )
            rest = member.unused_data
            if not rest.strip(b"\x00"):  # gzip allows zero padding after the last member
                return out
            if rest[:2] != b"\x1f\x8b":
                raise DataError(
                    "looks gzip-compressed but cannot be decompressed (bytes that are not gzip "
                    "after the compressed data)",
                    path=path,
                )
    except zlib.error as e:
        raise DataError(f"looks gzip-compressed but cannot be decompressed ({e})", path=path) from None


def load_for_config(
    path: str | Path, data: Any, *, unsorted_hint: str | None = None, echo: bool = True, allow_unsorted: bool = False
) -> Dataset:
    """`load_dataset` as a config's `data` section says (parts, events_per_day, allow_unsorted,
    date_format, columns): what runs, predict, export, validation and the rules miner read with.
    `allow_unsorted` adds the caller's own permission (predict's flag) to the config's."""
    return load_dataset(
        path,
        parts=data.parts,
        events_per_day=data.events_per_day,
        allow_unsorted=data.allow_unsorted or allow_unsorted,
        echo=echo,
        unsorted_hint=unsorted_hint,
        date_format=data.date_format,
        columns=data.columns,
    )


def load_dataset(
    path: str | Path,
    *,
    parts: int | None = None,
    events_per_day: int | None = None,
    allow_unsorted: bool = False,
    echo: bool = True,
    unsorted_hint: str | None = None,
    date_format: str | DateFormat | None = None,
    columns: Mapping | Any | None = None,
) -> Dataset:
    """Read and validate a draws or multihot file (CSV, CSV.gz or Parquet).

    parts: the number of parts P. Draws: ids above it are errors (default: the largest id
    seen). Multihot: the part columns must be exactly part_1..part_P.
    events_per_day: when set, every day must have exactly this many events.
    allow_unsorted: sort rows by date (with a warning) instead of refusing them.
    echo: whether error messages may quote the file's cells and header (short, escaped);
    False for a path nobody chose here (a run's manifest): messages then name the line,
    the column and the problem only (docs/ARCHITECTURE.md, "Data").
    unsorted_hint: how the caller's user accepts unsorted dates (core.data.validate.UNSORTED_HINT_*);
    default the `synapse data` flag.
    date_format: the dates' format ('M/D/YYYY', 'D.M.YYYY', 'YYYY-MM-DD', ...; see
    `core.data.dates.parse_format`); default: inferred from the whole column.
    columns: which columns to read, {"date": name, "parts": [names], "layout": "draws" |
    "multihot" (optional)} (a config's `data.columns`); other columns are ignored. Default:
    the layout is found from the header's names or, failing that, its shape.
    Only regular files are read (not a FIFO, device or directory), of at most
    `max_data_bytes()` once decompressed.
    Raises DataError for every problem with the file; ValueError for bad arguments.
    """
    if parts is not None and parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if events_per_day is not None and events_per_day < 1:
        raise ValueError(f"events_per_day must be >= 1, got {events_per_day}")
    fmt_given = parse_format(date_format) if isinstance(date_format, str) else date_format
    cols = _columns_dict(columns)
    path = Path(path)
    limit = max_data_bytes()
    data, sha = _read_regular(path, limit)
    if not data:
        raise DataError("the file is empty (0 bytes)", path=path)
    if path.suffix.lower() in (".parquet", ".pq") or data[:4] == b"PAR1":
        fmt, dates, Y, warnings, info = _load_parquet(
            path, bytes(data), parts, events_per_day, allow_unsorted, echo, unsorted_hint, fmt_given, cols
        )
    else:
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, limit, path)
            if not data:
                raise DataError("the file is empty (0 bytes once decompressed)", path=path)
        fmt, dates, Y, warnings, info = _load_csv(
            path, data, parts, events_per_day, allow_unsorted, echo, unsorted_hint, fmt_given, cols
        )
    gaps = _gaps(dates)
    if gaps:
        total = sum(g[2] for g in gaps)
        a, b, n = max(gaps, key=lambda g: g[2])
        cal = calendar(dates)
        warnings.append(
            f"{len(gaps)} gap{'s' if len(gaps) > 1 else ''} in the dates ({total} missing "
            f"day{'s' if total > 1 else ''} in all; largest {n} between {_day(a)} and {_day(b)})"
            + ("" if cal.startswith("daily") else f"; the calendar: {cal}")
        )
    dates = np.ascontiguousarray(dates, dtype="datetime64[D]")
    Y = np.ascontiguousarray(Y, dtype=bool)
    dates.flags.writeable = False
    Y.flags.writeable = False
    info["calendar"] = calendar(dates)
    if fmt == "draws":  # every row holds exactly its K distinct ids (validated)
        info["K"] = len(info["part_columns"])
    else:
        per_day = np.count_nonzero(Y, axis=1)
        info["K"] = int(per_day[0]) if len(per_day) and (per_day == per_day[0]).all() else None
    return Dataset(dates=dates, Y=Y, path=path, sha256=sha, fmt=fmt, warnings=tuple(warnings), detected=info)


def _columns_dict(columns) -> dict | None:
    """data.columns as a plain dict (a pydantic model or a mapping)."""
    if columns is None:
        return None
    if hasattr(columns, "model_dump"):
        columns = columns.model_dump()
    if not isinstance(columns, Mapping):
        raise ValueError(f"columns must be a mapping {{date: ..., parts: [...]}}, got {type(columns).__name__}")
    return {k: v for k, v in columns.items() if v is not None}


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
        "detected": dict(ds.detected),
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
        raise ValueError(
            f"draws need the same number (>= 1) of events every day: day 0 has {int(n[0])}, day {bad} has {int(n[bad])}"
        )
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
