"""Run directories: ids, layout, atomic writes and the manifest's test touches.

`RunDir` is a run directory (`<root>/<run-id>/`) and the path of every file in it:
`RunDir.create` / `RunDir.open` (unique-prefix lookup), atomic `write_json` /
`write_text` / `write_bytes` / `open_atomic`, and `read_json`. The layout is described in
docs/ARCHITECTURE.md ("A run directory").
"""
from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, Iterator

from core.errors import InputError
from core.fsutil import DirHandle, atomic_open, atomic_write_bytes, atomic_write_text
from core.jsonable import jsonable
from core.runs.events import EVENTS_JSONL, EventReader, EventWriter, read_events, utc_now_ts
from core.runs.status import RunStatus, run_status

RUN_ID_RE = re.compile(r"^(\d{8}-\d{6})-([A-Za-z0-9_.-]{1,64})-([0-9a-f]{4})$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# What `RunDir.open` accepts as a run id or a prefix of one: run ids start with a
# digit and hold no separator, so "../x", "/abs", "a/b", "." and ".." are all refused.
_RUN_REF_RE = re.compile(r"^[0-9][A-Za-z0-9_.-]{0,95}$")
# A file inside a run directory: one plain, non-hidden path component.
_FILE_NAME_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")

# The files of a run directory.
CONFIG_YAML = "config.yaml"
MANIFEST_JSON = "manifest.json"
METRICS_CSV = "metrics.csv"
MODEL_CHECKPOINT = "model_checkpoint.pt"
LAST_CHECKPOINT = "last.pt"
PREDICTIONS_NPZ = "predictions.npz"
CALIBRATION_PNG = "calibration_curve.png"
TIER_RATES_PNG = "tier_rates_vs_baseline.png"
TRAINING_LOG_MD = "training_log.md"
MODEL_ONNX = "model.onnx"
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

# --------------------------------------------------------------------------- run dir

_MISSING: Any = object()


def _check_file_name(name: str) -> str:
    if not isinstance(name, str) or not _FILE_NAME_RE.match(name) or name in (".", ".."):
        raise InputError(f"{name!r} is not a plain file name inside a run directory")
    return name


@dataclass(frozen=True)
class RunDir(DirHandle):
    """A run directory (`<root>/<run-id>/`) and the paths of its files."""

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

    # -- files
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
        text = json.dumps(jsonable(obj), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
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



def record_test_touch(run: RunDir, what: str, *, missing_ok: bool = False) -> dict | None:
    """Append one look at the test window to manifest.json's `test_touches`; the updated manifest.

    Every evaluation on the test window counts (docs/ARCHITECTURE.md, "Honest evaluation").
    With `missing_ok`, a run without a readable manifest is left alone (returns None).
    """
    man = run.read_json(MANIFEST_JSON, default=None) if missing_ok else run.read_json(MANIFEST_JSON)
    if not isinstance(man, dict):
        if missing_ok:
            return None
        raise InputError("manifest.json is not a JSON object", path=run.manifest_json)
    man.setdefault("test_touches", []).append({"ts": utc_now_ts(), "what": what})
    run.write_json(MANIFEST_JSON, man)
    return man
