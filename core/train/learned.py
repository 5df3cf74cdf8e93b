"""`synapse train`: fit a learned scorer and evaluate it beside every baseline.

The run directory is the same as a baselines run's (core/train/baselines.py), plus
model_checkpoint.pt (best weights + calibrator) and last.pt (resume state), and an
`epoch` event per epoch.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np
import torch

from core.config import Config
from core.errors import InputError
from core.evaluation.evaluate import Scored, evaluate_scorers
from core.models import LEARNED, build_scorer
from core.models.base import head_logits
from core.runs import RunDir, record_test_touch
from core.train.artifacts import log_calibration, write_artifacts
from core.train.lifecycle import Cancelled
from core.train.prepare import Prepared, Progress, baseline_logits, quiet, scored_from_logits, windows
from core.train.loop import Trainer, load_torch, resolve_device, save_torch, seed_everything, set_threads


def check_learned(cfg: Config) -> None:
    if cfg.model.kind == "ensemble":
        raise InputError("model.kind=ensemble combines finished runs: it is an ensemble job, not a training one")
    if cfg.model.kind not in LEARNED:
        raise InputError(
            f"model.kind={cfg.model.kind} is a baseline: use `synapse baselines`; "
            f"`synapse train` fits {', '.join(LEARNED)}"
        )


def device_for(cfg: Config) -> torch.device:
    try:
        return resolve_device(cfg.train.device)
    except RuntimeError as exc:
        raise InputError(str(exc)) from None


def fit_and_score(
    cfg: Config,
    prep: Prepared,
    split,
    *,
    run: RunDir | None,
    events=None,
    progress: Progress = quiet,
    resume: bool = False,
    stop_flag: Callable[[], bool] | None = None,
):
    """Train on `split` and return (fit result, val logits (Tv, P), test logits (Tt, P))."""
    seed_everything(cfg.seed)  # the initial weights are part of what the seed fixes
    scorer = build_scorer(cfg.model, prep.data.P)
    inputs = scorer.prepare(prep.data.Y, prep.data.dates)
    scorer.init_output_bias(prep.data.Y[slice(*split.train)].mean(axis=0))
    n_params = sum(p.numel() for p in scorer.parameters())

    def on_epoch(row: dict) -> None:
        progress(
            f"fold {split.fold} epoch {row['epoch']}/{cfg.train.epochs}: train {row['train_loss']:.4f} "
            f"val {row['val_loss']:.4f} auc {row['val_auc']:.3f} ({row['seconds']:.1f}s)"
            + (" *" if row["improved"] else "")
        )
        if events is not None:
            extra = {k: v for k, v in row.items() if k not in ("epoch", "train_loss", "val_loss", "lr", "seconds")}
            events.epoch(
                row["epoch"], row["train_loss"], row["val_loss"], row["lr"], row["seconds"], fold=split.fold, **extra
            )
            if row["improved"] and run is not None:
                events.checkpoint(row["epoch"], run.model_checkpoint.name)
            events.heartbeat()

    trainer = Trainer(
        scorer,
        inputs,
        prep.data.Y,
        split,
        cfg.train,
        cfg.eval,
        model_cfg=cfg.model,
        seed=cfg.seed,
        on_epoch=on_epoch,
        last_path=None if run is None else run.last_checkpoint,
        best_path=None if run is None else run.model_checkpoint,
        extra_checkpoint={"config": cfg.model_dump(mode="json"), "n_params": n_params},
        stop_flag=stop_flag,
    )
    progress(
        f"fold {split.fold}: training {cfg.model.kind} ({n_params:,} parameters) on {trainer.device}, "
        f"{trainer.steps_per_epoch()} steps an epoch"
    )
    fit = trainer.fit(resume=resume)
    scorer.eval()
    v0, v1 = split.val
    t0, t1 = split.test
    with torch.no_grad():
        z = head_logits(scorer.score(trainer.inputs, v0, t1).float(), scorer.head, inputs.events)
    z = z.cpu().numpy().astype(np.float64)
    return fit, z[: v1 - v0], z[t0 - v0 :], n_params


def train_body(
    run: RunDir,
    cfg: Config,
    prep: Prepared,
    cfg_yaml: str,
    events,
    *,
    progress: Progress = quiet,
    resume: bool = False,
    stop_flag: Callable[[], bool] | None = None,
) -> None:
    set_threads(cfg.train.num_threads, int(os.environ.get("SYNAPSE_PARALLEL_WORKERS", "1")))
    progress(f"run {run.run_id}: scoring baselines")
    logits = baseline_logits(cfg, prep.data.Y)
    outcomes, epochs = [], []
    name = cfg.model.kind
    for split in prep.splits:
        last = split is prep.splits[-1]
        fit, z_val, z_test, n_params = fit_and_score(
            cfg,
            prep,
            split,
            run=run if last else None,
            events=events,
            progress=progress,
            resume=resume and last,
            stop_flag=stop_flag,
        )
        if fit.stopped == "cancelled":
            raise Cancelled(
                f"cancelled after epoch {fit.epochs[-1]['epoch'] if fit.epochs else 0}; "
                f"`synapse resume {run.run_id}` continues from last.pt"
            )
        epochs = fit.epochs
        events.log(
            "info",
            f"fold {split.fold}: {fit.stopped}; best epoch {fit.best_epoch} "
            f"({cfg.train.monitor} {fit.best_metric:.5f})",
        )
        scored = scored_from_logits(logits, split, lambda n: "baseline")
        scored.append(Scored(name, name, "model", z_val, z_test))
        progress(f"fold {split.fold}: calibrating on validation, evaluating")
        out = evaluate_scorers(scored, windows(prep, split), cfg)
        outcomes.append((split, out))
        log_calibration(events, out, split)
    ck = load_torch(run.model_checkpoint)
    ck["calibrator"] = outcomes[-1][1].calibrators[name]
    save_torch(ck, run.model_checkpoint)
    events.artifact(run.model_checkpoint.name)
    man = record_test_touch(
        run, f"train run: {name} and {len(logits)} baselines evaluated on {len(prep.splits)} test window(s)"
    )
    result = write_artifacts(
        run, man, cfg_yaml, outcomes, eval_id="run", events=events, progress=progress, epochs=epochs
    )
    events.evaluated(result["summary"])
