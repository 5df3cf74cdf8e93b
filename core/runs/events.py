"""The event log of a run: `events.jsonl` (docs/ARCHITECTURE.md, "The event log"), and its timestamps.

* `EventWriter` — appends one JSON object a line to `events.jsonl`, each line with a
  single `os.write` on an `O_APPEND` descriptor, so concurrent writers never
  interleave inside a line and every line is in the kernel as soon as it is written.
* `EventReader` — follows `events.jsonl` by byte offset; returns complete lines only
  (a torn last line waits for its newline) and skips, counting, malformed lines.
* `format_ts` / `parse_ts` / `utc_now_ts` — the `ts` of an event.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from core.jsonable import jsonable
from core.runs.process import process_start_time

EVENT_TYPES = frozenset(
    {
        "queued",
        "run_started",
        "epoch",
        "checkpoint",
        "calibrated",
        "evaluated",
        "artifact",
        "log",
        "heartbeat",
        "run_finished",
    }
)
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
LOG_LEVELS = ("debug", "info", "warning", "error")
EVENTS_JSONL = "events.jsonl"


# --------------------------------------------------------------------------- time


def format_ts(dt: datetime) -> str:
    """ISO 8601 UTC with microseconds and a `Z`: 2025-01-02T03:04:05.123456Z."""
    if dt.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_ts() -> str:
    return format_ts(datetime.now(UTC))


def parse_ts(text: Any) -> datetime | None:
    """An event `ts` as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


# --------------------------------------------------------------------------- JSON


def _dumps_line(obj: Any) -> str:
    return json.dumps(jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# --------------------------------------------------------------------------- event writer


class EventWriter:
    """Appends events to an `events.jsonl`, one JSON object a line, each with `ts` and `type`.

    Each line goes out in one `os.write` on an `O_APPEND` descriptor: the kernel puts it
    at the end of the file whole, so lines from concurrent writers never interleave, and
    it is visible to readers at once (no user-space buffer to flush).
    """

    def __init__(self, path: str | os.PathLike, *, fsync: bool = False):
        self.path = Path(path)
        self.fsync = fsync
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd: int | None = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
        self._terminate_torn_tail()

    def _terminate_torn_tail(self) -> None:
        # A writer that died mid-line leaves a fragment with no newline; our first line
        # would be glued to it and lost. End the fragment so it is one malformed line.
        try:
            size = os.fstat(self._fd).st_size
            if size == 0:
                return
            with open(self.path, "rb") as fh:
                fh.seek(size - 1)
                last = fh.read(1)
        except OSError:
            return
        if last and last != b"\n":
            self._write_bytes(b"\n")

    def _write_bytes(self, data: bytes) -> None:
        if self._fd is None:
            raise ValueError(f"event writer for {self.path} is closed")
        view = memoryview(data)
        while view:
            try:
                n = os.write(self._fd, view)
            except InterruptedError:
                continue
            if n == 0:
                raise OSError(errno.EIO, f"wrote nothing to {self.path}")
            view = view[n:]  # a short write (disk full, signal) — keep the rest in order
        if self.fsync:
            os.fsync(self._fd)

    def write(self, type: str, **fields: Any) -> dict:
        """Append one event; returns it as written."""
        if type not in EVENT_TYPES:
            raise ValueError(f"unknown event type {type!r}; known: {', '.join(sorted(EVENT_TYPES))}")
        for reserved in ("ts", "type"):
            if reserved in fields:
                raise ValueError(f"{reserved!r} is set by the writer, not by the caller")
        event = {"ts": utc_now_ts(), "type": type, **jsonable(fields)}
        self._write_bytes((_dumps_line(event) + "\n").encode("utf-8"))
        return event

    # -- one method per event type of the event log contract
    def queued(self, **extra: Any) -> dict:
        return self.write("queued", **extra)

    def run_started(
        self,
        run_id: str,
        config_hash: str,
        device: str,
        attempt: int,
        *,
        host: str | None = None,
        pid: int | None = None,
        pid_started_at: str | None = None,
        **extra: Any,
    ) -> dict:
        """host, pid and pid_started_at default to this process's own identity."""
        if pid is None:
            pid = os.getpid()
            if pid_started_at is None:
                pid_started_at = process_start_time(pid)
        elif pid_started_at is None:
            pid_started_at = process_start_time(pid)
        return self.write(
            "run_started",
            run_id=run_id,
            config_hash=config_hash,
            host=host if host is not None else socket.gethostname(),
            pid=pid,
            pid_started_at=pid_started_at,
            device=device,
            attempt=int(attempt),
            **extra,
        )

    def epoch(self, epoch: int, train_loss: float, val_loss: float, lr: float, seconds: float, **metrics: Any) -> dict:
        return self.write(
            "epoch", epoch=epoch, train_loss=train_loss, val_loss=val_loss, lr=lr, seconds=seconds, **metrics
        )

    def checkpoint(self, epoch: int, path: str | os.PathLike, **extra: Any) -> dict:
        return self.write("checkpoint", epoch=epoch, path=os.fspath(path), **extra)

    def calibrated(self, method: str, ece_before: float, ece_after: float, **extra: Any) -> dict:
        return self.write("calibrated", method=method, ece_before=ece_before, ece_after=ece_after, **extra)

    def evaluated(self, summary: Mapping[str, Any], **extra: Any) -> dict:
        return self.write("evaluated", summary=dict(summary), **extra)

    def artifact(self, path: str | os.PathLike, **extra: Any) -> dict:
        return self.write("artifact", path=os.fspath(path), **extra)

    def log(self, level: str, message: str, **extra: Any) -> dict:
        level = str(level).lower()
        if level not in LOG_LEVELS:
            raise ValueError(f"log level {level!r} is not one of {', '.join(LOG_LEVELS)}")
        return self.write("log", level=level, message=str(message), **extra)

    def heartbeat(self, **extra: Any) -> dict:
        return self.write("heartbeat", **extra)

    def run_finished(self, status: str, error: str | None = None, **extra: Any) -> dict:
        if status not in FINISHED_STATUSES:
            raise ValueError(f"run_finished status {status!r} is not one of {', '.join(FINISHED_STATUSES)}")
        if error is not None:
            extra["error"] = str(error)
        return self.write("run_finished", status=status, **extra)

    # -- lifetime
    def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            os.close(fd)

    @property
    def closed(self) -> bool:
        return self._fd is None

    def __enter__(self) -> EventWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


# --------------------------------------------------------------------------- event reader


class EventReader:
    """Follows an `events.jsonl` incrementally by byte offset.

    `read_new()` returns the events of the complete lines written since the last call.
    A last line without its newline yet (torn: the writer is mid-write, or died there)
    is held back until the newline arrives. Malformed complete lines are skipped and
    counted in `malformed` (their 1-based line numbers in `malformed_lines`, first 100).
    `offset` is the byte offset just past the last complete line consumed — where a
    follower resumes. A missing file reads as no events.
    """

    _CHUNK = 1 << 20

    def __init__(self, path: str | os.PathLike, offset: int = 0):
        self.path = Path(path)
        self.offset = int(offset)
        self.malformed = 0
        self.malformed_lines: list[int] = []
        self.line_no = 0  # complete lines consumed (counted from `offset` at construction)
        self.resets = 0  # times the file shrank under us and was re-read from the start
        self._pending = b""

    def read_new(self) -> list[dict]:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return []
        with fh:
            size = os.fstat(fh.fileno()).st_size
            pos = self.offset + len(self._pending)
            if size < pos:  # replaced or truncated: an append-only log never shrinks
                self.resets += 1
                self.offset, self._pending, self.line_no, pos = 0, b"", 0, 0
            fh.seek(pos)
            chunks = [self._pending]
            while True:
                chunk = fh.read(self._CHUNK)
                if not chunk:
                    break
                chunks.append(chunk)
        data = b"".join(chunks)
        end = data.rfind(b"\n")
        if end < 0:
            self._pending = data
            return []
        complete, self._pending = data[: end + 1], data[end + 1 :]
        self.offset += len(complete)
        events = []
        for raw in complete.split(b"\n")[:-1]:
            self.line_no += 1
            event = self._parse(raw)
            if event is not None:
                events.append(event)
        return events

    def _parse(self, raw: bytes) -> dict | None:
        if not raw.strip():
            return None  # blank lines carry nothing; writers never produce them
        try:
            obj = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):  # RecursionError: nested too deeply
            obj = None
        if not isinstance(obj, dict) or not isinstance(obj.get("type"), str):
            self.malformed += 1
            if len(self.malformed_lines) < 100:
                self.malformed_lines.append(self.line_no)
            return None
        return obj

    @property
    def pending_bytes(self) -> int:
        """Bytes of a torn last line held back."""
        return len(self._pending)


def read_events(path: str | os.PathLike) -> list[dict]:
    """Every complete, well-formed event of an `events.jsonl` (empty if it does not exist)."""
    return EventReader(path).read_new()
