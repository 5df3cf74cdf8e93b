"""The runs table as a CSV (the runs screen's `E`): full values, not the cells' text."""

from __future__ import annotations

import csv
import io
from datetime import datetime, UTC
from pathlib import Path

from synapse_tui.formatting import k_ranges
from synapse_tui.screens.runs.columns import CONFIG_PREFIX

# A column's value in an exported CSV where it is not the row's field of the same name.
EXPORT_FIELDS = {
    "id": "run_id",
    "duration": "duration_s",
    "epoch": "epochs",
    "good": "best_good_or_better",
    "beats": "beats_reference",
}


def export_value(key: str, row: dict) -> object:
    """Column `key`'s value for a CSV: the row's data in full (not the cell's text); "" when missing."""
    if key.startswith(CONFIG_PREFIX):
        v = (row.get("config") or {}).get(key[len(CONFIG_PREFIX) :])
    elif key == "started":
        v = row.get("started") or row.get("created")
    elif key == "tags":
        v = " ".join(str(t) for t in row.get("tags") or []) or None
    elif key == "beats" and row.get("beats_reference"):
        v = k_ranges(row.get("beats_at") or []) or "yes"
    else:
        v = row.get(EXPORT_FIELDS.get(key, key))
    if v is None:
        return ""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return repr(v)
    return v if isinstance(v, (int, str)) else str(v)


def write_export(runs_dir: Path, columns: list[str], rows: list[dict]) -> Path:
    """`rows` under `columns` to `<runs_dir>/exports/runs-<UTC time>[-n].csv` (never over another
    export); the path written. Raises OSError when it cannot be written."""
    from core.fsutil import atomic_write_text

    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows([export_value(k, r) for k in columns] for r in rows)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    folder = runs_dir / "exports"
    folder.mkdir(parents=True, exist_ok=True)
    path, n = folder / f"runs-{stamp}.csv", 1
    while path.exists():
        n += 1
        path = folder / f"runs-{stamp}-{n}.csv"
    atomic_write_text(path, buf.getvalue())
    return path
