"""A worker never dies because whoever read its stdout went away: its progress then goes to
the run's worker.log and the job goes on (defect: `q` in the dashboard failed the demo runs
with BrokenPipeError)."""

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

from core.config import load_config
from core.jobs.launch import start_foreground
from core.runs import status_of
from core.train.run import create_run

TINY = [
    "model.hidden=8",
    "model.chunks=4",
    "model.tbptt=32",
    "train.epochs=3",
    "train.patience=100",
    "split.test_days=200",
    "split.val_days=200",
    "split.min_train_days=100",
    "train.device=cpu",
]


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1200, seed=4)


def test_python_ignores_sigpipe_in_a_worker():
    out = subprocess.run(
        [sys.executable, "-c", "import signal, core.jobs.worker; print(signal.getsignal(signal.SIGPIPE))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    )
    assert out.stdout.strip() == str(signal.SIG_IGN)


@pytest.mark.slow
def test_a_worker_whose_reader_went_away_still_succeeds(data, tmp_path):
    run = create_run(load_config(ROOT / "configs" / "gru.yaml", overrides=TINY, data=str(data)), tmp_path, "train")
    proc = start_foreground(run)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader (the dashboard, the demo CLI) is gone before the first line
    assert proc.wait(timeout=300) == 0
    st = status_of(run)
    assert st.status == "succeeded", st
    log = (run.path / "worker.log").read_text()
    assert "stdout went away" in log and "epoch" in log
