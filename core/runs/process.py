"""Process identity: a process is (host, pid, boot id + start time), because a pid alone is reused.

The status rules (`core.runs.status`) call a run `running` only while the process that
started its attempt is alive *and* is still the same process.
"""

from __future__ import annotations

import functools
import socket
from typing import Any


@functools.lru_cache(maxsize=1)
def _boot_id() -> str:
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            return fh.read().strip()
    except OSError:
        return "noboot"


def _proc_stat(pid: int) -> tuple[str, str] | None:
    """(state, starttime ticks) from /proc/<pid>/stat, or None if there is no such process."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return None
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read()
    except OSError:
        return None
    # The command name (field 2) is in parentheses and may itself hold ") ": split after the last one.
    rest = data[data.rfind(b")") + 2 :].split()
    if len(rest) < 20:
        return None
    return rest[0].decode("ascii", "replace"), rest[19].decode("ascii")  # fields 3 and 22


def process_start_time(pid: int) -> str | None:
    """`<boot id>:<start time in clock ticks since boot>` of `pid`, None if no such process.

    Equal values mean the same process: a reboot changes the boot id, and a reused pid
    has a different start time.
    """
    st = _proc_stat(pid)
    return None if st is None else f"{_boot_id()}:{st[1]}"


def process_alive(host: str | None, pid: Any, started_at: str | None) -> bool:
    """True only when `pid` on this host runs now and is the process that started at `started_at`."""
    if not host or host != socket.gethostname() or not started_at:
        return False
    if not isinstance(pid, int) or isinstance(pid, bool):
        return False
    st = _proc_stat(pid)
    if st is None or st[0] in ("Z", "X"):  # gone, or a zombie nobody has reaped yet
        return False
    return f"{_boot_id()}:{st[1]}" == started_at
