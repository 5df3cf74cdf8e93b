"""Handing runs to the supervisor (core.jobs.supervisor), and claiming them exactly once.

`enqueue(run)` writes `queue.json` into a run dir (`submit` creates the run and enqueues
it); `claim(run)` creates `<run>/claim.json` with O_CREAT|O_EXCL, so of any number of
racing supervisors exactly one starts a run. Light: it only reads and writes run dirs.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
from pathlib import Path
from typing import Any

from core.fsutil import atomic_write_text
from core.runs import RunDir, utc_now_ts
from core.runs.layout import creation_error

QUEUE_FILE = "queue.json"  # in a run dir: submitted to the supervisor
CLAIM_FILE = "claim.json"  # in a run dir: a supervisor started (is starting) it — created O_EXCL


def read_json_file(path: Path) -> Any:
    """The parsed JSON of `path`; None when it is missing or unreadable (another process may be replacing it)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def write_json_file(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------- submitting runs


def enqueue(run: RunDir, *, cwd: str | os.PathLike | None = None) -> Path:
    """Hand a queued run to the supervisor of its root (which `ensure_supervisor` starts).

    `cwd` is where the worker runs (default: this process's cwd), so data paths that the
    config gives relative to it still resolve.
    """
    path = run.path / QUEUE_FILE
    write_json_file(path, {"ts": utc_now_ts(), "cwd": os.path.abspath(cwd or os.getcwd()), "by_pid": os.getpid()})
    return path


def submit(cfg, root: str | os.PathLike, job: str, *, cwd: str | os.PathLike | None = None) -> RunDir:
    """`core.train.run.create_run` (validates everything first) and `enqueue`."""
    from core.train.run import create_run

    run = create_run(cfg, Path(root), job)
    try:
        enqueue(run, cwd=cwd)
    except OSError as exc:  # a full disk: no run left behind that no supervisor will ever start
        shutil.rmtree(run.path, ignore_errors=True)
        raise creation_error(Path(root), exc) from None
    return run


def claim(run: RunDir, **info: Any) -> bool:
    """Atomically claim a run for starting: True for exactly one caller, ever."""
    try:
        fd = os.open(run.path / CLAIM_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except (FileExistsError, FileNotFoundError):  # taken, or the run dir is gone
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"claimed": utc_now_ts(), "host": socket.gethostname(), **info}, fh)
    return True


def read_claim(run: RunDir) -> dict | None:
    """The claim of a run: None when unclaimed; {} while the claimer is still writing it."""
    path = run.path / CLAIM_FILE
    if not path.exists():
        return None
    data = read_json_file(path)
    return data if isinstance(data, dict) else {}


def queued_at(run: RunDir, events: list[dict]) -> str:
    for e in events:
        if e.get("type") == "queued":
            return str(e.get("ts", ""))
    return ""
