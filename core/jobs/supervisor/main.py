"""`python -m core.jobs.supervisor RUNS_ROOT [--parallel N]`: start queued runs as slots free.

One supervisor per runs root (an flock on `<root>/supervisor.lock`; a second one exits at
once with EXIT_LOCKED). It starts the runs that were *submitted* to it (`enqueue(run)`
writes `queue.json` into the run dir; `submit(cfg, root, job)` creates and enqueues) and
are still `queued`, oldest first, at most `parallel` at a time (default: cores // 2, at
least 1). Each worker is `python -m core.jobs.worker RUN_DIR` in its own session, with
SYNAPSE_PARALLEL_WORKERS=parallel in its environment (torch threads = cores / parallel),
its cwd the one the run was enqueued from (configs may name data by a relative path),
and its output in `<run>/worker.log`. Runs nobody enqueued (`synapse train` starts its own
worker) are never touched, so a run is never started twice by two mechanisms.

Exactly once: before starting a run the supervisor claims it by creating
`<run>/claim.json` with O_CREAT|O_EXCL — of any number of racing supervisors only one
can — and logs `started by supervisor pid N` to the run's events. A worker that exits
before it writes `run_started` (bad input, a crash at import) leaves the run `failed`
with the tail of worker.log as the error, never silently queued.

The supervisor survives the CLI (it is started detached, in its own session, by
`ensure_supervisor`), logs to `<root>/supervisor.log`, publishes who it is in
`<root>/supervisor.json`, and exits by itself after `--grace` seconds with nothing queued
or running. `<root>/supervisor_settings.json` {"parallel": N} changes the limit of a live
supervisor (`ensure_supervisor(root, parallel)` writes it). SIGTERM/SIGINT stop it; its
workers keep running (they belong to their runs; `synapse cancel` stops one).

This module stays light (no torch, no numpy): it only reads and writes run directories.

Submitting and claiming runs is core.jobs.run_queue, finding and starting the supervisor
core.jobs.supervisor.client, the loop itself core.jobs.supervisor.loop; this module is the
command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
from pathlib import Path

from core.jobs.supervisor.client import LOG_FILE, SETTINGS_FILE
from core.jobs.supervisor.loop import IDLE_GRACE_S, POLL_S, Supervisor, default_parallel


def _setup_logging(root: Path) -> logging.Logger:
    root.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger("synapse.supervisor")
    logger.setLevel(logging.INFO)
    handler = logging.FileHandler(root / LOG_FILE, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(process)d] %(message)s"))
    logger.addHandler(handler)
    logger.propagate = False
    return logger


def _default_grace() -> float:
    try:
        return max(0.0, float(os.environ.get("SYNAPSE_SUPERVISOR_GRACE", IDLE_GRACE_S)))
    except ValueError:
        return IDLE_GRACE_S


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.supervisor", description=__doc__.splitlines()[0])
    parser.add_argument("root", type=Path, help="runs root")
    parser.add_argument(
        "--parallel",
        type=int,
        default=None,
        help=f"concurrent workers (default: {SETTINGS_FILE}, else cores // 2 = {default_parallel()})",
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=_default_grace(),
        help="exit after this many idle seconds (default: $SYNAPSE_SUPERVISOR_GRACE, else 30)",
    )
    parser.add_argument("--poll", type=float, default=POLL_S, help="seconds between passes")
    parser.add_argument("--no-lock", action="store_true", help=argparse.SUPPRESS)  # tests: race without the lock
    args = parser.parse_args(argv)
    if args.parallel is not None and args.parallel < 1:
        parser.error("--parallel must be >= 1")
    root = args.root.resolve()
    sup = Supervisor(
        root, args.parallel, grace=args.grace, poll=args.poll, use_lock=not args.no_lock, logger=_setup_logging(root)
    )

    def on_signal(signum, frame):
        sup.stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return sup.run()
