"""The SQLite index of runs, `<runs root>/index.sqlite` (DESIGN.md 8).

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
"""
from __future__ import annotations

import contextlib
import json
import math
import os
import random
import sqlite3
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterable, Mapping

from core.errors import InputError
from core.runs import (
    FINISHED_STATUSES, RUN_ID_RE, STATUSES, RunDir, format_ts, parse_ts, read_events, run_status,
)

INDEX_NAME = "index.sqlite"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5_000
BUSY_RETRY_S = 60.0  # give up on a busy database after this long (then it is a real problem)
RACY_S = 2.0  # files changed this recently may change again within the same mtime tick

# (column, SQL type). Row dicts use these names; they are the fields of core.query.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("run_id", "TEXT PRIMARY KEY"),
    ("name", "TEXT"),
    ("model", "TEXT"),
    ("job", "TEXT"),
    ("status", "TEXT"),
    ("attempt", "INTEGER"),
    ("created", "TEXT"),
    ("started", "TEXT"),
    ("finished", "TEXT"),
    ("duration_s", "REAL"),
    ("config_hash", "TEXT"),
    ("data_sha256", "TEXT"),
    ("host", "TEXT"),
    ("device", "TEXT"),
    ("primary", "TEXT"),
    ("reference", "TEXT"),
    ("best_baseline", "TEXT"),
    ("calibration", "TEXT"),
    ("epochs", "INTEGER"),
    ("best_val_loss", "REAL"),
    ("val_brier", "REAL"),
    ("auc", "REAL"),
    ("pr_auc", "REAL"),
    ("brier_skill", "REAL"),
    ("ece_before", "REAL"),
    ("ece_after", "REAL"),
    ("classwise_ece", "REAL"),
    ("best_good_or_better", "REAL"),
    ("best_k", "INTEGER"),
    ("beats_reference", "INTEGER"),
    ("beats_at", "TEXT"),  # JSON list of K
    ("lift_capture", "REAL"),
    ("verdict", "TEXT"),
    ("test_touches", "INTEGER"),
    ("error", "TEXT"),
    ("summary", "TEXT"),  # JSON: report.json's "summary"
    # internal
    ("live", "TEXT"),  # JSON: what status needs without rereading events (run_started, last event ts)
    ("remote", "INTEGER"),
    ("signature", "TEXT"),
    ("indexed_at", "TEXT"),
)
COLUMN_NAMES = tuple(c for c, _ in COLUMNS)
_INTERNAL = ("live", "remote", "signature", "indexed_at")
_JSON_COLUMNS = ("beats_at", "summary")
_BOOL_COLUMNS = ("beats_reference",)
_SUMMARY_NUMBERS = ("val_brier", "auc", "pr_auc", "brier_skill", "ece_before", "ece_after", "classwise_ece",
                    "best_good_or_better", "lift_capture")
_SUMMARY_TEXT = ("primary", "reference", "best_baseline", "calibration", "verdict")

# SQLite primary result codes
_BUSY, _LOCKED, _CORRUPT, _NOTADB, _READONLY, _CANTOPEN, _IOERR, _FULL = 5, 6, 11, 26, 8, 14, 10, 13


def _q(name: str) -> str:
    return '"' + name + '"'


_CREATE_SQL = f"CREATE TABLE runs ({', '.join(f'{_q(c)} {t}' for c, t in COLUMNS)})"
_INSERT_SQL = (f"INSERT OR REPLACE INTO runs ({', '.join(_q(c) for c in COLUMN_NAMES)}) "
               f"VALUES ({', '.join('?' for _ in COLUMN_NAMES)})")


class _Corrupt(Exception):
    """The index file is not a usable index of this schema."""


def _code(exc: BaseException) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    return None if code is None else code & 0xFF


def _is_busy(exc: BaseException) -> bool:
    if not isinstance(exc, sqlite3.OperationalError):
        return False
    code = _code(exc)
    if code is not None:
        return code in (_BUSY, _LOCKED)
    msg = str(exc).lower()
    return "locked" in msg or "busy" in msg


def _is_corrupt(exc: BaseException) -> bool:
    if isinstance(exc, _Corrupt):
        return True
    if not isinstance(exc, sqlite3.DatabaseError) or _is_busy(exc):
        return False
    code = _code(exc)
    if code in (_CORRUPT, _NOTADB):
        return True
    msg = str(exc).lower()
    return any(s in msg for s in ("not a database", "malformed", "no such table", "no such column",
                                  "has no column"))


def _unusable(exc: BaseException) -> bool:
    """Errors that mean no on-disk index can be kept here (read-only dir, disk full, ...)."""
    if isinstance(exc, sqlite3.OperationalError) and _code(exc) in (_READONLY, _CANTOPEN, _IOERR, _FULL):
        return True
    return isinstance(exc, OSError)


# --------------------------------------------------------------------------- reading a run


def _finite(x: Any) -> float | None:
    if isinstance(x, bool) or not isinstance(x, (int, float)):
        return None
    x = float(x)
    return x if math.isfinite(x) else None


def _int(x: Any) -> int | None:
    if isinstance(x, bool):
        return None
    if isinstance(x, int):
        return x
    if isinstance(x, float) and math.isfinite(x) and x.is_integer():
        return int(x)
    return None


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _read_yaml(path: Path) -> Any:
    try:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as fh:
            return yaml.load(fh, Loader=loader)  # noqa: S506 — a safe loader
    except Exception:  # noqa: BLE001 — a broken config must not break the index
        return None


def _now(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, (int, float)):
        return datetime.fromtimestamp(now, timezone.utc)
    return now if now.tzinfo else now.replace(tzinfo=timezone.utc)


def _duration(status: str, started: datetime | None, finished: datetime | None, last: datetime | None,
              now: datetime) -> float | None:
    if started is None:
        return None
    end = finished if finished is not None else (now if status == "running" else last)
    if end is None:
        return None
    return max(0.0, (end - started).total_seconds())


def signature(path: Path, dir_mtime_ns: int | None = None) -> str:
    """What changes when a run directory's indexed content may have changed."""
    if dir_mtime_ns is None:
        try:
            dir_mtime_ns = os.stat(path).st_mtime_ns
        except OSError:
            dir_mtime_ns = -1
    try:
        st = os.stat(path / "events.jsonl")
        ev = (st.st_size, st.st_mtime_ns)
    except OSError:
        ev = (-1, -1)
    sig = f"{dir_mtime_ns}:{ev[0]}:{ev[1]}"
    newest = max(dir_mtime_ns, ev[1]) / 1e9
    if time.time() - newest < RACY_S:
        sig = "racy:" + sig  # never equal to a fresh signature: re-read on the next sync
    return sig


def read_run(run: RunDir | str | os.PathLike, now: datetime | float | None = None) -> dict:
    """The index row of one run directory, read from its files.

    Tolerant of partial directories: a run being created has no manifest yet, a queued
    run has no report, a torn or corrupt file is read as absent.
    """
    rd = run if isinstance(run, RunDir) else RunDir(Path(run))
    now_dt = _now(now)
    sig = signature(rd.path)
    row: dict[str, Any] = {c: None for c in COLUMN_NAMES}
    row["run_id"] = rd.run_id
    row["name"] = rd.name or None
    created = rd.created
    man = _read_json(rd.manifest_json)
    man = man if isinstance(man, dict) else {}
    cfg = _read_yaml(rd.config_yaml)
    cfg = cfg if isinstance(cfg, dict) else {}
    events = read_events(rd.events_jsonl)

    # manifest
    mcreated = parse_ts(man.get("created"))
    created = mcreated or created
    row["created"] = format_ts(created) if created else None
    data = man.get("data") if isinstance(man.get("data"), dict) else {}
    row["data_sha256"] = data.get("sha256") if isinstance(data.get("sha256"), str) else None
    touches = man.get("test_touches")
    row["test_touches"] = len(touches) if isinstance(touches, list) else (0 if man else None)
    remote = bool(man.get("remote")) or man.get("backend") == "remote"
    row["remote"] = int(remote)

    # events
    first_queued = next((e for e in events if e.get("type") == "queued"), {})
    job = man.get("job") or first_queued.get("job")
    row["job"] = job if isinstance(job, str) else None
    st = run_status(events, now_dt, remote=remote)
    row["status"] = st.status
    row["attempt"] = st.attempt
    row["started"] = format_ts(st.started) if st.started else None
    row["finished"] = format_ts(st.finished) if st.finished else None
    row["duration_s"] = _duration(st.status, st.started, st.finished, st.last_event, now_dt)
    row["error"] = st.error
    started_ev = next((e for e in reversed(events) if e.get("type") == "run_started"), None)
    row["config_hash"] = man.get("config_hash") or (started_ev or {}).get("config_hash")
    row["host"] = man.get("host") or st.host
    row["device"] = (started_ev or {}).get("device") or man.get("device")
    if started_ev is not None:
        keep = {k: started_ev.get(k) for k in ("ts", "type", "run_id", "host", "pid", "pid_started_at", "attempt")}
        row["live"] = json.dumps({"started": keep, "last": format_ts(st.last_event) if st.last_event else None})

    epochs = [e for e in events if e.get("type") == "epoch"]
    losses = [x for x in (_finite(e.get("val_loss")) for e in epochs) if x is not None]
    row["best_val_loss"] = min(losses) if losses else None
    nums = [n for n in (_int(e.get("epoch")) for e in epochs) if n is not None]
    row["epochs"] = max(nums) if nums else None

    # model kind
    model_sec = cfg.get("model") if isinstance(cfg.get("model"), dict) else {}
    kind = model_sec.get("kind")
    row["model"] = "baselines" if job == "baselines" else (kind if isinstance(kind, str) else None)

    # summary: the last `evaluated` event carries report.json's summary; the report is the fallback
    summary = None
    for e in reversed(events):
        if e.get("type") == "evaluated" and isinstance(e.get("summary"), dict):
            summary = e["summary"]
            break
    if summary is None and (rd.path / "report.json").exists():
        rep = _read_json(rd.path / "report.json")
        if isinstance(rep, dict) and isinstance(rep.get("summary"), dict):
            summary = rep["summary"]
    if summary is not None:
        for k in _SUMMARY_NUMBERS:
            row[k] = _finite(summary.get(k))
        for k in _SUMMARY_TEXT:
            v = summary.get(k)
            row[k] = v if isinstance(v, str) else None
        row["best_k"] = _int(summary.get("best_k"))
        b = summary.get("beats_reference")
        row["beats_reference"] = None if not isinstance(b, bool) else int(b)
        at = summary.get("beats_at")
        row["beats_at"] = json.dumps([k for k in at if _int(k) is not None]) if isinstance(at, list) else None
        row["summary"] = json.dumps(summary, allow_nan=False, default=str) if _json_ok(summary) else None
    else:  # running: calibration may be known before the evaluation
        cal = next((e for e in reversed(events) if e.get("type") == "calibrated"), None)
        if cal is not None:
            row["ece_before"] = _finite(cal.get("ece_before"))
            row["ece_after"] = _finite(cal.get("ece_after"))
            row["calibration"] = cal.get("method") if isinstance(cal.get("method"), str) else None
    row["signature"] = sig
    row["indexed_at"] = format_ts(datetime.now(timezone.utc))
    return row


def _json_ok(obj: Any) -> bool:
    try:
        json.dumps(obj, allow_nan=False, default=str)
        return True
    except ValueError:
        return False


def _to_sql(row: Mapping[str, Any]) -> tuple:
    return tuple(row.get(c) for c in COLUMN_NAMES)


def _public(row: Mapping[str, Any], root: Path) -> dict:
    out = {c: row[c] for c in COLUMN_NAMES if c not in _INTERNAL}
    for c in _JSON_COLUMNS:
        if out.get(c) is not None:
            try:
                out[c] = json.loads(out[c])
            except ValueError:
                out[c] = None
    for c in _BOOL_COLUMNS:
        if out.get(c) is not None:
            out[c] = bool(out[c])
    out["path"] = str(root / row["run_id"])
    return out


def scan(root: Path) -> dict[str, int]:
    """{run id: directory mtime_ns} of every run directory under `root`."""
    out: dict[str, int] = {}
    try:
        it = os.scandir(root)
    except OSError:
        return out
    with it:
        for entry in it:
            if not RUN_ID_RE.match(entry.name):
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                out[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
            except OSError:  # removed while we looked
                continue
    return out


# --------------------------------------------------------------------------- connections


class _Conn:
    """The process's connection to one index file (or an in-memory stand-in)."""

    def __init__(self, path: Path):
        self.path = path
        self.lock = threading.RLock()
        self.db: sqlite3.Connection | None = None
        self.memory = False
        self.no_root = False  # in memory only because the runs dir did not exist yet
        self.ident: tuple[int, int] | None = None
        self.pid = os.getpid()
        self.rebuilds = 0  # times a corrupt index was thrown away

    # -- open
    def ensure(self) -> sqlite3.Connection:
        """An open connection whose file is still the one on disk (reconnects if it was replaced)."""
        if self.db is not None and not self.memory:
            try:
                st = os.stat(self.path)
                same = (st.st_dev, st.st_ino) == self.ident
            except OSError:
                same = False
            if not same:  # deleted or replaced by someone else (a rebuild, or by hand)
                self.close()
        elif self.db is not None and self.no_root and self.path.parent.is_dir():
            self.close()  # the runs dir exists now: move to a file (the sync refills it)
        if self.db is None:
            self.open()
        assert self.db is not None
        return self.db

    def open(self) -> None:
        if not self.path.parent.is_dir():
            self._open_memory()
            self.no_root = True
            return
        for _ in range(3):
            try:
                self._open_file()
                return
            except Exception as exc:  # noqa: BLE001
                self.close()
                if _is_corrupt(exc):
                    self.discard()
                    continue
                if _unusable(exc):
                    break
                raise
        self._open_memory()

    def _connect(self, target: str) -> sqlite3.Connection:
        db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                             check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return db

    def _open_file(self) -> None:
        self.db = self._connect(str(self.path))
        self.memory = self.no_root = False
        retry(lambda: self._ensure_schema(self.db))
        # WAL where the file system allows it (else SQLite keeps its rollback journal, which works too)
        retry(lambda: self.db.execute("PRAGMA journal_mode=WAL").fetchone())
        self.db.execute("PRAGMA synchronous=NORMAL")
        st = os.stat(self.path)
        self.ident = (st.st_dev, st.st_ino)

    def _open_memory(self) -> None:
        self.close()
        self.db = self._connect(":memory:")
        self.memory = True
        self.no_root = False
        self.ident = None
        self._ensure_schema(self.db)

    @staticmethod
    def _schema_ok(db: sqlite3.Connection) -> str:
        """'ok', 'empty' (a new file) or 'wrong'."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if version == 0 and not tables:
            return "empty"
        cols = tuple(r[1] for r in db.execute("PRAGMA table_info(runs)"))
        return "ok" if version == SCHEMA_VERSION and cols == COLUMN_NAMES else "wrong"

    def _ensure_schema(self, db: sqlite3.Connection) -> None:
        if self._schema_ok(db) == "ok":
            return
        db.execute("BEGIN IMMEDIATE")
        try:
            state = self._schema_ok(db)  # another process may have fixed it meanwhile
            if state != "ok":
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                          "AND name NOT LIKE 'sqlite_%'").fetchall():
                    db.execute(f"DROP TABLE IF EXISTS {_q(name)}")
                for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type IN ('index','view','trigger') "
                                          "AND name NOT LIKE 'sqlite_%'").fetchall():
                    with contextlib.suppress(sqlite3.DatabaseError):
                        db.execute(f"DROP INDEX IF EXISTS {_q(name)}")
                db.execute(_CREATE_SQL)
                db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
                if state == "wrong":
                    self.rebuilds += 1
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def discard(self) -> None:
        """Delete a corrupt index file (and its WAL) so the next open starts afresh.

        Under a lock file, so two processes that both found it corrupt do not delete the
        fresh index the other has just made.
        """
        self.close()
        self.rebuilds += 1
        lock_path = self.path.with_name(self.path.name + ".lock")
        try:
            import fcntl

            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        except (ImportError, OSError):
            fd = None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            if self._still_corrupt():
                for suffix in ("", "-wal", "-shm", "-journal"):
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(f"{self.path}{suffix}")
        finally:
            if fd is not None:
                os.close(fd)  # releases the flock

    def _still_corrupt(self) -> bool:
        if not self.path.exists():
            return False
        try:
            db = sqlite3.connect(str(self.path), timeout=BUSY_TIMEOUT_MS / 1000)
        except sqlite3.Error:
            return True
        try:
            state = retry(lambda: self._schema_ok(db))
            db.execute("SELECT count(*) FROM runs").fetchone() if state == "ok" else None
            return False  # "wrong" is fixed in place by _ensure_schema; "empty" is fine
        except sqlite3.Error as exc:
            return not _is_busy(exc)
        finally:
            db.close()

    def close(self) -> None:
        if self.db is not None:
            with contextlib.suppress(sqlite3.Error):
                self.db.close()
        self.db = None
        self.ident = None


_CONNS: dict[Path, _Conn] = {}
_CONNS_LOCK = threading.Lock()
# Connections a forked child inherited from its parent. Never used and never closed: closing
# one would release the parent's POSIX locks on the file (SQLite's documented fork hazard).
_INHERITED: list[_Conn] = []


def _conn_for(path: Path) -> _Conn:
    key = path.absolute()
    with _CONNS_LOCK:
        c = _CONNS.get(key)
        if c is None or c.pid != os.getpid():  # a forked child opens its own
            if c is not None:
                _INHERITED.append(c)
            c = _CONNS[key] = _Conn(key)
        return c


def retry(fn, *, total_s: float = BUSY_RETRY_S):
    """Call `fn()`, retrying with jittered backoff while SQLite says busy or locked."""
    deadline = time.monotonic() + total_s
    delay = 0.002
    while True:
        try:
            return fn()
        except sqlite3.OperationalError as exc:
            if not _is_busy(exc) or time.monotonic() > deadline:
                raise
            time.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.25)


# --------------------------------------------------------------------------- the store


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
                        return retry(lambda: self._txn(db, fn))
                    return retry(lambda: fn(db))
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
        if not RUN_ID_RE.match(rd.run_id):
            raise InputError(f"{rd.run_id!r} is not a run directory name", path=rd.path)
        if rd.path.parent.absolute() != self.root.absolute() and rd.path.parent.resolve() != self.root.resolve():
            raise InputError(f"run directory is not under the runs dir {self.root}", path=rd.path)
        if not rd.path.is_dir():
            self.remove(rd.run_id)
            return None
        row = read_run(rd)
        self._run(lambda db: db.execute(_INSERT_SQL, _to_sql(row)), write=True)
        return _public(row, self.root)

    def remove(self, run_id: str) -> bool:
        """Drop a run's row (its directory is the caller's business). True if it was there."""
        return bool(self._run(lambda db: db.execute("DELETE FROM runs WHERE run_id=?", (run_id,)).rowcount,
                              write=True))

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

        return self._run(do)

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
            st = run_status(events, now, remote=bool(r.get("remote")))
            dur = _duration(st.status, st.started, None, st.last_event, now)
            if st.status != r["status"]:
                changed.append((st.status, dur, r["run_id"]))
            r["status"], r["duration_s"] = st.status, dur
        if changed:
            with contextlib.suppress(sqlite3.Error):
                self._run(lambda db: db.executemany(
                    "UPDATE runs SET status=?, duration_s=? WHERE run_id=?", changed), write=True)

    def get(self, run_id: str, *, refresh: bool = True) -> dict | None:
        """One run's row (re-read from its directory when `refresh`), or None."""
        if refresh and (self.root / run_id).is_dir():
            return self.upsert(self.root / run_id)
        rows = [r for r in self._all() if r["run_id"] == run_id]
        if not rows:
            return None
        self._live(rows, datetime.now(timezone.utc))
        return _public(rows[0], self.root)

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
    ) -> list[dict]:
        """The runs, filtered, sorted and limited.

        `query` is a `core.query` filter (text or a parsed `Query`); `status` and `model`
        take one value or several (or a comma list). `sort` is any field name or alias;
        a leading `-` sorts descending. Missing values sort last either way. With
        `refresh` the index is synced with the directories first.
        """
        from core.query import Query, parse, resolve_field

        q = None
        if query is not None and query != "":
            q = query if isinstance(query, Query) else parse(str(query))
        statuses = _values(status)
        for s in statuses:
            if s not in STATUSES:
                import difflib

                close = difflib.get_close_matches(s, STATUSES, n=1)
                raise InputError(f"unknown status {s!r}; one of {', '.join(STATUSES)}"
                                 + (f" (did you mean {close[0]}?)" if close else ""))
        models = _values(model)
        if sort.startswith("-"):
            sort, descending = sort[1:], True
        field = resolve_field(sort).name
        if limit is not None and limit < 0:
            raise InputError(f"limit must be >= 0, got {limit}")

        if refresh:
            self.sync()
        now = now or datetime.now(timezone.utc)
        raw = self._all()
        self._live(raw, now)
        rows = [_public(r, self.root) for r in raw]
        if statuses:
            rows = [r for r in rows if r["status"] in statuses]
        if models:
            rows = [r for r in rows if (r["model"] or "").lower() in models]
        if q is not None:
            rows = q.filter(rows, now)
        rows = sort_rows(rows, field, descending, now)
        return rows if limit is None else rows[:limit]


def _values(v: str | Iterable[str] | None) -> list[str]:
    if v is None:
        return []
    items = [v] if isinstance(v, str) else list(v)
    return [p.strip().lower() for item in items for p in str(item).split(",") if p.strip()]


def sort_rows(rows: list[dict], field: str, descending: bool = True, now: datetime | None = None) -> list[dict]:
    """Sort by a canonical field; rows without a value go last in either direction."""
    from core.query import value_of

    now = now or datetime.now(timezone.utc)
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


__all__ = ["Store", "read_run", "scan", "signature", "sort_rows", "COLUMNS", "COLUMN_NAMES", "INDEX_NAME",
           "retry"]
