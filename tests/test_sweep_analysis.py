"""How a sweep's validation metric depends on each swept key (core.jobs.sweep.analysis):
eta squared, the permutation p-value and Spearman's rho on planted data where the answer is
known, a uniform control where nothing matters, and the view of a real (queued) sweep."""

import itertools
import json

import numpy as np
import pytest
from scipy import stats

from helpers import ROOT

from core.jobs.sweep import start_sweep
from core.jobs.sweep.analysis import (
    ALPHA,
    eta_squared,
    key_importance,
    name_of,
    p_floor,
    permutation_p,
    sweep_summary,
    sweep_view,
)
from core.service import sweeps as service

CONFIGS = ROOT / "configs"
SMALL = ["split.test_days=200", "split.val_days=200", "split.min_train_days=100", "train.epochs=2"]


def _grid(reps: int = 2):
    """A full 3 x 4 x reps grid: (lr, hidden, rep) per run."""
    return list(itertools.product([1e-3, 1e-2, 1e-1], [8, 16, 32, 64], range(reps)))


# --------------------------------------------------------------------------- the math


def test_eta_squared_is_the_one_way_anova_share_of_variance():
    rng = np.random.default_rng(3)
    labels = ["a"] * 5 + ["b"] * 7 + ["c"] * 4
    y = rng.normal(size=16) + np.array([0.0] * 5 + [1.0] * 7 + [-0.5] * 4)
    F, _ = stats.f_oneway(y[:5], y[5:12], y[12:])
    df_b, df_w = 2, 13
    assert eta_squared(labels, y) == pytest.approx(F * df_b / (F * df_b + df_w), rel=1e-9)
    # a grouping that separates the values perfectly explains all of it; a constant metric nothing
    assert eta_squared([1, 1, 2, 2], [0.1, 0.1, 0.3, 0.3]) == pytest.approx(1.0)
    assert eta_squared([1, 2, 1, 2], [0.2, 0.2, 0.2, 0.2]) is None
    assert eta_squared([1, 1, 1], [0.1, 0.2, 0.3]) is None  # one group


def test_a_planted_driver_key_is_important_and_a_key_that_does_nothing_is_not():
    rng = np.random.default_rng(7)
    runs = _grid(reps=2)  # 24 runs
    effect = {1e-3: 0.20, 1e-2: 0.15, 1e-1: 0.25}  # lr drives the metric; hidden does nothing
    y = [effect[lr] + rng.normal(0, 0.005) for lr, _, _ in runs]
    lr = key_importance([r[0] for r in runs], y, numeric=True)
    hidden = key_importance([r[1] for r in runs], y, numeric=True)
    assert lr["eta2"] > 0.95 and lr["significant"] and lr["p_value"] < 0.001
    assert lr["chance"] == pytest.approx(2 / 23)
    assert hidden["eta2"] < 0.25 and not hidden["significant"] and hidden["p_value"] > ALPHA
    assert abs(hidden["rho"]) < 0.4
    # a monotone effect gives Spearman's rho its sign (here: higher hidden, lower metric)
    y2 = [0.3 - 0.001 * h + rng.normal(0, 0.002) for _, h, _ in runs]
    mono = key_importance([r[1] for r in runs], y2, numeric=True)
    rho = stats.spearmanr([r[1] for r in runs], y2).statistic
    assert mono["rho"] == pytest.approx(rho) and mono["rho"] < -0.9 and mono["rho_p"] < 1e-6
    assert mono["significant"]


def test_on_a_uniform_control_no_key_is_significant_beyond_the_nominal_rate():
    """Metric noise independent of every key: across 60 control sweeps the permutation test
    calls a key significant about ALPHA of the time, and eta squared averages its chance level
    (k-1)/(n-1) — which is why the dashboard shows it beside the bar."""
    rng = np.random.default_rng(11)
    runs = _grid(reps=2)
    lrs, hiddens = [r[0] for r in runs], [r[1] for r in runs]
    sig, etas = [], []
    for _ in range(60):
        y = rng.normal(0.2, 0.01, size=len(runs))
        for vals in (lrs, hiddens):
            imp = key_importance(vals, y, numeric=True, permutations=500)
            sig.append(imp["significant"])
            etas.append((imp["eta2"], imp["chance"]))
    assert np.mean(sig) <= 0.12  # nominal 0.05 over 120 tests: 6 expected, 14+ would be a broken test
    lr_eta = np.mean([e for e, c in etas[0::2]])
    hid_eta = np.mean([e for e, c in etas[1::2]])
    assert lr_eta == pytest.approx(2 / 23, abs=0.04) and hid_eta == pytest.approx(3 / 23, abs=0.05)


def test_the_permutation_p_value_is_exact_on_small_grids_and_reproducible_on_large_ones():
    # 6 runs in 3 pairs: 90 labellings, 6 of them the same grouping: a perfect split gets p = 1/15
    labels = [1, 1, 2, 2, 3, 3]
    assert permutation_p(labels, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]) == pytest.approx(1 / 15)
    assert p_floor(labels) == pytest.approx(1 / 15) and p_floor([1, 2] * 3) == pytest.approx(0.1)
    imp = key_importance(labels, [0.1, 0.1, 0.2, 0.2, 0.3, 0.3], numeric=True)
    assert imp["eta2"] == pytest.approx(1.0) and not imp["significant"]  # too few runs to tell
    # large grids: random shufflings, the same answer every time (fixed seed)
    rng = np.random.default_rng(5)
    big = [r[0] for r in _grid(reps=3)]
    y = rng.normal(size=len(big))
    assert p_floor(big) == pytest.approx(1 / 2001)
    assert permutation_p(big, y) == permutation_p(big, y)


def test_categorical_keys_get_eta_squared_but_no_rho_and_thin_data_says_why():
    labels = ["adamw", "lbfgs"] * 6
    y = [0.2 if x == "adamw" else 0.1 for x in labels]
    imp = key_importance(labels, np.array(y) + np.linspace(0, 1e-3, 12), numeric=False)
    assert imp["eta2"] > 0.99 and imp["rho"] is None and imp["significant"]
    assert "needs 3" in key_importance([1, 2], [0.1, 0.2], numeric=True)["why"]
    assert "one value" in key_importance([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], numeric=True)["why"]
    assert "does not vary" in key_importance([1, 2, 1, 2], [0.1] * 4, numeric=True)["why"]


# --------------------------------------------------------------------------- a real sweep, queued


@pytest.fixture(scope="module")
def queued(synthetic_csv, tmp_path_factory):
    """A real sweep (grid x two configs) whose runs are queued: no supervisor runs them."""
    data = synthetic_csv("planted", days=1200, seed=1)
    root = tmp_path_factory.mktemp("runs")
    sweep = start_sweep(
        root,
        [CONFIGS / "logistic.yaml", CONFIGS / "baselines.yaml"],
        ["train.lr=1e-3,1e-2", "calibration.method=auto,none"],
        SMALL + ["eval.baselines=[frequency]"],
        data=data,
        supervise=False,
    )
    return root, sweep


def test_the_view_of_a_queued_sweep_has_every_run_with_its_key_values_and_no_winner(queued):
    root, sweep = queued
    view = sweep_view(sweep)
    assert [k["key"] for k in view["keys"]] == ["config", "train.lr", "calibration.method"]
    assert view["name"] == name_of(sweep.read()) == "logistic+baselines: lr x method"
    labels = [r["label"] for r in view["runs"]]
    assert labels == [
        "logistic-lr1e-3-calauto",
        "logistic-lr1e-3-calnone",
        "logistic-lr1e-2-calauto",
        "logistic-lr1e-2-calnone",
        "baselines-calauto",
        "baselines-calnone",
    ]
    first = view["runs"][0]
    assert first["values"] == {"config": "logistic", "train.lr": 1e-3, "calibration.method": "auto"}
    # the baselines config ignores the train.* axis: no value there, its own method kept
    base = view["runs"][4:]
    assert [r["values"] for r in base] == [
        {"config": "baselines", "train.lr": None, "calibration.method": m} for m in ("auto", "none")
    ]
    assert all(r["status"] == "queued" and r["val"] is None for r in view["runs"])
    assert view["winner"] is None and view["active"] and not view["complete"]
    assert (view["done"], view["total"]) == (0, len(labels))
    assert view["keys"][1] == {"key": "train.lr", "numeric": True, "values": [1e-3, 1e-2]}
    assert view["keys"][0] == {"key": "config", "numeric": False, "values": ["logistic", "baselines"]}
    assert view["keys"][2]["numeric"] is False
    for imp in view["importance"]:
        assert imp["points"] == [] and imp["eta2"] is None and "needs 3" in imp["why"]
    assert any("incomplete" in n for n in view["notes"])
    json.dumps(view)  # scripts read it as JSON (synapse sweep show --json)
    # the service finds it by id, prefix, the 4-hex tail the dashboard shows, or as the latest
    tail = sweep.sweep_id.rsplit("-", 1)[-1]
    for ref in (sweep.sweep_id, sweep.sweep_id[:-2], tail, None):
        assert service.view(ref, root)["sweep_id"] == sweep.sweep_id
    line = service.list_view(root)[0]
    assert line == sweep_summary(sweep)
    assert line["done"] == 0 and line["active"] and line["best"] is None and line["winner"] is None
