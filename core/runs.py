"""Run directories: ids, layout, atomic writes, the event log and run status (DESIGN.md 7).

This one module owns the on-disk contract of a run:

* `RunDir` — a run directory and the path of every file in it; `RunDir.create` /
  `RunDir.open` (unique-prefix lookup); atomic `write_json` / `write_text` /
  `write_bytes` / `open_atomic`, and `read_json`.
* `EventWriter` — appends one JSON object a line to `events.jsonl`, each line with a
  single `os.write` on an `O_APPEND` descriptor, so concurrent writers never
  interleave inside a line and every line is in the kernel as soon as it is written.
* `EventReader` — follows `events.jsonl` by byte offset; returns complete lines only
  (a torn last line waits for its newline) and skips, counting, malformed lines.
* `process_start_time` / `process_alive` — a process's identity is (host, pid, boot id
  + start time), because a pid alone is reused.
* `run_status` / `status_of` — the status rules of DESIGN.md 7.
"""
from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import re
import secrets
import socket
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterable, Iterator, Mapping

from core.errors import InputError
from core.fsutil import atomic_open, atomic_write_bytes, atomic_write_text

RUN_ID_RE = re.compile(r"^(\d{8}-\d{6})-([A-Za-z0-9_.-]{1,64})-([0-9a-f]{4})$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# What `RunDir.open` accepts as a run id or a prefix of one: run ids start with a
# digit and hold no separator, so "../x", "/abs", "a/b", "." and ".." are all refused.
_RUN_REF_RE = re.compile(r"^[0-9][A-Za-z0-9_.-]{0,95}$")
# A file inside a run directory: one plain, non-hidden path component.
_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

# File names of DESIGN.md 7.
CONFIG_YAML = "config.yaml"
MANIFEST_JSON = "manifest.json"
EVENTS_JSONL = "events.jsonl"
METRICS_CSV = "metrics.csv"
MODEL_CHECKPOINT = "model_checkpoint.pt"
LAST_CHECKPOINT = "last.pt"
PREDICTIONS_NPZ = "predictions.npz"
CALIBRATION_PNG = "calibration_curve.png"
TIER_RATES_PNG = "tier_rates_vs_baseline.png"
TRAINING_LOG_MD = "training_log.md"
MODEL_ONNX = "model.onnx"
RUN_FILES = (
    CONFIG_YAML, MANIFEST_JSON, EVENTS_JSONL, METRICS_CSV, MODEL_CHECKPOINT, LAST_CHECKPOINT,
    PREDICTIONS_NPZ, CALIBRATION_PNG, TIER_RATES_PNG, TRAINING_LOG_MD, MODEL_ONNX,
)

EVENT_TYPES = frozenset({
    "queued", "run_started", "epoch", "checkpoint", "calibrated", "evaluated",
    "artifact", "log", "heartbeat", "run_finished",
})
FINISHED_STATUSES = ("succeeded", "failed", "cancelled")
STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
LOG_LEVELS = ("debug", "info", "warning", "error")
HEARTBEAT_TIMEOUT_S = 30.0
_CREATE_ATTEMPTS = 32


# --------------------------------------------------------------------------- ids


def runs_root(explicit: str | os.PathLike | None = None) -> Path:
    """`--runs-dir`, else $SYNAPSE_RUNS_DIR, else ./runs."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get("SYNAPSE_RUNS_DIR", "runs"))


def new_run_id(name: str, now: datetime | None = None) -> str:
    """`<UTC yyyymmdd-HHMMSS>-<name>-<4 hex>`, safe as a file name."""
    if not NAME_RE.match(name) or name.strip(".") == "":
        raise InputError(f"run name {name!r} must be 1-64 characters of A-Z a-z 0-9 _ . -")
    now = now or datetime.now(timezone.utc)
    return f"{now:%Y%m%d-%H%M%S}-{name}-{secrets.token_hex(2)}"


def is_run_id(text: str) -> bool:
    return bool(RUN_ID_RE.match(text))


@dataclass(frozen=True)
class RunDirInfo:
    run_id: str
    path: Path
    name: str
    created: datetime
    mtime: float


def list_run_dirs(root: Path) -> list[RunDirInfo]:
    """Every directory under `root` whose name is a run id, newest first."""
    root = Path(root)
    if not root.is_dir():
        return []
    out = []
    with os.scandir(root) as it:
        for entry in it:
            m = RUN_ID_RE.match(entry.name)
            if not m or not entry.is_dir(follow_symlinks=False):
                continue
            created = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # removed while we looked
                continue
            out.append(RunDirInfo(entry.name, Path(entry.path), m.group(2), created, mtime))
    out.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return out


# --------------------------------------------------------------------------- JSON


def _jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays, paths, datetimes converted; NaN/inf -> null."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, datetime):
        return format_ts(obj) if obj.tzinfo is not None else obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        return _jsonable(tolist())
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable: {obj!r:.80}")


def _dumps_line(obj: Any) -> str:
    return json.dumps(_jsonable(obj), ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# --------------------------------------------------------------------------- run dir

_MISSING: Any = object()


def _check_file_name(name: str) -> str:
    if not isinstance(name, str) or not _FILE_NAME_RE.match(name) or name in (".", ".."):
        raise InputError(f"{name!r} is not a plain file name inside a run directory")
    return name


@dataclass(frozen=True)
class RunDir:
    """A run directory (`<root>/<run-id>/`) and the paths of its files."""

    path: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))

    def __fspath__(self) -> str:
        return os.fspath(self.path)

    # -- identity
    @property
    def run_id(self) -> str:
        return self.path.name

    @property
    def name(self) -> str:
        """The human part of the run id ("" when the directory name is not a run id)."""
        m = RUN_ID_RE.match(self.run_id)
        return m.group(2) if m else ""

    @property
    def created(self) -> datetime | None:
        m = RUN_ID_RE.match(self.run_id)
        if not m:
            return None
        return datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)

    # -- files of DESIGN.md 7
    @property
    def config_yaml(self) -> Path:
        return self.path / CONFIG_YAML

    @property
    def manifest_json(self) -> Path:
        return self.path / MANIFEST_JSON

    @property
    def events_jsonl(self) -> Path:
        return self.path / EVENTS_JSONL

    @property
    def metrics_csv(self) -> Path:
        return self.path / METRICS_CSV

    @property
    def model_checkpoint(self) -> Path:
        return self.path / MODEL_CHECKPOINT

    @property
    def last_checkpoint(self) -> Path:
        return self.path / LAST_CHECKPOINT

    @property
    def predictions_npz(self) -> Path:
        return self.path / PREDICTIONS_NPZ

    @property
    def calibration_png(self) -> Path:
        return self.path / CALIBRATION_PNG

    @property
    def tier_rates_png(self) -> Path:
        return self.path / TIER_RATES_PNG

    @property
    def training_log_md(self) -> Path:
        return self.path / TRAINING_LOG_MD

    @property
    def model_onnx(self) -> Path:
        return self.path / MODEL_ONNX

    def file(self, name: str) -> Path:
        """Path of a file in this run dir; `name` must be one plain file name."""
        return self.path / _check_file_name(name)

    def exists(self, name: str) -> bool:
        return self.file(name).exists()

    # -- create / open
    @classmethod
    def create(cls, root: str | os.PathLike, name: str) -> "RunDir":
        """Make `<root>/<new run id>/` (exclusively); a new id on the rare clash."""
        root = Path(root)
        root.mkdir(parents=True, exist_ok=True)
        for _ in range(_CREATE_ATTEMPTS):
            run_id = new_run_id(name)
            path = root / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise RuntimeError(f"could not create a fresh run directory under {root} after {_CREATE_ATTEMPTS} tries")

    @classmethod
    def open(cls, root: str | os.PathLike, run_id_or_prefix: str) -> "RunDir":
        """The run whose id is `run_id_or_prefix`, or the only one that starts with it."""
        ref = run_id_or_prefix
        if not isinstance(ref, str) or not _RUN_REF_RE.match(ref):
            raise InputError(
                f"{ref!r} is not a run id or a prefix of one (run ids look like 20250101-120000-name-1a2b)"
            )
        root = Path(root)
        if not root.is_dir():
            raise InputError(f"no runs directory at {root}", path=root)
        exact = root / ref
        if is_run_id(ref) and exact.is_dir() and not exact.is_symlink():
            return cls(exact)
        matches = sorted(r.run_id for r in list_run_dirs(root) if r.run_id.startswith(ref))
        if not matches:
            raise InputError(f"no run matches {ref!r} in {root}")
        if len(matches) > 1:
            shown = ", ".join(matches[:10]) + (f" and {len(matches) - 10} more" if len(matches) > 10 else "")
            raise InputError(f"{ref!r} is ambiguous: {len(matches)} runs match ({shown}); give more of the id")
        return cls(root / matches[0])

    # -- atomic files
    @contextlib.contextmanager
    def open_atomic(self, name: str, mode: str = "w") -> Iterator[IO]:
        """Write `name` through a temp file renamed into place only on a clean exit."""
        with atomic_open(self.file(name), mode) as fh:
            yield fh

    def write_json(self, name: str, obj: Any) -> Path:
        path = self.file(name)
        text = json.dumps(_jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
        atomic_write_text(path, text)
        return path

    def write_text(self, name: str, text: str) -> Path:
        path = self.file(name)
        atomic_write_text(path, text)
        return path

    def write_bytes(self, name: str, data: bytes) -> Path:
        path = self.file(name)
        atomic_write_bytes(path, data)
        return path

    def read_json(self, name: str, default: Any = _MISSING) -> Any:
        """Parsed JSON of `name`; `default` when it does not exist (else InputError)."""
        path = self.file(name)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            if default is not _MISSING:
                return default
            raise InputError("file does not exist", path=path) from None
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            raise InputError(f"not valid JSON: {e.msg}", path=path, line=e.lineno) from None

    # -- events and status
    def event_writer(self) -> "EventWriter":
        return EventWriter(self.events_jsonl)

    def event_reader(self) -> "EventReader":
        return EventReader(self.events_jsonl)

    def read_events(self) -> list[dict]:
        return read_events(self.events_jsonl)

    def status(self, now: datetime | float | None = None, *, remote: bool = False) -> "RunStatus":
        return run_status(self.read_events(), now, remote=remote)


def create_run(root: str | os.PathLike, name: str) -> RunDir:
    """Module-level spelling of `RunDir.create`."""
    return RunDir.create(root, name)


def open_run(root: str | os.PathLike, run_id_or_prefix: str) -> RunDir:
    """Module-level spelling of `RunDir.open`."""
    return RunDir.open(root, run_id_or_prefix)


# --------------------------------------------------------------------------- time


def format_ts(dt: datetime) -> str:
    """ISO 8601 UTC with microseconds and a `Z`: 2025-01-02T03:04:05.123456Z."""
    if dt.tzinfo is None:
        raise ValueError("timestamps must be timezone-aware")
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def utc_now_ts() -> str:
    return format_ts(datetime.now(timezone.utc))


def parse_ts(text: Any) -> datetime | None:
    """An event `ts` as an aware UTC datetime; None when absent or unreadable."""
    if not isinstance(text, str):
        return None
    try:
        dt = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.astimezone(timezone.utc)


# --------------------------------------------------------------------------- processes


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return "noboot"


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime ticks) from /proc/<pid>/stat, or None if there is no such process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold ") ": split after the last one.
    rest = data[data.rfind(b")") + 2:].split()
    if len(rest) < 20:
        return None
    return rest[0].decode("ascii", "replace"), rest[19].decode("ascii")  # fields 3 and 22


def process_start_time(pid: int) -> str | None:
    """`<boot id>:<start time in clock ticks since boot>` of `pid`, None if no such process.

    Equal values mean the same process: a reboot changes the boot id, and a reused pid
    has a different start time.
    """
    st = _proc_stat(pid)
    return None if st is None else f"{_boot_id()}:{st[1]}"


def process_alive(host: str | None, pid: Any, started_at: str | None) -> bool:
    """True only when `pid` on this host runs now and is the process that started at `started_at`."""
    if not host or host != socket.gethostname() or not started_at:
        return False
    if not isinstance(pid, int) or isinstance(pid, bool):
        return False
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):  # gone, or a zombie nobody has reaped yet
        return False
    return f"{_boot_id()}:{st[1]}" == started_at


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
        event = {"ts": utc_now_ts(), "type": type, **_jsonable(fields)}
        self._write_bytes((_dumps_line(event) + "\n").encode("utf-8"))
        return event

    # -- one method per event type of DESIGN.md 7
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
            "run_started", run_id=run_id, config_hash=config_hash,
            host=host if host is not None else socket.gethostname(), pid=pid,
            pid_started_at=pid_started_at, device=device, attempt=int(attempt), **extra,
        )

    def epoch(self, epoch: int, train_loss: float, val_loss: float, lr: float, seconds: float, **metrics: Any) -> dict:
        return self.write("epoch", epoch=epoch, train_loss=train_loss, val_loss=val_loss, lr=lr,
                          seconds=seconds, **metrics)

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

    def __enter__(self) -> "EventWriter":
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
        complete, self._pending = data[: end + 1], data[end + 1:]
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
        except (UnicodeDecodeError, ValueError):
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


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class RunStatus:
    status: str  # queued | running | succeeded | failed | cancelled | lost
    attempt: int = 0  # 0 while queued; the attempt the last run_started opened
    started: datetime | None = None  # ts of that run_started
    finished: datetime | None = None  # ts of the run_finished that closed it
    last_heartbeat: datetime | None = None  # last heartbeat of this attempt
    last_event: datetime | None = None  # newest ts of any event of this attempt
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    run_id: str | None = None
    events: int = field(default=0)  # events in the log

    @property
    def done(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def active(self) -> bool:
        return self.status in ("queued", "running")


def _as_datetime(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(timezone.utc)
    if isinstance(now, (int, float)):
        return datetime.fromtimestamp(now, timezone.utc)
    return now if now.tzinfo is not None else now.replace(tzinfo=timezone.utc)


def run_status(
    events: Iterable[Mapping[str, Any]],
    now: datetime | float | None = None,
    *,
    remote: bool = False,
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
) -> RunStatus:
    """The status of a run from its event log (DESIGN.md 7).

    The last `run_started` opens the current attempt; a `run_finished` after it gives the
    status. Without a `run_started` the run is `queued` (or cancelled/failed, if a
    `run_finished` says so before it ever started). Otherwise `running` when the process
    lives (same host, pid and start time; skipped with `remote=True`) or the newest
    event of the attempt (normally its heartbeat) is younger than 30 s; else `lost`.
    """
    events = [e for e in events if isinstance(e, Mapping)]
    start_idx = None
    n_started = 0
    for i, e in enumerate(events):
        if e.get("type") == "run_started":
            start_idx, n_started = i, n_started + 1
    attempt_events = events if start_idx is None else events[start_idx:]

    finished_ev = None
    last_hb = last_ev = None
    for e in attempt_events:
        ts = parse_ts(e.get("ts"))
        if ts is not None:
            last_ev = ts if last_ev is None or ts > last_ev else last_ev
        t = e.get("type")
        if t == "heartbeat" and ts is not None:
            last_hb = ts if last_hb is None or ts > last_hb else last_hb
        elif t == "run_finished" and finished_ev is None:
            finished_ev = e

    started = events[start_idx] if start_idx is not None else None
    attempt = 0
    if started is not None:
        a = started.get("attempt")
        attempt = a if isinstance(a, int) and not isinstance(a, bool) and a >= 1 else n_started
    pid = started.get("pid") if started is not None else None
    common = dict(
        attempt=attempt,
        started=parse_ts(started.get("ts")) if started is not None else None,
        last_heartbeat=last_hb,
        last_event=last_ev,
        host=started.get("host") if started is not None else None,
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        run_id=started.get("run_id") if started is not None else None,
        events=len(events),
    )

    if finished_ev is not None:
        status = finished_ev.get("status")
        error = finished_ev.get("error")
        error = None if error is None else str(error)
        if status not in FINISHED_STATUSES:
            error = f"run_finished with unknown status {status!r}" + (f": {error}" if error else "")
            status = "failed"
        return RunStatus(status, finished=parse_ts(finished_ev.get("ts")), error=error, **common)
    if started is None:
        return RunStatus("queued", **common)
    if not remote and process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
        return RunStatus("running", **common)
    if last_ev is not None and (_as_datetime(now) - last_ev).total_seconds() < heartbeat_timeout_s:
        return RunStatus("running", **common)
    return RunStatus("lost", **common)


def status_of(run_dir: RunDir | str | os.PathLike, now: datetime | float | None = None, *,
              remote: bool = False) -> RunStatus:
    """`run_status` of a run directory's `events.jsonl`."""
    rd = run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))
    return run_status(read_events(rd.events_jsonl), now, remote=remote)
