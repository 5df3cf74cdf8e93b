"""Sweeps for the front ends: start one, find one again, read where it stands, wait, report.

Thin over core.jobs.sweep (which holds the mechanism: grid expansion, the sweep directory,
the supervisor's queue, the report); here is what a front end asks of it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

from core.errors import InputError
from core.jobs.sweep import (
    SweepDir,
    all_done,
    ensure_running,
    list_sweeps,
    start_sweep,
    sweep_status,
    verdict_text,
    wait,
    write_report,
)
from core.runs import runs_root

__all__ = ["open_sweep", "start", "state", "verdict_text", "wait_and_report"]


def start(
    configs: Sequence[str | os.PathLike],
    grid: Sequence[str] = (),
    overrides: Sequence[str] = (),
    parallel: int | None = None,
    *,
    data: str | os.PathLike | None = None,
    runs_dir: str | os.PathLike | None = None,
) -> SweepDir:
    """Validate every config x grid combo, queue one run each and make sure a supervisor runs them."""
    if not configs:
        raise InputError("give at least one config: synapse sweep -c configs/gru.yaml [-c ...] [-g KEY=V1,V2]")
    return start_sweep(runs_root(runs_dir), [str(c) for c in configs], list(grid), list(overrides), parallel, data=data)


def open_sweep(ref: str | None = None, runs_dir: str | os.PathLike | None = None) -> SweepDir:
    """A sweep by id, unique prefix or directory; the latest one when `ref` is None. Its
    supervisor is restarted if runs are still queued."""
    root = runs_root(runs_dir)
    if ref is None:
        sweeps = list_sweeps(root)
        if not sweeps:
            raise InputError(f"no sweeps in {Path(root) / 'sweeps'}")
        sweep = sweeps[0]
    else:
        sweep = SweepDir.open(root, ref)
    ensure_running(sweep)
    return sweep


def state(sweep: SweepDir) -> dict[str, Any]:
    """Where a sweep stands: {"rows": one per run, "report": the report once every run is done, else None}."""
    rows = sweep_status(sweep)
    return {"rows": rows, "report": write_report(sweep) if all_done(rows) else None}


def wait_and_report(
    sweep: SweepDir, on_change: Callable[[list[dict]], Any] | None = None, *, poll: float = 0.5
) -> dict[str, Any]:
    """Wait until every run of the sweep is done, then write its report: {"rows", "report"}."""
    rows = wait(sweep, on_change=on_change, poll=poll)
    return {"rows": rows, "report": write_report(sweep)}
