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
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from core.data.parquet import _load_parquet
from core.data.validate import (  # noqa: F401  (DEFAULT_PARTS: re-exported, public here)
    DEFAULT_PARTS,
    _Cand,
    _day,
    _expected,
    _first,
    _layout,
    _parse_dates,
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
    header = next(csv.reader([lines[nonblank[0]]]))
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
    lay = _layout(header, where, parts, events_per_day)
    warnings = []
    n = int(nonblank[-1]) + 1 - len(nonblank)  # blank lines before the last row (trailing ones are harmless)
    if n:
        warnings.append(f"skipped {n} blank line{'s' if n > 1 else ''}")

    f = len(header)
    where.lineno = rows + 1
    quoted = '"' in text
    spaced = " " in text or "\t" in text
    del text  # `lines` holds copies; the block parse below is what bounds memory
    multihot = lay.fmt == "multihot"

    def cells(line: str) -> list[str]:
        if quoted:
            return [c.strip() for c in next(csv.reader([line]))]
        return [c.strip() for c in line.split(",")] if spaced else line.split(",")

    # Cells are parsed a block of rows at a time into numpy arrays: one Python string per
    # cell for the whole file costs ~50 bytes a cell (4.5 GB for a 200 MB file), a block's
    # worth is a few MB. Multihot values are clipped to -1..2 and kept as int8: the checks
    # only ask "0, 1 or neither".
    stop: _Cand | None = None
    r = len(rows)  # rows before the first ragged one: those are checked
    blocks: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    for b0 in range(0, len(rows), _ROWS_PER_BLOCK):
        body = [lines[i] for i in rows[b0 : b0 + _ROWS_PER_BLOCK]]
        split = [cells(s) for s in body] if quoted else None
        nf = (
            np.fromiter(map(len, split), np.int64, len(body))
            if split is not None
            else np.fromiter((s.count(",") + 1 for s in body), np.int64, len(body))
        )
        bad = _first(nf != f)
        n = len(body) if bad is None else bad
        if n:
            if split is not None:
                cols = [[row[j] for row in split[:n]] for j in range(f)]
            else:
                flat = ",".join(body[:n]).split(",")
                if spaced:
                    flat = [c.strip() for c in flat]
                cols = [flat[j::f] for j in range(f)]
            d, dc = _parse_dates(cols[lay.date_col])
            parsed = [_parse_ints(cols[j]) for j in lay.value_cols]
            v = np.stack([p for p, _ in parsed], 1)
            blocks.append(
                (d, dc, np.clip(v, -1, 2).astype(np.int8) if multihot else v, np.stack([c for _, c in parsed], 1))
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
    if stop is None and stop_line is not None:
        stop = (r, -1, lambda: DataError(stop_line[1], path=str(path), line=stop_line[0]))
    if r == 0:
        assert stop is not None
        raise stop[2]()
    dates = np.concatenate([b[0] for b in blocks])
    dcodes = np.concatenate([b[1] for b in blocks])
    V = np.concatenate([b[2] for b in blocks])
    VC = np.concatenate([b[3] for b in blocks])
    del blocks
    dates, Y, more = _validate(
        lay,
        dates,
        dcodes,
        V,
        VC,
        lambda j, i: cells(lines[int(rows[i])])[j],
        where,
        parts,
        events_per_day,
        allow_unsorted,
        stop,
    )
    return lay.fmt, dates, Y, warnings + more


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


def load_dataset(
    path: str | Path,
    *,
    parts: int | None = None,
    events_per_day: int | None = None,
    allow_unsorted: bool = False,
    echo: bool = True,
    unsorted_hint: str | None = None,
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
    Only regular files are read (not a FIFO, device or directory), of at most
    `max_data_bytes()` once decompressed.
    Raises DataError for every problem with the file; ValueError for bad arguments.
    """
    if parts is not None and parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    if events_per_day is not None and events_per_day < 1:
        raise ValueError(f"events_per_day must be >= 1, got {events_per_day}")
    path = Path(path)
    limit = max_data_bytes()
    data, sha = _read_regular(path, limit)
    if not data:
        raise DataError("the file is empty (0 bytes)", path=path)
    if path.suffix.lower() in (".parquet", ".pq") or data[:4] == b"PAR1":
        fmt, dates, Y, warnings = _load_parquet(
            path, bytes(data), parts, events_per_day, allow_unsorted, echo, unsorted_hint
        )
    else:
        if data[:2] == b"\x1f\x8b":
            data = _gunzip(data, limit, path)
            if not data:
                raise DataError("the file is empty (0 bytes once decompressed)", path=path)
        fmt, dates, Y, warnings = _load_csv(path, data, parts, events_per_day, allow_unsorted, echo, unsorted_hint)
    gaps = _gaps(dates)
    if gaps:
        total = sum(g[2] for g in gaps)
        a, b, n = max(gaps, key=lambda g: g[2])
        warnings.append(
            f"{len(gaps)} gap{'s' if len(gaps) > 1 else ''} in the dates ({total} missing "
            f"day{'s' if total > 1 else ''} in all; largest {n} between {_day(a)} and {_day(b)})"
        )
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
