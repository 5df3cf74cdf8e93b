"""Run directories and run status (docs/ARCHITECTURE.md, "A run directory", "Run status")."""

import os
import socket
import subprocess
import sys
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

import core.runs as runs
from core.errors import InputError
from core.runs import (
    HEARTBEAT_TIMEOUT_S,
    RunDir,
    RunStatus,
    format_ts,
    is_run_id,
    list_run_dirs,
    new_run_id,
    process_alive,
    process_start_time,
    run_status,
    status_of,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)
HOST = socket.gethostname()


def ev(type_, age_s, **fields):
    """An event `age_s` seconds before NOW."""
    return {"ts": format_ts(NOW - timedelta(seconds=age_s)), "type": type_, **fields}


def started(age_s, *, pid, pid_started_at, host=HOST, attempt=1):
    return ev(
        "run_started",
        age_s,
        run_id="20250601-115000-t-abcd",
        config_hash="h",
        host=host,
        pid=pid,
        pid_started_at=pid_started_at,
        device="cpu",
        attempt=attempt,
    )


@pytest.fixture(scope="module")
def dead_pid():
    """(pid, start time) of a real process that has exited and been reaped."""
    proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    start = process_start_time(proc.pid)
    assert start is not None and process_alive(HOST, proc.pid, start)
    proc.communicate(b"")
    assert proc.returncode == 0
    return proc.pid, start


ME = os.getpid()


def my_start():
    return process_start_time(ME)


# --------------------------------------------------------------------------- process identity


def test_process_identity_of_this_process():
    start = my_start()
    assert start and start == process_start_time(ME)
    boot = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert start.startswith(boot + ":")
    assert process_alive(HOST, ME, start)
    assert not process_alive("some-other-host", ME, start)
    assert not process_alive(HOST, ME, None)
    assert not process_alive(HOST, "123", start)


def test_a_dead_subprocess_is_not_alive(dead_pid):
    pid, start = dead_pid
    assert not process_alive(HOST, pid, start)
    assert process_start_time(pid) is None or process_start_time(pid) != start


def test_a_reused_pid_is_not_the_same_process():
    boot, ticks = my_start().rsplit(":", 1)
    assert not process_alive(HOST, ME, f"{boot}:{int(ticks) + 1}")  # same pid, other start time
    assert not process_alive(HOST, ME, f"another-boot-id:{ticks}")  # same pid and ticks, before a reboot


# --------------------------------------------------------------------------- status rules


def test_no_events_or_only_queued_is_queued():
    assert run_status([], NOW).status == "queued"
    st = run_status([ev("queued", 999)], NOW)
    assert st == RunStatus("queued", attempt=0, last_event=NOW - timedelta(seconds=999), events=1)


def test_running_while_the_process_lives_even_with_an_old_heartbeat():
    st = run_status([ev("queued", 4000), started(3600, pid=ME, pid_started_at=my_start()), ev("heartbeat", 3000)], NOW)
    assert st.status == "running" and st.attempt == 1 and st.pid == ME and st.host == HOST
    assert st.last_heartbeat == NOW - timedelta(seconds=3000)


def test_running_by_a_fresh_heartbeat_when_the_pid_is_dead(dead_pid):
    pid, start = dead_pid
    events = [started(600, pid=pid, pid_started_at=start), ev("heartbeat", 5)]
    assert run_status(events, NOW).status == "running"
    # the same log, read 40 s later, is lost
    assert run_status(events, NOW + timedelta(seconds=40)).status == "lost"


def test_any_fresh_event_of_the_attempt_counts_as_a_sign_of_life(dead_pid):
    pid, start = dead_pid
    events = [started(600, pid=pid, pid_started_at=start), ev("heartbeat", 100), ev("epoch", 3, epoch=4)]
    assert run_status(events, NOW).status == "running"


def test_lost_when_the_pid_is_dead_and_the_heartbeat_old(dead_pid):
    pid, start = dead_pid
    st = run_status([started(600, pid=pid, pid_started_at=start), ev("heartbeat", HEARTBEAT_TIMEOUT_S + 1)], NOW)
    assert st.status == "lost" and st.error is None and st.finished is None


def test_lost_when_the_pid_exists_but_its_start_time_differs():
    boot, ticks = my_start().rsplit(":", 1)
    st = run_status([started(600, pid=ME, pid_started_at=f"{boot}:{int(ticks) - 7}"), ev("heartbeat", 60)], NOW)
    assert st.status == "lost"


def test_lost_when_the_same_pid_lives_on_another_host():
    st = run_status([started(600, pid=ME, pid_started_at=my_start(), host="not-" + HOST)], NOW)
    assert st.status == "lost"


@pytest.mark.parametrize("status,error", [("succeeded", None), ("failed", "ValueError: boom"), ("cancelled", None)])
def test_run_finished_gives_the_status(status, error):
    finished = ev("run_finished", 10, status=status, **({"error": error} if error else {}))
    st = run_status([started(600, pid=ME, pid_started_at=my_start()), ev("heartbeat", 20), finished], NOW)
    assert st.status == status and st.error == error and st.done and not st.active
    assert st.finished == NOW - timedelta(seconds=10) and st.started == NOW - timedelta(seconds=600)


def test_cancelled_before_it_ever_started():
    assert run_status([ev("queued", 60), ev("run_finished", 30, status="cancelled")], NOW).status == "cancelled"


def test_a_resume_is_a_new_attempt_judged_by_its_own_events(dead_pid):
    pid, start = dead_pid
    lost_attempt = [started(3600, pid=pid, pid_started_at=start), ev("heartbeat", 3000)]
    assert run_status(lost_attempt, NOW).status == "lost"
    resumed = lost_attempt + [started(60, pid=ME, pid_started_at=my_start(), attempt=2)]
    st = run_status(resumed, NOW)
    assert (st.status, st.attempt, st.pid, st.last_heartbeat) == ("running", 2, ME, None)
    done = resumed + [ev("run_finished", 1, status="succeeded")]
    st = run_status(done, NOW)
    assert (st.status, st.attempt) == ("succeeded", 2)


def test_attempt_counts_run_started_events_when_the_field_is_missing(dead_pid):
    pid, start = dead_pid
    a = started(3600, pid=pid, pid_started_at=start)
    b = {k: v for k, v in started(30, pid=pid, pid_started_at=start).items() if k != "attempt"}
    assert run_status([a, b], NOW).attempt == 2


def test_a_run_finished_of_an_earlier_attempt_does_not_close_the_new_one(dead_pid):
    pid, start = dead_pid
    events = [
        started(7200, pid=pid, pid_started_at=start),
        ev("run_finished", 7000, status="failed", error="OOM"),
        started(600, pid=pid, pid_started_at=start, attempt=2),
        ev("heartbeat", 5),
    ]
    st = run_status(events, NOW)
    assert (st.status, st.attempt, st.error, st.finished) == ("running", 2, None, None)
    assert run_status(events, NOW + timedelta(minutes=5)).status == "lost"


def test_remote_runs_are_judged_by_events_only():
    events = [started(3600, pid=ME, pid_started_at=my_start()), ev("heartbeat", 100)]
    assert run_status(events, NOW).status == "running"  # the local pid matches...
    assert run_status(events, NOW, remote=True).status == "lost"  # ...but a remote run never uses it
    assert run_status(events + [ev("heartbeat", 2)], NOW, remote=True).status == "running"


def test_unknown_finished_status_reads_as_failed():
    st = run_status([ev("run_finished", 1, status="exploded")], NOW)
    assert st.status == "failed" and "exploded" in st.error


def test_status_of_a_run_dir_written_by_this_process(tmp_path):
    rd = RunDir.create(tmp_path, "live")
    assert status_of(rd).status == "queued"
    with rd.event_writer() as w:
        w.queued()
        w.run_started(rd.run_id, "abc", "cpu", 1)
        assert status_of(rd).status == "running"
        assert status_of(rd.path, remote=True).status == "running"  # fresh events
        w.run_finished("succeeded")
    st = rd.status()
    assert st.status == "succeeded" and st.run_id == rd.run_id and st.events == 3


# --------------------------------------------------------------------------- run dirs


def test_create_makes_a_run_dir_with_every_documented_path(tmp_path):
    rd = RunDir.create(tmp_path / "runs", "gru-small")
    assert rd.path.is_dir() and is_run_id(rd.run_id) and rd.name == "gru-small"
    assert rd.created is not None
    names = {
        "config_yaml": "config.yaml",
        "manifest_json": "manifest.json",
        "events_jsonl": "events.jsonl",
        "metrics_csv": "metrics.csv",
        "model_checkpoint": "model_checkpoint.pt",
        "last_checkpoint": "last.pt",
        "predictions_npz": "predictions.npz",
        "calibration_png": "calibration_curve.png",
        "tier_rates_png": "tier_rates_vs_baseline.png",
        "training_log_md": "training_log.md",
        "model_onnx": "model.onnx",
    }
    for attr, name in names.items():
        assert getattr(rd, attr) == rd.path / name
    assert [r.run_id for r in list_run_dirs(tmp_path / "runs")] == [rd.run_id]
    with pytest.raises(InputError):
        RunDir.create(tmp_path, "../escape")


def test_create_retries_on_an_id_clash(tmp_path, monkeypatch):
    taken = new_run_id("x")
    (tmp_path / taken).mkdir()
    fresh = new_run_id("x")
    ids = iter([taken, taken, fresh])
    monkeypatch.setattr(runs.layout, "new_run_id", lambda name: next(ids))
    assert RunDir.create(tmp_path, "x").run_id == fresh


def _mk(root, run_id):
    (root / run_id).mkdir(parents=True)
    return run_id


def test_open_by_full_id_or_unique_prefix(tmp_path):
    a = _mk(tmp_path, "20250101-120000-alpha-0a0a")
    b = _mk(tmp_path, "20250101-120000-beta-0b0b")
    c = _mk(tmp_path, "20250202-090000-gamma-0c0c")
    assert RunDir.open(tmp_path, a).path == tmp_path / a
    assert RunDir.open(tmp_path, "20250101-120000-b").run_id == b
    assert RunDir.open(tmp_path, "202502").run_id == c
    assert runs.RunDir.open(tmp_path, c).run_id == c


def test_a_full_id_wins_over_a_longer_id_it_prefixes(tmp_path):
    short = _mk(tmp_path, "20250101-120000-a-1234")
    _mk(tmp_path, "20250101-120000-a-1234-5678")
    assert RunDir.open(tmp_path, short).run_id == short


def test_open_with_an_ambiguous_prefix_names_the_candidates(tmp_path):
    a = _mk(tmp_path, "20250101-120000-alpha-0a0a")
    b = _mk(tmp_path, "20250101-120000-beta-0b0b")
    with pytest.raises(InputError, match="ambiguous") as err:
        RunDir.open(tmp_path, "20250101")
    assert a in str(err.value) and b in str(err.value)


def test_open_with_no_match_says_so(tmp_path):
    _mk(tmp_path, "20250101-120000-alpha-0a0a")
    with pytest.raises(InputError, match="no run matches"):
        RunDir.open(tmp_path, "2024")
    with pytest.raises(InputError, match="no runs directory"):
        RunDir.open(tmp_path / "missing", "2024")


@pytest.mark.parametrize(
    "ref",
    [
        "../x",
        "..",
        ".",
        "",
        "/etc",
        "/tmp/20250101-120000-a-0a0a",
        "20250101-120000-a-0a0a/../../x",
        "2025/..",
        "~",
        "x\x00",
    ],
)
def test_open_refuses_paths_and_traversal(tmp_path, ref):
    (tmp_path / "runs").mkdir()
    _mk(tmp_path / "runs", "20250101-120000-a-0a0a")
    with pytest.raises(InputError):
        RunDir.open(tmp_path / "runs", ref)


def test_symlinked_run_dirs_are_not_followed(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "20250101-120000-a-0a0a").symlink_to(outside)
    with pytest.raises(InputError):
        RunDir.open(tmp_path / "runs", "20250101-120000-a-0a0a")


def test_json_and_text_round_trip_atomically(tmp_path):
    rd = RunDir.create(tmp_path, "io")
    rd.write_json("manifest.json", {"seed": 1, "path": Path("/data/x.csv"), "nan": float("nan")})
    assert rd.read_json("manifest.json") == {"seed": 1, "path": "/data/x.csv", "nan": None}
    rd.write_text("training_log.md", "# log\n")
    assert rd.training_log_md.read_text() == "# log\n"
    assert rd.read_json("nothing.json", default=None) is None
    with pytest.raises(InputError, match="does not exist"):
        rd.read_json("nothing.json")
    rd.write_text("broken.json", "{\n  oops")
    with pytest.raises(InputError) as err:
        rd.read_json("broken.json")
    assert err.value.line == 2
    assert sorted(p.name for p in rd.path.iterdir()) == ["broken.json", "manifest.json", "training_log.md"]


@pytest.mark.parametrize("name", ["../x.json", "/tmp/x.json", "sub/x.json", ".hidden", "..", ""])
def test_file_names_are_confined_to_the_run_dir(tmp_path, name):
    rd = RunDir.create(tmp_path, "io")
    with pytest.raises(InputError):
        rd.write_text(name, "x")
    with pytest.raises(InputError):
        rd.read_json(name)


def test_a_writer_that_raises_midway_leaves_no_partial_file_and_no_temp(tmp_path):
    rd = RunDir.create(tmp_path, "io")
    with pytest.raises(RuntimeError):
        with rd.open_atomic("metrics.csv") as fh:
            fh.write("split,model,metric,k,value\n" + "val,gru,auc,,0.7\n" * 1000)
            raise RuntimeError("crash while writing")
    assert list(rd.path.iterdir()) == []

    rd.write_json("manifest.json", {"version": 1})
    with pytest.raises(TypeError):
        rd.write_json("manifest.json", {"version": 2, "bad": object()})
    with pytest.raises(RuntimeError):
        with rd.open_atomic("manifest.json") as fh:
            fh.write('{"version": 3, "half')
            raise RuntimeError("crash while writing")
    assert rd.read_json("manifest.json") == {"version": 1}
    assert [p.name for p in rd.path.iterdir()] == ["manifest.json"]
