"""The supervisor: one process per runs root that starts queued runs as slots free.

    client  find, start and talk to a runs root's supervisor (`ensure_supervisor`)
    loop    the supervisor itself: claim exactly once, start workers, watch them
    main    `python -m core.jobs.supervisor RUNS_ROOT [--parallel N]`

Submitting a run to it (`enqueue`, `submit`) and claiming one are in core.jobs.run_queue.
"""

from core.jobs.run_queue import CLAIM_FILE, claim, enqueue, read_claim, submit
from core.jobs.supervisor.client import (
    LOG_FILE,
    ensure_supervisor,
    request_parallel,
    supervisor_command,
    supervisor_info,
)
from core.jobs.supervisor.loop import EXIT_LOCKED, Supervisor, default_parallel

__all__ = [
    "CLAIM_FILE",
    "EXIT_LOCKED",
    "LOG_FILE",
    "Supervisor",
    "claim",
    "default_parallel",
    "enqueue",
    "ensure_supervisor",
    "read_claim",
    "request_parallel",
    "submit",
    "supervisor_command",
    "supervisor_info",
]
