"""Run directories: ids, layout and discovery (DESIGN.md 7)."""
from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from core.errors import InputError

RUN_ID_RE = re.compile(r"^(\d{8}-\d{6})-([A-Za-z0-9_.-]{1,64})-([0-9a-f]{4})$")
NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


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
    if not root.is_dir():
        return []
    out = []
    with os.scandir(root) as it:
        for entry in it:
            m = RUN_ID_RE.match(entry.name)
            if not m or not entry.is_dir(follow_symlinks=False):
                continue
            created = datetime.strptime(m.group(1), "%Y%m%d-%H%M%S").replace(tzinfo=timezone.utc)
            out.append(RunDirInfo(entry.name, Path(entry.path), m.group(2), created, entry.stat().st_mtime))
    out.sort(key=lambda r: (r.created, r.run_id), reverse=True)
    return out
