"""`python -m core.jobs.worker RUN_DIR [--resume]`: run one job in its own process.

Every job runs here, never in the UI's process, so a crash cannot take the UI down.
SIGTERM asks the job to stop: a training run finishes its epoch, saves last.pt and ends
`cancelled` (resumable); a baselines run stops at once. A heartbeat event every
HEARTBEAT_S seconds lets a reader on another host (or after a pid check is impossible)
tell a live worker from a lost one.

One worker per run directory: the worker holds the run's `worker.lock` (core.runs.lock)
for its whole life, handed down by whoever started it (LOCK_FD_ENV) or taken here. When
another process holds it the worker exits with EXIT_LOCKED at once, having written nothing.

A worker never dies because whoever read its output went away (the dashboard quit, the
demo CLI was killed, `| head`): on a broken pipe (EPIPE) its stdout and stderr move to the
run's worker.log (else /dev/null) and the job goes on. SIGPIPE is ignored (Python's default,
made explicit here), so the pipe shows up as BrokenPipeError, which `_PipeSafe` handles.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
from datetime import datetime, UTC
from pathlib import Path
from typing import Any, TextIO

from core.runs import RunDir, is_run_id
from core.runs.lock import LOCK_FD_ENV, WORKER_LOCK, LockHeld, RunLock, acquire, adopt

HEARTBEAT_S = 10.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 3
EXIT_LOCKED = 75  # another process holds the run's worker.lock (EX_TEMPFAIL, as the supervisor's)


class _PipeSafe:
    """A text stream (sys.stdout or sys.stderr) that outlives its reader: on a broken pipe it
    calls `switch` (fds 1 and 2 go to worker.log) and writes on there."""

    def __init__(self, stream: TextIO, switch) -> None:
        self._stream, self._switch = stream, switch

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            self._switch()
        # The text is in the stream's buffer already (the flush that followed it failed).
        self.flush()
        return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            self._switch()
            try:
                self._stream.flush()
            except OSError:
                pass  # nowhere left to write: the job matters more than its output

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_output(run_dir: Path) -> None:
    """Make this process's stdout and stderr survive their reader (see the module's doc)."""
    if hasattr(signal, "SIGPIPE"):
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # Python's default; a broken pipe is then EPIPE
    switched = threading.Lock()
    done: list[bool] = []

    def switch() -> None:
        with switched:
            if done:
                return
            done.append(True)
            try:
                fd = os.open(run_dir / "worker.log", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            except OSError:
                fd = os.open(os.devnull, os.O_WRONLY)
            try:
                ts = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
                note = f"{ts} worker {os.getpid()}: its stdout went away (broken pipe); its output goes on here\n"
                os.write(fd, note.encode())
            except OSError:
                pass
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.close(fd)

    sys.stdout = _PipeSafe(sys.stdout, switch)
    sys.stderr = _PipeSafe(sys.stderr, switch)


def take_lock(run_dir: Path) -> RunLock:
    """The run's worker lock: the descriptor our starter handed down, else taken now.

    Raises LockHeld naming the holder.
    """
    inherited = os.environ.pop(LOCK_FD_ENV, None)  # popped: our own children never adopt it
    if inherited is not None:
        try:
            fd = int(inherited)
            os.set_inheritable(fd, False)
            return adopt(run_dir / WORKER_LOCK, fd, "worker")
        except (ValueError, OSError, RuntimeError) as exc:
            # A starter's bug; taking the lock afresh is still safe: if the starter does hold
            # it on another descriptor, this refuses instead of running a second worker.
            print(f"warning: {LOCK_FD_ENV}={inherited!r} not adopted ({exc}); taking the lock", file=sys.stderr)
    return acquire(run_dir / WORKER_LOCK, "worker")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from last.pt as a new attempt")
    args = parser.parse_args(argv)

    if not (args.run_dir.is_dir() and is_run_id(args.run_dir.name)):
        print(f"error: {args.run_dir}: not a run directory", file=sys.stderr)
        return EXIT_USAGE
    try:
        lock = take_lock(args.run_dir)
    except LockHeld as exc:
        print(f"refused: run {exc}; one worker per run", file=sys.stderr)
        return EXIT_LOCKED
    guard_output(args.run_dir)
    with lock:  # released only after run_finished is written and the heartbeat has stopped
        return _work(RunDir(args.run_dir), args.resume)


def _work(run: RunDir, resume: bool) -> int:
    from core.errors import InputError
    from core.train.lifecycle import Cancelled
    from core.train.run import execute

    stop = threading.Event()
    try:
        job = run.read_json("manifest.json").get("job", "baselines")
    except InputError as exc:  # run X: manifest.json: <problem>
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE

    def on_sigterm(signum, frame):
        stop.set()
        if job != "train":  # nothing to save: stop now
            raise Cancelled("cancelled by SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    done = threading.Event()

    def beat() -> None:
        with run.event_writer() as events:
            while not done.wait(HEARTBEAT_S):
                events.heartbeat()

    heartbeat = threading.Thread(target=beat, daemon=True, name="heartbeat")
    heartbeat.start()

    def progress(msg: str) -> None:
        print(msg, flush=True)

    try:
        execute(run, resume=resume, stop_flag=stop.is_set, progress=progress)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Cancelled, KeyboardInterrupt) as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # the run directory holds the traceback
        print(f"run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        done.set()
        heartbeat.join(5.0)  # no heartbeat after run_finished: the lock is let go next
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
