"""Sweeps: several configs (times a grid) through the supervisor's queue, one report.

    combos = expand(["configs/gru.yaml"], ["model.hidden=64,128", "train.lr=1e-3,3e-3"])
    sweep = start_sweep(root, configs, grid, overrides, parallel=2)   # queued runs + supervisor
    wait(sweep, on_change=print)                                      # until every run is done
    write_report(sweep)                                               # sweep_report.json / .md

A sweep is a directory `<runs root>/sweeps/<sweep-id>/` holding `sweep.json` (what was
asked, and the run id and label of every combo); the runs themselves are ordinary run
directories in the runs root, started by the supervisor (core.jobs.supervisor), so they
keep going when the process that started the sweep exits, and `sweep_status` / `wait`
pick them up again from the directories alone.

Grid values are parsed exactly like `-o` overrides (YAML), each combo is validated like
`synapse train` validates a config, and each gets a distinct name: `<name>-h64-lr3e-3`.
Grid axes under `train.` do not apply to baseline configs (baselines do not train): such
a config is run once, and sweep.json says which axes it ignored.

The report has a row per run (label, model, status, key metrics from its report.json
summary, its readiness verdict against its config's `targets`, reused from report.json)
and a WINNER chosen on validation only: the lowest `models[primary].val.brier` of
report.json among succeeded runs. The test window plays no part in the choice.

Layout: grid expansion is in core.jobs.sweep.grid, sweep directories and the status of
their runs in core.jobs.sweep.layout, the report and its winner in core.jobs.sweep.report;
this module starts and waits for sweeps and re-exports the rest.
"""

from __future__ import annotations

import os
import time
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Callable, Sequence

from core.config import Config, config_hash
from core.errors import InputError
from core.jobs.sweep.grid import expand_combos
from core.jobs.sweep.layout import SweepDir, all_done, sweep_status
from core.jobs.sweep.report import WINNER_METRIC
from core.runs import RunDir, format_ts

# --------------------------------------------------------------------------- starting


def _validate_for_run(cfg: Config, job: str) -> None:
    """What `core.train.run.create_run` checks, without creating anything."""
    from core.train.prepare import prepare

    if job == "train":
        from core.train.learned import check_learned, device_for

        check_learned(cfg)
        device_for(cfg)
    prepare(cfg)


def start_sweep(
    root: str | os.PathLike,
    configs: Sequence[str | os.PathLike],
    grid: Sequence[str] = (),
    overrides: Sequence[str] = (),
    parallel: int | None = None,
    *,
    data: str | os.PathLike | None = None,
    supervise: bool = True,
    grace: float | None = None,
) -> SweepDir:
    """Validate every combo (nothing is created if one is bad), then create one queued run
    per combo (`core.train.run.create_run`), record them in sweep.json, hand them to the
    supervisor and make sure one is alive."""
    from core.jobs.supervisor import default_parallel, enqueue, ensure_supervisor
    from core.train.run import create_run

    if parallel is not None and parallel < 1:
        raise InputError(f"--parallel {parallel}: must be at least 1")
    root = Path(root).resolve()
    combos = expand_combos(configs, grid, overrides, data)
    for c in combos:
        try:
            _validate_for_run(c.cfg, c.job)
        except InputError as exc:
            raise InputError(
                f"combo {c.label!r} ({c.config}"
                + (f" with {' '.join(c.overrides)}" if c.overrides else "")
                + f"): {exc}"
            ) from None

    sweep = SweepDir.create(root)
    meta = {
        "sweep_id": sweep.sweep_id,
        "created": format_ts(datetime.now(UTC)),
        "runs_root": str(root),
        "cwd": os.getcwd(),
        "configs": [str(c) for c in configs],
        "grid": list(grid or ()),
        "overrides": list(overrides or ()),
        "data": None if data is None else str(data),
        "parallel": parallel or default_parallel(),
        "winner_metric": WINNER_METRIC,
        "runs": [],
    }
    sweep.write(meta)
    created: list[RunDir] = []
    try:
        for c in combos:
            run = create_run(c.cfg, root, c.job)
            created.append(run)
            meta["runs"].append(
                {
                    "run_id": run.run_id,
                    "label": c.label,
                    "config": c.config,
                    "overrides": c.overrides,
                    "ignored_axes": c.ignored,
                    "job": c.job,
                    "model": c.cfg.model.kind,
                    "epochs": c.cfg.train.epochs if c.job == "train" else None,
                    "config_hash": config_hash(c.cfg),
                }
            )
            sweep.write(meta)
    except BaseException:
        for run in created:  # never leave half a sweep queued
            with run.event_writer() as events:
                events.run_finished("cancelled", error="the sweep that created this run failed to start")
        raise
    for run in created:
        enqueue(run)
    if supervise:
        ensure_supervisor(root, meta["parallel"], grace=grace)
    return sweep


def ensure_running(sweep: SweepDir, *, grace: float | None = None) -> int | None:
    """Start a supervisor for the sweep's root when some of its runs are still queued."""
    from core.jobs.supervisor import ensure_supervisor

    if any(r["status"] == "queued" for r in sweep_status(sweep)):
        return ensure_supervisor(sweep.root, sweep.read().get("parallel"), grace=grace)
    return None


# --------------------------------------------------------------------------- waiting


def wait(
    sweep: SweepDir,
    on_change: Callable[[list[dict]], Any] | None = None,
    *,
    poll: float = 1.0,
    timeout: float | None = None,
    keep_supervised: bool = True,
) -> list[dict]:
    """Poll until every run is done (succeeded, failed, cancelled or lost); `on_change(rows)`
    whenever a row changes. Restarts the supervisor if runs are queued and none is alive."""
    from core.jobs.supervisor import ensure_supervisor, supervisor_info

    deadline = None if timeout is None else time.monotonic() + timeout
    last: Any = None
    next_check = 0.0
    while True:
        rows = sweep_status(sweep)
        key = [(r["status"], r["attempt"], r["epoch"]) for r in rows]
        if key != last:
            last = key
            if on_change is not None:
                on_change(rows)
        if all_done(rows):
            return rows
        now = time.monotonic()
        if keep_supervised and now >= next_check:
            next_check = now + 5.0
            if any(r["status"] == "queued" for r in rows) and supervisor_info(sweep.root) is None:
                ensure_supervisor(sweep.root, sweep.read().get("parallel"))
        if deadline is not None and now > deadline:
            raise TimeoutError(f"sweep {sweep.sweep_id} not done after {timeout} s")
        time.sleep(poll)
