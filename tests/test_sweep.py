"""Sweeps: grid expansion, a real sweep end to end through the supervisor, pick-up after Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT

from core.errors import InputError
from core.jobs.supervisor import supervisor_info
from core.jobs.sweep import (
    SWEEPS_DIR,
    SweepDir,
    choose_winner,
    expand,
    expand_combos,
    parse_grid,
    start_sweep,
)
from core.runs import RunDir, parse_ts

CONFIGS = ROOT / "configs"
SMALL = ["split.test_days=200", "split.val_days=200", "split.min_train_days=100"]


@pytest.fixture(scope="module")
def data(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=1200, seed=1)


# --------------------------------------------------------------------------- expansion


def test_expand_is_configs_times_the_cartesian_grid_with_distinct_names():
    combos = expand([CONFIGS / "gru.yaml", CONFIGS / "lstm.yaml"], ["model.hidden=8,16", "train.lr=1e-3,3e-3"])
    assert len(combos) == 8
    labels = [label for label, _ in combos]
    assert len(set(labels)) == 8
    assert labels[:4] == ["gru-h8-lr1e-3", "gru-h8-lr3e-3", "gru-h16-lr1e-3", "gru-h16-lr3e-3"]
    assert labels[4] == "lstm-h8-lr1e-3"
    for label, cfg in combos:
        assert cfg.name == label
        _, h, lr = label.split("-", 2)
        assert cfg.model.hidden == int(h[1:]) and cfg.train.lr == float(lr[2:])
    assert {(c.model.kind, c.model.hidden, c.train.lr) for _, c in combos} == {
        (k, h, lr) for k in ("gru", "lstm") for h in (8, 16) for lr in (1e-3, 3e-3)
    }


def test_expand_values_parse_like_overrides_and_lists_keep_their_commas():
    combos = expand_combos(
        [CONFIGS / "hawkes.yaml"],
        ["model.decays=[1,7],[1,30,90]", "model.inhibition=true,false"],
        overrides=["train.epochs=3"],
    )
    assert [c.cfg.model.decays for c in combos][::2] == [[1.0, 7.0], [1.0, 30.0, 90.0]]
    assert [c.cfg.model.inhibition for c in combos][:2] == [True, False]
    assert all(c.cfg.train.epochs == 3 and c.job == "train" for c in combos)
    assert combos[0].label == "hawkes-tau1_7-inhibitiontrue"


def test_train_axes_do_not_multiply_a_baselines_config_and_duplicates_get_a_suffix():
    combos = expand_combos(
        [CONFIGS / "baselines.yaml", CONFIGS / "logistic.yaml", CONFIGS / "logistic.yaml"], ["train.lr=1e-3,3e-3"]
    )
    assert [c.label for c in combos] == [
        "baselines",
        "logistic-lr1e-3",
        "logistic-lr3e-3",
        "logistic-lr1e-3-2",
        "logistic-lr3e-3-2",
    ]
    assert combos[0].job == "baselines" and combos[0].ignored == ["train.lr"] and combos[0].overrides == []
    assert combos[1].job == "train"


def test_an_invalid_combo_is_an_input_error_naming_the_combo():
    with pytest.raises(InputError, match=r"combo 'gru with model.hidden=0'.*model.hidden"):
        expand([CONFIGS / "gru.yaml"], ["model.hidden=8,0"])
    with pytest.raises(InputError, match=r"combo 'logistic with model.hidden=8'.*unknown key 'model.hidden'"):
        expand([CONFIGS / "gru.yaml", CONFIGS / "logistic.yaml"], ["model.hidden=8"])
    for bad, msg in [
        ("model.hidden", "KEY=V1,V2"),
        ("model.hidden=8,,16", "empty value"),
        ("model.hidden=8,8", "listed twice"),
        ("=1,2", "KEY=V1,V2"),
    ]:
        with pytest.raises(InputError, match=msg):
            parse_grid([bad])
    with pytest.raises(InputError, match="two -g"):
        parse_grid(["train.lr=1,2", "train.lr=3"])
    with pytest.raises(InputError, match="at least one config"):
        expand([], [])


def test_a_bad_combo_creates_nothing(data, tmp_path):
    root = tmp_path / "runs"
    with pytest.raises(InputError, match=r"combo 'baselines-val_days5000'"):
        start_sweep(
            root, [CONFIGS / "baselines.yaml"], ["split.val_days=200,5000"], SMALL[:1], data=data, supervise=False
        )
    assert not root.exists() or not any(root.iterdir())


def test_the_winner_is_the_lowest_validation_brier_among_succeeded_runs():
    def row(label, status, val, test_skill):
        return {
            "label": label,
            "run_id": label,
            "status": status,
            "primary": "m",
            "verdict": None,
            "metrics": {"val_brier": val, "brier_skill": test_skill},
        }

    rows = [
        row("a", "succeeded", 0.20, 0.9),
        row("b", "failed", 0.01, None),
        row("c", "succeeded", 0.10, -0.5),
        row("d", "succeeded", None, 0.99),
    ]
    w = choose_winner(rows)
    assert w["label"] == "c" and w["metric"] == "val_brier" and "val.brier" in w["source"]
    assert choose_winner([rows[1]]) is None


# --------------------------------------------------------------------------- a real sweep


def _cli(*args, **kw):
    return [sys.executable, "-m", "synapse_tui.commands.sweep", *map(str, args)]


def _overlap_max(intervals) -> int:
    points = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals], key=lambda p: (p[0], p[1]))
    cur = best = 0
    for _, d in points:
        cur += d
        best = max(best, cur)
    return best


@pytest.mark.slow
def test_a_real_sweep_survives_ctrl_c_and_sweep_status_finishes_it_with_a_report(data, tmp_path):
    root = tmp_path / "runs"
    env = {**os.environ, "SYNAPSE_SUPERVISOR_GRACE": "1"}
    cmd = _cli(
        "-c",
        CONFIGS / "baselines.yaml",
        "-c",
        CONFIGS / "logistic.yaml",
        "-g",
        "train.lr=1e-3,3e-3",
        "-o",
        "train.epochs=2",
        *[x for o in SMALL for x in ("-o", o)],
        "-o",
        "eval.baselines=[frequency,ewma]",
        "--data",
        data,
        "--parallel",
        "2",
        "--runs-dir",
        root,
    )
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        sweep = None
        while True:
            assert time.monotonic() < deadline and proc.poll() is None, proc.communicate()
            sweeps = list((root / SWEEPS_DIR).glob("*/sweep.json")) if (root / SWEEPS_DIR).exists() else []
            if sweeps:
                sweep = SweepDir(sweeps[0].parent)
                runs = sweep.read()["runs"]
                if len(runs) == 3 and any(
                    e["type"] == "run_started" for e in RunDir(root / runs[0]["run_id"]).read_events()
                ):
                    break
            time.sleep(0.05)
        time.sleep(1.2)  # the CLI polls every 0.5 s: let it print the change
        proc.send_signal(signal.SIGINT)  # Ctrl-C: stop watching, not the runs
        _, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted" in err and f"synapse sweep status {sweep.sweep_id}" in err
    assert "running" in err  # plain progress lines off a terminal

    # The supervisor goes too (as if the machine's session ended): status must restart it.
    info = supervisor_info(root)
    assert info is not None
    os.kill(info["pid"], signal.SIGTERM)
    while supervisor_info(root, include_stopping=True) is not None:
        time.sleep(0.05)

    prefix = sweep.sweep_id[:-2]
    peek = subprocess.run(
        _cli("status", prefix, "--runs-dir", root, "--no-wait", "--json"),
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert peek.returncode == 0, peek.stderr
    snapshot = json.loads(peek.stdout)
    assert snapshot["sweep_id"] == sweep.sweep_id and len(snapshot["runs"]) == 3

    done = subprocess.run(
        _cli("status", prefix, "--runs-dir", root), cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "winner:" in done.stdout and "val.brier" in done.stdout

    report = json.loads(sweep.report_json.read_text())
    md = sweep.report_md.read_text()
    assert report["complete"] and report["counts"] == {"succeeded": 3}
    labels = [r["label"] for r in report["runs"]]
    assert labels == ["baselines", "logistic-lr1e-3", "logistic-lr3e-3"]
    val_brier = {}
    for r in report["runs"]:
        run = RunDir(r["path"])
        rep = json.loads((run.path / "report.json").read_text())
        assert r["verdict"]["status"] == rep["verdict"]["status"] in ("APPROVED", "FAILED")
        assert r["verdict"]["failed"] == rep["verdict"]["failed"]
        assert r["metrics"]["brier_skill"] == rep["summary"]["brier_skill"]
        val_brier[r["run_id"]] = rep["models"][rep["primary"]]["val"]["brier"]
        assert r["label"] in md
        started = [e for e in run.read_events() if e["type"] == "run_started"]
        assert len(started) == 1, "each run started exactly once"
    assert report["winner"]["run_id"] == min(val_brier, key=val_brier.get)
    assert report["winner"]["metric"] == "val_brier"
    assert "Winner:" in md and "validation" in md and "test window plays no part" in md
    intervals = []
    for r in report["runs"]:
        ev = RunDir(r["path"]).read_events()
        intervals.append(
            (
                parse_ts(next(e["ts"] for e in ev if e["type"] == "run_started")),
                parse_ts(next(e["ts"] for e in ev if e["type"] == "run_finished")),
            )
        )
    assert _overlap_max(intervals) <= 2
    # Every run was started by a supervisor (the second one took the third run).
    for r in report["runs"]:
        assert any("started by supervisor" in e.get("message", "") for e in RunDir(r["path"]).read_events())
    deadline = time.monotonic() + 20  # idle grace 1 s: the supervisor leaves by itself
    while supervisor_info(root, include_stopping=True) is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
