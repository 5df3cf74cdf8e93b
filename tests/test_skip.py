"""The sequence models' skip path (core/models/skip.py): the input row's layout and
causality, the warm start's per-part fit on data whose answer is known, that a model with
a warm-started skip path scores exactly that fit before its first epoch, and that the
loop warm-starts once (a resumed run is not refitted)."""

import numpy as np
import pytest
import torch

from helpers import dates_for, random_y

from core.models.base import head_loss
from core.models.features import ewmas, frequencies, recency
from core.models.rnn import RNNScorer
from core.models.skip import OwnSkip, sequence_inputs, skip_features, skip_groups, warm_start
from core.models.transformer import TransformerScorer

torch.set_num_threads(2)


def test_input_rows_are_yesterday_then_each_parts_own_features():
    T, P = 200, 6
    Y = random_y(3, T, P, 2)
    inputs = sequence_inputs(Y, dates_for(T), skip=True)
    assert inputs.x.shape == (T, skip_groups() * P)
    groups = inputs.x.numpy().reshape(T, skip_groups(), P)
    assert np.array_equal(groups[1:, 0], Y[:-1]) and not groups[0, 0].any()
    rec, freq, ew = recency(Y, 60), frequencies(Y, (7, 30, 90, 365)), ewmas(Y, (7.0, 30.0, 120.0))
    expect = np.concatenate([rec, freq, ew], axis=1).reshape(T, -1, P)
    np.testing.assert_allclose(groups[:, 1:], expect, rtol=0, atol=1e-6)
    assert np.array_equal(sequence_inputs(Y, dates_for(T), skip=False).x.numpy(), groups[:, 0])


def test_skip_features_of_day_t_read_days_before_t_only():
    T, P = 150, 5
    Y = random_y(4, T, P, 2)
    base = skip_features(Y)
    for t in (0, 1, 40, T - 1):
        Y2 = Y.copy()
        Y2[t:] = random_y(50 + t, T, P, 2)[t:]
        pert = skip_features(Y2)
        assert np.array_equal(pert[: t + 1], base[: t + 1]), t
        if t + 1 < T:
            assert not np.array_equal(pert[t + 1 :], base[t + 1 :])


def _planted_own(T: int, P: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Each part's probability is a known function of its own gap and 30-day rate (and
    nothing else): p = sigmoid(b + a * gap/60 + c * rate30). Returns Y (T, P), p (T, P)."""
    rng = np.random.default_rng(seed)
    b, c = rng.uniform(-3, -2, P), rng.uniform(2, 6, P)
    a = rng.choice([-1, 1], P) * rng.uniform(2, 4, P)
    Y = np.zeros((T, P), np.float32)
    prob = np.zeros((T, P))
    last = np.full(P, -1)
    for t in range(T):
        gap = np.where(last < 0, 60, np.minimum(t - last, 60)) / 60.0
        lo = max(0, t - 30)
        rate = Y[lo:t].mean(axis=0) if t > 0 else np.zeros(P)
        prob[t] = 1 / (1 + np.exp(-(b + a * gap + c * rate)))
        Y[t] = rng.random(P) < prob[t]
        last[Y[t] == 1] = t
    return Y, prob


def test_warm_start_recovers_a_planted_per_part_model():
    """Data whose answer is known: the warm-started skip path's probabilities are close to
    the truth's on later days, its log-loss there within 1% of the truth's, and the
    network's output layer is zeroed so the model scores exactly that fit."""
    T, P, fit = 6000, 4, 5000
    Y, prob = _planted_own(T, P, seed=1)
    dates = dates_for(T)
    torch.manual_seed(0)
    m = RNNScorer(P, hidden=8, skip="own")
    inputs = m.prepare(Y, dates)
    y = torch.from_numpy(Y)
    info = m.warm_start(inputs, y, slice(0, fit), lambda z, t: head_loss(z, t, "sigmoid", 1))
    assert info["iterations"] > 0
    assert not m.out.bias.any() and m.out.weight.any()  # the network keeps its initial output weights
    with torch.no_grad():
        logits = m.skip(inputs.x[fit:], inputs.wd[fit:])
    p = torch.sigmoid(logits).numpy().astype(np.float64)
    truth = prob[fit:]
    assert np.abs(p - truth).mean() < 0.02

    def logloss(q):
        return -np.mean(Y[fit:] * np.log(q) + (1 - Y[fit:]) * np.log(1 - q))

    base = np.clip(Y[:fit].mean(axis=0), 1e-6, 1)
    assert logloss(p) < 1.01 * logloss(truth) < logloss(np.broadcast_to(base, truth.shape))


@pytest.mark.parametrize(
    "make",
    [
        lambda P: RNNScorer(P, hidden=8, skip="own"),
        lambda P: RNNScorer(P, "lstm", hidden=8, mode="window", window=20, skip="own"),
        lambda P: TransformerScorer(P, d_model=16, heads=2, layers=1, context=32, skip="own"),
    ],
    ids=["gru-stateful", "lstm-window", "transformer"],
)
def test_a_warm_started_model_is_the_per_part_fit_plus_the_network(make):
    T, P = 400, 6
    Y = random_y(7, T, P, 2)
    torch.manual_seed(0)
    m = make(P)
    inputs = m.prepare(Y, dates_for(T))
    y = torch.from_numpy(Y)
    m.warm_start(inputs, y, slice(0, 300), lambda z, t: head_loss(z, t, "sigmoid", 2))
    with torch.no_grad():
        fitted = m.skip(inputs.x, inputs.wd)
        skip_alone = m.score(inputs, 0, T)
        m.out.weight.zero_()
        assert torch.allclose(m.score(inputs, 0, T), fitted, atol=1e-6)  # the rest is the network's
        assert not torch.allclose(skip_alone, fitted, atol=1e-6)
    # The network learns from the first step: its input layer gets a gradient (it would
    # not with a zeroed output layer).
    torch.manual_seed(0)
    m = make(P)
    m.warm_start(inputs, y, slice(0, 300), lambda z, t: head_loss(z, t, "sigmoid", 2))
    logits, _ = m(inputs.x[None, :300], inputs.wd[None, :300])
    head_loss(logits, y[None, :300], "sigmoid", 2).backward()
    first = m.rnn.weight_ih_l0 if hasattr(m, "rnn") else m.inp.weight
    assert first.grad.abs().sum() > 0 and m.out.weight.grad.abs().sum() > 0


def test_skip_module_reads_each_parts_own_columns_only():
    P = 5
    skip = OwnSkip(P)
    with torch.no_grad():
        skip.weight.normal_()
    x = torch.rand(3, skip_groups() * P)
    wd = torch.tensor([0, 3, 6])
    base = skip(x, wd)
    x2 = x.clone().view(3, skip_groups(), P)
    x2[:, :, 2] += 1.0  # change part 2's features only
    out = skip(x2.view(3, -1), wd)
    changed = (out != base).any(dim=0)
    assert changed.tolist() == [False, False, True, False, False]


def test_warm_start_uses_the_rows_it_is_given_only():
    """Changing the rows after the fitting slice changes nothing in the fit."""
    T, P = 300, 4
    Y = random_y(9, T, P, 2)
    fits = []
    for Yv in (Y, np.concatenate([Y[:200], random_y(10, T, P, 2)[200:]])):
        skip, out = OwnSkip(P), torch.nn.Linear(3, P)
        inputs = sequence_inputs(Yv, dates_for(T), skip=True)
        warm_start(
            skip,
            out,
            inputs.x[:200],
            inputs.wd[:200],
            torch.from_numpy(Yv[:200]),
            lambda z, t: head_loss(z, t, "sigmoid", 2),
        )
        fits.append(torch.cat([skip.weight.detach().ravel(), skip.weekday.detach().ravel()]))
    assert torch.equal(fits[0], fits[1])


def test_the_skip_path_alone_is_kept_when_validation_prefers_it(tmp_path):
    """A network wrecked by a huge learning rate loses on validation to the skip path fitted
    alone: that candidate is kept (network output at zero, so the logits are the skip
    path's), written as the best checkpoint, and said in `stopped`. With a sane run on the
    same data the candidate is still validated, and whichever is kept is the lower loss."""
    from core.config import load_config
    from core.data import synthetic
    from core.data.splits import make_splits
    from core.models import build_scorer
    from core.train.loop import Trainer, load_torch, seed_everything

    syn = synthetic.generate("planted", days=900, parts=39, per_day=5, seed=5)
    (split,) = make_splits(900, test_days=150, val_days=150, min_train_days=100)
    fits = {}
    for lr in ("2.0", "0.001"):
        cfg = load_config(
            None,
            overrides=[
                "model.kind=gru",
                "model.hidden=8",
                "model.chunks=4",
                "model.tbptt=32",
                "model.skip=own",
                "train.epochs=2",
                f"train.lr={lr}",
                "train.grad_clip=null",
                "train.device=cpu",
            ],
        )
        seed_everything(0)
        scorer = build_scorer(cfg.model, 39)
        trainer = Trainer(
            scorer,
            scorer.prepare(syn.Y, syn.dates),
            syn.Y,
            split,
            cfg.train,
            cfg.eval,
            model_cfg=cfg.model,
            best_path=tmp_path / f"best-{lr}.pt",
        )
        fits[lr] = (trainer.fit(), trainer)
    wrecked, trainer = fits["2.0"]
    epochs_best = min(row["val_loss"] for row in wrecked.epochs)
    assert "network off" in wrecked.stopped
    assert torch.count_nonzero(trainer.scorer.out.weight) == 0 and torch.count_nonzero(trainer.scorer.out.bias) == 0
    kept = trainer.validate()["val_loss"]
    assert kept == pytest.approx(wrecked.best_metric) and kept < epochs_best
    best = load_torch(tmp_path / "best-2.0.pt")
    assert best["network"] == "off" and torch.count_nonzero(best["model_state"]["out.weight"]) == 0
    sane, trainer = fits["0.001"]
    assert trainer.validate()["val_loss"] == pytest.approx(sane.best_metric)
    assert sane.best_metric <= min(row["val_loss"] for row in sane.epochs)
