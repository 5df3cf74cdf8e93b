"""Runs grouped by a field or a hyperparameter (core.service.grouping, `synapse runs group`)."""

import json

import pytest
from typer.testing import CliRunner

from core.errors import InputError
from core.service.grouping import group_runs


def _row(run_id, auc=None, ece=None, **cfg):
    return {
        "run_id": run_id,
        "model": "gru",
        "auc": auc,
        "ece_after": ece,
        "config_json": json.dumps({k.replace("__", "."): v for k, v in cfg.items()}),
    }


ROWS = [
    _row("a", 0.60, 0.02, model__hidden=8),
    _row("b", 0.70, 0.05, model__hidden=16),
    _row("c", 0.66, 0.01, model__hidden=16),
    _row("d", None, None, model__hidden=32),
    _row("e", 0.90, 0.09),  # no model.hidden: its own group, last however good
]


def test_groups_are_ordered_best_first_with_the_missing_key_last():
    out = group_runs(ROWS, "model.hidden", "auc")
    assert [g["value"] for g in out["groups"]] == [16, 8, 32, None]
    g16 = out["groups"][0]
    assert (g16["runs"], g16["best"], g16["best_run"]) == (2, 0.70, "b")
    assert g16["mean"] == pytest.approx(0.68) and g16["median"] == pytest.approx(0.68)
    assert out["groups"][2]["with_metric"] == 0 and out["groups"][2]["best"] is None


def test_a_lower_is_better_metric_picks_the_lowest():
    out = group_runs(ROWS, "model.hidden", "ece_after")
    assert out["direction"] == "lower"
    assert [g["value"] for g in out["groups"]][:2] == [16, 8]  # 0.01 beats 0.02
    assert out["groups"][0]["best_run"] == "c"


def test_list_values_group_together():
    rows = [
        _row("a", 0.5, model__layers=[8, 8]),
        _row("b", 0.6, model__layers=[8, 8]),
        _row("c", 0.4, model__layers=[4]),
    ]
    out = group_runs(rows, "model.layers")
    assert out["groups"][0]["value"] == [8, 8] and out["groups"][0]["runs"] == 2


def test_unknown_keys_and_text_metrics_are_refused_with_a_hint():
    with pytest.raises(InputError, match="did you mean"):
        group_runs(ROWS, "modle", "auc")
    with pytest.raises(InputError, match="give a number"):
        group_runs(ROWS, "model.hidden", "calibration")
    with pytest.raises(InputError, match="did you mean"):
        group_runs(ROWS, "model.hiden", "auc", config_keys=["model.hidden", "train.lr"])


def test_runs_group_command_on_real_runs(tmp_path, synthetic_csv):
    from core.config import load_config
    from core.train.run import run_baselines
    from synapse_tui.cli import app

    data = synthetic_csv("planted", days=700, seed=3)
    root = tmp_path / "runs"
    for val_days in (120, 120, 150):
        cfg = load_config("baselines", overrides=["split.test_days=150", f"split.val_days={val_days}"], data=str(data))
        run_baselines(cfg, root)
    res = CliRunner().invoke(
        app, ["runs", "group", "split.val_days", "--metric", "auc", "--runs-dir", str(root), "--json"]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert sorted((g["value"], g["runs"]) for g in out["groups"]) == [(120, 2), (150, 1)]
    assert all(g["best"] is not None and 0 < g["best"] < 1 for g in out["groups"])
    table = CliRunner().invoke(app, ["runs", "group", "split.val_days", "--runs-dir", str(root)])
    assert table.exit_code == 0 and "runs by split.val_days" in table.output
    bad = CliRunner().invoke(app, ["runs", "group", "split.val_dayz", "--runs-dir", str(root)])
    assert bad.exit_code == 2 and "did you mean" in bad.output
