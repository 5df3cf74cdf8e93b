"""The loop of one supervisor process (core.jobs.supervisor): reap finished workers, count
busy slots, claim and start the oldest queued runs that fit, exit when idle.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from collections.abc import Callable

from core.jobs.run_queue import (
    CLAIM_FILE,
    QUEUE_FILE,
    claim,
    queued_at,
    read_claim,
    read_json_file,
    write_json_file,
)
from core.jobs.supervisor.client import INFO_FILE, LOCK_FILE, SETTINGS_FILE, _env
from core.runs import (
    RUN_ID_RE,
    RunDir,
    RunStatus,
    process_alive,
    process_start_time,
    read_events,
    run_status,
    utc_now_ts,
)
from core.runs.lock import WORKER_LOCK, LockHeld, RunLock, acquire, holder

IDLE_GRACE_S = 30.0  # $SYNAPSE_SUPERVISOR_GRACE overrides the default
POLL_S = 0.5
CLAIM_SPAWN_GRACE_S = 15.0  # a claim with no worker recorded yet counts as starting for this long
EXIT_OK, EXIT_LOCKED = 0, 75
_MAX_CONSECUTIVE_ERRORS = 20


def default_parallel() -> int:
    return max(1, (os.cpu_count() or 1) // 2)


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

    def __init__(
        self,
        root: str | os.PathLike,
        parallel: int | None = None,
        *,
        grace: float = IDLE_GRACE_S,
        poll: float = POLL_S,
        use_lock: bool = True,
        launcher: Launcher | None = None,
        logger: logging.Logger | None = None,
    ):
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
        self._handing: RunLock | None = None  # the worker lock of the run being started, for its worker
        self._held_elsewhere: set[str] = set()  # queued runs whose worker lock someone else holds (logged once)
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
        write_json_file(
            self.root / INFO_FILE,
            {
                "pid": self._pid,
                "host": socket.gethostname(),
                "pid_started_at": self._pid_started_at,
                "parallel": self.parallel,
                "state": state,
                "root": str(self.root),
                "started": self._started_ts,
                "updated": utc_now_ts(),
            },
        )

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
        settings = read_json_file(path) if mtime is not None else None
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
        from core.jobs.launch import handing_down, worker_command

        env = _env({"SYNAPSE_PARALLEL_WORKERS": str(parallel)})
        # The worker adopts the lock `_start` took; outside `_start` it takes its own.
        popen_lock = handing_down(self._handing, env) if self._handing is not None else {"env": env}
        with open(run.path / "worker.log", "ab") as log:
            return subprocess.Popen(
                worker_command(run),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                cwd=cwd,
                **popen_lock,
            )

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
                    candidates.append((queued_at(run, events), run.run_id, run, events))
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
        for _, _run_id, run, _events in candidates:
            if busy >= self.parallel or self.stop_requested:
                break
            if self._start(run, busy + 1):
                busy += 1
                started += 1
        return busy, len(candidates) - started

    def _start(self, run: RunDir, slot: int) -> bool:
        # The worker lock before the claim: a run someone else's worker holds is left unclaimed
        # (and looked at again later), never claimed and then failed as "never started".
        try:
            # The probe first: it never waits, where `acquire` retries a held lock for a moment.
            who = holder(run.path / WORKER_LOCK)
            if who is not None:
                raise LockHeld(run.path / WORKER_LOCK, who)
            lock = acquire(run.path / WORKER_LOCK, "supervisor")
        except LockHeld as exc:
            if run.run_id not in self._held_elsewhere:
                self._held_elsewhere.add(run.run_id)
                self.log.warning("%s: not starting it: %s", run.run_id, exc)
            return False
        except FileNotFoundError:
            return False  # deleted under us
        with lock:  # closed once the worker holds its own copy
            self._handing = lock
            try:
                return self._claim_and_start(run, slot)
            finally:
                self._handing = None

    def _claim_and_start(self, run: RunDir, slot: int) -> bool:
        if not claim(run, supervisor_pid=self._pid, supervisor_started_at=self._pid_started_at):
            return False  # another supervisor got there first
        st = run_status(read_events(run.events_jsonl))
        if st.status != "queued":  # cancelled (or started) between our look and the claim
            self.log.info("%s: %s by the time it was claimed; not starting it", run.run_id, st.status)
            return False
        queue = read_json_file(run.path / QUEUE_FILE) or {}
        cwd = queue.get("cwd") if isinstance(queue, dict) else None
        if not cwd or not os.path.isdir(cwd):
            cwd = os.getcwd()
        with run.event_writer() as events:
            events.log(
                "info",
                f"started by supervisor pid {self._pid} (parallel {self.parallel})",
                supervisor_pid=self._pid,
                supervisor_host=socket.gethostname(),
                parallel=self.parallel,
            )
        try:
            proc = self.launcher(run, self.parallel, cwd)
        except Exception as exc:
            self._fail_unstarted(run, f"could not start the worker: {type(exc).__name__}: {exc}")
            self.finished.add(run.run_id)
            return False
        self.children[run.run_id] = _Child(run, proc)
        self.started.append(run.run_id)
        info = read_claim(run) or {}
        info.update(
            worker_pid=proc.pid,
            worker_started_at=process_start_time(proc.pid) if isinstance(proc.pid, int) else None,
            cwd=cwd,
        )
        write_json_file(run.path / CLAIM_FILE, info)  # replaced atomically: the file never disappears
        self.log.info("%s: started worker pid %s in %s (slot %d of %d)", run.run_id, proc.pid, cwd, slot, self.parallel)
        return True

    # -- main loop
    def run(self) -> int:
        if not self.acquire():
            holder = read_json_file(self.root / INFO_FILE) or {}
            self.log.info("another supervisor (pid %s) holds %s; exiting", holder.get("pid"), self.root / LOCK_FILE)
            return EXIT_LOCKED
        self._started_ts = utc_now_ts()
        try:
            self._refresh_settings()
            self.publish()
            self.log.info(
                "supervisor pid %s up for %s, parallel %s, idle grace %.1f s",
                self._pid,
                self.root,
                self.parallel,
                self.grace,
            )
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
                    time.sleep(min(30.0, self.poll * 2**errors))
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
