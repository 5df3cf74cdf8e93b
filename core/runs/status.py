"""Run status from the event log, by the rules of docs/ARCHITECTURE.md ("Run status").

`STATUSES` is the one vocabulary of run statuses; `FINISHED_STATUSES` the ones a
`run_finished` event may carry, `ACTIVE_STATUSES` the ones that may still change.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import datetime, UTC
from pathlib import Path
from typing import Any
from collections.abc import Iterable, Mapping

from core.runs.events import EVENTS_JSONL, FINISHED_STATUSES, parse_ts, read_events
from core.runs.lock import FOLLOW_LOCK, WORKER_LOCK, holder
from core.runs.process import process_alive

STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")
ACTIVE_STATUSES = ("queued", "running")
# Statuses that change no more without someone acting (`synapse resume` reopens them).
TERMINAL_STATUSES = (*FINISHED_STATUSES, "lost")
RESUMABLE_STATUSES = ("lost", "cancelled", "failed")
# How a status reads after a run's name: "run X has succeeded", not "run X is succeeded".
_STATUS_PHRASES = {
    "queued": "is queued",
    "running": "is running",
    "succeeded": "has succeeded",
    "failed": "has failed",
    "cancelled": "was cancelled",
    "lost": "was lost",
}


def status_phrase(status: str | None) -> str:
    """`status` as a predicate: "has succeeded", "is running", "was cancelled"."""
    return _STATUS_PHRASES.get(status or "", f"is {status or 'not read yet'}")


HEARTBEAT_TIMEOUT_S = 30.0
# A remote run's mirror (docs/ARCHITECTURE.md, "Remote runs"): where it runs, and its follower's state.
REMOTE_JSON = "remote.json"
FOLLOW_JSON = "follow.json"


# --------------------------------------------------------------------------- status


@dataclass(frozen=True)
class RunStatus:
    status: str  # queued | running | succeeded | failed | cancelled | lost
    attempt: int = 0  # 0 while queued; the attempt the last run_started opened
    started: datetime | None = None  # ts of that run_started
    finished: datetime | None = None  # ts of the run_finished that closed it
    last_heartbeat: datetime | None = None  # last heartbeat of this attempt
    last_event: datetime | None = None  # newest ts of any event of this attempt
    error: str | None = None
    host: str | None = None
    pid: int | None = None
    run_id: str | None = None
    events: int = field(default=0)  # events in the log
    link_down_since: datetime | None = None  # a remote run whose follower has lost the link since then
    # A lost run whose log says it finished its evaluation (an `evaluated` event after its last
    # epoch) but lacks the run_finished line: a damaged log, not a lost worker. `error` says so.
    damaged_log: bool = False

    @property
    def done(self) -> bool:
        return self.status in FINISHED_STATUSES

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_STATUSES


def _as_datetime(now: datetime | float | None) -> datetime:
    if now is None:
        return datetime.now(UTC)
    if isinstance(now, (int, float)):
        return datetime.fromtimestamp(now, UTC)
    return now if now.tzinfo is not None else now.replace(tzinfo=UTC)


def run_status(
    events: Iterable[Mapping[str, Any]],
    now: datetime | float | None = None,
    *,
    remote: bool = False,
    heartbeat_timeout_s: float = HEARTBEAT_TIMEOUT_S,
    link_down_since: datetime | None = None,
    worker_lock: str | os.PathLike | None = None,
    follow_lock: str | os.PathLike | None = None,
) -> RunStatus:
    """The status of a run from its event log (docs/ARCHITECTURE.md, "Run status").

    The last `run_started` opens the current attempt; a `run_finished` after it gives the
    status. Without a `run_started` the run is `queued` (or cancelled/failed, if a
    `run_finished` says so before it ever started). Otherwise `running` when the process
    lives (same host, pid and start time; skipped with `remote=True`) or the newest
    event of the attempt (normally its heartbeat) is younger than 30 s; else `lost` — except
    a remote run with a live follower: one that holds `follow_lock` (the mirror's
    follow.lock, probed only when the run would otherwise read lost), or says the link is
    down (`link_down_since`). A follower stops only after the worker has ended, so while it
    lives any silence is the link's, not the worker's, and the run stays `running`.

    A lost run whose attempt evaluated after its last epoch (an `evaluated` event without
    `eval_id`) finished its work: its log lost the run_finished line. It stays `lost`, with
    `damaged_log` and the error saying so (resume refuses it: it would train again).

    `worker_lock` (a local run's `worker.lock`): while a live process holds it the run is
    `running` whatever its heartbeat says — a stalled heartbeat is not a lost worker. It is
    probed only when the run would otherwise read lost, so listings stay cheap.
    """
    events = [e for e in events if isinstance(e, Mapping)]
    start_idx = None
    n_started = 0
    for i, e in enumerate(events):
        if e.get("type") == "run_started":
            start_idx, n_started = i, n_started + 1
    attempt_events = events if start_idx is None else events[start_idx:]

    finished_ev = evaluated_ev = None
    last_hb = last_ev = None
    for e in attempt_events:
        ts = parse_ts(e.get("ts"))
        if ts is not None:
            last_ev = ts if last_ev is None or ts > last_ev else last_ev
        t = e.get("type")
        if t == "heartbeat" and ts is not None:
            last_hb = ts if last_hb is None or ts > last_hb else last_hb
        elif t == "run_finished" and finished_ev is None:
            finished_ev = e
        elif t == "epoch":
            evaluated_ev = None  # an evaluation counts only after the last epoch
        elif t == "evaluated" and e.get("eval_id") is None and finished_ev is None:
            evaluated_ev = e  # the run's own evaluation (not a later `synapse eval`)

    started = events[start_idx] if start_idx is not None else None
    attempt = 0
    if started is not None:
        a = started.get("attempt")
        attempt = a if isinstance(a, int) and not isinstance(a, bool) and a >= 1 else n_started
    pid = started.get("pid") if started is not None else None
    common: dict[str, Any] = dict(
        attempt=attempt,
        started=parse_ts(started.get("ts")) if started is not None else None,
        last_heartbeat=last_hb,
        last_event=last_ev,
        host=started.get("host") if started is not None else None,
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        run_id=started.get("run_id") if started is not None else None,
        events=len(events),
    )

    if finished_ev is not None:
        status = finished_ev.get("status")
        error = finished_ev.get("error")
        error = None if error is None else str(error)
        if status not in FINISHED_STATUSES:
            error = f"run_finished with unknown status {status!r}" + (f": {error}" if error else "")
            status = "failed"
        return RunStatus(status, finished=parse_ts(finished_ev.get("ts")), error=error, **common)
    if started is None:
        return RunStatus("queued", **common)
    if not remote and process_alive(started.get("host"), started.get("pid"), started.get("pid_started_at")):
        return RunStatus("running", **common)
    if last_ev is not None and (_as_datetime(now) - last_ev).total_seconds() < heartbeat_timeout_s:
        return RunStatus("running", **common)
    if not remote and worker_lock is not None and holder(worker_lock) is not None:
        return RunStatus("running", **common)
    if remote and (link_down_since is not None or (follow_lock is not None and holder(follow_lock) is not None)):
        return RunStatus("running", link_down_since=link_down_since, **common)
    if evaluated_ev is not None:
        when = parse_ts(evaluated_ev.get("ts"))
        return RunStatus("lost", error=damaged_log_error(when), damaged_log=True, **common)
    return RunStatus("lost", **common)


DAMAGED_LOG = "event log damaged"  # how the note starts (readers that only have the error text)


def damaged_log_error(when: datetime | None) -> str:
    """The note of a lost run whose log says it finished (docs/ARCHITECTURE.md, "Run status")."""
    at = when.strftime("%Y-%m-%dT%H:%M:%SZ") if when is not None else "?"
    return f"{DAMAGED_LOG}: the run finished (report.json at {at}) but its run_finished line is missing"


def link_down_since(run_dir: str | os.PathLike) -> datetime | None:
    """When a remote run's follower lost the link, if it did and is alive to retry; else None."""
    import json

    try:
        state = json.loads((Path(run_dir) / FOLLOW_JSON).read_text(encoding="utf-8"))
    except (OSError, ValueError, RecursionError):  # RecursionError: nested too deeply
        return None
    if not isinstance(state, dict) or state.get("link") != "down":
        return None
    if not follower_alive(run_dir):
        return None  # nobody is retrying: silence then means what it means for any run
    return parse_ts(state.get("since"))


def follower_alive(run_dir: str | os.PathLike) -> bool:
    """Whether a follower works on this mirror now. It holds the mirror's follow.lock for its
    whole life and the kernel drops the lock with the process, so a killed follower (or the
    follow.json it left behind) never reads as alive."""
    return holder(Path(run_dir) / FOLLOW_LOCK) is not None


def status_of(
    run_dir: str | os.PathLike, now: datetime | float | None = None, *, remote: bool = False, probe_lock: bool = True
) -> RunStatus:
    """`run_status` of a run directory's `events.jsonl` (a `RunDir` or a path); a remote
    run's mirror (it holds remote.json) is judged as remote, with its follower's link state.

    A local run's `worker.lock` is probed unless `probe_lock` is False (a caller that holds
    the lock itself would otherwise read its own hold as a live worker)."""
    path = Path(run_dir)
    remote = remote or (path / REMOTE_JSON).is_file()
    st = run_status(
        read_events(path / EVENTS_JSONL),
        now,
        remote=remote,
        link_down_since=link_down_since(path) if remote else None,
        worker_lock=path / WORKER_LOCK if probe_lock and not remote else None,
        follow_lock=path / FOLLOW_LOCK if remote else None,
    )
    if st.damaged_log:  # the log says it evaluated: the directory must hold that report too
        written = _report_written(path)
        if written is None or (st.started is not None and written < st.started):
            return replace(st, error=None, damaged_log=False)
    return st


def _report_written(run_dir: Path) -> datetime | None:
    """When report.json was written, if it holds an evaluation's summary; else None."""
    import json

    report = run_dir / "report.json"
    try:
        data = json.loads(report.read_text(encoding="utf-8"))
        mtime = report.stat().st_mtime
    except (OSError, ValueError, RecursionError):
        return None
    if not (isinstance(data, dict) and isinstance(data.get("summary"), dict)):
        return None
    return datetime.fromtimestamp(mtime, UTC)
