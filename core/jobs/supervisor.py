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
"""
from __future__ import annotations

import argparse
import contextlib
import errno
import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable

from core.fsutil import atomic_write_text
from core.runs import (
    RUN_ID_RE, RunDir, RunStatus, format_ts, process_alive, process_start_time, read_events, run_status,
)

LOCK_FILE = "supervisor.lock"
INFO_FILE = "supervisor.json"
SETTINGS_FILE = "supervisor_settings.json"
LOG_FILE = "supervisor.log"
QUEUE_FILE = "queue.json"  # in a run dir: submitted to the supervisor
CLAIM_FILE = "claim.json"  # in a run dir: a supervisor started (is starting) it — created O_EXCL

IDLE_GRACE_S = 30.0  # $SYNAPSE_SUPERVISOR_GRACE overrides the default
POLL_S = 0.5
CLAIM_SPAWN_GRACE_S = 15.0  # a claim with no worker recorded yet counts as starting for this long
EXIT_OK, EXIT_LOCKED = 0, 75
_MAX_CONSECUTIVE_ERRORS = 20
_REPO_ROOT = Path(__file__).resolve().parents[2]


def default_parallel() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


def _now_ts() -> str:
    return format_ts(datetime.now(timezone.utc))


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_json(path: Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# --------------------------------------------------------------------------- submitting runs


def enqueue(run: RunDir, *, cwd: str | os.PathLike | None = None) -> Path:
    """Hand a queued run to the supervisor of its root (which `ensure_supervisor` starts).

    `cwd` is where the worker runs (default: this process's cwd), so data paths that the
    config gives relative to it still resolve.
    """
    path = run.path / QUEUE_FILE
    _write_json(path, {"ts": _now_ts(), "cwd": os.path.abspath(cwd or os.getcwd()), "by_pid": os.getpid()})
    return path


def submit(cfg, root: str | os.PathLike, job: str, *, cwd: str | os.PathLike | None = None) -> RunDir:
    """`core.pipeline.create_run` (validates everything first) and `enqueue`."""
    from core.pipeline import create_run

    run = create_run(cfg, Path(root), job)
    enqueue(run, cwd=cwd)
    return run


def claim(run: RunDir, **info: Any) -> bool:
    """Atomically claim a run for starting: True for exactly one caller, ever."""
    try:
        fd = os.open(run.path / CLAIM_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    except (FileExistsError, FileNotFoundError):  # taken, or the run dir is gone
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump({"claimed": _now_ts(), "host": socket.gethostname(), **info}, fh)
    return True


def read_claim(run: RunDir) -> dict | None:
    """The claim of a run: None when unclaimed; {} while the claimer is still writing it."""
    path = run.path / CLAIM_FILE
    if not path.exists():
        return None
    data = _read_json(path)
    return data if isinstance(data, dict) else {}


def is_enqueued(run: RunDir) -> bool:
    return (run.path / QUEUE_FILE).exists()


def _queued_at(run: RunDir, events: list[dict]) -> str:
    for e in events:
        if e.get("type") == "queued":
            return str(e.get("ts", ""))
    return ""


# --------------------------------------------------------------------------- who is the supervisor


def supervisor_info(root: str | os.PathLike, *, include_stopping: bool = False) -> dict | None:
    """`supervisor.json` of the live supervisor of `root`; None when there is none (or it
    is on its way out, unless `include_stopping`)."""
    info = _read_json(Path(root) / INFO_FILE)
    if not isinstance(info, dict):
        return None
    if not process_alive(info.get("host"), info.get("pid"), info.get("pid_started_at")):
        return None
    if info.get("state") == "stopping" and not include_stopping:
        return None
    return info


def request_parallel(root: str | os.PathLike, parallel: int) -> None:
    """Ask the (live or next) supervisor of `root` to run up to `parallel` workers."""
    if parallel < 1:
        raise ValueError("parallel must be >= 1")
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _write_json(root / SETTINGS_FILE, {"parallel": int(parallel), "ts": _now_ts()})


def supervisor_command(root: str | os.PathLike, parallel: int | None = None, *, grace: float | None = None,
                       poll: float | None = None) -> list[str]:
    cmd = [sys.executable, "-m", "core.jobs.supervisor", os.path.abspath(root)]
    if parallel is not None:
        cmd += ["--parallel", str(parallel)]
    if grace is not None:
        cmd += ["--grace", str(grace)]
    if poll is not None:
        cmd += ["--poll", str(poll)]
    return cmd


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    root = str(_REPO_ROOT)
    env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.update(extra or {})
    return env


def _spawn_supervisor(root: Path, parallel: int | None, grace: float | None, poll: float | None) -> subprocess.Popen:
    log = open(root / LOG_FILE, "ab")  # tracebacks that escape logging land here too
    try:
        return subprocess.Popen(supervisor_command(root, parallel, grace=grace, poll=poll),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, env=_env(), cwd=root)
    finally:
        log.close()


def ensure_supervisor(root: str | os.PathLike, parallel: int | None = None, *, grace: float | None = None,
                      poll: float | None = None, timeout: float = 20.0) -> int:
    """The pid of the live supervisor of `root`, starting one (detached) if none is alive.

    With `parallel`, a live supervisor is asked to use that limit from now on.
    """
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    if parallel is not None:
        request_parallel(root, parallel)
    info = supervisor_info(root)
    if info is not None:
        return int(info["pid"])
    deadline = time.monotonic() + timeout
    proc: subprocess.Popen | None = None
    while True:
        if proc is None or proc.poll() is not None:
            # None yet, or it found the lock held by one on its way out (or one just
            # starting): try again until a live, not-stopping supervisor shows itself.
            proc = _spawn_supervisor(root, parallel, grace, poll)
        time.sleep(0.05)
        info = supervisor_info(root)
        if info is not None:
            return int(info["pid"])
        if time.monotonic() > deadline:
            tail = ""
            with contextlib.suppress(OSError):
                tail = (root / LOG_FILE).read_text(errors="replace")[-2000:]
            raise RuntimeError(f"no supervisor came up for {root} in {timeout:.0f} s; {root / LOG_FILE} ends:\n{tail}")


# --------------------------------------------------------------------------- the supervisor


def _tail(path: Path, n: int = 800) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - n))
            return fh.read().decode("utf-8", "replace").strip()
    except OSError:
        return ""


Launcher = Callable[[RunDir, int, str], Any]  # (run, parallel, cwd) -> an object with .pid and .poll()


@dataclass
class _Child:
    run: RunDir
    proc: Any


class Supervisor:
    """The loop of one supervisor process; `tick()` is one pass (tests drive it directly)."""

    def __init__(self, root: str | os.PathLike, parallel: int | None = None, *, grace: float = IDLE_GRACE_S,
                 poll: float = POLL_S, use_lock: bool = True, launcher: Launcher | None = None,
                 logger: logging.Logger | None = None):
        self.root = Path(root).resolve()
        self.parallel = int(parallel) if parallel is not None else None
        self.grace = float(grace)
        self.poll = float(poll)
        self.use_lock = use_lock
        self.launcher = launcher or self._launch_worker
        self.log = logger or logging.getLogger("synapse.supervisor")
        self.children: dict[str, _Child] = {}
        self.finished: set[str] = set()  # run ids that can never be queued again
        self.started: list[str] = []  # run ids this supervisor started, in order
        self.stop_requested = False
        self._lock_fd: int | None = None
        self._settings_mtime: tuple | None = None
        self._settings_baseline_pending = True  # the first look only records the file's mtime
        self._started_ts = ""
        self._pid = os.getpid()
        self._pid_started_at = process_start_time(self._pid)

    # -- lock and identity
    def acquire(self) -> bool:
        """Take the root's lock (False when another supervisor holds it)."""
        self.root.mkdir(parents=True, exist_ok=True)
        if not self.use_lock:
            return True
        fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(fd)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return False
            raise
        self._lock_fd = fd
        return True

    def release(self) -> None:
        if self._lock_fd is not None:
            fd, self._lock_fd = self._lock_fd, None
            os.close(fd)  # closing the descriptor drops the flock

    def publish(self, state: str = "running") -> None:
        if not self.use_lock:
            return  # only the lock holder speaks for the root
        _write_json(self.root / INFO_FILE, {
            "pid": self._pid, "host": socket.gethostname(), "pid_started_at": self._pid_started_at,
            "parallel": self.parallel, "state": state, "root": str(self.root), "started": self._started_ts,
            "updated": _now_ts(),
        })

    # -- settings
    def _refresh_settings(self) -> None:
        """Adopt a `supervisor_settings.json` written since we started (or, without
        --parallel, the one there at start; else the default)."""
        path = self.root / SETTINGS_FILE
        try:
            st = path.stat()
            mtime: tuple | None = (st.st_ino, st.st_mtime_ns)  # atomic replaces change the inode
        except FileNotFoundError:
            mtime = None
        first = self._settings_baseline_pending
        if first:
            self._settings_baseline_pending = False
            self._settings_mtime = mtime
            if self.parallel is not None:
                return  # --parallel given: a settings file older than us does not override it
        elif mtime == self._settings_mtime:
            return
        self._settings_mtime = mtime
        settings = _read_json(path) if mtime is not None else None
        p = settings.get("parallel") if isinstance(settings, dict) else None
        if not (isinstance(p, int) and not isinstance(p, bool) and p >= 1):
            if self.parallel is None:
                self.parallel = default_parallel()
            return
        if p != self.parallel:
            if not first:
                self.log.info("parallel %s -> %s (%s)", self.parallel, p, SETTINGS_FILE)
            self.parallel = p
            if not first:
                self.publish()

    # -- workers
    def _launch_worker(self, run: RunDir, parallel: int, cwd: str) -> subprocess.Popen:
        from core.jobs.launch import worker_command

        log = open(run.path / "worker.log", "ab")
        try:
            return subprocess.Popen(
                worker_command(run), stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, cwd=cwd, env=_env({"SYNAPSE_PARALLEL_WORKERS": str(parallel)}))
        finally:
            log.close()

    def _fail_unstarted(self, run: RunDir, why: str) -> None:
        if not run.path.is_dir():
            return  # deleted under us: writing an event would recreate it
        tail = _tail(run.path / "worker.log")
        error = why + (f"; worker.log ends: {tail}" if tail else "")
        with run.event_writer() as events:
            events.log("error", f"supervisor pid {self._pid}: {error}", supervisor_pid=self._pid)
            events.run_finished("failed", error=error)
        self.log.warning("%s: %s", run.run_id, why)

    def _reap(self) -> None:
        for run_id, child in list(self.children.items()):
            rc = child.proc.poll()
            if rc is None:
                continue
            del self.children[run_id]
            st = run_status(read_events(child.run.events_jsonl))
            self.log.info("%s: worker pid %s exited with code %s (%s)", run_id, child.proc.pid, rc, st.status)
            if st.status == "queued":
                self._fail_unstarted(child.run, f"worker exited with code {rc} before the run started")

    def _scan(self) -> list[RunDir]:
        out = []
        try:
            it = os.scandir(self.root)
        except FileNotFoundError:
            return out
        with it:
            for entry in it:
                if entry.name in self.finished or not RUN_ID_RE.match(entry.name):
                    continue
                if not os.path.exists(os.path.join(entry.path, QUEUE_FILE)):
                    continue
                out.append(RunDir(Path(entry.path)))
        return out

    def _claim_busy(self, run: RunDir, st: RunStatus, claim_info: dict) -> bool | None:
        """Whether a run claimed by someone else occupies a slot (None: its worker died unstarted)."""
        if st.status == "running":
            return True
        wpid, wstart = claim_info.get("worker_pid"), claim_info.get("worker_started_at")
        if wpid is not None:
            return True if process_alive(claim_info.get("host"), wpid, wstart) else None
        try:  # claimed, no worker recorded yet: its claimer is between claim and spawn
            age = time.time() - (run.path / CLAIM_FILE).stat().st_mtime
        except FileNotFoundError:
            return False
        sup = claim_info.get("supervisor_pid")
        if sup is not None and not process_alive(claim_info.get("host"), sup, claim_info.get("supervisor_started_at")):
            return None if age > 1.0 else True
        return True if age < CLAIM_SPAWN_GRACE_S else None

    def tick(self) -> tuple[int, int]:
        """One pass: reap, count busy slots, start what fits. Returns (busy, still queued)."""
        self._refresh_settings()
        self._reap()
        busy = 0
        candidates: list[tuple[str, str, RunDir, dict]] = []
        for run in self._scan():
            events = read_events(run.events_jsonl)
            if run.run_id in self.children:  # ours: a slot until its process has exited
                busy += 1
                continue
            st = run_status(events)
            if st.done or st.status == "lost":
                self.finished.add(run.run_id)
                continue
            claim_info = read_claim(run)
            if claim_info is None:
                if st.status == "queued":
                    candidates.append((_queued_at(run, events), run.run_id, run, events))
                # running without a claim: someone else started it (synapse resume); not our slot
            elif st.status in ("queued", "running"):
                b = self._claim_busy(run, st, claim_info)
                if b is None and st.status == "queued":
                    self._fail_unstarted(run, "its worker is gone and the run never started")
                    self.finished.add(run.run_id)
                elif b:
                    busy += 1
        candidates.sort(key=lambda c: (c[0], c[1]))
        started = 0
        for _, run_id, run, _events in candidates:
            if busy >= self.parallel or self.stop_requested:
                break
            if self._start(run, busy + 1):
                busy += 1
                started += 1
        return busy, len(candidates) - started

    def _start(self, run: RunDir, slot: int) -> bool:
        if not claim(run, supervisor_pid=self._pid, supervisor_started_at=self._pid_started_at):
            return False  # another supervisor got there first
        st = run_status(read_events(run.events_jsonl))
        if st.status != "queued":  # cancelled (or started) between our look and the claim
            self.log.info("%s: %s by the time it was claimed; not starting it", run.run_id, st.status)
            return False
        queue = _read_json(run.path / QUEUE_FILE) or {}
        cwd = queue.get("cwd") if isinstance(queue, dict) else None
        if not cwd or not os.path.isdir(cwd):
            cwd = os.getcwd()
        with run.event_writer() as events:
            events.log("info", f"started by supervisor pid {self._pid} (parallel {self.parallel})",
                       supervisor_pid=self._pid, supervisor_host=socket.gethostname(), parallel=self.parallel)
        try:
            proc = self.launcher(run, self.parallel, cwd)
        except Exception as exc:
            self._fail_unstarted(run, f"could not start the worker: {type(exc).__name__}: {exc}")
            self.finished.add(run.run_id)
            return False
        self.children[run.run_id] = _Child(run, proc)
        self.started.append(run.run_id)
        info = read_claim(run) or {}
        info.update(worker_pid=proc.pid, worker_started_at=process_start_time(proc.pid) if isinstance(proc.pid, int) else None,
                    cwd=cwd)
        _write_json(run.path / CLAIM_FILE, info)  # replaced atomically: the file never disappears
        self.log.info("%s: started worker pid %s in %s (slot %d of %d)", run.run_id, proc.pid, cwd, slot, self.parallel)
        return True

    # -- main loop
    def run(self) -> int:
        if not self.acquire():
            holder = _read_json(self.root / INFO_FILE) or {}
            self.log.info("another supervisor (pid %s) holds %s; exiting", holder.get("pid"), self.root / LOCK_FILE)
            return EXIT_LOCKED
        self._started_ts = _now_ts()
        try:
            self._refresh_settings()
            self.publish()
            self.log.info("supervisor pid %s up for %s, parallel %s, idle grace %.1f s",
                          self._pid, self.root, self.parallel, self.grace)
            idle_since: float | None = None
            errors = 0
            while not self.stop_requested:
                try:
                    busy, queued = self.tick()
                    errors = 0
                except Exception:
                    errors += 1
                    self.log.exception("tick failed (%d in a row)", errors)
                    if errors >= _MAX_CONSECUTIVE_ERRORS:
                        return 1
                    time.sleep(min(30.0, self.poll * 2 ** errors))
                    continue
                if busy or queued or self.children:
                    idle_since = None
                else:
                    now = time.monotonic()
                    idle_since = idle_since or now
                    if now - idle_since >= self.grace and self._confirm_idle():
                        self.log.info("nothing queued or running for %.1f s; exiting", self.grace)
                        break
                    if now - idle_since >= self.grace:
                        idle_since = None  # work arrived while stopping
                time.sleep(self.poll)
            if self.stop_requested:
                self.log.info("stopping on request; %d worker(s) keep running", len(self.children))
            return EXIT_OK
        finally:
            self.release()

    def _confirm_idle(self) -> bool:
        """Say we are stopping, then look once more: a run enqueued before an
        `ensure_supervisor` read our state is seen here; one after, starts a new supervisor."""
        self.publish("stopping")
        busy, queued = self.tick()
        if busy or queued or self.children:
            self.publish("running")
            return False
        return True


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
    parser.add_argument("--parallel", type=int, default=None,
                        help=f"concurrent workers (default: {SETTINGS_FILE}, else cores // 2 = {default_parallel()})")
    parser.add_argument("--grace", type=float, default=_default_grace(),
                        help="exit after this many idle seconds (default: $SYNAPSE_SUPERVISOR_GRACE, else 30)")
    parser.add_argument("--poll", type=float, default=POLL_S, help="seconds between passes")
    parser.add_argument("--no-lock", action="store_true", help=argparse.SUPPRESS)  # tests: race without the lock
    args = parser.parse_args(argv)
    if args.parallel is not None and args.parallel < 1:
        parser.error("--parallel must be >= 1")
    root = args.root.resolve()
    sup = Supervisor(root, args.parallel, grace=args.grace, poll=args.poll, use_lock=not args.no_lock,
                     logger=_setup_logging(root))

    def on_signal(signum, frame):
        sup.stop_requested = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return sup.run()


if __name__ == "__main__":
    sys.exit(main())
