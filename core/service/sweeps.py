"""Sweeps for the front ends: start one, find one again, read where it stands, wait, report.

Thin over core.jobs.sweep (which holds the mechanism: grid expansion, the sweep directory,
the supervisor's queue, the report, the analysis); here is what a front end asks of it:
`start`, `open_sweep` (restarts its supervisor), `state`, `wait_and_report`, and to look at
sweeps without starting anything `find_sweep`, `list_view` (a line per sweep) and `view`
(one sweep: its runs, the winner, and how the validation metric depends on each swept key).
"""

from __future__ import annotations

import os
import re
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

__all__ = ["find_sweep", "list_view", "open_sweep", "start", "state", "verdict_text", "view", "wait_and_report"]


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


def find_sweep(ref: str | None = None, runs_dir: str | os.PathLike | None = None) -> SweepDir:
    """A sweep by id, unique prefix, directory, or the 4-hex tail of its id (what the dashboard's
    sweeps list shows); the latest one when `ref` is None. Reads only: unlike `open_sweep`, no
    supervisor is started."""
    root = runs_root(runs_dir)
    if ref is None:
        sweeps = list_sweeps(root)
        if not sweeps:
            raise InputError(f"no sweeps in {Path(root) / 'sweeps'}")
        return sweeps[0]
    try:
        return SweepDir.open(root, ref)
    except InputError:
        tail = [s for s in list_sweeps(root) if re.fullmatch(r"[0-9a-f]{4}", ref) and s.sweep_id.endswith("-" + ref)]
        if len(tail) == 1:
            return tail[0]
        raise


def list_view(runs_dir: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """A line per sweep of the runs root, newest first (core.jobs.sweep.analysis.sweep_summary)."""
    from core.jobs.sweep.analysis import sweep_summary

    return [sweep_summary(s) for s in list_sweeps(runs_root(runs_dir))]


def view(ref: str | SweepDir | None = None, runs_dir: str | os.PathLike | None = None) -> dict[str, Any]:
    """One sweep as a view: its runs with their swept key values, status, validation metric, test
    metrics and verdict, the winner (validation only), and per swept key the (value, metric)
    points and its importance (core.jobs.sweep.analysis.sweep_view). Reads only."""
    from core.jobs.sweep.analysis import sweep_view

    sweep = ref if isinstance(ref, SweepDir) else find_sweep(ref, runs_dir)
    return sweep_view(sweep)


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
