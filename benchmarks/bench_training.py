"""The fit loop's training steps against a bare PyTorch loop over the same tensors and model.

Both run one stateful GRU epoch on the sample (16 chunks x TBPTT 128, AdamW, BCE, grad
clipping), validation excluded. Budget (docs/ARCHITECTURE.md, "Budgets"): the loop may cost at most 1.1x the bare loop.
"""

from __future__ import annotations

import copy
from pathlib import Path

import torch

from benchmarks.harness import Case

ROOT = Path(__file__).resolve().parents[1]


def _setup(kind: str = "gru"):
    from core.config import load_config
    from core.models import build_scorer
    from core.train.prepare import prepare
    from core.train.loop import Trainer, seed_everything

    cfg = load_config(
        ROOT / "configs" / f"{kind}.yaml",
        overrides=["train.device=cpu"],
        data=str(ROOT / "sample_data" / "parts_daily.csv"),
    )
    prep = prepare(cfg)
    seed_everything(0)
    scorer = build_scorer(cfg.model, 39)
    inputs = scorer.prepare(prep.data.Y, prep.data.dates)
    trainer = Trainer(scorer, inputs, prep.data.Y, prep.splits[0], cfg.train, cfg.eval, model_cfg=cfg.model)
    return cfg, trainer


def case_train_loop_vs_bare() -> Case:
    cfg, trainer = _setup()
    opt = torch.optim.AdamW(trainer.scorer.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    gen = torch.Generator().manual_seed(0)
    model, x, wd, Y = trainer.scorer, trainer.inputs.x, trainer.inputs.wd, trainer.Y
    t0, t1 = trainer.split.train
    B, tbptt = cfg.model.chunks, cfg.model.tbptt
    C = (t1 - t0) // B
    starts = (t1 - B * C) + torch.arange(B) * C
    bare_opt = torch.optim.AdamW(model.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)

    def bare_epoch():
        model.train()
        state = model.init_state(B, "cpu")
        for lo in range(0, C, tbptt):
            idx = starts[:, None] + torch.arange(lo, min(lo + tbptt, C))[None, :]
            logits, state = model(x[idx], wd[idx], state)
            loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, Y[idx])
            state = state.detach()
            bare_opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.train.grad_clip)
            bare_opt.step()

    return Case(
        "train loop: one stateful GRU epoch (16x128)",
        lambda: trainer._train_epoch(opt, gen),
        reference=bare_epoch,
        reference_name="bare PyTorch loop, same tensors",
        repeat=15,
    )


def case_gru_validate() -> Case:
    """The stateful GRU's validation pass (a replay from day 0 with the current weights,
    what `score` computes) against one training epoch: its share of an epoch. No exact
    shortcut to the replay is known (docs/ARCHITECTURE.md, "Training"); `gru_fit` measures
    what overlapping it with the next epoch saves."""
    cfg, trainer = _setup()
    opt = torch.optim.AdamW(trainer.scorer.parameters(), lr=cfg.train.lr, weight_decay=cfg.train.weight_decay)
    gen = torch.Generator().manual_seed(0)
    return Case(
        "GRU validation pass (day-0 replay + metrics), sample, shipped config",
        trainer.validate,
        reference=lambda: trainer._train_epoch(opt, gen),
        reference_name="one training epoch",
        repeat=15,
    )


def case_gru_fit() -> Case:
    """Ten epochs of the shipped GRU on the sample, each validated on a worker thread while
    the next trains (the loop's default for stateful models on CPU), against the same fit
    validating in line. Same weights and history either way (tests/test_training.py)."""
    from core.train.loop import Trainer

    cfg, first = _setup()
    cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update={"epochs": 10, "patience": 100})})

    def fit(overlap: bool):
        torch.manual_seed(0)
        scorer = copy.deepcopy(first.scorer)
        Trainer(
            scorer,
            first.inputs,
            first.Y.numpy(),
            first.split,
            cfg.train,
            cfg.eval,
            model_cfg=cfg.model,
            overlap=overlap,
        ).fit()

    return Case(
        "GRU fit, 10 epochs on the sample, validation overlapped with the next epoch",
        lambda: fit(True),
        reference=lambda: fit(False),
        reference_name="validation in line",
        repeat=3,
    )


def case_demo() -> Case:
    import subprocess
    import sys
    import tempfile

    runs = tempfile.mkdtemp(prefix="synapse-demo-bench-")
    cmd = [sys.executable, "-m", "synapse_tui.cli", "demo", "--no-tui", "--runs-dir", runs]
    return Case(
        "synapse demo (baselines + logistic + GRU, every artifact)",
        lambda: subprocess.run(cmd, check=True, capture_output=True, cwd=ROOT),
        budget_s=20.0,
        repeat=1,
    )
