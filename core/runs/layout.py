"""Run directories: ids, layout, atomic writes and the manifest's test touches.

`RunDir` is a run directory (`<root>/<run-id>/`) and the path of every file in it:
`RunDir.create` / `RunDir.open` (unique-prefix lookup), atomic `write_json` /
`write_text` / `write_bytes` / `open_atomic`, and `read_json` (bounded, and for
manifest.json checked against the shape its readers expect: `manifest_problems`). The
layout is described in docs/ARCHITECTURE.md ("A run directory").
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from typing import IO, Any
from collections.abc import Iterator

from core.errors import RUN_NAME_PATTERN, RUN_NAME_RULE, InputError
from core.fsutil import DirHandle, atomic_open, atomic_write_bytes, atomic_write_text, os_reason
from core.jsonable import jsonable
from core.runs.events import EVENTS_JSONL, EventReader, EventWriter, read_events, utc_now_ts
from core.runs.status import RunStatus, status_of

RUN_ID_RE = re.compile(rf"^(\d{{8}}-\d{{6}})-({RUN_NAME_PATTERN})-([0-9a-f]{{4}})$")
NAME_RE = re.compile(rf"^{RUN_NAME_PATTERN}$")
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
# The user's tags, note and archived flag (core.runs.annotations): written only by the user's
# commands, never by a worker, so a running run can be tagged; never taken from a remote.
ANNOTATIONS_JSON = "annotations.json"
_CREATE_ATTEMPTS = 32
# The most a JSON file of a run directory may hold before it is read at all: a report of many
# models and K is a few MB; anything near this is damage, and must not exhaust memory.
MAX_JSON_BYTES = 64 * 1024 * 1024
_ID_TIME = "%Y%m%d-%H%M%S"


# --------------------------------------------------------------------------- ids


def runs_root(explicit: str | os.PathLike | None = None) -> Path:
    """`--runs-dir`, else $SYNAPSE_RUNS_DIR, else ./runs."""
    if explicit is not None:
        return Path(explicit)
    return Path(os.environ.get("SYNAPSE_RUNS_DIR", "runs"))


def new_run_id(name: str, now: datetime | None = None) -> str:
    """`<UTC yyyymmdd-HHMMSS>-<name>-<4 hex>`, safe as a file name."""
    if not NAME_RE.match(name) or name.strip(".") == "":
        raise InputError(f"run name {name!r} must be {RUN_NAME_RULE}")
    now = now or datetime.now(UTC)
    run_id = f"{now:%Y%m%d-%H%M%S}-{name}-{secrets.token_hex(2)}"
    if parse_run_id(run_id) is None:  # e.g. a year before 1000: every id made must read back as one
        raise InputError(f"cannot make a run id for {name!r} at {now.isoformat()}")
    return run_id


def parse_run_id(text: str) -> tuple[datetime, str] | None:
    """(created, name) of a run id; None when `text` is not one: not its shape, or a date
    and time that does not exist (`20261209-000060-...`)."""
    m = RUN_ID_RE.fullmatch(text) if isinstance(text, str) else None
    if m is None:
        return None
    try:
        created = datetime.strptime(m.group(1), _ID_TIME).replace(tzinfo=UTC)
    except ValueError:
        return None
    return created, m.group(2)


def is_run_id(text: str) -> bool:
    """A run id `new_run_id` could have made: the shape and a real UTC date and time."""
    return parse_run_id(text) is not None


def misnamed_run_dirs(root: str | os.PathLike) -> list[tuple[Path, str]]:
    """(path, why) of every directory under `root` shaped like a run id that is not one.

    Listings skip them like any other folder; this says which, so a person can rename them.
    """
    out: list[tuple[Path, str]] = []
    try:
        it = os.scandir(Path(root))
    except OSError:
        return out
    with it:
        for entry in it:
            m = RUN_ID_RE.fullmatch(entry.name)
            if m is None or parse_run_id(entry.name) is not None:
                continue
            with contextlib.suppress(OSError):
                if entry.is_dir(follow_symlinks=False):
                    out.append(
                        (
                            Path(entry.path),
                            f"{m.group(1)} is not a valid date and time, so this is not a run id; rename it to list it",
                        )
                    )
    return sorted(out)


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
            parsed = parse_run_id(entry.name)
            if parsed is None:
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # removed while we looked
                continue
            out.append(RunDirInfo(entry.name, Path(entry.path), parsed[1], parsed[0], mtime))
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
        parsed = parse_run_id(self.run_id)
        return parsed[1] if parsed else ""

    @property
    def created(self) -> datetime | None:
        parsed = parse_run_id(self.run_id)
        return parsed[0] if parsed else None

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
    def create(cls, root: str | os.PathLike, name: str) -> RunDir:
        """Make `<root>/<new run id>/` (exclusively); a new id on the rare clash.

        The file system's refusals (the root is a file or under one, read-only, full) are
        InputErrors naming the root and the OS's reason (`creation_error`).
        """
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise InputError(f"cannot create a run under {root}: it is a file, not a directory")
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise creation_error(root, exc) from None
        for _ in range(_CREATE_ATTEMPTS):
            run_id = new_run_id(name)
            path = root / run_id
            try:
                path.mkdir()
            except FileExistsError:
                continue
            except OSError as exc:
                raise creation_error(root, exc) from None
            return cls(path)
        raise RuntimeError(f"could not create a fresh run directory under {root} after {_CREATE_ATTEMPTS} tries")

    @classmethod
    def open(cls, root: str | os.PathLike, run_id_or_prefix: str) -> RunDir:
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
        """Parsed JSON of `name`; `default` when it does not exist.

        Anything else wrong is a RunFileError (`run X: name: problem`): unreadable, larger
        than MAX_JSON_BYTES, not JSON, nested too deeply, a number too long, and for
        manifest.json a shape its readers do not expect (`manifest_problems`).
        """
        path = self.file(name)
        try:
            obj = load_json_file(path)
        except FileNotFoundError:
            if default is not _MISSING:
                return default
            raise RunFileError(self.run_id, name, "file does not exist", path) from None
        except OSError as exc:
            raise RunFileError(self.run_id, name, os_reason(exc), path) from None
        except JsonFileError as exc:
            raise RunFileError(self.run_id, name, str(exc), path, exc.line) from None
        if name == MANIFEST_JSON:
            _, problems = manifest_problems(obj)
            if problems:
                raise RunFileError(self.run_id, name, "; ".join(problems[:3]), path)
        return obj

    def read_manifest_fields(self) -> tuple[dict, list[str]]:
        """What can be read of manifest.json, and what could not: (the well-formed fields,
        problems). Never raises: listings show a broken run with what could be read."""
        try:
            obj = load_json_file(self.manifest_json)
        except FileNotFoundError:
            return {}, []
        except (OSError, JsonFileError) as exc:
            return {}, [os_reason(exc) if isinstance(exc, OSError) else str(exc)]
        return manifest_problems(obj)

    # -- events and status
    def event_writer(self) -> EventWriter:
        return EventWriter(self.events_jsonl)

    def event_reader(self) -> EventReader:
        return EventReader(self.events_jsonl)

    def read_events(self) -> list[dict]:
        return read_events(self.events_jsonl)

    def status(self, now: datetime | float | None = None, *, remote: bool = False) -> RunStatus:
        return status_of(self.path, now, remote=remote)


def creation_error(root: Path, exc: OSError) -> InputError:
    """What creating a run under `root` says when the file system refuses."""
    return InputError(f"cannot create a run under {root}: {os_reason(exc)}")


# --------------------------------------------------------------------------- bounded JSON


class RunFileError(InputError):
    """A file of a run directory that cannot be used: `run <id>: <file>: <problem>`."""

    def __init__(self, run_id: str, name: str, problem: str, path: str | os.PathLike, line: int | None = None):
        self.run_id, self.file_name = run_id, name
        super().__init__(f"run {run_id}: {name}: {problem}", path=Path(path), line=line)

    def __str__(self) -> str:
        return self.problem


class JsonFileError(ValueError):
    """A JSON file that cannot be read as JSON within the bounds (the message says why;
    `line` is where the JSON broke, when it did)."""

    def __init__(self, problem: str, line: int | None = None):
        super().__init__(problem)
        self.line = line


def load_json_file(path: str | os.PathLike, max_bytes: int = MAX_JSON_BYTES) -> Any:
    """Parse a JSON file of a run directory without trusting it.

    At most `max_bytes` are read; nesting too deep for the parser (RecursionError) and
    integers past Python's digit limit (ValueError) are JsonFileErrors like malformed JSON.
    FileNotFoundError and other OSErrors pass through.
    """
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        data = b"" if size > max_bytes else fh.read(max_bytes + 1)
    if size > max_bytes or len(data) > max_bytes:
        raise JsonFileError(f"{max(size, len(data))} bytes, more than the {max_bytes} a run's JSON file may hold")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise JsonFileError(f"not UTF-8 text (byte {e.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise JsonFileError(f"not valid JSON: {e.msg} (line {e.lineno}, column {e.colno})", e.lineno) from None
    except RecursionError:
        raise JsonFileError("nested too deeply to read") from None
    except ValueError as e:  # int("9" * 5000): Python's limit on the digits of an integer
        raise JsonFileError(f"an integer too long to read ({str(e).split(':')[0]})") from None


def _kind(v: Any) -> str:
    if isinstance(v, bool):
        return "true/false"
    if v is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", int: "a number", float: "a number"}.get(
        type(v), type(v).__name__
    )


_TEXT, _INT = "a string", "an integer"
# What the readers of manifest.json (the store, runs show, eval, predict, compare, the
# training log, resume) take each field to be; null is accepted where they test for it.
_MANIFEST_FIELDS: dict[str, str] = {
    "run_id": _TEXT,
    "created": _TEXT,
    "config_hash": _TEXT,
    "code_version": _TEXT,
    "python": _TEXT,
    "host": _TEXT,
    "platform": _TEXT,
    "device": _TEXT,
    "job": _TEXT,
    "backend": _TEXT,
    "seed": _INT,
}
_DATA_FIELDS: dict[str, str] = {
    "path": _TEXT,
    "sha256": _TEXT,
    "format": _TEXT,
    "rows": _INT,
    "parts": _INT,
    "first_date": _TEXT,
    "last_date": _TEXT,
    "gaps": _INT,
    "truth": _TEXT,
}
_WINDOW_FIELDS: dict[str, str] = {"start": _INT, "stop": _INT, "n": _INT, "first_date": _TEXT, "last_date": _TEXT}
_TOUCH_FIELDS: dict[str, str] = {"ts": _TEXT, "what": _TEXT}


def _type_ok(v: Any, want: str) -> bool:
    if v is None:
        return True
    if want == _INT:
        return isinstance(v, int) and not isinstance(v, bool)
    return isinstance(v, str)


def _field_problems(obj: dict, fields: dict[str, str], where: str) -> list[str]:
    return [
        f"{where}{k} must be {want}, not {_kind(obj[k])}"
        for k, want in fields.items()
        if k in obj and not _type_ok(obj[k], want)
    ]


def _split_problems(i: int, s: Any) -> list[str]:
    if not isinstance(s, dict):
        return [f"splits[{i}] must be an object, not {_kind(s)}"]
    out = _field_problems(s, {"fold": _INT}, f"splits[{i}].")
    for part in ("train", "val", "test"):
        if part not in s:
            continue
        if isinstance(s[part], dict):
            out += _field_problems(s[part], _WINDOW_FIELDS, f"splits[{i}].{part}.")
        else:
            out.append(f"splits[{i}].{part} must be an object, not {_kind(s[part])}")
    return out


def _touch_problems(i: int, t: Any) -> list[str]:
    if not isinstance(t, dict):
        return [f"test_touches[{i}] must be an object, not {_kind(t)}"]
    return _field_problems(t, _TOUCH_FIELDS, f"test_touches[{i}].")


def _member_problems(i: int, m: Any) -> list[str]:
    return [] if isinstance(m, dict) else [f"members[{i}] must be an object, not {_kind(m)}"]


_LIST_FIELDS = {"splits": _split_problems, "test_touches": _touch_problems, "members": _member_problems}


def manifest_problems(man: Any) -> tuple[dict, list[str]]:
    """(the fields of `man` its readers can use, what is wrong with the rest).

    The one check of manifest.json's shape, for `RunDir.read_json` (strict: any problem is
    an error) and the listings (`read_manifest_fields`: the rest is kept). A field of the
    wrong type is dropped whole, except `data`, which keeps its good entries; a problem
    reads like "test_touches must be a list, not a string".
    """
    if not isinstance(man, dict):
        return {}, [f"not a JSON object ({_kind(man)})"]
    problems = _field_problems(man, _MANIFEST_FIELDS, "")
    keep = {k: v for k, v in man.items() if k not in _MANIFEST_FIELDS or _type_ok(v, _MANIFEST_FIELDS[k])}
    if "data" in man:
        data = man["data"]
        if isinstance(data, dict):
            problems += _field_problems(data, _DATA_FIELDS, "data.")
            keep["data"] = {k: v for k, v in data.items() if k not in _DATA_FIELDS or _type_ok(v, _DATA_FIELDS[k])}
        else:
            problems.append(f"data must be an object, not {_kind(data)}")
            del keep["data"]
    for key, check in _LIST_FIELDS.items():
        if key not in man:
            continue
        items = man[key]
        if isinstance(items, list):
            bad = [p for i, item in enumerate(items) for p in check(i, item)]
        else:
            bad = [f"{key} must be a list, not {_kind(items)}"]
        if bad:
            problems += bad
            del keep[key]
    if "ensemble" in man and not isinstance(man["ensemble"], dict):
        problems.append(f"ensemble must be an object, not {_kind(man['ensemble'])}")
        del keep["ensemble"]
    return keep, problems


def record_test_touch(run: RunDir, what: str, *, missing_ok: bool = False) -> dict | None:
    """Append one look at the test window to manifest.json's `test_touches`; the updated manifest.

    Every evaluation on the test window counts (docs/ARCHITECTURE.md, "Honest evaluation").
    With `missing_ok`, a run without a manifest is left alone (returns None); a manifest that
    cannot be read is a RunFileError either way: a look at the test window is never dropped
    silently.
    """
    man = run.read_json(MANIFEST_JSON, default=None) if missing_ok else run.read_json(MANIFEST_JSON)
    if man is None:
        return None
    man.setdefault("test_touches", []).append({"ts": utc_now_ts(), "what": what})
    run.write_json(MANIFEST_JSON, man)
    return man
