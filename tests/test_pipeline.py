"""End-to-end honesty of the evaluation path: run directories, verdicts, leakage checks."""

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from helpers import ROOT, write_synthetic

from core.train.artifacts import last_report
from core.train.prepare import Prepared, baseline_logits, prepare, scored_from_logits, windows
from core.train.reevaluate import reevaluate
from core.train.run import run_baselines
from core.config import load_config
from core.errors import InputError
from core.evaluation.evaluate import evaluate_scorers
from core.runs import RunDir, list_run_dirs, read_events, status_of

PLANTED = ROOT / "sample_data" / "parts_daily.csv"
CONTROL = ROOT / "sample_data" / "control_uniform.csv"
SMALL = ["split.test_days=400", "split.val_days=400", "split.min_train_days=200"]


@pytest.fixture(scope="module")
def small_data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=2000, seed=11)


@pytest.fixture(scope="module")
def small_run(small_data, tmp_path_factory) -> RunDir:
    cfg = load_config(ROOT / "configs" / "baselines.yaml", overrides=SMALL, data=str(small_data))
    return run_baselines(cfg, tmp_path_factory.mktemp("runs"))


@pytest.fixture(scope="module")
def planted_report(tmp_path_factory) -> dict:
    cfg = load_config(ROOT / "configs" / "baselines.yaml", data=str(PLANTED))
    run = run_baselines(cfg, tmp_path_factory.mktemp("runs"))
    return last_report(run)


@pytest.fixture(scope="module")
def control_report(tmp_path_factory) -> dict:
    cfg = load_config(ROOT / "configs" / "baselines.yaml", data=str(CONTROL))
    run = run_baselines(cfg, tmp_path_factory.mktemp("runs"))
    return last_report(run)


def test_run_directory_is_complete(small_run):
    for name in (
        "config.yaml",
        "manifest.json",
        "events.jsonl",
        "metrics.csv",
        "predictions.npz",
        "calibration_curve.png",
        "tier_rates_vs_baseline.png",
        "training_log.md",
    ):
        assert (small_run.path / name).is_file(), name
    for png in (small_run.calibration_png, small_run.tier_rates_png):
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert not [p for p in small_run.path.iterdir() if p.name.startswith(".")], "temp files left behind"


def test_event_log_tells_the_story(small_run):
    types = [e["type"] for e in read_events(small_run.events_jsonl)]
    assert types[:2] == ["queued", "run_started"]
    assert "calibrated" in types and "evaluated" in types and types[-1] == "run_finished"
    assert status_of(small_run).status == "succeeded"
    arts = {e["path"] for e in read_events(small_run.events_jsonl) if e["type"] == "artifact"}
    assert {"metrics.csv", "predictions.npz", "training_log.md"} <= arts


def test_manifest_records_data_splits_and_one_test_touch(small_run, small_data):
    m = json.loads(small_run.manifest_json.read_text())
    import hashlib

    assert m["data"]["sha256"] == hashlib.sha256(small_data.read_bytes()).hexdigest()
    assert m["data"]["rows"] == 2000
    (s,) = m["splits"]
    assert s["train"]["stop"] <= s["val"]["start"] and s["val"]["stop"] <= s["test"]["start"]
    assert s["test"]["n"] == 400 and s["test"]["last_date"] == m["data"]["last_date"]
    assert len(m["test_touches"]) == 1
    assert "test window touched **1**" in small_run.training_log_md.read_text()


def test_metrics_csv_is_long_format_for_every_model_split_and_k(small_run):
    with open(small_run.metrics_csv) as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0]) == ["eval_id", "fold", "split", "model", "metric", "k", "value"]
    models = {r["model"] for r in rows if r["metric"] == "auc_macro"}
    assert models == {"uniform", "frequency", "recency", "ewma", "hot_cold"}
    ks = {
        int(r["k"]) for r in rows if r["metric"] == "good_or_better" and r["split"] == "test" and r["model"] == "ewma"
    }
    assert ks == set(range(20, 28))
    assert any(r["metric"] == "mcnemar_p_holm" for r in rows)


def test_predictions_hold_val_and_test_scores(small_run):
    with np.load(small_run.predictions_npz) as z:
        assert z["ewma__logits_test"].shape == (400, 39)
        assert z["ewma__prob_val"].shape == (400, 39)
        assert z["dates_test"].dtype == np.dtype("datetime64[D]")
        p = z["ewma__prob_test"]
        assert np.all((p > 0) & (p < 1))


@pytest.mark.slow
def test_planted_sample_signal_baselines_beat_uniform(planted_report):
    vu = planted_report["versus_uniform"]
    # Recency sees the planted excitation/inhibition, frequency the planted base rates.
    assert vu["recency"]["beats"], vu["recency"]
    assert vu["frequency"]["beats"], vu["frequency"]
    assert planted_report["best_baseline"] != "uniform"
    assert planted_report["comparison"]["beats"]
    # The truth file gives an oracle that the best baseline does not reach.
    test = planted_report["models"][planted_report["primary"]]["test"]
    assert 0 < test["lift_capture"] < 1


@pytest.mark.slow
def test_uniform_control_nothing_beats_uniform_and_the_verdict_says_so(control_report):
    for name, comp in control_report["versus_uniform"].items():
        assert not comp["beats"], (name, comp)
    v = control_report["verdict"]
    assert v["status"] == "FAILED" and "beats_reference" in v["failed"]
    for block in control_report["models"].values():
        assert block["test"]["lift_capture"] is None  # a constant truth has no lift to capture


def test_test_labels_change_no_fitted_quantity(small_data):
    """Everything chosen or fitted (calibrators, best baseline) is blind to the test window."""
    cfg = load_config(ROOT / "configs" / "baselines.yaml", overrides=SMALL, data=str(small_data))
    prep = prepare(cfg)
    (split,) = prep.splits
    logits = baseline_logits(cfg, prep.data.Y)
    base = evaluate_scorers(scored_from_logits(logits, split, lambda n: "baseline"), windows(prep, split), cfg)

    rng = np.random.default_rng(0)
    Y2 = prep.data.Y.copy()
    te = split.slice("test")
    Y2[te] = False
    for row in range(te.start, te.stop):
        Y2[row, rng.choice(39, 5, replace=False)] = True
    prep2 = Prepared(cfg, prep.data, prep.splits, prep.truth, prep.truth_file)
    object.__setattr__(prep2, "data", type(prep.data)(prep.data.dates, Y2, prep.data.path, "x", prep.data.fmt, ()))
    logits2 = baseline_logits(cfg, Y2)
    for k in logits:  # scores up to the first test day are untouched
        assert np.array_equal(logits[k][: te.start + 1], logits2[k][: te.start + 1])
    other = evaluate_scorers(scored_from_logits(logits2, split, lambda n: "baseline"), windows(prep2, split), cfg)
    assert other.calibrators == base.calibrators
    assert other.report["best_baseline"] == base.report["best_baseline"]
    assert other.report["selection"] == base.report["selection"]
    for name in base.report["models"]:
        assert other.report["models"][name]["val"] == base.report["models"][name]["val"]
        assert other.report["models"][name]["calibration"] == base.report["models"][name]["calibration"]
    # ...while the test metrics do see the new labels (so this test can fail).
    assert other.report["models"]["ewma"]["test"]["brier"] != base.report["models"]["ewma"]["test"]["brier"]


def test_eval_refits_calibration_and_counts_the_test_touch(small_data, tmp_path):
    cfg = load_config(ROOT / "configs" / "baselines.yaml", overrides=SMALL, data=str(small_data))
    run = run_baselines(cfg, tmp_path)
    before = last_report(run)
    cfg2 = load_config(
        run.config_yaml, overrides=["calibration.method=temperature", "calibration.per_part=false", "eval.k=[18,19,20]"]
    )
    result = reevaluate(run, cfg2)
    after = last_report(run)
    assert result["test_touches"] == 2
    assert after["ks"] == [18, 19, 20]
    assert {m["calibration"]["name"] for n, m in after["models"].items() if n != "uniform"} == {"temperature/global"}
    # Raw scores are the same ones: the raw ECE of a scorer does not change with the method.
    assert after["models"]["ewma"]["test"]["ece_raw"] == before["models"]["ewma"]["test"]["ece_raw"]
    with open(run.metrics_csv) as fh:
        ids = {r["eval_id"] for r in csv.DictReader(fh)}
    assert ids == {"run", result["eval_id"]}
    log = run.training_log_md.read_text()
    assert "touched **2**" in log and "temperature" in log


def test_rolling_origin_folds_each_evaluated_and_summarised(small_data, tmp_path):
    cfg = load_config(
        ROOT / "configs" / "baselines.yaml",
        overrides=["split.test_days=300", "split.val_days=300", "split.folds=2", "split.min_train_days=200"],
        data=str(small_data),
    )
    run = run_baselines(cfg, tmp_path)
    with open(run.metrics_csv) as fh:
        folds = {r["fold"] for r in csv.DictReader(fh)}
    assert folds == {"0", "1"}
    assert "Rolling-origin folds" in run.training_log_md.read_text()
    assert len(json.loads(run.manifest_json.read_text())["splits"]) == 2


def test_an_exception_ends_the_run_failed_with_the_traceback(small_data, tmp_path, monkeypatch):
    def explode(*a, **k):
        raise RuntimeError("injected failure")

    import core.train.baselines

    monkeypatch.setattr(core.train.baselines, "evaluate_scorers", explode)
    cfg = load_config(ROOT / "configs" / "baselines.yaml", overrides=SMALL, data=str(small_data))
    with pytest.raises(RuntimeError):
        run_baselines(cfg, tmp_path)
    (info,) = list_run_dirs(tmp_path)
    st = status_of(info.path)
    assert st.status == "failed" and "injected failure" in st.error
    assert "injected failure" in (info.path / "training_log.md").read_text()


def _synapse(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "synapse_tui.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.mark.slow
def test_bad_input_exits_2_and_leaves_no_run_directory(tmp_path):
    runs = tmp_path / "runs"
    bad = ROOT / "tests" / "data" / "bad" / "part_twice.csv"
    r = _synapse("baselines", "--data", str(bad), "--runs-dir", str(runs))
    assert r.returncode == 2 and "part_twice.csv:" in r.stderr
    r = _synapse("baselines", "--data", str(PLANTED), "-o", "split.test_days=20000", "--runs-dir", str(runs))
    assert r.returncode == 2 and "not enough data" in r.stderr
    r = _synapse("baselines", "--data", str(PLANTED), "-o", "model.halflif=3", "--runs-dir", str(runs))
    assert r.returncode == 2 and "halflife" in r.stderr
    assert not runs.exists() or list_run_dirs(runs) == []


@pytest.mark.slow
def test_cli_baselines_and_eval_json(small_data, tmp_path):
    runs = tmp_path / "runs"
    r = _synapse(
        "baselines", "--data", str(small_data), *sum((["-o", o] for o in SMALL), []), "--runs-dir", str(runs), "--json"
    )
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["verdict"]["status"] in {"APPROVED", "FAILED"} and out["summary"]["primary"]
    r = _synapse("eval", out["run_id"][:18], "--runs-dir", str(runs), "--calibration", "platt", "--json")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["test_touches"] == 2


def test_bundled_sample_resolves_from_any_directory(tmp_path, monkeypatch):
    """The shipped configs name sample_data/parts_daily.csv relative to the project: from
    another directory it still resolves (to the bundled file); a path that exists where the
    user is wins; a missing one is reported as the user wrote it."""
    from core.data import resolve_data_path
    from core.train.prepare import prepare

    monkeypatch.chdir(tmp_path)
    cfg = load_config("baselines")
    prep = prepare(cfg)
    assert prep.data.path == ROOT / "sample_data" / "parts_daily.csv" and prep.truth is not None
    local = tmp_path / "sample_data" / "parts_daily.csv"
    local.parent.mkdir()
    write_synthetic(local, "uniform", days=50, seed=1)
    assert resolve_data_path("sample_data/parts_daily.csv") == Path("sample_data/parts_daily.csv")
    with pytest.raises(InputError, match="nowhere.csv"):
        prepare(load_config("baselines", data="nowhere.csv"))
