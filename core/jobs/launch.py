"""Start, follow, cancel and resume worker processes (the local backend).

One live worker per run directory: whoever starts a worker takes the run's `worker.lock`
first and hands the descriptor down to it (core.runs.lock), so of two racing starters the
second is refused at once, naming the first, before any process exists.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from datetime import datetime, UTC
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.runs import RESUMABLE_STATUSES, RunDir, RunStatus, format_ts, process_alive, status_of
from core.runs.status import status_phrase
from core.runs.lock import LOCK_FD_ENV, WORKER_LOCK, LockHeld, RunLock, acquire, describe_holder, holder


def worker_command(run: RunDir, resume: bool = False) -> list[str]:
    return [sys.executable, "-m", "core.jobs.worker", str(run.path)] + (["--resume"] if resume else [])


def _env(parallel: int = 1) -> dict:
    env = dict(os.environ)
    root = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    if parallel > 1:  # workers running side by side split the cores (core.train.loop.set_threads)
        env["SYNAPSE_PARALLEL_WORKERS"] = str(parallel)
    return env


def _held_message(run: RunDir, who: dict) -> str:
    return f"run {run.run_id} is held by {describe_holder(who)}: one worker per run, so none is started"


def lock_run(run: RunDir, what: str = "starter") -> RunLock:
    """Take `run`'s worker lock to start a worker on it; InputError naming the holder if held."""
    try:
        return acquire(run.path / WORKER_LOCK, what)
    except LockHeld as exc:
        raise InputError(_held_message(run, exc.holder)) from None


def handing_down(lock: RunLock, env: dict) -> dict[str, Any]:
    """Popen arguments that give the child our descriptor of `lock` (core.jobs.worker adopts it)."""
    return {"pass_fds": (lock.fd,), "env": {**env, LOCK_FD_ENV: str(lock.fd)}}


def start_detached(run: RunDir, resume: bool = False, *, lock: RunLock | None = None, parallel: int = 1) -> int:
    """A worker in its own session, output in worker.log: it outlives the CLI (and the dashboard).

    `lock` (from `lock_run`) passes to the worker; without one the lock is taken here
    (InputError when held). Either way this process's copy is closed once the worker has its own.
    `parallel`: how many workers the caller starts side by side (they split the cores).
    """
    if lock is None:
        lock = lock_run(run)
    with lock, open(run.path / "worker.log", "ab") as log:
        proc = subprocess.Popen(
            worker_command(run, resume),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            **handing_down(lock, _env(parallel)),
        )
    # Reap it when it ends: a long-lived caller (the dashboard) would otherwise keep a zombie.
    threading.Thread(target=proc.wait, daemon=True, name=f"reap-{proc.pid}").start()
    return proc.pid


def start_foreground(
    run: RunDir, resume: bool = False, parallel: int = 1, *, lock: RunLock | None = None
) -> subprocess.Popen:
    """A worker whose output the caller reads line by line (progress); `parallel` says how
    many workers the caller runs side by side. `lock` as for `start_detached`."""
    if lock is None:
        lock = lock_run(run)
    with lock:
        return subprocess.Popen(
            worker_command(run, resume),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            **handing_down(lock, _env(parallel)),
        )


def cancel(run: RunDir) -> RunStatus:
    """SIGTERM to a live worker (it saves last.pt and ends cancelled); a queued run is
    marked cancelled directly. Anything else is refused with the reason."""
    st = status_of(run)
    if st.status == "queued":
        with run.event_writer() as events:
            events.run_finished("cancelled", error="cancelled before it started")
        return status_of(run)
    if st.status != "running":
        raise InputError(f"run {run.run_id} {status_phrase(st.status)}, not running: nothing to cancel")
    started = next((e for e in reversed(run.read_events()) if e.get("type") == "run_started"), {})
    if not process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
        raise InputError(
            f"run {run.run_id} runs on {started.get('host')} (pid {started.get('pid')}), not a process of this machine"
        )
    os.kill(int(started["pid"]), signal.SIGTERM)
    return st


def check_resumable(run: RunDir, *, locked: bool = False) -> RunStatus:
    """The run's status when it may resume (lost, cancelled or failed, not a damaged log); else
    InputError saying why (for a damaged log: how to repair it instead).

    `locked`: the caller holds the run's worker lock (`lock_run`), so no other worker can
    start between this check and the one the caller starts.
    """
    if not locked and (who := holder(run.path / WORKER_LOCK)) is not None:
        raise InputError(_held_message(run, who))
    # Probed just above, or held by the caller: probing again would only find the caller.
    st = status_of(run, probe_lock=False)
    if st.status == "running":
        started = next((e for e in reversed(run.read_events()) if e.get("type") == "run_started"), {})
        if not process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
            raise InputError(
                f"run {run.run_id} still reads running: its worker is gone but its last heartbeat "
                "is under 30 s old; it reads lost (and resumes) once that passes"
            )
    if st.damaged_log:  # resuming would train it again from last.pt: refuse, say what to do instead
        line = json.dumps({"ts": format_ts(datetime.now(UTC)), "type": "run_finished", "status": "succeeded"})
        raise InputError(
            f"run {run.run_id}: {st.error}; not resumed (that would train it again from last.pt). "
            f"Its results are in place: `synapse eval {run.run_id}` evaluates it again from its predictions; "
            f"to close it as succeeded, append this line to {run.events_jsonl}, on a line of its own: {line}"
        )
    if st.status not in RESUMABLE_STATUSES:
        raise InputError(f"run {run.run_id} {status_phrase(st.status)}; only lost, cancelled or failed runs resume")
    return st


def resume_detached(run: RunDir, what: str = "synapse resume") -> tuple[RunStatus, int]:
    """Check and resume `run` under its worker lock, the worker detached: (status before, pid).

    Of any number of racing resumes exactly one starts a worker; the others get InputError
    naming the holder.
    """
    lock = lock_run(run, what)
    try:
        st = check_resumable(run, locked=True)
    except BaseException:
        lock.release()
        raise
    return st, start_detached(run, resume=True, lock=lock)
