"""Learned models against the leakage controls, and the run directory a training run leaves."""

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT

from core.config import load_config
from core.data import load_dataset, write_draws_csv
from core.train.artifacts import last_report
from core.runs import read_events, status_of
from core.train.run import run_train
from core.train.loop import load_torch

pytestmark = pytest.mark.slow  # every test is a real training run, or the CLI in a subprocess
PLANTED = ROOT / "sample_data" / "parts_daily.csv"
FAST = {
    "logistic": ["train.epochs=8", "train.patience=3"],
    "gru": ["model.hidden=16", "train.epochs=6", "train.patience=3"],  # with the shipped skip path
    "hawkes": ["model.penalty_scales=[1]"],
    "transformer": [
        "model.d_model=16",
        "model.heads=2",
        "model.layers=1",
        "model.context=64",
        "train.steps_per_epoch=4",
        "train.batch_size=4",
        "train.epochs=4",
        "train.patience=2",
    ],
}


def _train(kind, data, root, *extra):
    cfg = load_config(
        ROOT / "configs" / f"{kind}.yaml", overrides=[*FAST[kind], "train.device=cpu", *extra], data=str(data)
    )
    return run_train(cfg, root)


@pytest.fixture(scope="module")
def short_control(synthetic_csv) -> Path:
    """3,000 uniform days: the leakage control, short enough to train on in seconds."""
    return synthetic_csv("uniform", days=3000, seed=21)


@pytest.mark.parametrize("kind", ["logistic", "gru", "hawkes", "transformer"])
def test_on_the_uniform_control_no_model_beats_the_baseline(kind, short_control, tmp_path):
    rep = last_report(_train(kind, short_control, tmp_path, "split.test_days=600", "split.val_days=600"))
    assert rep["primary"] == kind
    assert not rep["comparison"]["beats"], rep["comparison"]
    assert not rep["versus_uniform"][kind]["beats"]
    assert rep["verdict"]["status"] == "FAILED"


@pytest.fixture(scope="module")
def shuffled(tmp_path_factory) -> Path:
    """The sample with its days permuted within the training window: no dynamics left to
    learn there (the last 2,000 days, validation and test, are untouched)."""
    ds = load_dataset(PLANTED, parts=39, events_per_day=5)
    Y = ds.Y.copy()
    train_stop = len(Y) - 2000  # the default split: val and test are the last 2,000 days
    Y[:train_stop] = Y[np.random.default_rng(0).permutation(train_stop)]
    path = tmp_path_factory.mktemp("shuffled") / "shuffled.csv"
    write_draws_csv(path, ds.dates, Y)
    return path


@pytest.mark.parametrize("kind", ["logistic", "gru", "hawkes"])
def test_shuffled_training_labels_do_not_beat_the_baseline(kind, shuffled, tmp_path):
    rep = last_report(_train(kind, shuffled, tmp_path / "runs"))
    assert not rep["comparison"]["beats"], rep["comparison"]


def test_a_training_run_is_complete_and_beats_the_baseline_on_the_planted_sample(tmp_path):
    run = _train("logistic", PLANTED, tmp_path)
    rep = last_report(run)
    assert rep["comparison"]["beats"], rep["comparison"]
    assert rep["models"]["logistic"]["test"]["brier_skill"] > 0
    assert status_of(run).status == "succeeded"
    events = read_events(run.events_jsonl)
    epochs = [e for e in events if e["type"] == "epoch"]
    assert epochs and all({"train_loss", "val_loss", "val_auc"} <= set(e) for e in epochs)
    assert any(e["type"] == "checkpoint" for e in events)
    best = load_torch(run.model_checkpoint)
    assert best["calibrator"]["method"] in {"none", "platt", "isotonic", "temperature"}
    assert best["kind"] == "logistic" and best["config"]["model"]["kind"] == "logistic"
    assert load_torch(run.last_checkpoint)["epoch"] == len(epochs)
    assert "## Training" in run.training_log_md.read_text()


def test_train_refuses_a_baseline_kind_with_exit_2(tmp_path):
    r = subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", "train", "-c", "configs/baselines.yaml", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert r.returncode == 2 and "synapse baselines" in r.stderr
    assert not any(tmp_path.iterdir())
