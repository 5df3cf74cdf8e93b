"""`synapse predict`: tomorrow's calibrated probabilities and the pool sizes they imply.

A finished run scores the day after the last day of the data it is given (or a chosen
date), with its best checkpoint and its validation-fitted calibrator. The pool table
comes from core.pools (exact under the conditional Bernoulli model), and the report
says how well calibrated the run was, so nobody mistakes model probabilities for facts.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from core import pools
from core.runs.status import status_phrase
from core.evaluation.calibration import Calibrator
from core.config import Config, load_config
from core.data import load_for_config, UNSORTED_HINT_CLI, resolve_run_data
from core.errors import InputError
from core.runs import RunDir, record_test_touch, status_of


def parse_target(text: str | None) -> tuple[str, float] | None:
    """`good-or-better:0.6` (or `good:0.6`) -> ("good", 0.6): the tier and the level to reach."""
    if text is None:
        return None
    name, sep, level = text.partition(":")
    name = name.strip().removesuffix("-or-better")
    try:
        value = float(level)
    except ValueError:
        value = -1.0
    if not sep or not 0 < value < 1:
        why = "" if not sep else (f" ({level.strip()} is not)" if level.strip() else " (none given)")
        raise InputError(
            f"--target {text}: expected TIER:LEVEL, the level a probability in (0, 1){why}, "
            "e.g. good-or-better:0.6 (as `synapse predict --target good-or-better:0.6`)"
        )
    return name, value


def _target_rows(dates: np.ndarray, date: str | None) -> tuple[int, np.datetime64]:
    """How many rows of history the prediction may read, and the day it is for."""
    if date is None:
        return len(dates), dates[-1] + np.timedelta64(1, "D")
    try:
        day = np.datetime64(date, "D")
    except ValueError:
        raise InputError(f"--date {date!r} is not a date (YYYY-MM-DD)") from None
    if day <= dates[0]:
        raise InputError(f"--date {day} is not after the first day of data {dates[0]}")
    return int(np.searchsorted(dates, day)), day


def _baseline_logits(cfg: Config, kind: str, Y: np.ndarray) -> np.ndarray:
    """(P,) logits of baseline `kind` for the day after Y's last row."""
    from core.models.baselines import score_baseline
    from core.train.prepare import baseline_params

    ext = np.vstack([Y, np.zeros((1, Y.shape[1]), dtype=Y.dtype)])  # the row being predicted
    return score_baseline(kind, ext, events_per_day=cfg.data.events_per_day, **baseline_params(cfg, kind))[-1]


def _learned_logits(
    run: RunDir, Y: np.ndarray, dates: np.ndarray, day: np.datetime64, onnx: bool = False
) -> tuple[np.ndarray, dict]:
    import torch

    from core.export import load_scorer
    from core.models.base import head_logits

    scorer, ck = load_scorer(run)
    ext_Y = np.vstack([Y, np.zeros((1, Y.shape[1]), dtype=Y.dtype)])  # placeholder: never read for its own day
    ext_dates = np.append(dates, day)
    inputs = scorer.prepare(ext_Y, ext_dates)
    T = len(Y)
    with torch.no_grad():
        if onnx:
            from core.export import score_day_onnx

            raw = torch.from_numpy(np.asarray(score_day_onnx(run, scorer, inputs, T), dtype=np.float32))[None]
        else:
            raw = scorer.score(inputs, T, T + 1).float()
        z = head_logits(raw, scorer.head, ck["events"])
    return z[0].numpy().astype(np.float64), ck


def predict(
    run: RunDir,
    *,
    data: str | Path | None = None,
    date: str | None = None,
    ks: list[int] | None = None,
    target: tuple[str, float] | None = None,
    onnx: bool = False,
    allow_unsorted: bool = False,
) -> dict:
    """Score one day with a finished run; JSON-ready result.

    Without `data` the run's own file is read, from the path its manifest records: a run
    directory may come from anyone, so its data errors never quote the file's content
    (`load_dataset(echo=False)`: an /etc/shadow named there is refused without a line of it).
    allow_unsorted: sort the data's dates (the run's data.allow_unsorted does too)."""
    st = status_of(run)
    if st.status != "succeeded":
        raise InputError(f"run {run.run_id} {status_phrase(st.status)}; predict needs a succeeded run")
    cfg = load_config(run.config_yaml)
    man = run.read_json("manifest.json")
    report = run.read_json("report.json")
    path = Path(data) if data is not None else resolve_run_data(man)
    ds = load_for_config(
        path,
        cfg.data,
        echo=data is not None,
        unsorted_hint=UNSORTED_HINT_CLI,
        allow_unsorted=allow_unsorted,
    )
    rows, day = _target_rows(ds.dates, date)
    Y, dates = ds.Y[:rows], ds.dates[:rows]
    primary = report["primary"]
    block = report["models"][primary]
    if man.get("job") == "train":
        z, ck = _learned_logits(run, Y, dates, day, onnx=onnx)
        calibrator = Calibrator.from_state(ck["calibrator"])
    else:
        if onnx:
            raise InputError(f"run {run.run_id} is a baselines run: there is no model to export; drop --onnx")
        z = _baseline_logits(cfg, primary, Y)
        calibrator = _stored_calibrator(run, primary)
    p = calibrator.transform(z[None, :])[0]
    events = cfg.data.events_per_day or int(round(float(ds.Y.sum(axis=1).mean())))
    ks = list(ks or cfg.eval.k)
    table = pools.pool_table(p, events, ks=ks, tiers=dict(cfg.eval.tiers))
    suggestion = None
    if target is not None:
        tier, level = target
        if tier not in cfg.eval.tiers:
            raise InputError(f"--target {tier}: not a tier; tiers are {', '.join(cfg.eval.tiers)}")
        suggestion = {"tier": tier, "target": level, "k": pools.suggest_k(table, tier, level)}
    test = block["test"]
    backtest_ece = _pool_backtest_ece(run)
    return {
        "run_id": run.run_id,
        "model": primary,
        "engine": "onnxruntime" if onnx else "pytorch",
        "date": str(day),
        "history_rows": rows,
        "history_last_date": str(dates[-1]),
        "data": str(path),
        "data_sha256": ds.sha256,
        "new_days_since_run": int(max(0, rows - man["data"]["rows"])),
        "probabilities": [
            {"part": int(i) + 1, "p": float(p[i]), "logit": float(z[i])} for i in np.argsort(-p, kind="stable")
        ],
        "pools": table,
        "suggestion": suggestion,
        "calibration": {
            "method": block["calibration"].get("name"),
            "test_ece": test["ece"],
            "test_classwise_ece": test["classwise_ece"],
            "test_brier_skill": test["brier_skill"],
            "pool_backtest_ece": backtest_ece,
        },
        "caveat": (
            "These are model probabilities, calibrated on the validation window; on the test window "
            f"their ECE was {test['ece']:.3f} (classwise {test['classwise_ece']:.3f})"
            + (f" and the pool-level backtest ECE {backtest_ece:.3f}" if backtest_ece is not None else "")
            + "."
        ),
    }


def _stored_calibrator(run: RunDir, name: str) -> Calibrator:
    state = run.read_json("calibrators.json", default={}).get(name)
    if state is None:
        raise InputError(f"run {run.run_id} has no stored calibrator for {name}; re-run `synapse baselines`")
    return Calibrator.from_state(state)


def _pool_backtest_ece(run: RunDir) -> float | None:
    bt = run.read_json("pool_backtest.json", default=None)
    return None if bt is None else bt["pooled"]["ece"]


def pool_backtest(run: RunDir, ks: list[int] | None = None) -> dict:
    """Predicted P(good-or-better@K) against what happened, every test day of the run.

    Writes pool_backtest.json, pool_calibration.png and pool rows in metrics.csv. It reads
    the test window's outcomes, so it is a test touch, recorded in the manifest."""
    from core.evaluation import report as rep

    cfg = load_config(run.config_yaml)
    report = run.read_json("report.json")
    primary = report["primary"]
    with np.load(run.predictions_npz, allow_pickle=False) as z:
        p, y = z[f"{primary}__prob_test"].astype(np.float64), z["y_test"].astype(bool)
    events = cfg.data.events_per_day or int(round(float(y.sum(axis=1).mean())))
    result = pools.backtest(
        p, y, events, ks=list(ks or cfg.eval.k), tiers=dict(cfg.eval.tiers), good_tier=cfg.eval.good_tier
    )
    record_test_touch(
        run, f"synapse predict --backtest: pool P(tier or better) vs realised, {primary}, k={list(ks or cfg.eval.k)}"
    )
    run.write_json("pool_backtest.json", result)
    pools.plot_pool_calibration(result, run.path / "pool_calibration.png")
    rows = [r for r in rep.read_metrics_csv(run.metrics_csv) if r["eval_id"] != "pool-backtest"]
    fold = run.read_json("manifest.json")["splits"][-1]["fold"]
    rows += [
        {"eval_id": "pool-backtest", "fold": fold, "split": "test", "model": primary, **r}
        for r in pools.backtest_rows(result)
    ]
    rep.write_metrics_csv(run.metrics_csv, rows)
    with run.event_writer() as events_w:
        events_w.artifact("pool_calibration.png")
    return result
