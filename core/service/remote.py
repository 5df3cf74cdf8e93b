"""Remote runs for the CLI and the dashboard: host profiles, trust, check, launch, and the
remote side of cancel, resume, fetch and attach (core.jobs.remote does the work).

Async variants (`*_async`) are for the dashboard, whose event loop asyncssh shares; the
plain ones run their own loop for the CLI.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

from core.errors import InputError
from core.jobs.remote.hosts import HostProfile, get_host, load_hosts, pin_key, pinned_key
from core.jobs.remote.ssh import RemoteError
from core.runs import REMOTE_JSON, RunDir, runs_root

__all__ = [
    "RemoteError",
    "attach",
    "cancel",
    "check",
    "fetch",
    "host",
    "hosts",
    "is_remote",
    "launch",
    "launch_async",
    "resume",
    "server_key",
    "target_names",
    "trust",
]


def hosts() -> list[dict]:
    """Every host profile, described (no secrets: key paths only)."""
    return [p.describe() for p in load_hosts().values()]


def host(name: str) -> HostProfile:
    return get_host(name)


def is_remote(run: RunDir) -> bool:
    return (run.path / REMOTE_JSON).is_file()


def server_key(name: str) -> dict:
    """The host key the server of profile `name` presents now, unverified: {"fingerprint",
    "key", "pinned": the pinned line or None, "matches": whether it is the pinned one}."""
    from core.jobs.remote.ssh import fetch_host_key, key_line

    profile = get_host(name)
    key = asyncio.run(fetch_host_key(profile))
    line = key_line(key)
    pinned = pinned_key(profile)
    return {
        "host": name,
        "address": f"{profile.host}:{profile.port}",
        "alias": profile.alias,
        "fingerprint": key.get_fingerprint("sha256"),
        "key": line,
        "pinned": pinned,
        "matches": pinned is not None and pinned.split()[1:3] == line.split()[:2],
        "known_hosts": str(profile.known_hosts_path),
    }


def trust(name: str, key_line: str) -> str:
    """Pin `key_line` for profile `name` (the caller showed its fingerprint and got a yes)."""
    return str(pin_key(get_host(name), key_line))


def check(name: str) -> dict:
    from core.jobs.remote.check import check as run_check

    return run_check(get_host(name))


def launch(
    name: str,
    cfg,
    job: str,
    runs_dir: str | os.PathLike | None = None,
    *,
    progress: Callable[[str], None] | None = None,
    follow: bool = True,
) -> dict:
    from core.jobs.remote.launch import launch as run_launch

    return run_launch(
        get_host(name), cfg, job, runs_root(runs_dir), progress=progress or (lambda m: None), follow=follow
    )


async def launch_async(
    name: str,
    cfg,
    job: str,
    runs_dir: str | os.PathLike | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> dict:
    from core.jobs.remote.launch import launch_async as run_launch

    return await run_launch(get_host(name), cfg, job, runs_root(runs_dir), progress=progress or (lambda m: None))


def _profile(run: RunDir) -> HostProfile:
    """The run's profile from the user's host files; a broken hosts file is reported as such."""
    from core.jobs.remote.launch import profile_of

    return profile_of(run, load_hosts())


def cancel(run: RunDir) -> dict:
    from core.jobs.remote.launch import cancel_async

    return asyncio.run(cancel_async(run, _profile(run)))


def resume(run: RunDir) -> dict:
    from core.jobs.remote.launch import resume_async

    return asyncio.run(resume_async(run, _profile(run)))


def fetch(run: RunDir, progress: Callable[[str], None] | None = None, *, force: bool = False) -> list[str]:
    """Pull the artifacts again; files changed here since they were fetched are kept unless `force`."""
    from core.jobs.remote.launch import fetch_async

    return asyncio.run(fetch_async(run, _profile(run), progress=progress or (lambda m: None), force=force))


def attach(run: RunDir) -> dict:
    from core.jobs.remote.launch import attach as start

    return start(run)


def target_names() -> list[str]:
    """Where a job can run: "local", then every host profile."""
    try:
        return ["local", *load_hosts()]
    except InputError:
        return ["local"]
