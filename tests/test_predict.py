"""`synapse predict`: tomorrow's probabilities agree with the run's own scoring, pools are sized."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, write_synthetic

from core.config import load_config
from core.data import load_dataset, synthetic, write_draws_csv
from core.errors import InputError
from core.train.run import run_baselines
from core.service.predict import pool_backtest, predict
from core.train.run import run_train

SMALL = ["split.test_days=300", "split.val_days=300", "split.min_train_days=200"]


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1500, seed=9)


@pytest.fixture(scope="module")
def train_run(data, tmp_path_factory):
    cfg = load_config(
        ROOT / "configs" / "gru.yaml",
        data=str(data),
        overrides=[*SMALL, "model.hidden=16", "train.epochs=3", "train.device=cpu"],
    )
    return run_train(cfg, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def baseline_run(data, tmp_path_factory):
    cfg = load_config(ROOT / "configs" / "baselines.yaml", data=str(data), overrides=SMALL)
    return run_baselines(cfg, tmp_path_factory.mktemp("runs"))


@pytest.mark.parametrize("which", ["train_run", "baseline_run"])
def test_a_day_inside_the_data_matches_the_runs_own_test_prediction(which, request):
    """Scoring day D from the days before it is exactly what the run did on its test window."""
    run = request.getfixturevalue(which)
    with np.load(run.predictions_npz) as z:
        primary = str(z["primary"])
        dates, probs = z["dates_test"], z[f"{primary}__prob_test"]
    for j in (0, 137, len(dates) - 1):
        res = predict(run, date=str(dates[j]))
        got = np.zeros(39)
        for row in res["probabilities"]:
            got[row["part"] - 1] = row["p"]
        np.testing.assert_allclose(got, probs[j], rtol=0, atol=2e-6)
        assert res["date"] == str(dates[j]) and res["model"] == primary


def test_tomorrow_is_the_day_after_the_data_and_new_days_are_used(train_run, data, tmp_path):
    res = predict(train_run)
    ds = load_dataset(data, parts=39, events_per_day=5)
    assert res["date"] == str(ds.dates[-1] + np.timedelta64(1, "D"))
    assert [r["p"] for r in res["probabilities"]] == sorted((r["p"] for r in res["probabilities"]), reverse=True)
    # Ten newer days appended: the run scores the day after them, reading them.
    more = synthetic.generate("planted", days=10, seed=99, start=str(ds.dates[-1] + np.timedelta64(1, "D")))
    longer = tmp_path / "longer.csv"
    write_draws_csv(longer, np.concatenate([ds.dates, more.dates]), np.vstack([ds.Y, more.Y]))
    res2 = predict(train_run, data=longer)
    assert res2["new_days_since_run"] == 10 and res2["date"] == str(more.dates[-1] + np.timedelta64(1, "D"))
    assert res2["probabilities"] != res["probabilities"]


def test_pool_table_and_target_suggestion(baseline_run):
    res = predict(baseline_run, ks=list(range(15, 31)), target=("good", 0.5))
    pools = res["pools"]["pools"]
    good = [p["or_better"]["good"] for p in pools]
    assert good == sorted(good)
    k = res["suggestion"]["k"]
    assert k is not None and pools[k - 15]["or_better"]["good"] >= 0.5
    assert k == 15 or pools[k - 16]["or_better"]["good"] < 0.5
    top = [r["part"] for r in res["probabilities"]]
    assert pools[0]["parts"] == top[:15]
    assert "calibrated on the validation window" in res["caveat"]


def test_backtest_writes_the_pool_calibration_into_the_run(baseline_run):
    touches = len(baseline_run.read_json("manifest.json")["test_touches"])
    bt = pool_backtest(baseline_run)
    after = baseline_run.read_json("manifest.json")["test_touches"]
    assert len(after) == touches + 1 and "predict --backtest" in after[-1]["what"]  # a look at the test window
    assert bt["n_days"] == 300 and len(bt["per_k"]) == 8
    png = baseline_run.path / "pool_calibration.png"
    assert png.read_bytes()[:4] == b"\x89PNG"
    with open(baseline_run.metrics_csv) as fh:
        rows = [r for r in csv.DictReader(fh) if r["eval_id"] == "pool-backtest"]
    assert {r["metric"] for r in rows} >= {"pool_ece", "pool_pred_rate", "pool_real_rate"}
    assert predict(baseline_run)["calibration"]["pool_backtest_ece"] == bt["pooled"]["ece"]


def test_bad_requests_are_input_errors(baseline_run, tmp_path):
    with pytest.raises(InputError, match="not a date"):
        predict(baseline_run, date="tomorrow")
    other = write_synthetic(tmp_path / "p45.csv", "planted", days=400, parts=45, seed=1)
    with pytest.raises(InputError, match="out of range"):
        predict(baseline_run, data=other)


@pytest.mark.slow
def test_cli_predict_json_and_errors(train_run):
    cmd = [sys.executable, "-m", "synapse_tui.cli", "predict", str(train_run.path)]
    r = subprocess.run([*cmd, "--json", "--target", "good-or-better:0.4"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert len(out["probabilities"]) == 39 and out["suggestion"]["tier"] == "good"
    r = subprocess.run([*cmd, "--target", "good:1.5"], capture_output=True, text=True, cwd=ROOT)
    assert r.returncode == 2 and "TIER:LEVEL" in r.stderr


@pytest.mark.slow
def test_onnx_serving_matches_pytorch(train_run):
    from core.export import export_onnx

    with pytest.raises(InputError, match="export onnx"):
        predict(train_run, onnx=True)
    export_onnx(train_run, export_length=8, latency_calls=5)
    a, b = predict(train_run), predict(train_run, onnx=True)
    assert b["engine"] == "onnxruntime"
    pa = {r["part"]: r["p"] for r in a["probabilities"]}
    pb = {r["part"]: r["p"] for r in b["probabilities"]}
    assert max(abs(pa[k] - pb[k]) for k in pa) < 1e-5
