"""`python -m core.jobs.remote.follow RUN_DIR`: keep a remote run's mirror up to date.

The mirror's events.jsonl is a byte-for-byte copy of the remote one, so its size *is*
the follower's offset: it asks for `tail -c +<size+1> --pid=<worker> -F events.jsonl`
and appends only complete lines. After a dropped or silently dead link (keepalives
notice the latter) it reconnects with backoff and continues from the size: no event is
lost or written twice, whatever happened to the link or to this process. Its state
(link up or down since when, its own identity) is in follow.json, which the status rules
read: while the link is down the run stays `running` ("link down since ...") instead of
turning `lost`. When the worker ends, the follower fetches the run's artifacts (sha256
checked) and stops.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import time
from pathlib import Path

from core.errors import InputError
from core.fsutil import atomic_write_text
from core.runs import FOLLOW_JSON, RunDir, is_run_id, process_start_time, utc_now_ts

BACKOFF_S = (1, 2, 4, 8, 15, 30)


class State:
    """follow.json: who follows, whether the link is up, what happened last."""

    def __init__(self, run: RunDir) -> None:
        self.path = run.path / FOLLOW_JSON
        self.data = {"pid": os.getpid(), "pid_started_at": process_start_time(os.getpid()),
                     "host": socket.gethostname(), "link": "connecting", "since": utc_now_ts(),
                     "reconnects": 0, "done": False, "error": None, "fetched": []}
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")

    def set(self, **kw) -> None:
        if "link" in kw and kw["link"] != self.data.get("link"):
            kw.setdefault("since", utc_now_ts())
        self.data.update(kw)
        self.save()


def mirror_offset(events: Path) -> int:
    """The mirror's size after dropping a torn last line (only complete lines are ever
    appended, but a crash mid-write could leave one)."""
    if not events.exists():
        return 0
    data_len = events.stat().st_size
    if data_len == 0:
        return 0
    with open(events, "rb+") as fh:
        fh.seek(max(0, data_len - 1))
        if fh.read(1) == b"\n":
            return data_len
        fh.seek(0)
        data = fh.read()
        cut = data.rfind(b"\n") + 1
        fh.truncate(cut)
        return cut


def append_lines(events: Path, data: bytes) -> None:
    with open(events, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


async def stream_once(conn, run: RunDir, log=print) -> bool:
    """Stream new events until the worker ends (True) or the link breaks (an exception)."""
    from core.jobs.remote.launch import read_remote
    from core.jobs.remote.ssh import RemoteError, quote_command

    rem = read_remote(run)
    remote_events = f"{rem['dir']}/events.jsonl"
    offset = mirror_offset(run.events_jsonl)
    pid = rem.get("pid")
    argv = ["tail", "-c", f"+{offset + 1}", "-F", remote_events]
    if pid:
        argv.insert(3, f"--pid={int(pid)}")
    proc = await conn.create_process(quote_command(argv), encoding=None, stderr=asyncssh_devnull())
    pending = b""
    while True:
        chunk = await proc.stdout.read(1 << 16)
        if not chunk:
            break
        pending += chunk
        cut = pending.rfind(b"\n") + 1
        if cut:
            append_lines(run.events_jsonl, pending[:cut])
            pending = pending[cut:]
    result = await proc.wait()
    if result.exit_status is None:
        raise RemoteError("the link closed while streaming")
    # tail ended because the worker did: take what it may have written after tail's last look.
    offset = mirror_offset(run.events_jsonl)
    rest = await conn.run(quote_command(["tail", "-c", f"+{offset + 1}", remote_events]), encoding=None)
    data = rest.stdout or b""
    cut = data.rfind(b"\n") + 1
    if cut:
        append_lines(run.events_jsonl, data[:cut])
    return True


def asyncssh_devnull():
    import asyncssh

    return asyncssh.DEVNULL


async def follow(run: RunDir, *, log=print) -> int:
    from core.jobs.remote.hosts import load_hosts
    from core.jobs.remote.launch import fetch_async, profile_of
    from core.jobs.remote.ssh import connect

    import asyncssh

    state = State(run)
    try:
        hosts = load_hosts()
    except InputError:
        hosts = {}
    profile = profile_of(run, hosts)
    failures = 0
    while True:
        try:
            async with connect(profile) as conn:
                state.set(link="up", error=None)
                log(f"{utc_now_ts()} link up to {profile.name}")
                failures = 0
                await stream_once(conn, run, log)
            fetched = await fetch_async(run, profile)
            state.set(link="closed", done=True, fetched=fetched)
            log(f"{utc_now_ts()} worker ended; {len(fetched)} artifact(s) fetched")
            return 0
        except InputError as exc:  # a changed host key: retrying would not make it safe
            state.set(link="down", error=str(exc))
            log(f"{utc_now_ts()} stopped: {exc}")
            return 2
        except (OSError, asyncssh.Error, asyncio.TimeoutError, Exception) as exc:  # noqa: BLE001
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            state.set(link="down", error=f"{type(exc).__name__}: {exc}", reconnects=state.data["reconnects"] + 1)
            log(f"{utc_now_ts()} link down ({type(exc).__name__}: {exc}); retrying in {delay} s")
            await asyncio.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.remote.follow", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    args = parser.parse_args(argv)
    if not (args.run_dir.is_dir() and is_run_id(args.run_dir.name)):
        print(f"error: {args.run_dir}: not a run directory", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, flush=True)

    return asyncio.run(follow(RunDir(args.run_dir), log=log))


if __name__ == "__main__":
    sys.exit(main())
