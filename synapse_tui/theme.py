"""How the front ends colour things: one style per run status, for the CLI's tables and the dashboard."""

from core.runs import STATUSES

STATUS_STYLE = {
    "queued": "dim",
    "running": "bold cyan",
    "succeeded": "green",
    "failed": "bold red",
    "cancelled": "yellow",
    "lost": "magenta",
}
assert set(STATUS_STYLE) == set(STATUSES), "a status without a style"
