"""The SQLite connection under the run index (core.store): opening, schema, rebuilds, retries.

One connection per process and index file (shared by every `Store` on the same root,
guarded by a lock so TUI worker threads can use it), in WAL mode where the file system
allows it; `busy_timeout` plus `retry` with backoff on SQLITE_BUSY / SQLITE_LOCKED. A
corrupt file or a wrong schema is thrown away and recreated (`_Conn.discard`), and where
no file can be used at all the connection falls back to an in-memory database.
"""

from __future__ import annotations

import contextlib
import os
import random
import sqlite3
import threading
import time
from pathlib import Path

from core.store.rows import COLUMN_NAMES, COLUMNS

SCHEMA_VERSION = 4  # 2: max_epochs, best_epoch; 3: config_json; 4: tags, note, archived, sweep
BUSY_TIMEOUT_MS = 5_000
BUSY_RETRY_S = 60.0  # give up on a busy database after this long (then it is a real problem)

# SQLite primary result codes
_BUSY, _LOCKED, _CORRUPT, _NOTADB, _READONLY, _CANTOPEN, _IOERR, _FULL = 5, 6, 11, 26, 8, 14, 10, 13


def _q(name: str) -> str:
    return '"' + name + '"'


_CREATE_SQL = f"CREATE TABLE runs ({', '.join(f'{_q(c)} {t}' for c, t in COLUMNS)})"
_INSERT_SQL = (
    f"INSERT OR REPLACE INTO runs ({', '.join(_q(c) for c in COLUMN_NAMES)}) "
    f"VALUES ({', '.join('?' for _ in COLUMN_NAMES)})"
)


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
    """Whether `exc` means the file's content is damaged (then it is deleted and rebuilt).

    Garbage inside a page shows in many ways besides SQLITE_CORRUPT: a text cell that is no
    longer UTF-8 (UnicodeDecodeError from the row), or any other database error. What is
    not damage: busy or locked (retried), and a file the OS will not let us use (`_unusable`:
    read-only, full, I/O error; then the index moves to memory, the file is not touched).
    """
    if isinstance(exc, (_Corrupt, UnicodeDecodeError)):
        return True
    if not isinstance(exc, sqlite3.DatabaseError) or _is_busy(exc) or _unusable(exc):
        return False
    if isinstance(exc, sqlite3.ProgrammingError):  # a misuse of the connection, not the file
        return False
    return True


def _unusable(exc: BaseException) -> bool:
    """Errors that mean no on-disk index can be kept here (read-only dir, disk full, ...)."""
    if isinstance(exc, sqlite3.OperationalError) and _code(exc) in (_READONLY, _CANTOPEN, _IOERR, _FULL):
        return True
    return isinstance(exc, OSError)


def _intact(db: sqlite3.Connection) -> bool:
    """PRAGMA quick_check: every page's structure and every index's order, in one pass over
    the file (a count of rows reads only the smallest index and misses a damaged table)."""
    return db.execute("PRAGMA quick_check").fetchall() == [("ok",)]


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
        db = sqlite3.connect(target, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        return db

    def _open_file(self) -> None:
        self.db = self._connect(str(self.path))
        self.memory = self.no_root = False
        if not retry(lambda: _intact(self.db)):
            raise _Corrupt(f"{self.path} fails PRAGMA quick_check")
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
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                ).fetchall():
                    db.execute(f"DROP TABLE IF EXISTS {_q(name)}")
                for (name,) in db.execute(
                    "SELECT name FROM sqlite_master WHERE type IN ('index','view','trigger') "
                    "AND name NOT LIKE 'sqlite_%'"
                ).fetchall():
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
            if not retry(lambda: _intact(db)):
                return True
            state = retry(lambda: self._schema_ok(db))
            if state == "ok":
                # Every cell, decoded: garbage inside a text value passes quick_check (it
                # checks the pages' structure, not what a cell holds).
                for _ in db.execute("SELECT * FROM runs"):
                    pass
            return False  # "wrong" is fixed in place by _ensure_schema; "empty" is fine
        except UnicodeDecodeError:
            return True
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


__all__ = ["BUSY_RETRY_S", "BUSY_TIMEOUT_MS", "SCHEMA_VERSION", "retry"]
