"""One holder at a time: an OS lock (flock) on a file in a run directory.

A worker holds `worker.lock` in its run directory for its whole life, and a follower
holds `follow.lock` in its mirror. The kernel drops an flock when the last descriptor of
its open file goes away, so a killed holder never leaves a stale lock behind: "nobody
holds the lock" is exactly "no live process works on this directory" (docs/ARCHITECTURE.md,
"Run status"). The file also carries who took it (host, pid, process start time, since)
so a refusal can say who holds it; that text is information, never the lock itself.

A caller that starts the holder (resume, the supervisor) takes the lock first and hands
the descriptor to the child (`pass_fds`, its number in LOCK_FD_ENV; the child calls
`adopt`), so a race between two starters is settled
before any process starts: the second is refused with the first one's holder.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

from core.runs.events import utc_now_ts
from core.runs.process import process_start_time

WORKER_LOCK = "worker.lock"
FOLLOW_LOCK = "follow.lock"
# A worker started with an inherited lock finds its descriptor number here.
LOCK_FD_ENV = "SYNAPSE_RUN_LOCK_FD"
_HOLDER_MAX_BYTES = 4096
_TAKE_TRIES = 20


class LockHeld(RuntimeError):
    """The lock is held by someone else; `holder` is what they wrote (may be empty)."""

    def __init__(self, path: Path, holder: dict):
        self.path = path
        self.holder = holder
        super().__init__(f"{path.parent.name}: held by {describe_holder(holder)}")


def describe_holder(holder: dict) -> str:
    if not holder:
        return "another process"
    what = holder.get("what") or "process"
    return f"{what} pid {holder.get('pid', '?')} on {holder.get('host', '?')} since {holder.get('since', '?')}"


@dataclass
class RunLock:
    """A held lock; `release()` (or exiting the `with`) lets it go."""

    path: Path
    fd: int

    def write_holder(self, what: str, pid: int | None = None) -> None:
        """Record who holds the lock now (the taker, or the child it was handed to)."""
        pid = os.getpid() if pid is None else pid
        info = {
            "what": what,
            "host": socket.gethostname(),
            "pid": pid,
            "pid_started_at": process_start_time(pid),
            "since": utc_now_ts(),
        }
        data = json.dumps(info).encode("utf-8")
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, data, 0)

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing the last descriptor drops the flock
            self.fd = -1

    def __enter__(self) -> RunLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def _open(path: Path) -> int:
    # O_NOFOLLOW: a planted symlink must not make us create or truncate a file elsewhere.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)


def read_holder(path: str | os.PathLike) -> dict:
    """What the holder wrote; {} when unreadable. Says nothing about whether it is held."""
    try:
        with open(path, "rb") as fh:
            data = fh.read(_HOLDER_MAX_BYTES)
        value = json.loads(data.decode("utf-8"))
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def acquire(path: str | os.PathLike, what: str = "worker") -> RunLock:
    """Take the lock without waiting, or raise LockHeld naming the holder.

    `path`'s directory must exist: taking a lock never creates a run directory.
    """
    path = Path(path)
    fd = _open(path)
    try:
        # A `holder()` probe holds a shared lock for microseconds: a few short retries
        # keep a probe from ever refusing a real taker.
        for attempt in range(_TAKE_TRIES):
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if attempt == _TAKE_TRIES - 1:
                    raise
                time.sleep(0.01)
    except BlockingIOError:
        os.close(fd)
        raise LockHeld(path, read_holder(path)) from None
    except BaseException:
        os.close(fd)
        raise
    lock = RunLock(path, fd)
    lock.write_holder(what)
    return lock


def adopt(path: str | os.PathLike, fd: int, what: str = "worker") -> RunLock:
    """The lock a parent took and handed down as descriptor `fd`; checked to be that file."""
    path = Path(path)
    st_fd, st_path = os.fstat(fd), os.stat(path, follow_symlinks=False)
    if (st_fd.st_dev, st_fd.st_ino) != (st_path.st_dev, st_path.st_ino):
        raise RuntimeError(f"descriptor {fd} is not {path}")
    # flock on a descriptor of the same open file description succeeds: a check that we hold it.
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    lock = RunLock(path, fd)
    lock.write_holder(what)
    return lock


def holder(path: str | os.PathLike) -> dict | None:
    """None when nobody holds the lock now; else what the holder wrote ({} if nothing).

    A probe takes a shared lock for an instant, so it never blocks a holder for long and
    never creates the file.
    """
    path = Path(path)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return read_holder(path)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)
