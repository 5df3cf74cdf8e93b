"""Atomic file writes: a reader sees the old file or the new one, never half of one."""

from __future__ import annotations

import contextlib
import errno
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from collections.abc import Iterator


def _process_umask() -> int:
    """The umask, read without changing it where Linux says it (/proc, since 4.7)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # set and put back: at import, before any thread writes a file
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_process_umask()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO]:
    """Open a temp file beside `path`; on clean exit fsync it, rename it over `path` and
    fsync the directory, so the new name survives a crash too.

    On an exception the temp file is removed and `path` is left untouched. The directory
    must exist: it is never created here, so a run directory deleted under a running job
    is an error the job reports, not a directory silently made again.
    """
    path = Path(path)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, f"directory {path.parent} does not exist (deleted?)", str(path)) from None
    # mkstemp makes 0600; a file written here gets what open() would give it under the
    # process's umask (0644 usually, 0600 for a remote worker started with umask 077).
    os.fchmod(fd, _FILE_MODE)
    binary = "b" in mode
    try:
        with os.fdopen(fd, mode, encoding=None if binary else encoding, newline=None if binary else "") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    fsync_dir(path.parent)


# A directory some file systems will not fsync (or open): the rename stands, only its
# durability across a power cut is up to the file system there.
_NO_DIR_FSYNC = {errno.EINVAL, errno.ENOTSUP, errno.EBADF, errno.EACCES, errno.EPERM, errno.EISDIR}


def fsync_dir(path: str | Path) -> None:
    """fsync a directory, making the renames and creations in it durable."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError as exc:
        if exc.errno in _NO_DIR_FSYNC:
            return
        raise
    try:
        os.fsync(fd)
    except OSError as exc:
        if exc.errno not in _NO_DIR_FSYNC:
            raise
    finally:
        os.close(fd)


def os_reason(exc: OSError) -> str:
    """The OS's reason for an OSError in plain words, with the path it concerns:
    "no space left on device (/runs/x/last.pt)"."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    reason = reason[:1].lower() + reason[1:]
    return f"{reason} ({exc.filename})" if exc.filename else reason


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    with atomic_open(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | Path, text: str) -> None:
    with atomic_open(path, "w") as fh:
        fh.write(text)


@dataclass(frozen=True)
class DirHandle:
    """A directory named by any path-like (kept as a Path); `os.fspath` and `open` accept it."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)
