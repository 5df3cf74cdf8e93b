"""What a finished evaluation leaves in the run directory: metrics.csv, report.json,
calibrators.json, predictions.npz, the two PNGs and training_log.md."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from core.data.splits import Split
from core.evaluation import report as rep
from core.evaluation.evaluate import Outcome
from core.fsutil import atomic_write_bytes
from core.runs import RunDir
from core.train.prepare import Progress, quiet


def last_report(run: RunDir) -> dict:
    """The latest evaluation report of a run, as stored beside its artifacts."""
    return run.read_json("report.json")


def write_artifacts(
    run: RunDir,
    prep_or_manifest: dict,
    cfg_yaml: str,
    outcomes: list[tuple[Split, Outcome]],
    *,
    eval_id: str,
    events,
    progress: Progress = quiet,
    epochs: list[dict] | None = None,
) -> dict:
    """metrics.csv, predictions.npz, the PNGs and training_log.md from the last fold's outcome."""
    rows = []
    for split, out in outcomes:
        rows += rep.metric_rows(out.report, fold=split.fold, eval_id=eval_id)
    previous = []
    if run.metrics_csv.exists() and eval_id != "run":
        previous = [r for r in rep.read_metrics_csv(run.metrics_csv) if r["eval_id"] != eval_id]
    rep.write_metrics_csv(run.metrics_csv, previous + rows)
    events.artifact(run.metrics_csv.name)

    last = outcomes[-1][1]
    run.write_json("report.json", last.report)
    run.write_json("calibrators.json", last.calibrators)  # what `synapse predict` applies to new days
    arrays = dict(last.arrays)
    arrays["primary"] = np.str_(last.report["primary"] or "")
    _write_npz(run.predictions_npz, arrays)
    events.artifact(run.predictions_npz.name)
    if last.report["primary"] is not None:
        progress("plotting")
        rep.plot_reliability(last.report, last.arrays, run.calibration_png)
        events.artifact(run.calibration_png.name)
        rep.plot_tier_rates(last.report, run.tier_rates_png)
        events.artifact(run.tier_rates_png.name)
    folds = None
    if len(outcomes) > 1:
        folds = [
            {
                "fold": s.fold,
                "summary": o.report["summary"],
                "test_window": f"{o.arrays['dates_test'][0]}..{o.arrays['dates_test'][-1]}",
            }
            for s, o in outcomes
        ]
    text = rep.training_log(
        run_id=run.run_id,
        config_yaml=cfg_yaml,
        manifest=prep_or_manifest,
        report=last.report,
        folds=folds,
        epochs=epochs,
    )
    rep.write_training_log(run.training_log_md, text)
    events.artifact(run.training_log_md.name)
    return {"summary": last.report["summary"], "folds": folds}


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


def log_calibration(events, out: Outcome, split: Split) -> None:
    primary = out.report["primary"]
    cal = out.report["models"][primary]["calibration"]
    test = out.report["models"][primary]["test"]
    events.calibrated(cal.get("name"), test["ece_raw"], test["ece"], model=primary, fold=split.fold)
