"""Real worker processes: SIGKILL reads lost and resumes to the same result; SIGTERM cancels."""

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from helpers import ROOT

from core.config import load_config
from core.jobs.launch import cancel, check_resumable, start_detached, worker_command
from core.train.artifacts import last_report
from core.train.run import create_run
from core.runs import EventReader, parse_ts, run_status, status_of
from core.errors import InputError
from helpers import TINY_GRU as TINY


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1200, seed=4)


def _run(data, root):
    return create_run(load_config(ROOT / "configs" / "gru.yaml", overrides=TINY, data=str(data)), root, "train")


def _wait_for_epochs(run, n: int, timeout: float = 120) -> list[dict]:
    reader, seen = EventReader(run.events_jsonl), []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        seen += reader.read_new()
        if sum(e["type"] == "epoch" for e in seen) >= n:
            return seen
        time.sleep(0.05)
    raise AssertionError(f"no {n} epoch events in {timeout}s: {seen[-3:]}")


def _wait_exit(pid: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            return
        if done:
            return
        time.sleep(0.05)
    raise AssertionError("worker did not exit")


def _foreground(run, resume=False) -> int:
    return subprocess.run(worker_command(run, resume), capture_output=True, cwd=ROOT).returncode


@pytest.mark.slow
def test_sigkill_reads_lost_and_resume_finishes_like_an_uninterrupted_run(data, tmp_path):
    straight = _run(data, tmp_path / "a")
    assert _foreground(straight) == 0
    reference = last_report(straight)["summary"]

    run = _run(data, tmp_path / "b")
    pid = start_detached(run)
    _wait_for_epochs(run, 2)
    os.kill(pid, signal.SIGKILL)
    _wait_exit(pid)
    events = run.read_events()
    last_ts = max(parse_ts(e["ts"]) for e in events)
    # The pid is gone; once the last heartbeat is 30 s old the run reads lost.
    assert run_status(events, now=last_ts + timedelta(seconds=31)).status == "lost"
    assert status_of(run, now=last_ts + timedelta(seconds=31)).status == "lost"

    with pytest.raises(InputError, match="worker is gone but its last heartbeat"):
        check_resumable(run)  # a fresh heartbeat still counts as running right now
    assert _foreground_resume_when_lost(run) == 0
    st = status_of(run)
    assert st.status == "succeeded" and st.attempt == 2
    epochs = [e["epoch"] for e in run.read_events() if e["type"] == "epoch"]
    assert max(epochs) == 6 and sorted(set(epochs)) == list(range(1, 7))
    resumed = last_report(run)["summary"]
    for key in ("val_brier", "auc", "brier_skill", "ece_after", "best_good_or_better"):
        assert resumed[key] == reference[key], key


def _foreground_resume_when_lost(run) -> int:
    # Resume is for lost runs: age the evidence instead of sleeping 30 s.
    events = run.read_events()
    last_ts = max(parse_ts(e["ts"]) for e in events)
    assert run_status(events, now=last_ts + timedelta(seconds=31)).status == "lost"
    return _foreground(run, resume=True)


@pytest.mark.slow
def test_sigterm_cancels_after_the_epoch_and_keeps_last_pt(data, tmp_path):
    run = _run(data, tmp_path)
    pid = start_detached(run)
    _wait_for_epochs(run, 1)
    cancel(run)
    _wait_exit(pid)
    st = status_of(run)
    assert st.status == "cancelled"
    assert run.last_checkpoint.exists()
    check_resumable(run)  # cancelled runs may resume
    with pytest.raises(InputError, match="not running"):
        cancel(run)


def test_cancel_a_queued_run_marks_it_cancelled(data, tmp_path):
    run = _run(data, tmp_path)
    assert status_of(run).status == "queued"
    assert cancel(run).status == "cancelled"


@pytest.mark.slow
def test_cli_detach_prints_the_run_id(data, tmp_path):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "synapse_tui.cli",
            "baselines",
            "--data",
            str(data),
            "-o",
            "split.test_days=200",
            "-o",
            "split.val_days=200",
            "-o",
            "split.min_train_days=100",
            "--runs-dir",
            str(tmp_path),
            "--detach",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 0, r.stderr
    run_id = r.stdout.strip()
    deadline = time.monotonic() + 60
    while status_of(tmp_path / run_id).status not in ("succeeded", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status_of(tmp_path / run_id).status == "succeeded"
