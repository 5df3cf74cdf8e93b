"""`python -m core.jobs.remote.follow RUN_DIR`: keep a remote run's mirror up to date.

One follower per mirror: it holds the mirror's follow.lock for its whole life (a second
exits with EXIT_ALREADY_FOLLOWED), and that lock is what tells the status rules a
follower lives: while one does, the run is never `lost`.

The mirror's events.jsonl is a byte-for-byte copy of the remote one, so its size *is*
the follower's offset: it asks for `tail -c +<size+1> --pid=<worker> -F events.jsonl`
and appends only complete lines (LineSplitter: linear time, a bound on a line's length).
After a dropped or silently dead link (keepalives notice the latter), or a tail that
failed, it reconnects with backoff and continues from the size: no event is lost or
written twice, whatever happened to the link or to this process. Its state (link up or
down since when, when the last byte came, the worker it follows) is in follow.json. On a
host whose tail lacks --pid it reads by offset and asks the agent whether the worker
lives. When the worker ends, the follower fetches the run's artifacts (sha256 checked)
and stops, unless a resume started another worker meanwhile: that one it follows too.
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
from collections.abc import Callable
from typing import Any

from core.errors import InputError
from core.fsutil import atomic_write_text
from core.runs import FOLLOW_JSON, RunDir, is_run_id, process_start_time, utc_now_ts
from core.runs.lock import FOLLOW_LOCK, LockHeld, acquire, adopt, describe_holder

BACKOFF_S = (1, 2, 4, 8, 15, 30)
# A line longer than this is not mirrored: it is replaced in place by a marker (see LineSplitter).
MAX_LINE_BYTES = 1 << 20
# Exit status of a follower that finds another one already following the mirror.
EXIT_ALREADY_FOLLOWED = 75
# follow.json's last_byte_at is written at most this often (each write is a rename).
LAST_BYTE_SAVE_S = 2.0
# Without `tail --pid`: how often the file is read by offset, and the worker's liveness asked.
POLL_S = 1.0
PROBE_S = 5.0
# GNU tail exits 0 at once when --pid names a process that is gone; busybox's refuses the option.
TAIL_PID_PROBE = "sleep 0 & p=$!; wait $p; exec tail -c 0 -F --pid=$p /dev/null"


class State:
    """follow.json: who follows, whether the link is up, when a byte last came, what happened last."""

    def __init__(self, run: RunDir) -> None:
        self.path = run.path / FOLLOW_JSON
        self.data: dict[str, Any] = {
            "pid": os.getpid(),
            "pid_started_at": process_start_time(os.getpid()),
            "host": socket.gethostname(),
            "link": "connecting",
            "since": utc_now_ts(),
            "last_byte_at": None,
            "worker": None,
            "reconnects": 0,
            "done": False,
            "error": None,
            "fetched": [],
            "dropped_lines": 0,
        }
        self._saved = 0.0
        self.save()

    def save(self) -> None:
        atomic_write_text(self.path, json.dumps(self.data, indent=2) + "\n")
        self._saved = time.monotonic()

    def set(self, **kw: Any) -> None:
        if "link" in kw and kw["link"] != self.data.get("link"):
            kw.setdefault("since", utc_now_ts())
        self.data.update(kw)
        self.save()

    def got_bytes(self) -> None:
        """A byte came: the status rules read how fresh the link is from this, so it is kept,
        but written at most every LAST_BYTE_SAVE_S (a busy stream must not mean a rename a chunk)."""
        self.data["last_byte_at"] = utc_now_ts()
        if time.monotonic() - self._saved >= LAST_BYTE_SAVE_S:
            self.save()


class LineSplitter:
    """Complete lines out of a byte stream, in time linear in its length.

    The partial line is kept as a list of chunks and only new data is searched for a
    newline, so a line arriving in many pieces costs its length once (concatenating into
    one growing buffer and searching all of it again, per chunk, was quadratic: 60 MB with no
    newline took minutes). A line longer than `max_line` is not mirrored; its place is
    kept byte for byte by a `log` event at level error, padded with spaces (JSON allows
    them) to the line's exact length, so the mirror's size stays the remote file's offset
    and a restarted follower resumes at the right byte. The marker goes out as soon as the
    limit is passed and its padding as the line's bytes arrive: memory stays bounded, and
    until the newline comes the mirror ends in a torn line, which readers hold back and a
    restart cuts (the line is then taken again from its start).
    """

    def __init__(self, max_line: int = MAX_LINE_BYTES, offset: int = 0) -> None:
        if max_line < 1024:
            raise ValueError("max_line must leave room for the marker that replaces a longer line (>= 1024)")
        self.max_line = max_line
        self.offset = offset  # where the line being assembled starts in the remote file
        self._parts: list[bytes] = []
        self._held = 0  # bytes of the partial line kept in _parts
        self._dropping = 0  # bytes of an over-long line already written out as marker and padding
        self.dropped = 0  # over-long lines replaced so far

    def feed(self, data: bytes) -> bytes:
        """The bytes to append to the mirror now (whole lines, or an over-long line's marker/padding)."""
        out: list[bytes] = []
        start = 0
        while start < len(data):
            nl = data.find(b"\n", start)
            end = len(data) if nl < 0 else nl + 1
            piece = data[start:end]
            if self._dropping:
                out.append(b" " * (len(piece) - (nl >= 0)) + (b"\n" if nl >= 0 else b""))
                self._dropping += len(piece)
                if nl >= 0:
                    self.offset += self._dropping
                    self._dropping = 0
            elif self._held + len(piece) > self.max_line + (nl >= 0):
                self.dropped += 1
                marker = self._marker()
                length = self._held + len(piece)
                # the marker, then spaces up to what has arrived of the line (and its newline if it came)
                written = length - (nl >= 0)
                out.append(marker + b" " * (written - len(marker)) + (b"\n" if nl >= 0 else b""))
                self._parts, self._held = [], 0
                if nl >= 0:
                    self.offset += length
                else:
                    self._dropping = length
            elif nl >= 0:
                self._parts.append(piece)
                line = b"".join(self._parts)
                out.append(line)
                self.offset += len(line)
                self._parts, self._held = [], 0
            else:
                self._parts.append(piece)
                self._held += len(piece)
            start = end
        return b"".join(out)

    def _marker(self) -> bytes:
        msg = (
            f"follower: the line at byte {self.offset} of the remote events.jsonl is longer than "
            f"{self.max_line} bytes; not mirrored (this event keeps its place, padded to its length)"
        )
        return json.dumps({"ts": utc_now_ts(), "type": "log", "level": "error", "message": msg}).encode()

    @property
    def dropping(self) -> bool:
        return bool(self._dropping)


def mirror_offset(events: Path) -> int:
    """The mirror's size after dropping a torn last line (only complete lines are ever
    appended, but a crash mid-write, or an over-long line's marker still being padded,
    leaves one). Scans back from the end in blocks: the torn line may be megabytes long."""
    if not events.exists():
        return 0
    size = events.stat().st_size
    with open(events, "rb+") as fh:
        end = size
        while end > 0:
            start = max(0, end - (1 << 16))
            fh.seek(start)
            block = fh.read(end - start)
            nl = block.rfind(b"\n")
            if nl >= 0:
                cut = start + nl + 1
                break
            end = start
        else:
            cut = 0
        if cut != size:
            fh.truncate(cut)
        return cut


def append_lines(events: Path, data: bytes) -> None:
    with open(events, "ab") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


async def tail_has_pid(conn: Any) -> bool:
    """Whether the host's `tail` knows `--pid` (GNU coreutils does; busybox's does not)."""
    try:
        res = await conn.run(TAIL_PID_PROBE, encoding=None, timeout=10)
    except Exception:  # noqa: BLE001 — a host that cannot even run the probe has no usable --pid
        return False
    return res.exit_status == 0


class _Log:
    """Lines of a remote process's stderr into follow.log (and the last few kept for an error)."""

    def __init__(self, log: Callable[[str], None], what: str) -> None:
        self.log, self.what = log, what
        self.last: list[str] = []

    async def pump(self, stream: Any) -> None:
        async for raw in stream:
            line = raw.decode("utf-8", "replace").rstrip("\n") if isinstance(raw, bytes) else str(raw).rstrip("\n")
            if line:
                self.last = [*self.last[-4:], line]
                self.log(f"{utc_now_ts()} {self.what}: {line}")


async def _pump(
    conn: Any, run: RunDir, argv: list[str], state: State | None, log: Callable[[str], None]
) -> tuple[int | None, list[str]]:
    """Run `argv` there, appending what its stdout brings to the mirror (LineSplitter) and
    writing its stderr to follow.log: (its exit status, None when the channel closed
    without one; the last lines of its stderr)."""
    from core.jobs.remote.ssh import quote_command

    import asyncssh

    split = LineSplitter(offset=mirror_offset(run.events_jsonl))
    proc = await conn.create_process(quote_command(argv), encoding=None, stderr=asyncssh.PIPE)
    err = _Log(log, argv[0])
    err_task = asyncio.ensure_future(err.pump(proc.stderr))
    try:
        while chunk := await proc.stdout.read(1 << 16):
            if state is not None:
                state.got_bytes()
            dropped = split.dropped
            out = split.feed(chunk)
            if out:
                append_lines(run.events_jsonl, out)
            if split.dropped > dropped:
                log(
                    f"{utc_now_ts()} error: a line longer than {split.max_line} bytes is not mirrored "
                    "(a log event at level error keeps its place in events.jsonl)"
                )
                if state is not None:
                    state.set(dropped_lines=state.data["dropped_lines"] + split.dropped - dropped)
        result = await proc.wait()
        await asyncio.wait_for(err_task, 5)
    finally:
        if not err_task.done():
            err_task.cancel()
        proc.close()
    return result.exit_status, err.last


def _failed(what: str, status: int | None, err: list[str]) -> Exception:
    from core.jobs.remote.ssh import RemoteError

    return RemoteError(f"{what} ended with exit status {status}" + (f": {' | '.join(err)}" if err else ""))


async def _read_rest(
    conn: Any, run: RunDir, remote_events: str, state: State | None, log: Callable[[str], None]
) -> None:
    """Everything after the mirror's size, once (no following)."""
    argv = ["tail", "-c", f"+{mirror_offset(run.events_jsonl) + 1}", remote_events]
    status, err = await _pump(conn, run, argv, state, log)
    if status != 0:
        raise _failed("reading events.jsonl", status, err)


async def _worker_alive(conn: Any, rem: dict) -> bool:
    """Whether the worker is still the process remote.json names (pid and start time), asked through the agent."""
    from core.jobs.remote.ssh import agent_json

    now = await agent_json(conn, rem["python"], "start_time", str(int(rem["pid"])), timeout=60)
    started = rem.get("pid_started_at")
    return now is not None and (started is None or now == started)


async def stream_once(
    conn: Any,
    run: RunDir,
    log: Callable[[str], None] = print,
    *,
    state: State | None = None,
    pid_tail: bool = True,
    poll_s: float = POLL_S,
    probe_s: float = PROBE_S,
) -> bool:
    """Stream new events until the worker ends (True) or the link or tail fails (an exception).

    With `pid_tail` the host's `tail --pid -F` streams and ends when the worker does (exit
    status 0); any other end is an error carrying tail's stderr, never taken for the
    worker's end. Without it (busybox) the file is read by offset every `poll_s` and the
    worker's liveness asked through the agent every `probe_s`: a tail left following on
    the host would outlive us there.
    """
    from core.jobs.remote.launch import read_remote
    from core.jobs.remote.ssh import RemoteError

    rem = read_remote(run)
    if state is not None:
        state.set(worker=_worker_of(rem))
    remote_events = f"{rem['dir']}/events.jsonl"
    pid = rem.get("pid")
    if pid and not pid_tail:
        probed = -float("inf")
        while True:
            await _read_rest(conn, run, remote_events, state, log)
            if time.monotonic() - probed >= probe_s:
                probed = time.monotonic()
                if not await _worker_alive(conn, rem):
                    break
            await asyncio.sleep(poll_s)
    else:
        argv = ["tail", "-c", f"+{mirror_offset(run.events_jsonl) + 1}", "-F", remote_events]
        if pid:
            argv.insert(3, f"--pid={int(pid)}")
        status, err = await _pump(conn, run, argv, state, log)
        if status is None:
            raise RemoteError("the link closed while streaming")
        if status != 0 or not pid:  # without a pid tail -F never ends on its own
            raise _failed("tail", status, err)
    # The worker ended: take what it may have written after the last look.
    await _read_rest(conn, run, remote_events, state, log)
    return True


def _worker_of(rem: dict) -> dict:
    return {"pid": rem.get("pid"), "pid_started_at": rem.get("pid_started_at")}


async def follow(run: RunDir, *, log: Callable[[str], None] = print) -> int:
    """Follow the run until its worker ends and its artifacts are here; the caller holds the
    mirror's follow lock. A resume that started another worker meanwhile (remote.json names
    it) is followed on, so a new attempt never finds its follower gone."""
    from core.jobs.remote.hosts import load_hosts
    from core.jobs.remote.launch import fetch_async, profile_of, read_remote
    from core.jobs.remote.ssh import connect

    state = State(run)
    failures = 0
    pid_tail: bool | None = None
    while True:
        try:
            # A broken or refused hosts file is an InputError: it stops the follower with that
            # file's own message below, never a vaguer "profile not found".
            profile = profile_of(run, load_hosts())
            async with connect(profile) as conn:
                if pid_tail is None:
                    pid_tail = await tail_has_pid(conn)
                    if not pid_tail:
                        log(
                            f"{utc_now_ts()} {profile.name}: tail has no --pid; reading by offset, "
                            f"the worker probed every {PROBE_S:g} s"
                        )
                state.set(link="up", error=None, done=False)
                log(f"{utc_now_ts()} link up to {profile.name}")
                failures = 0
                await stream_once(conn, run, log, state=state, pid_tail=pid_tail)
            fetched = await fetch_async(run, profile, progress=lambda msg: log(f"{utc_now_ts()} {msg}"))
            worker = state.data["worker"]
            if _worker_of(read_remote(run)) != worker:
                # a resume started another worker meanwhile: its attempt is ours to follow too
                log(f"{utc_now_ts()} worker {worker['pid']} ended; a new one was started there: following it")
                state.set(fetched=fetched)
                continue
            state.set(link="closed", done=True, fetched=fetched)
            log(f"{utc_now_ts()} worker ended; {len(fetched)} artifact(s) fetched")
            return 0
        except InputError as exc:  # a changed host key: retrying would not make it safe
            state.set(link="down", error=str(exc))
            log(f"{utc_now_ts()} stopped: {exc}")
            return 2
        except Exception as exc:  # noqa: BLE001 — any failure of the link or the host: retry
            delay = BACKOFF_S[min(failures, len(BACKOFF_S) - 1)]
            failures += 1
            state.set(link="down", error=f"{type(exc).__name__}: {exc}", reconnects=state.data["reconnects"] + 1)
            log(f"{utc_now_ts()} link down ({type(exc).__name__}: {exc}); retrying in {delay} s")
            await asyncio.sleep(delay)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.remote.follow", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument(
        "--lock-fd",
        type=int,
        default=None,
        help="the mirror's follow lock, taken by the starter and handed down as this descriptor",
    )
    args = parser.parse_args(argv)
    if not (args.run_dir.is_dir() and is_run_id(args.run_dir.name)):
        print(f"error: {args.run_dir}: not a run directory", file=sys.stderr)
        return 2

    def log(msg: str) -> None:
        print(msg, flush=True)

    # One follower per mirror, held for the whole life: two would append the same bytes twice.
    path = args.run_dir / FOLLOW_LOCK
    try:
        lock = adopt(path, args.lock_fd, "follower") if args.lock_fd is not None else acquire(path, "follower")
    except LockHeld as exc:
        log(f"{utc_now_ts()} already followed by {describe_holder(exc.holder)}; nothing to do")
        return EXIT_ALREADY_FOLLOWED
    with lock:
        return asyncio.run(follow(RunDir(args.run_dir), log=log))


if __name__ == "__main__":
    sys.exit(main())
