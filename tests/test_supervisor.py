"""The supervisor: concurrency limit, one per root, exactly-once starts, idle exit."""

import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from helpers import ROOT

from core.config import load_config
from core.jobs.supervisor import (
    CLAIM_FILE,
    EXIT_LOCKED,
    LOG_FILE,
    Supervisor,
    claim,
    default_parallel,
    enqueue,
    ensure_supervisor,
    read_claim,
    submit,
    supervisor_command,
    supervisor_info,
)
from core.train.run import create_run
from core.runs import RunDir, parse_ts, status_of

TINY = [
    "split.test_days=200",
    "split.val_days=200",
    "split.min_train_days=100",
    "eval.baselines=[frequency]",
    "calibration.method=platt",
]


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1200, seed=1)


def _cfg(data, name):
    return load_config(ROOT / "configs" / "baselines.yaml", overrides=TINY + [f"name={name}"], data=str(data))


def _sup_log_events(run: RunDir) -> list[dict]:
    return [e for e in run.read_events() if e["type"] == "log" and "started by supervisor" in e.get("message", "")]


def _interval(run: RunDir) -> tuple:
    ev = run.read_events()
    start = [parse_ts(e["ts"]) for e in ev if e["type"] == "run_started"]
    end = [parse_ts(e["ts"]) for e in ev if e["type"] == "run_finished"]
    assert len(start) == 1 and len(end) == 1, [e["type"] for e in ev]
    return start[0], end[0]


def _wait(proc: subprocess.Popen, timeout: float) -> int:
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.terminate()
        proc.wait(10)
        raise AssertionError(f"supervisor pid {proc.pid} still running after {timeout} s") from None


@pytest.mark.slow
def test_parallel_1_runs_one_at_a_time_oldest_first_and_a_second_supervisor_exits_at_once(data, tmp_path):
    root = tmp_path / "runs"
    runs = [submit(_cfg(data, f"tiny{i}"), root, "baselines") for i in range(3)]
    stray = create_run(_cfg(data, "notmine"), root, "baselines")  # never enqueued: not the supervisor's
    first = subprocess.Popen(supervisor_command(root, 1, grace=1.0, poll=0.1), cwd=ROOT)
    try:
        deadline = time.monotonic() + 10
        while supervisor_info(root) is None:
            assert time.monotonic() < deadline and first.poll() is None, "supervisor did not come up"
            time.sleep(0.05)
        t0 = time.monotonic()
        second = subprocess.run(supervisor_command(root, 1, grace=1.0), cwd=ROOT, timeout=30)
        assert second.returncode == EXIT_LOCKED and time.monotonic() - t0 < 10
        assert ensure_supervisor(root, 1) == first.pid  # alive: no new one
        assert _wait(first, 90) == 0  # idle after the 3 runs: exits by itself
    finally:
        if first.poll() is None:
            first.terminate()
    assert [status_of(r).status for r in runs] == ["succeeded"] * 3
    assert status_of(stray).status == "queued" and not (stray.path / CLAIM_FILE).exists()
    intervals = [_interval(r) for r in runs]
    assert intervals == sorted(intervals), "oldest first"
    for (_, e1), (s2, _) in zip(intervals, intervals[1:]):
        assert e1 <= s2, "two runs overlapped with --parallel 1"
    for r in runs:
        assert len(_sup_log_events(r)) == 1
        c = read_claim(r)
        assert c["supervisor_pid"] == first.pid and isinstance(c["worker_pid"], int)
    log = (root / LOG_FILE).read_text()
    assert "holds" in log and "exiting" in log


@pytest.mark.slow
def test_an_idle_supervisor_exits_and_ensure_starts_a_new_one(tmp_path):
    root = tmp_path / "empty"
    t0 = time.monotonic()
    pid = ensure_supervisor(root, 2, grace=0.3, poll=0.05)
    info = supervisor_info(root)
    assert info["pid"] == pid and info["parallel"] == 2
    deadline = time.monotonic() + 15
    while supervisor_info(root, include_stopping=True) is not None:
        assert time.monotonic() < deadline, "idle supervisor did not exit"
        time.sleep(0.05)
    assert time.monotonic() - t0 < 15
    pid2 = ensure_supervisor(root, 1, grace=0.3, poll=0.05)
    assert pid2 != pid
    while supervisor_info(root, include_stopping=True) is not None:
        time.sleep(0.05)
    assert "nothing queued or running" in (root / LOG_FILE).read_text()


class _InstantProc:
    """A fake worker that did its whole run the moment it was launched."""

    def __init__(self, pid):
        self.pid = pid

    def poll(self):
        return 0


def test_two_supervisors_racing_start_each_queued_run_exactly_once(data, tmp_path):
    root = tmp_path / "race"
    runs = [create_run(_cfg(data, f"r{i}"), root, "baselines") for i in range(24)]
    for r in runs:
        enqueue(r)
    launched: list[str] = []
    lock = threading.Lock()

    def launcher(run, parallel, cwd):
        with lock:
            launched.append(run.run_id)
        with run.event_writer() as ev:
            ev.run_started(run.run_id, "h", "cpu", 1)
            ev.run_finished("succeeded")
        return _InstantProc(os.getpid())

    sups = [Supervisor(root, 24, use_lock=False, launcher=launcher) for _ in range(2)]
    barrier = threading.Barrier(2)

    def drive(sup):
        barrier.wait()
        for _ in range(5):
            sup.tick()

    threads = [threading.Thread(target=drive, args=(s,)) for s in sups]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(launched) == sorted(r.run_id for r in runs), "every run started exactly once"
    assert sorted(sups[0].started + sups[1].started) == sorted(launched)
    print("started by each:", len(sups[0].started), len(sups[1].started))
    for r in runs:
        assert len(_sup_log_events(r)) == 1
        assert sum(e["type"] == "run_started" for e in r.read_events()) == 1
        assert status_of(r).status == "succeeded"


def test_claim_is_exclusive_across_processes(data, tmp_path):
    run = create_run(_cfg(data, "c"), tmp_path / "claim", "baselines")
    code = (
        "import sys; from core.runs import RunDir; from core.jobs.supervisor import claim; "
        "print(int(claim(RunDir(sys.argv[1]))))"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(run.path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    wins = [int(p.communicate(timeout=60)[0].strip()) for p in procs]
    assert sum(wins) == 1
    assert claim(run) is False


def test_a_worker_that_dies_before_starting_fails_the_run_instead_of_leaving_it_queued(data, tmp_path):
    root = tmp_path / "dead"
    run = submit(_cfg(data, "dies"), root, "baselines")

    class Died:
        pid = os.getpid()

        def poll(self):
            return 2

    sup = Supervisor(root, 1, use_lock=False, launcher=lambda run, p, cwd: Died())
    sup.tick()  # starts it
    sup.tick()  # reaps it: still queued -> failed, with the reason
    st = status_of(run)
    assert st.status == "failed" and "before the run started" in st.error
    assert sup.tick() == (0, 0)


def test_settings_change_the_limit_of_a_live_supervisor(tmp_path):
    from core.jobs.supervisor import request_parallel

    root = tmp_path / "settings"
    request_parallel(root, 3)  # older than the supervisor: an explicit --parallel wins
    sup = Supervisor(root, 1, use_lock=False, launcher=lambda *a: None)
    sup.tick()
    assert sup.parallel == 1
    time.sleep(0.01)
    request_parallel(root, 2)
    sup.tick()
    assert sup.parallel == 2
    default = Supervisor(tmp_path / "x", None, use_lock=False, launcher=lambda *a: None)
    default.tick()
    assert default.parallel == default_parallel()


def test_workers_get_the_parallel_count_and_the_cwd_the_run_was_enqueued_from(data, tmp_path, monkeypatch):
    import subprocess as supervisor_subprocess

    calls = []

    class FakePopen:
        def __init__(self, cmd, **kw):
            calls.append((cmd, kw))
            self.pid = os.getpid()

        def poll(self):
            return None

    monkeypatch.setattr(supervisor_subprocess, "Popen", FakePopen)
    where = tmp_path / "elsewhere"
    where.mkdir()
    run = submit(_cfg(data, "env"), tmp_path / "runs", "baselines", cwd=where)
    Supervisor(tmp_path / "runs", 3, use_lock=False).tick()
    ((cmd, kw),) = calls
    assert cmd[-1] == str(run.path) and cmd[1:3] == ["-m", "core.jobs.worker"]
    assert kw["env"]["SYNAPSE_PARALLEL_WORKERS"] == "3" and kw["cwd"] == str(where) and kw["start_new_session"]
