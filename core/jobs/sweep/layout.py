"""Sweep directories (core.jobs.sweep): `<runs root>/sweeps/<sweep-id>/sweep.json`, and the
state of a sweep's runs read back from their run directories alone.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from dataclasses import dataclass
from datetime import datetime, UTC
from pathlib import Path
from collections.abc import Iterable

from core.errors import RUN_NAME_PATTERN, InputError
from core.fsutil import DirHandle, atomic_write_text
from core.runs import TERMINAL_STATUSES, RunDir, read_events, run_status

SWEEPS_DIR = "sweeps"
SWEEP_JSON = "sweep.json"
REPORT_JSON = "sweep_report.json"
REPORT_MD = "sweep_report.md"
SWEEP_ID_RE = re.compile(rf"^\d{{8}}-\d{{6}}-{RUN_NAME_PATTERN}-[0-9a-f]{{4}}$")  # named like a run
_SWEEP_REF_RE = re.compile(r"^[0-9][A-Za-z0-9_.-]{0,95}$")


# --------------------------------------------------------------------------- sweep directories


@dataclass(frozen=True)
class SweepDir(DirHandle):
    """`<runs root>/sweeps/<sweep-id>/`."""

    @property
    def sweep_id(self) -> str:
        return self.path.name

    @property
    def root(self) -> Path:
        """The runs root the sweep's runs live in."""
        return self.path.parent.parent

    @property
    def sweep_json(self) -> Path:
        return self.path / SWEEP_JSON

    @property
    def report_json(self) -> Path:
        return self.path / REPORT_JSON

    @property
    def report_md(self) -> Path:
        return self.path / REPORT_MD

    def read(self) -> dict:
        try:
            return json.loads(self.sweep_json.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError("not a sweep directory (no sweep.json)", path=self.path) from None
        except ValueError as exc:
            raise InputError(f"sweep.json is not valid JSON: {exc}", path=self.sweep_json) from None

    def write(self, obj: dict) -> None:
        atomic_write_text(self.sweep_json, json.dumps(obj, indent=2) + "\n")

    def runs(self) -> list[tuple[dict, RunDir]]:
        """(sweep.json entry, run dir) of every run of the sweep, in sweep order."""
        return [(r, RunDir(self.root / r["run_id"])) for r in self.read().get("runs", [])]

    @classmethod
    def create(cls, root: str | os.PathLike, name: str = "sweep") -> SweepDir:
        base = Path(root) / SWEEPS_DIR
        base.mkdir(parents=True, exist_ok=True)
        for _ in range(32):
            sid = f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{name}-{secrets.token_hex(2)}"
            try:
                (base / sid).mkdir()
            except FileExistsError:
                continue
            return cls(base / sid)
        raise RuntimeError(f"could not create a fresh sweep directory under {base}")

    @classmethod
    def open(cls, root: str | os.PathLike, ref: str) -> SweepDir:
        """A sweep by directory, id, or unique id prefix."""
        p = Path(ref)
        if (p / SWEEP_JSON).is_file():
            return cls(p)
        if not isinstance(ref, str) or not _SWEEP_REF_RE.match(ref):
            raise InputError(
                f"{ref!r} is not a sweep id or a prefix of one (sweep ids look like 20250101-120000-sweep-1a2b)"
            )
        base = Path(root) / SWEEPS_DIR
        matches = sorted(s.sweep_id for s in list_sweeps(root) if s.sweep_id.startswith(ref))
        if not matches:
            raise InputError(f"no sweep matches {ref!r} in {base}")
        if len(matches) > 1:
            raise InputError(
                f"{ref!r} is ambiguous: {len(matches)} sweeps match ({', '.join(matches[:10])}); give more of the id"
            )
        return cls(base / matches[0])


def list_sweeps(root: str | os.PathLike) -> list[SweepDir]:
    """Every sweep of a runs root, newest first."""
    base = Path(root) / SWEEPS_DIR
    if not base.is_dir():
        return []
    out = [
        SweepDir(p)
        for p in base.iterdir()
        if SWEEP_ID_RE.match(p.name) and (p / SWEEP_JSON).is_file() and not p.is_symlink()
    ]
    return sorted(out, key=lambda s: s.sweep_id, reverse=True)


# --------------------------------------------------------------------------- status


def sweep_status(sweep: SweepDir) -> list[dict]:
    """A row per run: label, run_id, model, job, status, attempt, epoch/epochs, error."""
    rows = []
    for entry, run in sweep.runs():
        events = read_events(run.events_jsonl)
        st = run_status(events)
        epoch = None
        if st.started is not None:
            for e in reversed(events):
                if e.get("type") == "run_started":
                    break
                if e.get("type") == "epoch":
                    epoch = e.get("epoch")
                    break
        rows.append(
            {
                "label": entry.get("label"),
                "run_id": run.run_id,
                "model": entry.get("model"),
                "job": entry.get("job"),
                "status": st.status if run.path.is_dir() else "missing",
                "attempt": st.attempt,
                "epoch": epoch,
                "epochs": entry.get("epochs"),
                "error": st.error,
            }
        )
    return rows


def all_done(rows: Iterable[dict]) -> bool:
    return all(r["status"] in TERMINAL_STATUSES or r["status"] == "missing" for r in rows)
