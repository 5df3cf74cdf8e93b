"""Finding, steering and starting the supervisor of a runs root (core.jobs.supervisor).

`supervisor_info(root)` says who the live supervisor is (`<root>/supervisor.json`),
`request_parallel` changes its limit (`<root>/supervisor_settings.json`), and
`ensure_supervisor` starts one, detached in its own session, when none is alive.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
from pathlib import Path

from core.jobs.run_queue import read_json_file, write_json_file

from core.runs import process_alive, utc_now_ts

LOCK_FILE = "supervisor.lock"
INFO_FILE = "supervisor.json"
SETTINGS_FILE = "supervisor_settings.json"
LOG_FILE = "supervisor.log"

_REPO_ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- who is the supervisor


def supervisor_info(root: str | os.PathLike, *, include_stopping: bool = False) -> dict | None:
    """`supervisor.json` of the live supervisor of `root`; None when there is none (or it
    is on its way out, unless `include_stopping`)."""
    info = read_json_file(Path(root) / INFO_FILE)
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
    write_json_file(root / SETTINGS_FILE, {"parallel": int(parallel), "ts": utc_now_ts()})


def supervisor_command(
    root: str | os.PathLike, parallel: int | None = None, *, grace: float | None = None, poll: float | None = None
) -> list[str]:
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
        return subprocess.Popen(
            supervisor_command(root, parallel, grace=grace, poll=poll),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=_env(),
            cwd=root,
        )
    finally:
        log.close()


def ensure_supervisor(
    root: str | os.PathLike,
    parallel: int | None = None,
    *,
    grace: float | None = None,
    poll: float | None = None,
    timeout: float = 20.0,
) -> int:
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
