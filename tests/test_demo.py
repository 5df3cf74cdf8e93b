"""`synapse demo`, the README's main job: both learned runs side by side in worker
processes, every artifact, JSON on stdout and prefixed progress on stderr; Ctrl-C stops
both workers cleanly (cancelled, resumable)."""

import json
import os
import signal
import subprocess
import sys
import time
from datetime import datetime, UTC
from pathlib import Path

import pytest

from helpers import ROOT

from core.runs import RunDir, list_run_dirs, status_of

pytestmark = pytest.mark.slow  # every test runs `synapse demo` and its two worker processes
ARTIFACTS = (
    "config.yaml",
    "manifest.json",
    "events.jsonl",
    "metrics.csv",
    "predictions.npz",
    "calibration_curve.png",
    "tier_rates_vs_baseline.png",
    "training_log.md",
    "model_checkpoint.pt",
    "last.pt",
)


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=2600, seed=11)  # the default splits need 2,365+ days


def _demo(data: Path, runs: Path, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "synapse_tui.cli",
            "demo",
            "--no-tui",
            "--json",
            "--data",
            str(data),
            "--runs-dir",
            str(runs),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        **kw,
    )


def test_demo_runs_logistic_and_gru_side_by_side_with_every_artifact(data, tmp_path):
    proc = _demo(data, tmp_path)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    result = json.loads(out)
    assert [r["summary"]["primary"] for r in result["runs"]] == ["logistic", "gru"]
    for r in result["runs"]:
        run = RunDir(Path(r["path"]))
        assert status_of(run).status == "succeeded"
        assert all((run.path / name).is_file() for name in ARTIFACTS), sorted(p.name for p in run.path.iterdir())
    # progress of both workers, each line named by its run; the two overlapped in time
    assert "[logistic] fold 0 epoch 1/" in err and "[gru] fold 0 epoch 1/" in err
    spans = []
    for r in result["runs"]:
        ts = [e["ts"] for e in RunDir(Path(r["path"])).read_events() if e["type"] in ("run_started", "run_finished")]
        spans.append((ts[0], ts[-1]))
    (a0, a1), (b0, b1) = spans
    assert a0 < b1 and b0 < a1, f"the runs did not overlap: {spans}"


def test_ctrl_c_cancels_both_workers_and_says_how_to_resume(data, tmp_path):
    proc = _demo(data, tmp_path, start_new_session=True)  # SIGINT to the CLI alone, as a test can
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        runs = [RunDir(info.path) for info in list_run_dirs(tmp_path)]
        if len(runs) == 2 and all(any(e["type"] == "epoch" for e in r.read_events()) for r in runs):
            break
        time.sleep(0.2)
    else:
        proc.kill()
        pytest.fail("the demo's runs never reached an epoch")
    # The logistic run can finish within moments of its first epoch: only the runs still
    # going when Ctrl-C comes are asked to stop (the GRU, at least, always is).
    going = [run for run in runs if not any(e["type"] == "run_finished" for e in run.read_events())]
    sent = datetime.now(UTC)
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err
    assert "stopping after this epoch" in err
    assert any(run.name == "gru" for run in going)
    for run in going:
        st = status_of(run)
        if st.status == "succeeded" and st.finished <= sent:
            continue  # it finished in the moment between the look above and the Ctrl-C
        assert st.status == "cancelled"
        assert f"synapse resume {run.run_id}" in err
        assert run.last_checkpoint.is_file()
