"""One live worker per run directory: the worker holds `worker.lock` for its whole life;
resume and the supervisor take it before they start one, or refuse naming who holds it."""

import json
import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from helpers import ROOT

from core.config import load_config
from core.errors import InputError
from core.jobs.launch import start_detached, worker_command
from core.jobs.remote.ssh import agent_argv
from core.jobs.supervisor import Supervisor, enqueue, read_claim
from core.jobs import worker
from core.runs import RunDir, format_ts, parse_ts, read_events, status_of
from core.runs.events import EventReader
from core.runs.lock import WORKER_LOCK, acquire, holder
from core.service import jobs as service
from core.train.run import create_run
from helpers import TINY_GRU as TINY


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1200, seed=4)


def _run(data, root: Path) -> RunDir:
    return create_run(load_config(ROOT / "configs" / "gru.yaml", overrides=TINY, data=str(data)), root, "train")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _lost_run(data, root: Path) -> RunDir:
    """A run whose attempt 1 started a minute ago in a process that is gone: it reads lost."""
    run = _run(data, root)
    with run.event_writer() as events:
        events.run_started(run.run_id, "hash", "cpu", 1, pid=_dead_pid())
    _age_events(run, 60)
    return run


def _age_events(run: RunDir, seconds: float) -> None:
    """Move every event `seconds` into the past: a run reads lost without waiting 30 s."""
    lines = []
    for e in read_events(run.events_jsonl):
        e["ts"] = format_ts(parse_ts(e["ts"]) - timedelta(seconds=seconds))
        lines.append(json.dumps(e))
    run.events_jsonl.write_text("".join(line + "\n" for line in lines), encoding="utf-8")


def _wait_for_epochs(run: RunDir, n: int, timeout: float = 60) -> None:
    reader, seen = EventReader(run.events_jsonl), 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += sum(e["type"] == "epoch" for e in reader.read_new())
        if seen >= n:
            return
        time.sleep(0.05)
    raise AssertionError(f"no {n} epoch events in {timeout}s")


def _wait_exit(pid: int, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if os.waitpid(pid, os.WNOHANG)[0]:
                return
        except ChildProcessError:
            return
        time.sleep(0.05)
    raise AssertionError(f"pid {pid} did not exit")


def _wait_status(run: RunDir, statuses: tuple[str, ...], timeout: float = 60) -> str:
    deadline = time.monotonic() + timeout
    while (st := status_of(run).status) not in statuses:
        assert time.monotonic() < deadline, f"{run.run_id} still {st} after {timeout} s"
        time.sleep(0.1)
    return st


# --------------------------------------------------------------------------- status


def test_a_held_lock_reads_running_though_the_heartbeat_is_stale_and_a_free_one_lost(data, tmp_path):
    run = _lost_run(data, tmp_path)
    assert status_of(run).status == "lost"
    # The holder is another live process: a worker whose heartbeat thread stalled.
    code = (
        "import sys, time; from core.runs.lock import acquire; acquire(sys.argv[1], 'worker'); "
        "print('held', flush=True); time.sleep(60)"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(run.path / WORKER_LOCK)], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "held"
        assert status_of(run).status == "running"
        assert holder(run.path / WORKER_LOCK)["pid"] == proc.pid
    finally:
        proc.kill()
        proc.wait()
    # The kernel dropped the lock with its holder: nothing stale is left behind.
    assert holder(run.path / WORKER_LOCK) is None
    assert status_of(run).status == "lost"


def test_a_mirror_is_judged_by_its_log_alone(data, tmp_path):
    run = _lost_run(data, tmp_path)
    (run.path / "remote.json").write_text("{}", encoding="utf-8")
    with acquire(run.path / WORKER_LOCK, "worker"):  # a local lock says nothing about the remote worker
        assert status_of(run).status == "lost"


# --------------------------------------------------------------------------- resume refusals


def test_resume_is_refused_naming_the_holder_while_the_lock_is_held(data, tmp_path):
    run = _lost_run(data, tmp_path)
    with acquire(run.path / WORKER_LOCK, "worker"):
        for attempt in (
            lambda: service.resume_detached(run),
            lambda: service.check_resumable(run),
            lambda: service.Workers([run], resume=True),
        ):
            with pytest.raises(InputError, match=rf"held by worker pid {os.getpid()} on "):
                attempt()
    assert [e["type"] for e in run.read_events()] == ["queued", "run_started"]  # nothing was started


@pytest.mark.slow
def test_a_worker_refuses_a_run_whose_lock_is_held_and_writes_nothing(data, tmp_path):
    run = _run(data, tmp_path)
    before = run.events_jsonl.read_bytes()
    with acquire(run.path / WORKER_LOCK, "test holder"):
        r = subprocess.run(worker_command(run), capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == worker.EXIT_LOCKED == service.EXIT_LOCKED, r.stderr
    assert f"held by test holder pid {os.getpid()}" in r.stderr
    assert run.events_jsonl.read_bytes() == before
    assert status_of(run).status == "queued"


# --------------------------------------------------------------------------- racing resumes


@pytest.mark.slow
def test_three_racing_cli_resumes_of_a_lost_run_start_one_worker(data, tmp_path):
    run = _run(data, tmp_path)
    pid = start_detached(run)
    _wait_for_epochs(run, 2)
    os.kill(pid, signal.SIGKILL)
    _wait_exit(pid)
    _age_events(run, 60)
    assert status_of(run).status == "lost"

    cmd = [sys.executable, "-m", "synapse_tui.cli", "resume", run.run_id, "--runs-dir", str(tmp_path)]
    # Two detached and one foreground resume: both paths start a worker the same way.
    procs = [
        subprocess.Popen(cmd + extra, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for extra in (["--detach"], ["--detach"], [])
    ]
    try:
        # While it runs, the winner's worker holds the lock (handed down, then written with its own pid).
        deadline = time.monotonic() + 60
        while not (started := [e for e in run.read_events() if e["type"] == "run_started"])[1:]:
            assert time.monotonic() < deadline, "the resumed worker never started"
            time.sleep(0.05)
        held = holder(run.path / WORKER_LOCK)
        assert held is not None and held["pid"] == started[1]["pid"] and held["what"] == "worker"
        outs = [p.communicate(timeout=90) for p in procs]  # the foreground one follows the run to its end
        results = [(p.returncode, out, err) for p, (out, err) in zip(procs, outs)]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
    assert sorted(rc for rc, _, _ in results) == [0, 2, 2], results
    for rc, _out, err in results:
        if rc == 2:  # one line naming who holds the run (stderr may also carry import warnings)
            said = [line for line in err.splitlines() if line.startswith("error:")]
            assert len(said) == 1 and "held by" in said[0] and " pid " in said[0], err

    assert _wait_status(run, ("succeeded", "failed", "cancelled")) == "succeeded"
    events = run.read_events()
    assert [e["attempt"] for e in events if e["type"] == "run_started"] == [1, 2]
    assert sum(e["type"] == "run_finished" for e in events) == 1
    last_start = max(i for i, e in enumerate(events) if e["type"] == "run_started")
    resumed = [e["epoch"] for e in events[last_start:] if e["type"] == "epoch"]
    assert resumed == list(range(resumed[0], 7)), resumed  # each epoch once, on to the last
    assert len(run.read_json("manifest.json")["test_touches"]) == 1
    assert holder(run.path / WORKER_LOCK) is None  # the worker let go when it ended


@pytest.mark.slow
def test_three_racing_service_resumes_in_threads_start_one_worker(data, tmp_path):
    run = _lost_run(data, tmp_path)
    barrier = threading.Barrier(3)
    results: list[object] = []

    def resume() -> None:
        barrier.wait()
        try:
            results.append(service.resume_detached(run))
        except InputError as exc:
            results.append(exc)

    threads = [threading.Thread(target=resume) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    wins = [r for r in results if isinstance(r, dict)]
    assert len(wins) == 1 and len(results) == 3, results
    assert all("held by" in str(r) for r in results if not isinstance(r, dict))
    assert wins[0]["attempt"] == 2
    _wait_exit(wins[0]["pid"], 60)
    assert [e["attempt"] for e in run.read_events() if e["type"] == "run_started"] == [1, 2]


# --------------------------------------------------------------------------- the supervisor


@pytest.mark.slow
def test_the_supervisor_hands_its_lock_to_the_worker_and_skips_a_run_held_elsewhere(data, tmp_path):
    root = tmp_path / "runs"
    held, free = _run(data, root), _run(data, root)
    enqueue(held)
    enqueue(free)
    sup = Supervisor(root, 2, use_lock=False)
    with acquire(held.path / WORKER_LOCK, "worker"):
        sup.tick()
        assert read_claim(held) is None and held.run_id not in sup.children  # not claimed, not started
        child = sup.children[free.run_id].proc
        deadline = time.monotonic() + 30
        while (h := holder(free.path / WORKER_LOCK)) is None or h.get("pid") != child.pid:
            assert child.poll() is None and time.monotonic() < deadline, h
            time.sleep(0.05)
        assert h["what"] == "worker"
    assert child.wait(60) == 0
    assert status_of(free).status == "succeeded"


# --------------------------------------------------------------------------- the remote agent


def test_the_agents_lockheld_probe_names_the_holder(data, tmp_path):
    run = _run(data, tmp_path)

    def probe() -> dict:
        r = subprocess.run(
            agent_argv(sys.executable, "lockheld", str(run.path)),
            capture_output=True,
            text=True,
            timeout=30,
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
            cwd=tmp_path,
        )  # stdlib only: nothing of the project is importable there
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout.strip().splitlines()[-1])

    assert probe() == {"held": False, "holder": None}
    assert not (run.path / WORKER_LOCK).exists()  # a probe never creates the lock file
    with acquire(run.path / WORKER_LOCK, "worker"):
        out = probe()
    assert out["held"] is True and out["holder"]["pid"] == os.getpid() and out["holder"]["what"] == "worker"
    assert probe() == {"held": False, "holder": None}


@pytest.mark.slow
def test_resume_of_a_mirror_is_refused_while_its_worker_holds_the_lock_on_the_host(data, tmp_path):
    """A mirror whose follower died reads lost; the worker on the host still holds its lock."""
    import yaml
    from sshd import sshd_available, start_sshd

    if not sshd_available():
        pytest.skip("OpenSSH sshd is not installed (apt-get install openssh-server)")
    server = start_sshd(tmp_path / "sshd")
    try:
        xdg = tmp_path / "xdg"
        (xdg / "synapse").mkdir(parents=True)
        work = tmp_path / "work"
        profile = dict(
            host="127.0.0.1",
            port=server.port,
            user=server.user,
            identity_file=str(server.identity_file),
            python=sys.executable,
            work_dir=str(work),
            connect_timeout=5,
        )
        (xdg / "synapse" / "hosts.yaml").write_text(yaml.safe_dump({"hosts": {"box": profile}}))
        env = dict(os.environ, XDG_CONFIG_HOME=str(xdg), COLUMNS="200")

        def cli(*args: str, input: str | None = None) -> subprocess.CompletedProcess:
            return subprocess.run(
                [sys.executable, "-m", "synapse_tui.cli", *args],
                capture_output=True,
                text=True,
                input=input,
                timeout=60,
                cwd=ROOT,
                env=env,
            )

        r = cli("remote", "trust", "box", input="y\n")
        assert r.returncode == 0, r.stderr + r.stdout
        mirror = _lost_run(data, tmp_path / "runs")
        there = work / "runs" / mirror.run_id
        there.mkdir(parents=True)
        (mirror.path / "remote.json").write_text(
            json.dumps(
                {
                    "host": "box",
                    "dir": str(there),
                    "python": sys.executable,
                    "work_dir": str(work),
                    "pid": None,
                    "pid_started_at": None,
                }
            )
        )
        assert status_of(mirror).status == "lost"
        before = mirror.events_jsonl.read_bytes()
        with acquire(there / WORKER_LOCK, "worker"):
            r = cli("resume", mirror.run_id, "--runs-dir", str(tmp_path / "runs"))
        assert r.returncode == 2, r.stderr + r.stdout
        said = [line for line in r.stderr.splitlines() if line.startswith("error:")]
        assert len(said) == 1 and f"held by worker pid {os.getpid()}" in said[0] and "(on box)" in said[0], r.stderr
        assert mirror.events_jsonl.read_bytes() == before and not (mirror.path / "follow.json").exists()
        assert sorted(p.name for p in there.iterdir()) == [WORKER_LOCK]  # no worker was started there
    finally:
        server.stop()
