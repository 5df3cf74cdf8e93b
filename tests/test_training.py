"""The fit loop: resume gives identical weights, seeds reproduce, early stopping, checkpoints."""

from pathlib import Path

import numpy as np
import pytest
import torch

from cuda_tags import save_tagged_cuda
from helpers import ROOT

from core.config import load_config
from core.data import synthetic
from core.data.splits import make_splits
from core.models import build_scorer
from core.train.loop import Trainer, load_torch, seed_everything

# Every test here trains a real model for a few epochs.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data():
    syn = synthetic.generate("planted", days=900, parts=39, per_day=5, seed=5)
    (split,) = make_splits(900, test_days=150, val_days=150, min_train_days=100)
    return syn, split


def _cfg(kind: str, *extra: str):
    tiny = {
        "gru": ["model.hidden=8", "model.chunks=4", "model.tbptt=32", "model.dropout=0.2"],
        "lstm": ["model.hidden=8", "model.chunks=4", "model.tbptt=32"],
        "logistic": ["train.batch_size=64", "train.steps_per_epoch=5"],
        "transformer": [
            "model.d_model=16",
            "model.heads=2",
            "model.layers=1",
            "model.context=64",
            "train.steps_per_epoch=2",
            "train.batch_size=4",
        ],
        "hawkes": ["train.batch_size=64", "train.steps_per_epoch=5"],
    }[kind]
    return load_config(
        ROOT / "configs" / f"{kind}.yaml", overrides=[*tiny, "train.device=cpu", "train.patience=100", *extra]
    )


def _trainer(cfg, data, tmp: Path | None, **kw):
    syn, split = data
    seed_everything(cfg.seed)
    scorer = build_scorer(cfg.model, 39)
    inputs = scorer.prepare(syn.Y, syn.dates)
    return Trainer(
        scorer,
        inputs,
        syn.Y,
        split,
        cfg.train,
        cfg.eval,
        model_cfg=cfg.model,
        seed=cfg.seed,
        last_path=None if tmp is None else tmp / "last.pt",
        best_path=None if tmp is None else tmp / "best.pt",
        **kw,
    )


@pytest.mark.parametrize("kind", ["gru", "logistic"])
def test_resume_from_last_gives_identical_weights(kind, data, tmp_path):
    straight, split_dir = tmp_path / "a", tmp_path / "b"
    straight.mkdir(), split_dir.mkdir()
    _trainer(_cfg(kind, "train.epochs=10"), data, straight).fit()
    _trainer(_cfg(kind, "train.epochs=4"), data, split_dir).fit()
    assert load_torch(split_dir / "last.pt")["epoch"] == 4
    resumed = _trainer(_cfg(kind, "train.epochs=10"), data, split_dir).fit(resume=True)
    a, b = load_torch(straight / "last.pt"), load_torch(split_dir / "last.pt")
    assert a["epoch"] == b["epoch"] == 10
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k
    assert [e["val_loss"] for e in a["history"]] == [e["val_loss"] for e in b["history"]]
    assert len(resumed.epochs) == 10


def test_last_checkpoint_written_on_cuda_resumes_here(data, tmp_path):
    """A run trained on a GPU box and cut off resumes on CPU: last.pt (weights, AdamW
    moments, RNG states, with cuda-tagged storage and the CUDA generator's state) loads
    onto this device and training goes on to the same weights as a straight run."""
    straight, moved = tmp_path / "a", tmp_path / "b"
    straight.mkdir(), moved.mkdir()
    _trainer(_cfg("gru", "train.epochs=6"), data, straight).fit()
    _trainer(_cfg("gru", "train.epochs=3"), data, moved).fit()
    st = load_torch(moved / "last.pt")
    st["rng"]["cuda"] = torch.zeros(16, dtype=torch.uint8)  # ignored off CUDA
    save_tagged_cuda(st, moved / "last.pt")
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(moved / "last.pt", weights_only=True)
    resumed = _trainer(_cfg("gru", "train.epochs=6"), data, moved).fit(resume=True)
    a, b = load_torch(straight / "last.pt"), load_torch(moved / "last.pt")
    assert [e["epoch"] for e in resumed.epochs] == list(range(1, 7))
    for k in a["model_state"]:
        assert torch.equal(a["model_state"][k], b["model_state"][k]), k


@pytest.mark.parametrize("kind", ["logistic", "gru", "lstm", "transformer"])
def test_bf16_autocast_path_trains_every_model(kind, data):
    """The loop's bf16 autocast path (on only on CUDA in real runs) switched on here, where
    CPU autocast stands in: every model trains and validates with finite losses, and its
    float32 loss stays close to the float32 run's (bf16 rounds, it must not break)."""
    runs = []
    for bf16 in (False, True):
        trainer = _trainer(_cfg(kind, "train.epochs=2"), data, None)
        trainer.autocast = bf16
        runs.append(trainer.fit())
    for fit in runs:
        assert all(np.isfinite(e["train_loss"]) and np.isfinite(e["val_loss"]) for e in fit.epochs)
    assert abs(runs[1].epochs[-1]["val_loss"] - runs[0].epochs[-1]["val_loss"]) < 0.02


def test_same_seed_same_metrics_other_seed_differs(data):
    runs = [_trainer(_cfg("gru", "train.epochs=3", f"seed={s}"), data, None).fit() for s in (1, 1, 2)]
    assert [e["val_loss"] for e in runs[0].epochs] == [e["val_loss"] for e in runs[1].epochs]
    assert [e["val_loss"] for e in runs[0].epochs] != [e["val_loss"] for e in runs[2].epochs]


def test_early_stopping_keeps_the_best_epoch(data, tmp_path):
    # A vanishing lr with a min_delta: nothing improves after epoch 1, so patience 2 stops at epoch 3.
    res = _trainer(
        _cfg("logistic", "train.epochs=50", "train.patience=2", "train.lr=1e-9", "train.min_delta=1e-3"), data, tmp_path
    ).fit()
    assert [e["epoch"] for e in res.epochs] == [1, 2, 3]
    assert res.best_epoch == 1 and "early stop" in res.stopped
    best = load_torch(tmp_path / "best.pt")
    assert best["epoch"] == 1 and best["kind"] == "logistic"


def test_monitor_on_a_validation_tier_rate(data):
    res = _trainer(_cfg("logistic", "train.epochs=3", "train.monitor=val_good_or_better@24"), data, None).fit()
    assert all(0 <= e["val_good_or_better@24"] <= 1 for e in res.epochs)


def test_checkpoints_load_with_weights_only_and_score_on_cpu(data, tmp_path):
    cfg = _cfg("gru", "train.epochs=2")
    _trainer(cfg, data, tmp_path).fit()
    for name in ("best.pt", "last.pt"):
        ck = torch.load(tmp_path / name, map_location="cpu", weights_only=True)
        assert "model_state" in ck
    scorer = build_scorer(cfg.model, 39)
    scorer.load_state_dict(load_torch(tmp_path / "best.pt")["model_state"])
    syn, split = data
    z = scorer.score(scorer.prepare(syn.Y, syn.dates), *split.test)
    assert z.shape == (150, 39) and torch.isfinite(z).all()


@pytest.mark.parametrize("kind", ["logistic", "gru", "lstm", "transformer", "hawkes"])
def test_a_trained_model_scores_day_t_from_earlier_days_only(kind, data):
    """Perturb every day >= t after training: predictions for days <= t are bit-identical."""
    syn, split = data
    trainer = _trainer(_cfg(kind, "train.epochs=1"), data, None)
    trainer.fit()
    scorer = trainer.scorer.eval()
    t = 600
    Y2 = syn.Y.copy()
    rng = np.random.default_rng(3)
    Y2[t:] = False
    for row in range(t, len(Y2)):
        Y2[row, rng.choice(39, 5, replace=False)] = True
    with torch.no_grad():
        a = scorer.score(scorer.prepare(syn.Y, syn.dates), 0, len(Y2))
        b = scorer.score(scorer.prepare(Y2, syn.dates), 0, len(Y2))
    assert torch.equal(a[: t + 1], b[: t + 1])
    assert not torch.equal(a[t + 1 :], b[t + 1 :])


def test_hawkes_fits_its_penalty_path_and_keeps_the_point_best_on_validation(data):
    """One L-BFGS fit per penalty scale (strongest first), each a history row; the kept
    weights are those of the row with the lowest validation loss, and refitting that scale
    alone gives the same validation loss (the path only warm-starts a convex problem)."""
    cfg = _cfg("hawkes", "model.penalty_scales=[0.1, 30, 1]")
    trainer = _trainer(cfg, data, None)
    result = trainer.fit()
    scales = [row["penalty_scale"] for row in result.epochs]
    assert scales == [30, 1, 0.1]
    losses = [row["val_loss"] for row in result.epochs]
    assert result.best_epoch == 1 + int(np.argmin(losses))
    assert trainer.validate()["val_loss"] == pytest.approx(min(losses), abs=1e-9)
    assert f"penalty x{scales[result.best_epoch - 1]:g} chosen on validation of 3" in result.stopped
    best = scales[result.best_epoch - 1]
    alone = _trainer(_cfg("hawkes", f"model.penalty_scales=[{best}]"), data, None)
    alone.fit()
    assert alone.validate()["val_loss"] == pytest.approx(min(losses), rel=1e-4)


@pytest.mark.parametrize(
    "kind,extra",
    [
        ("gru", ["train.epochs=5"]),
        ("transformer", ["train.epochs=4"]),
        # Nothing improves after epoch 1, so patience 2 stops at epoch 3 with epoch 4 already
        # trained ahead on the overlapping side: it must leave no trace.
        ("gru", ["train.epochs=50", "train.patience=2", "train.lr=1e-9", "train.min_delta=1e-3"]),
    ],
)
def test_validating_while_the_next_epoch_trains_changes_nothing(kind, extra, data, tmp_path):
    """Overlapped validation (epoch e validated on a worker thread while e+1 trains) gives
    the history, best epoch, weights, checkpoints and RNG state of the plain loop. Both run
    training on one thread (the overlapping loop gives the worker the other), so the same
    arithmetic is compared."""
    threads = torch.get_num_threads()
    results, states = [], []
    try:
        for overlap, n in ((False, 1), (True, 2)):
            torch.set_num_threads(n)
            out = tmp_path / str(overlap)
            out.mkdir()
            trainer = _trainer(_cfg(kind, *extra), data, out, overlap=overlap)
            assert trainer.overlaps_validation() is overlap
            results.append(trainer.fit())
            assert torch.get_num_threads() == n  # the split is undone
            states.append(
                (
                    torch.get_rng_state(),
                    load_torch(out / "last.pt"),
                    load_torch(out / "best.pt"),
                    {k: v.clone() for k, v in trainer.scorer.state_dict().items()},
                )
            )
    finally:
        torch.set_num_threads(threads)
    plain, overlapped = results
    keys = ("epoch", "train_loss", "val_loss", "val_auc", "best_epoch", "improved")
    assert [[r[k] for k in keys] for r in plain.epochs] == [[r[k] for k in keys] for r in overlapped.epochs]
    assert plain.best_epoch == overlapped.best_epoch and plain.stopped == overlapped.stopped
    (rng_a, last_a, best_a, live_a), (rng_b, last_b, best_b, live_b) = states
    assert torch.equal(rng_a, rng_b)
    assert last_a["rng"]["sampler"].equal(last_b["rng"]["sampler"])
    for k in live_a:
        assert torch.equal(live_a[k], live_b[k]), k
        assert torch.equal(last_a["model_state"][k], last_b["model_state"][k]), k
        assert torch.equal(best_a["model_state"][k], best_b["model_state"][k]), k
    for sa, sb in zip(last_a["optimizer_state"]["state"].values(), last_b["optimizer_state"]["state"].values()):
        assert torch.equal(sa["exp_avg"], sb["exp_avg"]) and torch.equal(sa["exp_avg_sq"], sb["exp_avg_sq"])
    if "early stop" in plain.stopped:
        assert [r["epoch"] for r in overlapped.epochs] == [1, 2, 3] and last_b["epoch"] == 3


def test_overlap_is_automatic_for_stateful_models_on_cpu_only(data, monkeypatch):
    assert _trainer(_cfg("gru", "train.epochs=1", "train.num_threads=2"), data, None).overlaps_validation()
    assert _trainer(_cfg("lstm", "train.epochs=1", "train.num_threads=2"), data, None).overlaps_validation()
    # a thread count the user set is kept: one thread, nothing beside it
    assert not _trainer(_cfg("gru", "train.epochs=1", "train.num_threads=1"), data, None).overlaps_validation()
    for kind, extra in (("transformer", ()), ("gru", ("model.mode=window",)), ("logistic", ())):
        assert not _trainer(
            _cfg(kind, "train.epochs=1", "train.num_threads=2", *extra), data, None
        ).overlaps_validation()
    # left to the default: whenever the machine has a second core
    for cores, expected in ((1, False), (2, True)):
        monkeypatch.setattr("core.train.loop.os.cpu_count", lambda cores=cores: cores)
        assert _trainer(_cfg("gru", "train.epochs=1"), data, None).overlaps_validation() is expected
