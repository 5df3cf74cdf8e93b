"""Starting and stopping jobs: create a run from a config, run its worker (detached, or in the
foreground side by side with others), cancel, resume, evaluate again, and read the outcome.

Every job runs in its own worker process (core.jobs.worker): here ("local"), or on a host
profile over SSH (core.service.remote); cancel and resume act wherever the run is.
"""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator, Sequence

from core.errors import InputError
from core.runs import RunDir, RunStatus, runs_root
from core.runs.lock import RunLock

DEMO_MODELS = ("logistic", "gru")
# A worker's exit codes (core.jobs.worker): 0 succeeded, 1 failed, 2 bad input, 3 cancelled,
# 75 refused: another process holds the run's worker.lock.
EXIT_SUCCEEDED, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_CANCELLED, EXIT_LOCKED = 0, 1, 2, 3, 75


def load_job_config(
    config: str | os.PathLike, overrides: Sequence[str] | None = None, data: str | os.PathLike | None = None
):
    """A config file (or a shipped config's name) with `-o` overrides and `--data`, validated."""
    from core.config import load_config

    return load_config(config, overrides=overrides or (), data=None if data is None else str(data))


def create_job(cfg, job: str, runs_dir: str | os.PathLike | None = None) -> RunDir:
    """Validate everything, then create the run directory (queued). Bad input leaves nothing."""
    from core.train.run import create_run

    return create_run(cfg, runs_root(runs_dir), job)


def launch(
    cfg,
    job: str,
    runs_dir: str | os.PathLike | None = None,
    *,
    target: str = "local",
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Create a run and start its worker detached, here or on host profile `target`:
    {"run_id", "path", "pid", "target"}."""
    if target != "local":
        from core.service import remote

        if target not in remote.target_names():
            raise InputError(f"unknown target {target!r}; targets: {', '.join(remote.target_names())}")
        return {**remote.launch(target, cfg, job, runs_dir, progress=progress), "target": target}
    run = create_job(cfg, job, runs_dir)
    return {"run_id": run.run_id, "path": str(run.path), "pid": start_detached(run), "target": target}


def start_detached(run: RunDir, *, resume: bool = False, parallel: int = 1) -> int:
    """A worker for `run` in its own session (it outlives the caller); its pid. `parallel`:
    how many workers the caller starts side by side (they split the cores)."""
    from core.jobs.launch import start_detached as start

    return start(run, resume=resume, parallel=parallel)


class Workers:
    """Workers run side by side in the foreground, their output lines merged.

    workers = Workers(runs)
    for i, line in workers.lines():   # line None: worker i's output ended
        ...
    codes = workers.wait()
    """

    def __init__(self, runs: Sequence[RunDir], *, resume: bool = False):
        """Take every run's worker lock (InputError naming a holder, and nothing started),
        check each resumes when `resume`, then start the workers, each handed its lock."""
        from core.jobs.launch import check_resumable, lock_run, start_foreground

        self.runs = list(runs)
        locks: list[RunLock | None] = []
        try:
            for run in self.runs:
                locks.append(lock_run(run, "synapse resume" if resume else "synapse"))
                if resume:
                    check_resumable(run, locked=True)
            self.procs: list[subprocess.Popen] = []
            for i, (run, lock) in enumerate(zip(self.runs, locks)):
                assert lock is not None
                self.procs.append(start_foreground(run, resume=resume, parallel=len(self.runs), lock=lock))
                locks[i] = None  # the worker has it now
        finally:
            for lock in locks:
                if lock is not None:
                    lock.release()
        self._lines: queue.Queue = queue.Queue()
        for i in range(len(self.procs)):
            threading.Thread(target=self._pump, args=(i,), daemon=True).start()
        self._open = len(self.procs)

    def _pump(self, i: int) -> None:
        for line in self.procs[i].stdout:
            self._lines.put((i, line.rstrip()))
        self._lines.put((i, None))

    def lines(self) -> Iterator[tuple[int, str | None]]:
        """(worker index, line) until every worker's output has ended; None marks one ending."""
        while (item := self.next_line()) is not None:
            yield item

    def next_line(self, timeout: float | None = None) -> tuple[int, str | None] | None:
        """The next (worker index, line) — line None when that worker's output ended — or None
        once every worker's output has ended. With `timeout`, (-1, None) when nothing came."""
        if not self._open:
            return None
        try:
            i, line = self._lines.get(timeout=timeout)
        except queue.Empty:
            return -1, None
        if line is None:
            self._open -= 1
        return i, line

    def stop(self) -> None:
        """Ask every worker to stop after its current epoch (each saves last.pt, ends cancelled)."""
        for proc in self.procs:
            proc.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        for proc in self.procs:
            proc.kill()

    def wait(self) -> list[int]:
        return [proc.wait() for proc in self.procs]


def outcome(run: RunDir) -> dict:
    """The run's latest evaluation: {"run_id", "path", "summary", "verdict"} (and the report)."""
    from core.train.artifacts import last_report

    report = last_report(run)
    return {
        "run_id": run.run_id,
        "path": str(run.path),
        "summary": report["summary"],
        "verdict": report["verdict"],
        "report": report,
    }


def cancel(run: RunDir) -> dict:
    """Stop a running run (SIGTERM: it saves last.pt and ends cancelled) or cancel a queued one."""
    from core.jobs.launch import cancel as cancel_worker
    from core.service import remote

    if remote.is_remote(run):
        return remote.cancel(run)
    st = cancel_worker(run)  # a queued run comes back cancelled; a running one as it was when signalled
    return {
        "run_id": run.run_id,
        "status": st.status,
        "message": "cancelled" if st.status == "cancelled" else "SIGTERM sent; it stops after its current epoch",
    }


def check_resumable(run: RunDir) -> RunStatus:
    """The run's status when it can resume (lost, cancelled or failed); else InputError saying why."""
    from core.jobs.launch import check_resumable as check

    return check(run)


def resume_detached(run: RunDir) -> dict:
    """Resume a run from last.pt as a new attempt, its worker detached (on the host it ran on):
    {"run_id", "pid", "attempt"}."""
    from core.service import remote

    if remote.is_remote(run):
        return remote.resume(run)
    from core.jobs.launch import resume_detached as resume

    st, pid = resume(run)  # under the run's worker lock: a racing second resume is refused, naming us
    return {"run_id": run.run_id, "pid": pid, "attempt": st.attempt + 1}


def reevaluate(
    run: RunDir,
    *,
    calibration: str | None = None,
    per_part: bool | None = None,
    ks: list[int] | None = None,
    overrides: Sequence[str] = (),
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Evaluate a finished run again (another calibration, other K) from its stored predictions.

    A look at the test window: recorded in the manifest. {"eval_id", "report", "test_touches"}.
    """
    from core.config import load_config
    from core.train.reevaluate import reevaluate as run_again

    extra = list(overrides)
    if calibration is not None:
        extra.append(f"calibration.method={calibration}")
    if per_part is not None:
        extra.append(f"calibration.per_part={'true' if per_part else 'false'}")
    if ks is not None:
        extra.append(f"eval.k={ks}")
    cfg = load_config(run.config_yaml, overrides=extra)
    return run_again(run, cfg, **({} if progress is None else {"progress": progress}))


def demo_runs(data: str | os.PathLike, runs_dir: str | os.PathLike | None = None) -> list[RunDir]:
    """The demo's runs, created and queued: one per DEMO_MODELS kind on `data`, each with every baseline."""
    return [create_job(load_job_config(kind, None, data), "train", runs_dir) for kind in DEMO_MODELS]


def runs_side_by_side() -> bool:
    """Whether this machine has the cores to run several workers at once (a core each)."""
    return (os.cpu_count() or 1) > 1


def parse_ks(text: str) -> list[int]:
    """`20..27` or `18,20,22` -> the pool sizes."""
    text = text.strip()
    if ".." in text:
        a, b = text.split("..", 1)
        if not (a.strip().isdigit() and b.strip().isdigit()):
            raise InputError(f"-k {text}: expected A..B or a comma list of integers")
        return list(range(int(a), int(b) + 1))
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items or not all(t.isdigit() for t in items):
        raise InputError(f"-k {text}: expected A..B or a comma list of integers")
    return [int(t) for t in items]


__all__ = [
    "DEMO_MODELS",
    "Workers",
    "cancel",
    "check_resumable",
    "create_job",
    "demo_runs",
    "launch",
    "load_job_config",
    "outcome",
    "parse_ks",
    "reevaluate",
    "resume_detached",
    "runs_side_by_side",
    "start_detached",
]
