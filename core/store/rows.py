"""Reading a run directory into its row of the run index (docs/ARCHITECTURE.md, "The store").

The index's columns, and `read_run`: one run directory's files (manifest, config, events,
report) turned into a row — tolerant of partial, torn or corrupt files. `scan` lists the
run directories under a runs root, and `signature` says when one must be re-read. Pure
file reading: no SQLite here (the connection lives in core.store.db, the index in
core.store, which re-exports these names).
"""

from __future__ import annotations

import json
import math
import os
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Mapping

from core.runs import REMOTE_JSON, RunDir, format_ts, is_run_id, link_down_since, parse_ts, read_events, run_status
from core.runs.annotations import read_annotations
from core.runs.layout import load_json_file
from core.runs.lock import FOLLOW_LOCK, WORKER_LOCK

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
    ("max_epochs", "INTEGER"),  # the config's train.epochs: the bound of a learned run's progress
    ("best_epoch", "INTEGER"),
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
    ("config_json", "TEXT"),  # JSON: the resolved config.yaml flattened, {dotted key: value}
    ("tags", "TEXT"),  # JSON list: the user's tags (annotations.json)
    ("note", "TEXT"),  # the user's note (annotations.json)
    ("archived", "INTEGER"),  # archived by the user: out of the default listings
    ("sweep", "TEXT"),  # the id of the sweep that made the run (its sweeps/<id>/sweep.json lists it)
    # internal
    ("live", "TEXT"),  # JSON: what status needs without rereading events (run_started, last event ts)
    ("remote", "INTEGER"),
    ("signature", "TEXT"),
    ("indexed_at", "TEXT"),
)
COLUMN_NAMES = tuple(c for c, _ in COLUMNS)
_INTERNAL = ("live", "remote", "signature", "indexed_at", "config_json")  # config_json: public as `config`
_JSON_COLUMNS = ("beats_at", "summary", "tags")
_BOOL_COLUMNS = ("beats_reference", "archived")
_SUMMARY_NUMBERS = (
    "val_brier",
    "auc",
    "pr_auc",
    "brier_skill",
    "ece_before",
    "ece_after",
    "classwise_ece",
    "best_good_or_better",
    "lift_capture",
)
_SUMMARY_TEXT = ("primary", "reference", "best_baseline", "calibration", "verdict")


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
    """Parsed JSON, None when missing or unreadable (bounded: `load_json_file`)."""
    try:
        return load_json_file(path)
    except (OSError, ValueError):
        return None


# A run's config.yaml is ours (`dump_yaml`, no aliases, a few hundred values) unless someone
# crafted it: past these it is read as missing, so a shared alias graph (a billion laughs)
# never reaches the code that walks a config (compare's diff, the Config tab).
_YAML_MAX_BYTES = 1 << 20
_YAML_MAX_VALUES = 10_000


def _expanded_size(value: Any, seen: dict[int, int], limit: int) -> int:
    """How many values `value` holds once every shared reference is expanded, counted with
    each distinct container visited once; stops past `limit`."""
    key = id(value)
    if key in seen:
        return seen[key]
    seen[key] = limit + 1  # a container reached again while still being counted: a cycle
    children = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    total = 1
    for child in children:
        total += _expanded_size(child, seen, limit) if isinstance(child, (dict, list)) else 1
        if total > limit:
            break
    seen[key] = total
    return total


def read_yaml(path: Path) -> Any:
    try:
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        with open(path, encoding="utf-8") as fh:
            text = fh.read(_YAML_MAX_BYTES + 1)
        if len(text) > _YAML_MAX_BYTES:
            return None
        value = yaml.load(text, Loader=loader)  # noqa: S506 — a safe loader
        if isinstance(value, (dict, list)) and _expanded_size(value, {}, _YAML_MAX_VALUES) > _YAML_MAX_VALUES:
            return None
        return value
    except Exception:  # noqa: BLE001 — a broken config must not break the index (RecursionError too)
        return None


def _now(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, (int, float)):
        return datetime.fromtimestamp(now, UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _duration(
    status: str, started: datetime | None, finished: datetime | None, last: datetime | None, now: datetime
) -> float | None:
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
    man, man_problems = rd.read_manifest_fields()  # the well-formed fields of a damaged manifest
    cfg = read_yaml(rd.config_yaml)
    cfg = cfg if isinstance(cfg, dict) else {}
    events = read_events(rd.events_jsonl)

    # manifest
    mcreated = parse_ts(man.get("created"))
    created = mcreated or created
    row["created"] = format_ts(created) if created else None
    data = man.get("data") if isinstance(man.get("data"), dict) else {}
    row["data_sha256"] = data.get("sha256") if isinstance(data.get("sha256"), str) else None
    touches = man.get("test_touches")
    # no list: none yet in a readable manifest, unknown in a damaged one
    row["test_touches"] = len(touches) if isinstance(touches, list) else (0 if man and not man_problems else None)
    remote = bool(man.get("remote")) or man.get("backend") == "remote" or (rd.path / REMOTE_JSON).is_file()
    row["remote"] = int(remote)
    link_down = link_down_since(rd.path) if remote else None

    # events
    first_queued = next((e for e in events if e.get("type") == "queued"), {})
    job = man.get("job") or first_queued.get("job")
    row["job"] = job if isinstance(job, str) else None
    st = run_status(
        events,
        now_dt,
        remote=remote,
        link_down_since=link_down,
        worker_lock=None if remote else rd.path / WORKER_LOCK,
        follow_lock=rd.path / FOLLOW_LOCK if remote else None,
    )
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
        row["live"] = json.dumps(
            {
                "started": keep,
                "last": format_ts(st.last_event) if st.last_event else None,
                "link_down_since": format_ts(link_down) if link_down else None,
            }
        )

    epochs = [e for e in events if e.get("type") == "epoch"]
    losses = [x for x in (_finite(e.get("val_loss")) for e in epochs) if x is not None]
    row["best_val_loss"] = min(losses) if losses else None
    nums = [n for n in (_int(e.get("epoch")) for e in epochs) if n is not None]
    row["epochs"] = max(nums) if nums else None
    improved = [n for n in (_int(e.get("epoch")) for e in epochs if e.get("improved")) if n is not None]
    row["best_epoch"] = improved[-1] if improved else None
    row["config_json"] = json.dumps(flat_config(cfg), allow_nan=False, default=str) if cfg else None
    train_sec = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    row["max_epochs"] = _int(train_sec.get("epochs")) if job == "train" else None

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
    # the user's annotations (their own file: a running run can be tagged)
    notes = read_annotations(rd)
    row["tags"] = json.dumps(list(notes.tags))
    row["note"] = notes.note or None
    row["archived"] = int(notes.archived)
    row["sweep"] = sweep_of_runs(rd.path.parent).get(rd.run_id)
    row["signature"] = sig
    row["indexed_at"] = format_ts(datetime.now(UTC))
    return row


_SWEEP_CACHE: dict[str, tuple[tuple, dict[str, str]]] = {}
_SWEEP_JSON_MAX_BYTES = 16 * 1024 * 1024


def sweep_of_runs(root: Path) -> dict[str, str]:
    """{run id: sweep id} from the sweeps under `root` (`sweeps/<id>/sweep.json`'s `runs`).

    Cached by every sweep.json's size and mtime: a stat per sweep per call, each file
    reread only when it changed. A run in no sweep is absent; a damaged sweep.json adds none.
    """
    folder = Path(root) / "sweeps"
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return {}
    stamp = []
    for e in entries:
        try:
            st = os.stat(os.path.join(e.path, "sweep.json"))
        except OSError:
            continue
        stamp.append((e.name, st.st_size, st.st_mtime_ns))
    key = str(folder.absolute())
    cached = _SWEEP_CACHE.get(key)
    if cached is not None and cached[0] == tuple(stamp):
        return cached[1]
    out: dict[str, str] = {}
    for name, size, _ in stamp:
        if size > _SWEEP_JSON_MAX_BYTES:
            continue
        meta = _read_json(folder / name / "sweep.json")
        runs = meta.get("runs") if isinstance(meta, dict) else None
        given = meta.get("sweep_id") if isinstance(meta, dict) else None
        sweep_id: str = given if isinstance(given, str) else name
        for r in runs if isinstance(runs, list) else []:
            rid = r.get("run_id") if isinstance(r, dict) else None
            if isinstance(rid, str):
                out[rid] = sweep_id
    _SWEEP_CACHE[key] = (tuple(stamp), out)
    return out


def flat_config(cfg: Mapping[str, Any]) -> dict[str, Any]:
    """A config as {dotted key: value}, as core.config's `flatten_config` (lists stay values, an
    empty section adds no keys); a non-finite number becomes its text so the JSON stays strict.
    Here rather than imported: core.config pulls in pydantic, and the index must stay cheap."""
    out: dict[str, Any] = {}

    def walk(obj: Mapping[str, Any], prefix: str) -> None:
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):
                walk(v, key)
            elif isinstance(v, float) and not math.isfinite(v):
                out[key] = str(v)
            else:
                out[key] = v if _json_ok(v) else str(v)

    walk(cfg, "")
    return out


def config_of_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """The flat config stored in an index row ({} when there is none or it is unreadable)."""
    raw = row.get("config_json")
    if not isinstance(raw, str):
        return {}
    try:
        cfg = json.loads(raw)
    except ValueError:
        return {}
    return cfg if isinstance(cfg, dict) else {}


_PLAIN = (str, int, bool, type(None))


def _json_ok(obj: Any) -> bool:
    """Whether `obj` goes into strict JSON as it is. Plain scalars and finite floats are
    answered without encoding (a cold index of hundreds of runs asks this for every config value)."""
    if isinstance(obj, _PLAIN):
        return True
    if isinstance(obj, float):
        return math.isfinite(obj)
    try:
        json.dumps(obj, allow_nan=False, default=str)
        return True
    except ValueError:
        return False


def _to_sql(row: Mapping[str, Any]) -> tuple:
    return tuple(row.get(c) for c in COLUMN_NAMES)


def public_row(row: Mapping[str, Any], root: Path) -> dict:
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
    out["tags"] = out.get("tags") if isinstance(out.get("tags"), list) else []
    out["archived"] = bool(out.get("archived"))
    out["config"] = config_of_row(row)
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
            if not is_run_id(entry.name):  # a real date and time too: 20261209-000060-... is skipped
                continue
            try:
                if not entry.is_dir(follow_symlinks=False):
                    continue
                out[entry.name] = entry.stat(follow_symlinks=False).st_mtime_ns
            except OSError:  # removed while we looked
                continue
    return out


__all__ = [
    "COLUMNS",
    "COLUMN_NAMES",
    "RACY_S",
    "config_of_row",
    "flat_config",
    "read_run",
    "scan",
    "signature",
    "sweep_of_runs",
]
