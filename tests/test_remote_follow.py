"""The follower of a remote run and what the CLI says about it (docs/ARCHITECTURE.md,
"Remote runs" and "Run status"): text from a run printed without its escape sequences or
rich markup; complete lines cut from the stream in linear time with a bound on a line's
length; one follower per mirror; a resume right after a cancel gets a live follower; a run
followed by a live follower is never `lost`; `runs show` checks the follower's liveness;
`tail --pid` detected, its absence survived and its errors told apart from a worker's end.

The sshd tests drive a real OpenSSH server (tests/sshd.py) with a stand-in worker: a small
script started by the real `start_worker` that writes the events a worker writes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from core.runs import RunDir, run_status, status_of
from core.runs.lock import FOLLOW_LOCK, acquire
from helpers import ROOT
from sshd import sshd_available, start_sshd

# --------------------------------------------------------------------------- sanitising

EVIL = (
    "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\ \x1b[31mred\x1b[0m \x1b]0;owned\x07"
    "\x9b2J [bold]not bold[/bold] [link=https://x]l[/link]\x00\x08\r"
)


def test_clean_strips_every_control_sequence():
    from synapse_tui.formatting import clean

    out = clean(EVIL)
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out and "\x00" not in out
    assert out == "click red  [bold]not bold[/bold] [link=https://x]l[/link]"  # 8-bit CSI 2J went too
    assert clean("a\nb\tc") == "a b c"
    assert clean("a\nb\tc", newlines=True) == "a\nb\tc"
    assert clean(None) == ""
    assert clean("\x1b[") == ""  # a sequence cut short eats nothing after it, and nothing is left raw


def _mirror(
    root: Path,
    run_id: str = "20260101-000000-evil-00aa",
    *,
    events: list[dict],
    remote: dict | None = None,
    follow: dict | None = None,
) -> RunDir:
    path = root / run_id
    path.mkdir(parents=True)
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (path / "manifest.json").write_text(json.dumps({"run_id": run_id, "job": "train", "host": "box"}))
    (path / "config.yaml").write_text("name: evil\nmodel:\n  kind: gru\n")
    if remote is not None:
        (path / "remote.json").write_text(json.dumps(remote))
    if follow is not None:
        (path / "follow.json").write_text(json.dumps(follow))
    return RunDir(path)


def _cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env=dict(os.environ, COLUMNS="200", TERM="xterm-256color"),
    )


def _ts(offset_s: float = 0.0) -> str:
    from datetime import UTC, datetime, timedelta

    return (datetime.now(UTC) + timedelta(seconds=offset_s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def test_runs_show_and_follow_print_no_escape_or_markup_from_the_run(tmp_path):
    events = [
        {
            "ts": _ts(-60),
            "type": "run_started",
            "run_id": "x",
            "host": f"h[red]{EVIL}",
            "pid": 1,
            "pid_started_at": "x:1",
            "device": "cpu\x1b[2J",
            "attempt": 1,
        },
        {"ts": _ts(-50), "type": "log", "level": "warning", "message": f"warn {EVIL}"},
        {"ts": _ts(-40), "type": "log", "level": "error", "message": f"err {EVIL}"},
        {"ts": _ts(-30), "type": "run_finished", "status": "failed", "error": f"boom {EVIL}"},
    ]
    rd = _mirror(
        tmp_path,
        events=events,
        remote={"host": "box\x1b[5m", "address": "u@h:22", "dir": f"/w/{EVIL}"},
        follow={"link": "up", "since": _ts(-60), "pid": 1, "host": "nowhere", "reconnects": 0},
    )
    for args in (("runs", "show", rd.run_id), ("runs", "show", rd.run_id, "--follow")):
        r = _cli(*args, "--runs-dir", str(tmp_path))
        out = r.stdout + r.stderr
        assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out, (args, repr(out))
        # markup from the run is shown as typed, never applied
        assert "[bold]not bold[/bold]" in out, (args, out)
        assert "boom click red" in out
    assert "warn click red" in out and "err click red" in out


def test_runs_show_says_no_follower_when_none_holds_the_lock(tmp_path):
    """follow.json says the link is up and names a live pid (ours), but no follower holds the
    lock: the attach hint, not "following live"."""
    from core.runs import process_start_time

    events = [
        {
            "ts": _ts(-5),
            "type": "run_started",
            "run_id": "x",
            "host": "box",
            "pid": 1,
            "pid_started_at": "x:1",
            "device": "cpu",
            "attempt": 1,
        }
    ]
    me = {
        "link": "up",
        "since": _ts(-5),
        "pid": os.getpid(),
        "pid_started_at": process_start_time(os.getpid()),
        "host": os.uname().nodename,
        "reconnects": 0,
        "done": False,
    }
    rd = _mirror(tmp_path, events=events, remote={"host": "box", "address": "u@h:22", "dir": "/w/x"}, follow=me)
    r = _cli("runs", "show", rd.run_id, "--runs-dir", str(tmp_path))
    assert "following live" not in r.stdout and f"synapse remote attach {rd.run_id}" in r.stdout, r.stdout
    with acquire(rd.path / FOLLOW_LOCK, "follower"):
        r = _cli("runs", "show", rd.run_id, "--runs-dir", str(tmp_path))
        assert "following live" in r.stdout and "synapse remote attach" not in r.stdout, r.stdout
        # the link is up but nothing came for minutes (keepalives have not called it dead yet)
        (rd.path / "follow.json").write_text(json.dumps({**me, "last_byte_at": _ts(-300)}))
        r = _cli("runs", "show", rd.run_id, "--runs-dir", str(tmp_path))
        assert "link up, no news since" in r.stdout and "running" in r.stdout, r.stdout


# --------------------------------------------------------------------------- status


def test_a_followed_run_is_never_lost_and_an_unfollowed_one_is(tmp_path):
    """The follower's lock, not follow.json, says whether someone follows; while one does,
    silence (a link not yet known dead) is not the worker's death."""
    events = [
        {
            "ts": _ts(-3600),
            "type": "run_started",
            "run_id": "x",
            "host": "box",
            "pid": 1,
            "pid_started_at": "x:1",
            "device": "cpu",
            "attempt": 1,
        }
    ]
    # follow.json with the link up and a live pid: that alone proves nothing
    me = {"link": "up", "since": _ts(-3600), "pid": os.getpid(), "host": os.uname().nodename}
    rd = _mirror(tmp_path, events=events, remote={"host": "box", "dir": "/w/x"}, follow=me)
    assert status_of(rd).status == "lost"
    with acquire(rd.path / FOLLOW_LOCK, "follower"):
        st = status_of(rd)
        assert st.status == "running" and st.link_down_since is None
        (rd.path / "follow.json").write_text(json.dumps({**me, "link": "down", "since": _ts(-10)}))
        st = status_of(rd)
        assert st.status == "running" and st.link_down_since is not None
        # and the rule itself: a local run is never vouched for by a follower
        lock = rd.path / FOLLOW_LOCK
        assert run_status(rd.read_events(), remote=False, follow_lock=lock).status == "lost"
        assert run_status(rd.read_events(), remote=True, follow_lock=lock).status == "running"
    assert status_of(rd).status == "lost"


# --------------------------------------------------------------------------- the line splitter


def test_line_splitter_is_linear_and_keeps_offsets():
    from core.jobs.remote.follow import LineSplitter

    split = LineSplitter(max_line=1 << 20)
    out = bytearray()
    out += split.feed(b'{"a": 1}\n{"b":')
    assert bytes(out) == b'{"a": 1}\n'
    out += split.feed(b" 2}\n")
    assert bytes(out) == b'{"a": 1}\n{"b": 2}\n'
    # 64 MB with no newline, as 64 KiB chunks: linear, so well under a second or two
    chunk = b"x" * (1 << 16)
    t0 = time.perf_counter()
    held = bytearray()
    for _ in range(1024):
        held += split.feed(chunk)
    held += split.feed(b"xx\n" + b'{"c": 3}\n')
    took = time.perf_counter() - t0
    assert took < 5.0, took
    # the long line's place is kept byte for byte: a marker event padded to its length
    assert len(held) == (1 << 26) + 3 + len(b'{"c": 3}\n')
    first, rest = bytes(held).split(b"\n", 1)
    marker = json.loads(first)
    assert marker["type"] == "log" and marker["level"] == "error" and "not mirrored" in marker["message"]
    assert rest == b'{"c": 3}\n'
    assert split.dropped == 1


def test_line_splitter_holds_a_torn_line_and_a_short_one_passes():
    from core.jobs.remote.follow import LineSplitter

    split = LineSplitter(max_line=1024)
    assert split.feed(b"abc") == b""
    assert split.feed(b"def\nghi") == b"abcdef\n"
    assert split.feed(b"\n") == b"ghi\n"
    assert split.feed(b"y" * 1000) == b""
    long = split.feed(b"y" * 1000)
    assert len(long) == 2000 and long.startswith(b"{")  # the marker goes out at once, padded as bytes come
    assert split.feed(b"y" * 10) == b" " * 10
    assert split.feed(b"\nz\n") == b"\nz\n"
    assert split.offset == len(b"abcdef\nghi\n") + 2010 + 1 + 2
    # a line of exactly the limit passes whole
    assert LineSplitter(max_line=1024).feed(b"w" * 1024 + b"\n") == b"w" * 1024 + b"\n"
    with pytest.raises(ValueError):
        LineSplitter(max_line=10)


# --------------------------------------------------------------------------- against sshd

FAKE_WORKER = r"""
import json, os, signal, socket, sys, time
sys.path.insert(0, {root!r})
from core.runs import process_start_time
run_dir = sys.argv[1]
cfg = json.load(open(os.path.join(run_dir, "fake.json")))
path = os.path.join(run_dir, "events.jsonl")

def ts():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + ".%06dZ" % int((t % 1) * 1e6)

def emit(**e):
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    os.write(fd, (json.dumps({{"ts": ts(), **e}}) + "\n").encode())
    os.close(fd)

def stop(*_):
    emit(type="run_finished", status="cancelled")
    sys.exit(3)

signal.signal(signal.SIGTERM, stop)
attempt = open(path).read().count('"run_started"') + 1 if os.path.exists(path) else 1
emit(type="run_started", run_id=os.path.basename(run_dir), host=socket.gethostname(), pid=os.getpid(),
     pid_started_at=process_start_time(os.getpid()), device="cpu", attempt=attempt)
for i in range(cfg.get("beats", 3)):
    time.sleep(cfg.get("interval", 0.3))
    emit(type="heartbeat")
    if cfg.get("long_line_at") == i:
        fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.write(fd, b'{{"type": "log", "message": "' + b"z" * cfg["long_line_bytes"] + b'"}}\n')
        os.close(fd)
open(os.path.join(run_dir, "report.json"), "w").write(json.dumps({{"attempt": attempt}}))
emit(type="run_finished", status="succeeded")
"""

FAKE_PYTHON = """#!/bin/sh
# The venv's python, except that the worker is the stand-in.
if [ "$1" = "-m" ] && [ "$2" = "core.jobs.worker" ]; then shift 2; exec {exe} {worker} "$@"; fi
exec {exe} "$@"
"""


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    import yaml

    base = tmp_path_factory.mktemp("follow")
    server = start_sshd(base / "sshd", sftp=True)
    xdg = base / "xdg"
    (xdg / "synapse").mkdir(parents=True)
    (xdg / "synapse" / "known_hosts").write_text(server.known_hosts_line("box") + "\n")
    profile = dict(
        host="127.0.0.1",
        port=server.port,
        user=server.user,
        identity_file=str(server.identity_file),
        python=sys.executable,
        connect_timeout=5,
        keepalive_interval=1,
        keepalive_count_max=2,
        work_dir=str(base / "work"),
    )
    (xdg / "synapse" / "hosts.yaml").write_text(yaml.safe_dump({"hosts": {"box": profile}}))
    worker = base / "fake_worker.py"
    worker.write_text(FAKE_WORKER.format(root=str(ROOT)))
    fake_python = base / "fakepy"
    fake_python.write_text(FAKE_PYTHON.format(exe=sys.executable, worker=worker))
    fake_python.chmod(0o755)
    old = os.environ.get("XDG_CONFIG_HOME")
    os.environ["XDG_CONFIG_HOME"] = str(xdg)
    try:
        yield dict(base=base, server=server, runs=base / "runs", python=str(fake_python), profile=profile)
    finally:
        if old is None:
            os.environ.pop("XDG_CONFIG_HOME", None)
        else:
            os.environ["XDG_CONFIG_HOME"] = old
        server.stop()


_n = [0]


def fake_run(world, **fake) -> Path:
    """A mirror and its remote run dir, the stand-in worker started there by start_worker."""
    from core.jobs.remote.hosts import get_host
    from core.jobs.remote.launch import start_worker, write_remote
    from core.jobs.remote.ssh import connect

    _n[0] += 1
    run_id = f"20260101-000000-fake-{_n[0]:04x}"
    mirror = world["runs"] / run_id
    mirror.mkdir(parents=True)
    (mirror / "events.jsonl").write_bytes(b"")
    remote = Path(world["profile"]["work_dir"]) / "runs" / run_id
    remote.mkdir(parents=True)
    (remote / "events.jsonl").write_bytes(b"")
    (remote / "fake.json").write_text(json.dumps(fake))
    write_remote(
        RunDir(mirror),
        {
            "host": "box",
            "address": "x",
            "dir": str(remote),
            "python": world["python"],
            "pid": None,
            "pid_started_at": None,
            "profile": {"name": "box", **world["profile"]},
        },
    )

    async def go():
        async with connect(get_host("box")) as conn:
            return await start_worker(conn, world["python"], str(remote), resume=False)

    pid, started = asyncio.run(go())
    rem = json.loads((mirror / "remote.json").read_text())
    write_remote(RunDir(mirror), {**rem, "pid": pid, "pid_started_at": started})
    return mirror


def follower(run: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "core.jobs.remote.follow", str(run)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for(cond, timeout: float = 25.0, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def state(run: Path) -> dict:
    try:
        return json.loads((run / "follow.json").read_text())
    except (OSError, ValueError):
        return {}


def remote_of(run: Path) -> Path:
    return Path(json.loads((run / "remote.json").read_text())["dir"])


@pytest.mark.slow
@pytest.mark.skipif(not sshd_available(), reason="OpenSSH sshd is not installed")
def test_two_followers_on_one_mirror_one_exits_and_the_mirror_stays_exact(world):
    run = fake_run(world, beats=12, interval=0.3)
    a, b = follower(run), follower(run)
    # one of them exits at once, naming the other
    loser = wait_for(
        lambda: next((p for p in (a, b) if p.poll() is not None), None), timeout=10, what="the second follower to exit"
    )
    winner = b if loser is a else a
    out = loser.stdout.read()
    assert loser.returncode == 75 and "already followed" in out and "follower pid" in out, out
    r = _cli("remote", "attach", run.name, "--runs-dir", str(world["runs"]))
    assert "already followed" in (r.stdout + r.stderr) and f"pid {winner.pid}" in (r.stdout + r.stderr), r
    assert winner.wait(timeout=30) == 0, winner.stdout.read()
    assert (run / "events.jsonl").read_bytes() == (remote_of(run) / "events.jsonl").read_bytes()
    assert state(run)["done"] and state(run).get("last_byte_at")
    assert (run / "report.json").is_file()


@pytest.mark.slow
@pytest.mark.skipif(not sshd_available(), reason="OpenSSH sshd is not installed")
def test_an_overlong_line_is_marked_in_place_and_following_goes_on(world):
    run = fake_run(world, beats=4, interval=0.2, long_line_at=1, long_line_bytes=3 << 20)
    p = follower(run)
    assert p.wait(timeout=30) == 0, p.stdout.read()
    mirror, remote = (run / "events.jsonl").read_bytes(), (remote_of(run) / "events.jsonl").read_bytes()
    assert len(mirror) == len(remote)  # byte offsets agree: the follower resumes at the right place
    events = RunDir(run).read_events()
    marker = [e for e in events if e.get("type") == "log" and "not mirrored" in e.get("message", "")]
    assert len(marker) == 1 and marker[0]["level"] == "error"
    assert [e["type"] for e in events][-1] == "run_finished"
    assert "not mirrored" in p.stdout.read()
    # a restarted follower resumes from the size and changes nothing
    assert status_of(run).status == "succeeded"


@pytest.mark.slow
@pytest.mark.skipif(not sshd_available(), reason="OpenSSH sshd is not installed")
def test_resume_right_after_cancel_gets_a_live_follower(world):
    from core.jobs.remote.hosts import get_host
    from core.jobs.remote.launch import cancel_async, resume_async, start_follower

    run = fake_run(world, beats=200, interval=0.3)
    assert start_follower(RunDir(run)) is not None
    wait_for(lambda: status_of(run).status == "running", what="the run to be running in the mirror")
    profile = get_host("box")
    (remote_of(run) / "fake.json").write_text(json.dumps({"beats": 8, "interval": 0.3}))  # attempt 2: short
    asyncio.run(cancel_async(RunDir(run), profile))
    wait_for(lambda: status_of(run).status == "cancelled", what="cancelled in the mirror")
    out = asyncio.run(resume_async(RunDir(run), profile))  # at once: the old follower is still winding up
    assert out["attempt"] == 2
    wait_for(
        lambda: status_of(run).status == "succeeded" and status_of(run).attempt == 2 and state(run).get("done"),
        timeout=30,
        what="attempt 2 followed to its end",
    )
    assert (run / "events.jsonl").read_bytes() == (remote_of(run) / "events.jsonl").read_bytes()
    assert json.loads((run / "report.json").read_text()) == {"attempt": 2}


@pytest.mark.slow
@pytest.mark.skipif(not sshd_available(), reason="OpenSSH sshd is not installed")
def test_tail_pid_is_detected_its_absence_survived_and_its_errors_told_apart(world):
    from core.jobs.remote.check import check_async
    from core.jobs.remote.follow import stream_once, tail_has_pid
    from core.jobs.remote.hosts import get_host
    from core.jobs.remote.ssh import RemoteError, connect

    profile = get_host("box")
    checks = {c["name"]: c for c in asyncio.run(check_async(profile))["checks"]}
    assert checks["tail"]["ok"] and "--pid" in checks["tail"]["detail"]

    run = fake_run(world, beats=6, interval=0.3)
    lines: list[str] = []

    async def follow_without_pid():
        async with connect(profile) as conn:
            assert await tail_has_pid(conn)
            # as on a busybox host: tail without --pid, the worker's liveness probed through the agent
            return await stream_once(conn, RunDir(run), lines.append, pid_tail=False, probe_s=0.5)

    assert asyncio.run(asyncio.wait_for(follow_without_pid(), 30)) is True
    assert (run / "events.jsonl").read_bytes() == (remote_of(run) / "events.jsonl").read_bytes()
    assert status_of(run).status == "succeeded"

    # a tail that fails (events.jsonl is a directory there) is an error with its stderr, not the worker's end
    broken = fake_run(world, beats=40, interval=0.3)
    wait_for(lambda: (remote_of(broken) / "events.jsonl").stat().st_size > 0, what="the stand-in to start")
    os.rename(remote_of(broken) / "events.jsonl", remote_of(broken) / "events.old")
    (remote_of(broken) / "events.jsonl").mkdir()

    async def follow_broken():
        async with connect(profile) as conn:
            return await stream_once(conn, RunDir(broken), lines.append)

    with pytest.raises(RemoteError, match="tail"):
        asyncio.run(asyncio.wait_for(follow_broken(), 30))
    assert any("Is a directory" in line for line in lines), lines


def test_the_outcome_table_prints_names_from_a_report_as_text(tmp_path):
    """`synapse eval`/`train` print report.json's names (a remote host may have written it):
    no escape reaches the terminal and markup in a name is shown as typed."""
    from synapse_tui.cliutil import console
    from synapse_tui.commands.jobs import _print_outcome

    name = f"gru{EVIL}"
    test = {"good_or_better": {"rate": [0.5]}, "auc_macro": 0.6, "brier_skill": 0.01, "ece_raw": 0.02, "ece": 0.01}
    report = {
        "summary": {"lift_capture": 0.5},
        "primary": name,
        "reference": f"freq{EVIL}",
        "good_tier": "good",
        "ks": [20],
        "models": {name: {"test": test, "calibration": {"name": f"platt{EVIL}"}}},
        "verdict": {
            "status": f"APPROVED{EVIL}",
            "failed": [f"rule{EVIL}"],
            "criteria": [{"ok": False, "rule": f"r{EVIL}", "value": "v\x1b[2J"}],
        },
    }
    with console.capture() as cap:
        _print_outcome(report, tmp_path)
    out = cap.get()
    assert "\x1b" not in out and "\x9b" not in out and "\x07" not in out, repr(out)
    assert "[bold]not bold[/bold]" in out and "click red" in out, out


def test_the_dashboards_log_pane_shows_no_escape_from_the_run():
    from synapse_tui.screens.run.panes import log_text

    view = {"log_tail": [{"ts": _ts(-5), "level": "error\x1b[5m", "message": f"line {EVIL}"}]}
    plain = log_text(view).plain
    assert "\x1b" not in plain and "\x07" not in plain and "\x9b" not in plain, repr(plain)
    assert "click red" in plain
