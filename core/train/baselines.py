"""The `baselines` job: every baseline on every fold, a complete run directory."""

from __future__ import annotations

from core.config import Config
from core.evaluation.evaluate import evaluate_scorers
from core.runs import RunDir, record_test_touch
from core.train.artifacts import log_calibration, write_artifacts
from core.train.prepare import Prepared, Progress, baseline_logits, quiet, scored_from_logits, windows


def baselines_body(
    run: RunDir, cfg: Config, prep: Prepared, cfg_yaml: str, events, *, progress: Progress = quiet
) -> None:
    progress(f"run {run.run_id}: scoring {len(cfg.eval.baselines) + 1} baselines on {prep.data.T} days")
    logits = baseline_logits(cfg, prep.data.Y)
    outcomes = []
    for split in prep.splits:
        progress(f"fold {split.fold}: calibrating on validation, evaluating")
        out = evaluate_scorers(scored_from_logits(logits, split, lambda n: "baseline"), windows(prep, split), cfg)
        outcomes.append((split, out))
        log_calibration(events, out, split)
    man = record_test_touch(
        run, f"baselines run: {len(logits)} baselines evaluated on {len(prep.splits)} test window(s)"
    )
    result = write_artifacts(run, man, cfg_yaml, outcomes, eval_id="run", events=events, progress=progress)
    events.evaluated(result["summary"])
