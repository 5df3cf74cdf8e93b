"""Parquet input for `core.data.load` (needs the optional pyarrow, imported only when used).

The columns are read with pyarrow, turned into the same (values, codes) cells as the
CSV path, and checked by `core.data.validate`; problems name the row, not the line.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core.data.dates import DateFormat, split_dates
from core.data.validate import (
    _BAD,
    _BIG,
    _MISS,
    _OK,
    _date_column,
    _layout,
    _parse_ints,
    _validate,
    _Where,
)


# ----------------------------------------------------------------------------- Parquet
def _load_parquet(
    path: Path,
    data: bytes,
    parts,
    events_per_day,
    allow_unsorted,
    echo: bool = True,
    unsorted_hint: str | None = None,
    date_format: DateFormat | None = None,
    columns: dict | None = None,
):
    where = _Where(path, None, None, echo, unsorted_hint)
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise where.file(
            "reading Parquet files needs pyarrow, which is not installed: pip install 'synapse[parquet]'"
        ) from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except Exception as e:  # pyarrow raises several types for a damaged file
        raise where.file(f"not a readable Parquet file ({e})") from None
    cols = [table.column(j).combine_chunks() for j in range(table.num_columns)]

    def sample(j: int) -> list[str]:
        return ["" if v is None else str(v).strip() for v in cols[j].slice(0, 2048).to_pylist()]

    lay = _layout(list(table.column_names), where, parts, events_per_day, sample=sample, columns=columns)
    if table.num_rows == 0:
        raise where.file("the file has columns but no data rows")

    def raw(j: int, i: int) -> str:
        v = cols[j][i].as_py()
        return "" if v is None else str(v)

    dcol = cols[lay.date_col]
    if pa.types.is_string(dcol.type) or pa.types.is_large_string(dcol.type):
        strs = ["" if s is None else s.strip() for s in dcol.to_pylist()]
        dates, dcodes, info = _date_column(lay, *split_dates(strs), date_format, where, raw)
    else:
        dates, dcodes = _arrow_dates(dcol, _named(lay, lay.date_col), where, pa)
        info = {
            "layout": lay.fmt,
            "detected": lay.how,
            "date_column": lay.names[lay.date_col] if echo else lay.col(lay.date_col),
            "date_format": f"Parquet {dcol.type}",
            "date_format_why": "a typed date column",
            "part_columns": [lay.names[k] if echo else lay.col(k) for k in lay.value_cols],
        }
    parsed = [_arrow_ints(cols[j], _named(lay, j), where, pa) for j in lay.value_cols]
    V = np.stack([v for v, _ in parsed], 1)
    VC = np.stack([c for _, c in parsed], 1)
    dates, Y, warnings = _validate(lay, dates, dcodes, V, VC, raw, where, parts, events_per_day, allow_unsorted, None)
    return lay.fmt, dates, Y, warnings, info


def _named(lay, j: int) -> str:
    c = lay.col(j)
    return repr(c) if c == lay.names[j] else c


def _arrow_dates(col, name: str, where: _Where, pa) -> tuple[np.ndarray, np.ndarray]:
    t = pa.types
    null = col.is_null().to_numpy(zero_copy_only=False)
    if t.is_date(col.type):
        days = col.cast(pa.date32()).cast(pa.int32()).fill_null(0).to_numpy(zero_copy_only=False)
        dates = days.astype("datetime64[D]")
        codes = np.where(null, _MISS, _OK).astype(np.int8)
    elif t.is_timestamp(col.type):
        stamps = col.cast(pa.timestamp(col.type.unit)).fill_null(0).to_numpy(zero_copy_only=False)
        dates = stamps.astype("datetime64[D]")
        codes = np.where(null, _MISS, np.where(dates != stamps, _BAD, _OK)).astype(np.int8)
    else:
        raise where.header(f"column {name} has type {col.type}; expected dates or date strings")
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
    raise where.header(f"column {name} has type {col.type}; expected integers")
