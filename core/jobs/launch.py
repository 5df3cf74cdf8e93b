"""Start, follow, cancel and resume worker processes (the local backend)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from core.errors import InputError
from core.runs import RESUMABLE_STATUSES, RunDir, RunStatus, process_alive, status_of


def worker_command(run: RunDir, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "core.jobs.worker", str(run.path)] + (["--resume"] if resume else [])


def _env(parallel: int = 1) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if parallel > 1:  # workers running side by side split the cores (core.train.loop.set_threads)
        env["SYNAPSE_PARALLEL_WORKERS"] = str(parallel)
    return env


def start_detached(run: RunDir, resume: bool = False) -> int:
    """A worker in its own session, output in worker.log: it outlives the CLI."""
    log = open(run.path / "worker.log", "ab")
    proc = subprocess.Popen(worker_command(run, resume), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True, env=_env())
    log.close()
    # Reap it when it ends: a long-lived caller (the dashboard) would otherwise keep a zombie.
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid


def start_foreground(run: RunDir, resume: bool = False, parallel: int = 1) -> subprocess.Popen:
    """A worker whose output the caller reads line by line (progress); `parallel` says how
    many workers the caller runs side by side."""
    return subprocess.Popen(worker_command(run, resume), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, bufsize=1, env=_env(parallel))


def cancel(run: RunDir) -> RunStatus:
    """SIGTERM to a live worker (it saves last.pt and ends cancelled); a queued run is
    marked cancelled directly. Anything else is refused with the reason."""
    st = status_of(run)
    if st.status == "queued":
        with run.event_writer() as events:
            events.run_finished("cancelled", error="cancelled before it started")
        return status_of(run)
    if st.status != "running":
        raise InputError(f"run {run.run_id} is {st.status}, not running: nothing to cancel")
    started = next((e for e in reversed(run.read_events()) if e.get("type") == "run_started"), {})
    if not process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
        raise InputError(f"run {run.run_id} runs on {started.get('host')} (pid {started.get('pid')}), "
                         "not a process of this machine")
    os.kill(int(started["pid"]), signal.SIGTERM)
    return st


def check_resumable(run: RunDir) -> RunStatus:
    st = status_of(run)
    if st.status == "running":
        started = next((e for e in reversed(run.read_events()) if e.get("type") == "run_started"), {})
        if not process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
            raise InputError(f"run {run.run_id} still reads running: its worker is gone but its last heartbeat "
                             "is under 30 s old; it reads lost (and resumes) once that passes")
    if st.status not in RESUMABLE_STATUSES:
        raise InputError(f"run {run.run_id} is {st.status}; only lost, cancelled or failed runs resume")
    return st
