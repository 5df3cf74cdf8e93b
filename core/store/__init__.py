"""The SQLite index of runs, `<runs root>/index.sqlite` (docs/ARCHITECTURE.md, "The store").

    rows   one run directory read into one index row (never fails on a broken run)
    db     the SQLite connection: WAL, busy retries, corruption detection
    index  `Store`: sync with the directories, query, sort, upsert, remove, reindex

A cache, never the truth: everything in it can be rebuilt from the run directories.
"""

from core.store.index import INDEX_NAME, Store
from core.store.rows import COLUMN_NAMES, public_row, read_run, read_yaml

__all__ = ["COLUMN_NAMES", "INDEX_NAME", "Store", "public_row", "read_run", "read_yaml"]
