"""`Store`: the SQLite index of runs, `<runs root>/index.sqlite`.

A cache of the run directories, never the truth: every row can be rebuilt from its
directory (`Store.reindex`), a missing index is created, and a corrupt one (garbage
bytes, a wrong schema, a malformed page) is deleted and rebuilt — never fatal. Where no
index can be written at all (a read-only runs dir) the store keeps it in memory.

* WAL journal, one connection per process (shared by every `Store` on the same root,
  guarded by a lock so TUI worker threads can use it), `busy_timeout` plus a retry with
  backoff on SQLITE_BUSY / SQLITE_LOCKED; writes take `BEGIN IMMEDIATE`.
* `rows(refresh=True)` first syncs with the directories: new directories are indexed,
  rows of directories deleted by hand are dropped, and runs whose files changed are
  re-read (signature: the directory's mtime — every file but events.jsonl is replaced
  by a rename, which touches it — plus events.jsonl's size and mtime). The status of a
  run that has not finished is recomputed on every call, so a running run whose worker
  died turns `lost` without any file changing.

Layout: core.store.rows reads a run directory into a row (the columns, `read_run`, `scan`,
`signature`); core.store.db holds the SQLite connection (schema, rebuilds, `retry`); this
module is the index itself, `Store`, and re-exports the names others import from it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import Iterable

from core.errors import InputError
from core.runs import FINISHED_STATUSES, STATUSES, RunDir, is_run_id, link_down_since, run_status
from core.runs.lock import FOLLOW_LOCK, WORKER_LOCK
from core.store.db import (
    _Conn,
    _conn_for,
    _INSERT_SQL,
    _is_corrupt,
    _q,
    _unusable,
    retry,
)
from core.store.rows import (
    COLUMN_NAMES,
    COLUMNS,
    _duration,
    _to_sql,
    config_of_row,
    public_row,
    read_run,
    scan,
    signature,
)

INDEX_NAME = "index.sqlite"


class Store:
    """The index of the runs under `root` (see the module docstring)."""

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.path = self.root / INDEX_NAME

    # -- plumbing
    @property
    def _c(self) -> _Conn:
        return _conn_for(self.path)

    @property
    def in_memory(self) -> bool:
        """True when no index file could be used here and the index lives in memory."""
        c = self._c
        with c.lock:
            c.ensure()
            return c.memory

    def _run(self, fn, *, write: bool = False):
        """Run `fn(db)` (in a write transaction when `write`), rebuilding a corrupt index once."""
        c = self._c
        with c.lock:
            for attempt in range(3):
                db = c.ensure()
                try:
                    if write:
                        return retry(lambda db=db: self._txn(db, fn))
                    return retry(lambda db=db: fn(db))
                except Exception as exc:  # noqa: BLE001
                    if attempt < 2 and _is_corrupt(exc):
                        c.discard()
                        continue
                    if attempt < 2 and _unusable(exc) and not c.memory:
                        c._open_memory()
                        continue
                    raise

    @staticmethod
    def _txn(db: sqlite3.Connection, fn):
        db.execute("BEGIN IMMEDIATE")
        try:
            out = fn(db)
            db.execute("COMMIT")
            return out
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    # -- writes
    def upsert(self, run_dir: RunDir | str | os.PathLike) -> dict | None:
        """(Re)index one run directory from its files; returns its row (None, and the row
        dropped, when the directory no longer exists)."""
        rd = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
        if not is_run_id(rd.run_id):
            raise InputError(f"{rd.run_id!r} is not a run directory name", path=rd.path)
        if rd.path.parent.absolute() != self.root.absolute() and rd.path.parent.resolve() != self.root.resolve():
            raise InputError(f"run directory is not under the runs dir {self.root}", path=rd.path)
        if not rd.path.is_dir():
            self.remove(rd.run_id)
            return None
        row = read_run(rd)
        self._run(lambda db: db.execute(_INSERT_SQL, _to_sql(row)), write=True)
        return public_row(row, self.root)

    def remove(self, run_id: str) -> bool:
        """Drop a run's row (its directory is the caller's business). True if it was there."""
        return bool(self._run(lambda db: db.execute("DELETE FROM runs WHERE run_id=?", (run_id,)).rowcount, write=True))

    def reindex(self) -> int:
        """Rebuild the whole index from the directories; returns the number of runs."""
        rows = [read_run(self.root / rid) for rid in scan(self.root)]

        def do(db):
            db.execute("DELETE FROM runs")
            db.executemany(_INSERT_SQL, [_to_sql(r) for r in rows])

        self._run(do, write=True)
        return len(rows)

    def sync(self) -> dict[str, int]:
        """Bring the index up to date with the directories: {added, updated, removed}."""
        before = self._c.rebuilds
        out = self._sync_once()
        if self._c.rebuilds != before:  # thrown away midway: the fresh index holds only part of it
            out = self._sync_once()
        return out

    def _sync_once(self) -> dict[str, int]:
        on_disk = scan(self.root)
        indexed = dict(self._run(lambda db: db.execute("SELECT run_id, signature FROM runs").fetchall()))
        stale, added = [], 0
        for rid, mtime in on_disk.items():
            old = indexed.get(rid)
            if old is None or old != signature(self.root / rid, mtime):
                stale.append(rid)
                added += old is None
        gone = [rid for rid in indexed if rid not in on_disk]
        if not stale and not gone:
            return {"added": 0, "updated": 0, "removed": 0}
        rows = []
        for rid in stale:
            if (self.root / rid).is_dir():
                rows.append(read_run(self.root / rid))

        def do(db):
            if gone:
                db.executemany("DELETE FROM runs WHERE run_id=?", [(r,) for r in gone])
            if rows:
                db.executemany(_INSERT_SQL, [_to_sql(r) for r in rows])

        self._run(do, write=True)
        return {"added": added, "updated": len(stale) - added, "removed": len(gone)}

    # -- reads
    def _all(self) -> list[dict]:
        def do(db):
            cur = db.execute(f"SELECT {', '.join(_q(c) for c in COLUMN_NAMES)} FROM runs")
            return [dict(zip(COLUMN_NAMES, r)) for r in cur.fetchall()]

        before = self._c.rebuilds
        rows = self._run(do)
        if self._c.rebuilds != before:  # found corrupt while read and rebuilt empty: refill it first
            self.sync()
            rows = self._run(do)
        return rows

    def _live(self, rows: list[dict], now: datetime) -> None:
        """Recompute the status of runs that have not finished (running -> lost needs no file change)."""
        changed = []
        for r in rows:
            if r["status"] in FINISHED_STATUSES or r["status"] == "queued" or not r.get("live"):
                continue
            try:
                live = json.loads(r["live"])
            except ValueError:
                continue
            started = live.get("started") or {}
            events = [started] + ([{"type": "log", "ts": live["last"]}] if live.get("last") else [])
            remote = bool(r.get("remote"))
            # A mirror's follower may have died or lost the link since the row was read, which
            # changes no file: ask its lock and follow.json now rather than the cached row.
            run_dir = self.root / r["run_id"]
            st = run_status(
                events,
                now,
                remote=remote,
                link_down_since=link_down_since(run_dir) if remote else None,
                worker_lock=None if remote else run_dir / WORKER_LOCK,
                follow_lock=run_dir / FOLLOW_LOCK if remote else None,
            )
            dur = _duration(st.status, st.started, None, st.last_event, now)
            if st.status != r["status"]:
                changed.append((st.status, dur, r["run_id"]))
            r["status"], r["duration_s"] = st.status, dur
        if changed:
            with contextlib.suppress(sqlite3.Error):
                self._run(
                    lambda db: db.executemany("UPDATE runs SET status=?, duration_s=? WHERE run_id=?", changed),
                    write=True,
                )

    def config_keys(self, *, refresh: bool = True) -> dict[str, dict]:
        """{dotted config key: {"type", "runs"}} of the keys in sections of the indexed runs' configs, sorted.

        `type` is number, text, yes/no or list (`mixed` when runs disagree); `runs` how many
        runs have the key. Read from the index (the config stored at upsert)."""
        if refresh:
            self.sync()
        seen: dict[str, tuple[set[str], int]] = {}
        for r in self._all():
            for k, v in config_of_row(r).items():
                if "." not in k:  # a top-level value (name, seed): not a field (`name` is the run's)
                    continue
                types, n = seen.get(k, (set(), 0))
                if v is not None:
                    types.add(_kind(v))
                seen[k] = (types, n + 1)
        return {
            k: {"type": (next(iter(t)) if len(t) == 1 else "mixed" if t else "text"), "runs": n}
            for k, (t, n) in sorted(seen.items())
        }

    def get(self, run_id: str, *, refresh: bool = True) -> dict | None:
        """One run's row (re-read from its directory when `refresh`), or None."""
        if refresh and (self.root / run_id).is_dir():
            return self.upsert(self.root / run_id)
        rows = [r for r in self._all() if r["run_id"] == run_id]
        if not rows:
            return None
        self._live(rows, datetime.now(UTC))
        return public_row(rows[0], self.root)

    def rows(
        self,
        query=None,
        status: str | Iterable[str] | None = None,
        model: str | Iterable[str] | None = None,
        sort: str = "created",
        descending: bool = True,
        limit: int | None = None,
        refresh: bool = True,
        now: datetime | None = None,
        label: str = "filter",
        archived: bool | None = None,
    ) -> list[dict]:
        """The runs, filtered, sorted and limited.

        `query` is a `core.query` filter (text or a parsed `Query`); `status` and `model`
        take one value or several (or a comma list). `sort` is any field name or alias,
        or a dotted config key (`train.lr`); a leading `-` sorts descending. Missing values
        sort last either way. With `refresh` the index is synced with the directories
        first. `label` names the filter's source in its errors (`--where`). `archived`: only
        the runs the user archived (True), only the others (False), or both (None).
        """
        from core.query import Query, is_config_key, parse, resolve_field

        statuses = _values(status)
        for s in statuses:
            if s not in STATUSES:
                import difflib

                close = difflib.get_close_matches(s, STATUSES, n=1)
                raise InputError(
                    f"unknown status {s!r}; one of {', '.join(STATUSES)}"
                    + (f" (did you mean {close[0]}?)" if close else "")
                )
        models = _values(model)
        if sort.startswith("-"):
            sort, descending = sort[1:], True
        if not is_config_key(sort):
            resolve_field(sort)  # a typo fails before the sync
        if limit is not None and limit < 0:
            raise InputError(f"limit must be >= 0, got {limit}")

        if refresh:
            self.sync()
        now = now or datetime.now(UTC)
        raw = self._all()
        self._live(raw, now)
        rows = [public_row(r, self.root) for r in raw]
        # Dotted names are config keys: checked against the keys the runs have (a did-you-mean
        # for `trian.lr`), read from the config stored at upsert (never config.yaml here).
        keys = _keys(rows)
        field = resolve_field(sort, config_keys=keys).name
        q = None
        if query is not None and query != "":
            q = query if isinstance(query, Query) else parse(str(query), label=label, config_keys=keys)
        if statuses:
            rows = [r for r in rows if r["status"] in statuses]
        if models:
            rows = [r for r in rows if (r["model"] or "").lower() in models]
        if archived is not None:
            rows = [r for r in rows if bool(r.get("archived")) == archived]
        if q is not None:
            rows = q.filter(rows, now)
        rows = sort_rows(rows, field, descending, now)
        return rows if limit is None else rows[:limit]


def _kind(v) -> str:
    if isinstance(v, bool):
        return "yes/no"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, (list, dict)):
        return "list"
    return "text"


def _keys(rows: list[dict]) -> set[str]:
    return {k for r in rows for k in r["config"]}


def _values(v: str | Iterable[str] | None) -> list[str]:
    if v is None:
        return []
    items = [v] if isinstance(v, str) else list(v)
    return [p.strip().lower() for item in items for p in str(item).split(",") if p.strip()]


def sort_rows(rows: list[dict], field: str, descending: bool = True, now: datetime | None = None) -> list[dict]:
    """Sort by a canonical field; rows without a value go last in either direction."""
    from core.query import value_of

    now = now or datetime.now(UTC)
    # Ties: newest first, then by id, whatever the direction of the main key.
    rows = sorted(rows, key=lambda r: (r.get("created") or "", r["run_id"]), reverse=True)

    def key(r):
        v = value_of(r, field, now)
        if isinstance(v, str):
            v = v.lower()
        return v

    present = [r for r in rows if key(r) is not None]
    missing = [r for r in rows if key(r) is None]
    try:
        present.sort(key=key, reverse=descending)
    except TypeError:  # mixed types in a column: compare as text
        present.sort(key=lambda r: str(key(r)), reverse=descending)
    return present + missing


__all__ = ["Store", "read_run", "scan", "signature", "sort_rows", "COLUMNS", "COLUMN_NAMES", "INDEX_NAME", "retry"]
