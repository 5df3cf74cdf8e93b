"""Runs: a run directory, its event log and its status (docs/ARCHITECTURE.md, "Runs").

    process  who a process is (host, pid, boot id + start time)
    events   events.jsonl: the append-only writer, the offset-following reader, timestamps
    status   the status of a run from its event log; the one vocabulary of statuses
    layout   run ids, the run directory and its files, atomic writes, test touches

Imports go one way: layout -> status -> events -> process.
"""

from core.runs.events import (
    EVENT_TYPES,
    FINISHED_STATUSES,
    EventReader,
    EventWriter,
    format_ts,
    parse_ts,
    read_events,
    utc_now_ts,
)
from core.runs.layout import (
    NAME_RE,
    RUN_ID_RE,
    RunDir,
    RunDirInfo,
    is_run_id,
    list_run_dirs,
    new_run_id,
    record_test_touch,
    runs_root,
)
from core.runs.process import process_alive, process_start_time
from core.runs.status import (
    FOLLOW_JSON,
    HEARTBEAT_TIMEOUT_S,
    REMOTE_JSON,
    RESUMABLE_STATUSES,
    STATUSES,
    TERMINAL_STATUSES,
    RunStatus,
    follower_alive,
    link_down_since,
    run_status,
    status_of,
)

__all__ = [
    "EVENT_TYPES",
    "FINISHED_STATUSES",
    "FOLLOW_JSON",
    "HEARTBEAT_TIMEOUT_S",
    "REMOTE_JSON",
    "follower_alive",
    "link_down_since",
    "NAME_RE",
    "RESUMABLE_STATUSES",
    "RUN_ID_RE",
    "STATUSES",
    "TERMINAL_STATUSES",
    "EventReader",
    "EventWriter",
    "RunDir",
    "RunDirInfo",
    "RunStatus",
    "format_ts",
    "is_run_id",
    "list_run_dirs",
    "new_run_id",
    "parse_ts",
    "process_alive",
    "process_start_time",
    "read_events",
    "record_test_touch",
    "run_status",
    "runs_root",
    "status_of",
    "utc_now_ts",
]
