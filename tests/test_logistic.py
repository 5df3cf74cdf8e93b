"""Features (core/models/features.py) and the logistic scorer (core/models/logistic.py): agreement
with slow per-day reference loops, learning a planted pair effect, heads, and building from
the shipped config. Causality, shapes and state round trip: test_scorer_contract.py."""

import numpy as np
import pytest
import torch

from helpers import dates_for, k_per_day

from core.config import load_config
from core.models.features import (
    FEATURE_GROUPS,
    days_since_last,
    ewmas,
    feature_count,
    feature_matrix,
    feature_names,
    frequencies,
    recency,
    weekday_onehot,
    yesterday,
)
from core.models import build_scorer
from core.models.base import head_loss, head_probabilities, weekdays
from core.models.logistic import LogisticScorer

torch.set_num_threads(1)

START = "2001-03-05"  # the first day of every sequence here (weekdays follow from it)


@pytest.fixture
def small():
    rng = np.random.default_rng(7)
    return k_per_day(rng, 120, 6, 2), dates_for(120, START)


# --------------------------------------------------------------------------- slow references
# Each builds row t from an explicit loop over the days before t, straight from the docstring.


def ref_recency(Y, cap):
    T, P = Y.shape
    out = np.zeros((T, 2 * P))
    for t in range(T):
        for p in range(P):
            seen = [s for s in range(t) if Y[s, p]]
            gap = t - seen[-1] if seen else t + 1
            out[t, p] = min(gap, cap) / cap
            out[t, P + p] = 0.0 if seen else 1.0
    return out


def ref_frequencies(Y, windows):
    T, P = Y.shape
    out = np.zeros((T, len(windows) * P))
    for i, w in enumerate(windows):
        for t in range(T):
            days = list(range(max(0, t - w), t))
            for p in range(P):
                out[t, i * P + p] = sum(Y[s, p] for s in days) / len(days) if days else 0.0
    return out


def ref_ewmas(Y, halflives):
    T, P = Y.shape
    out = np.zeros((T, len(halflives) * P))
    for i, h in enumerate(halflives):
        r = 0.5 ** (1 / h)
        for t in range(T):
            wts = [r ** (t - 1 - s) for s in range(t)]
            for p in range(P):
                out[t, i * P + p] = sum(w * Y[s, p] for s, w in enumerate(wts)) / sum(wts) if wts else 0.0
    return out


def test_recency_matches_reference(small):
    Y, _ = small
    for cap in (1, 5, 60):
        np.testing.assert_allclose(recency(Y, cap), ref_recency(Y, cap), rtol=0, atol=1e-12)


def test_days_since_last_counts_unseen_from_virtual_day_minus_one():
    Y = np.array([[0, 1], [0, 0], [1, 0], [0, 0]], dtype=bool)
    gap, unseen = days_since_last(Y)
    assert gap.tolist() == [[1, 1], [2, 1], [3, 2], [1, 3]]
    assert unseen.tolist() == [[True, True], [True, False], [True, False], [False, False]]


def test_frequencies_match_reference(small):
    Y, _ = small
    np.testing.assert_allclose(frequencies(Y, [1, 3, 30, 500]), ref_frequencies(Y, [1, 3, 30, 500]), rtol=0, atol=1e-12)


def test_ewmas_match_reference(small):
    Y, _ = small
    np.testing.assert_allclose(ewmas(Y, [0.5, 3.0, 40.0]), ref_ewmas(Y, [0.5, 3.0, 40.0]), rtol=0, atol=1e-10)


def test_weekday_onehot_and_yesterday():
    dates = np.array(["2024-01-01", "2024-01-06", "2024-01-07", "2024-01-10"], dtype="datetime64[D]")
    oh = weekday_onehot(dates)  # Mon, Sat, Sun, Wed
    assert oh.argmax(axis=1).tolist() == [0, 5, 6, 2] == weekdays(dates).tolist()
    assert (oh.sum(axis=1) == 1).all()
    Y = np.array([[1, 0], [0, 1], [1, 1]], dtype=bool)
    assert yesterday(Y).tolist() == [[0, 0], [1, 0], [0, 1]]


def test_feature_matrix_is_the_groups_side_by_side_with_matching_names(small):
    Y, dates = small
    kw = dict(frequency_windows=[3, 30], ewma_halflives=[2.0, 10.0])
    X = feature_matrix(Y, dates, FEATURE_GROUPS, recency_cap=20, **kw)
    names = feature_names(6, FEATURE_GROUPS, **kw)
    assert X.dtype == np.float32 and X.shape == (120, len(names)) == (120, feature_count(6, **kw))
    assert len(set(names)) == len(names)
    expected = np.concatenate(
        [
            ref_recency(Y, 20),
            ref_frequencies(Y, [3, 30]),
            ref_ewmas(Y, [2.0, 10.0]),
            weekday_onehot(dates),
            yesterday(Y),
        ],
        axis=1,
    )
    np.testing.assert_allclose(X, expected.astype(np.float32), rtol=0, atol=1e-6)
    assert names[0] == "gap[part_1]" and names[6] == "unseen[part_1]"
    assert names.index("freq_30d[part_2]") == 12 + 6 + 1
    assert names[-1] == "yesterday[part_6]"
    assert X.min() >= 0 and X.max() <= 1  # fixed scalings: nothing estimated from data
    # a subset, in the asked order
    X2 = feature_matrix(Y, None, ["cooccurrence", "recency"], recency_cap=20)
    np.testing.assert_array_equal(X2, np.concatenate([yesterday(Y), ref_recency(Y, 20)], 1).astype(np.float32))
    assert feature_names(6, ["cooccurrence", "recency"])[:2] == ["yesterday[part_1]", "yesterday[part_2]"]


def test_feature_matrix_rejects_bad_arguments(small):
    Y, dates = small
    with pytest.raises(ValueError, match="unknown feature group"):
        feature_matrix(Y, dates, ["recency", "bogus"])
    with pytest.raises(ValueError, match="needs dates"):
        feature_matrix(Y, None, ["weekday"])
    with pytest.raises(ValueError, match="positive"):
        frequencies(Y, [0])
    with pytest.raises(ValueError, match="0/1"):
        recency(Y * 2)


def test_default_feature_count_for_39_parts():
    # recency 2P + 4 windows x P + 3 half-lives x P + 7 weekdays + P yesterday
    assert feature_count(39) == 2 * 39 + 4 * 39 + 3 * 39 + 7 + 39 == 397


# --------------------------------------------------------------------------- scoring
# (causality by perturbation, for every learned scorer: test_scorer_contract.py)


def test_score_reads_only_the_rows_it_scores():
    rng = np.random.default_rng(3)
    Y, dates = k_per_day(rng, 200, 10, 3), dates_for(200, START)
    model = LogisticScorer(10)
    inputs = model.prepare(Y, dates)
    full = model.score(inputs, 0, 200)
    assert torch.equal(model.score(inputs, 50, 120), full[50:120])
    model.train()
    model.score(inputs, 0, 5)
    assert model.training  # mode restored


# --------------------------------------------------------------------------- learning


@pytest.mark.parametrize("coupling", ["dense", "yesterday", "lowrank"])
def test_learns_that_yesterday_a_lifts_b_today(coupling):
    """Part a=2 yesterday puts part b=7 in today's events with probability 0.9 (else 3 random
    parts a day): with any coupling that lets b read a's yesterday, the weight yesterday[a]
    -> b must come out clearly positive, and the largest of the yesterday[*] -> b weights."""
    torch.manual_seed(0)
    rng = np.random.default_rng(11)
    T, P, K, a, b = 3000, 10, 3, 2, 7
    Y = np.zeros((T, P), dtype=bool)
    for t in range(T):
        forced = [b] if t and Y[t - 1, a] and rng.random() < 0.9 else []
        rest = [p for p in rng.permutation(P) if p not in forced][: K - len(forced)]
        Y[t, forced + rest] = True
    model = LogisticScorer(P, features=["cooccurrence", "frequency"], frequency_windows=[30], coupling=coupling)
    inputs = model.prepare(Y, dates_for(T, START))
    y = torch.from_numpy(Y.astype(np.float32))
    opt = torch.optim.AdamW(model.parameters(), lr=0.05, weight_decay=0.0)
    for _ in range(300):
        opt.zero_grad()
        loss = head_loss(model(inputs.x), y, model.head, inputs.events)
        loss.backward()
        opt.step()
    W = model.coefficients()["weight"]
    col = model.feature_names.index(f"yesterday[part_{a + 1}]")
    assert W[b, col] > 1.0
    yest = [model.feature_names.index(f"yesterday[part_{q + 1}]") for q in range(P)]
    assert np.argmax(W[b, yest]) == a


# --------------------------------------------------------------------------- heads and config


def test_softmax_head_shapes_and_probabilities():
    rng = np.random.default_rng(5)
    Y, dates = k_per_day(rng, 60, 10, 3), dates_for(60, START)
    model = LogisticScorer(10, head="softmax")
    inputs = model.prepare(Y, dates)
    assert inputs.events == 3 and inputs.wd.shape == (60,) and inputs.x.shape == (60, model.n_features)
    logits = model(inputs.x[:8])
    assert logits.shape == (8, 10)
    p = head_probabilities(logits, "softmax", inputs.events)
    assert p.shape == (8, 10) and float(p.detach().max()) <= 1.0
    loss = head_loss(logits, torch.from_numpy(Y[:8].astype(np.float32)), "softmax", inputs.events)
    loss.backward()
    assert model.linear.weight.grad is not None and torch.isfinite(loss)
    with pytest.raises(ValueError, match="head"):
        LogisticScorer(10, head="relu")


def test_shipped_config_builds_a_39_part_scorer():
    cfg = load_config("configs/logistic.yaml")
    model = build_scorer(cfg.model, 39)
    assert isinstance(model, LogisticScorer) and model.regime == "rows"
    assert model.n_features == 397
    assert model(torch.zeros(4, model.n_features)).shape == (4, 39)
    rng = np.random.default_rng(0)
    Y, dates = k_per_day(rng, 50, 39, 5), dates_for(50, START)
    inputs = model.prepare(Y, dates)
    assert inputs.events == 5 and model.score(inputs, 10, 50).shape == (40, 39)
    with pytest.raises(ValueError, match="shape"):
        model.prepare(Y[:, :30], dates)


def test_own_coupling_reads_only_its_own_features_and_the_weekday():
    model = LogisticScorer(5, features=["recency", "weekday", "cooccurrence"])
    assert model.coupling == "own"
    with torch.no_grad():
        model.linear.weight.fill_(1.0)
    W = model.coefficients()["weight"]
    for p in range(5):
        for f, name in enumerate(model.feature_names):
            own = name.endswith(f"[part_{p + 1}]")
            assert W[p, f] == (1.0 if own or name.startswith("weekday[") else 0.0), (p, name)
    x = torch.rand(3, model.n_features)
    x2 = x.clone()
    x2[:, model.feature_names.index("gap[part_2]")] += 1.0  # part 2's own feature moves part 2 only
    with torch.no_grad():
        moved = (model(x2) - model(x)).abs().sum(0)
    assert moved[1] > 0 and float(moved.sum() - moved[1]) == 0.0


def test_lbfgs_fit_is_scikit_learns_l2_logistic_regression_part_by_part():
    """optimizer lbfgs minimises mean log-loss over (rows, parts) + l2 |W|^2 with the biases
    free: per part p that is scikit-learn's LogisticRegression on the columns p may read
    (its own features and the weekday) with C = 1 / (2 l2 N P)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(3)
    T, P = 400, 6
    Y = k_per_day(rng, T, P, 2)
    model = LogisticScorer(
        P, optimizer="lbfgs", l2=1e-3, features=("recency", "frequency", "weekday"), frequency_windows=(7, 30)
    )
    inputs = model.prepare(Y, dates_for(T, START))
    rows = slice(50, T)
    info = model.fit_mle(inputs, Y, rows=rows, tolerance=1e-9, max_iter=500)
    assert info["converged"]
    X, y = inputs.x[rows].double().numpy(), Y[rows]
    n = X.shape[0]
    coef = model.coefficients()
    mask = model.mask.numpy().astype(bool)
    for p in range(P):
        ref = LogisticRegression(C=1 / (2 * 1e-3 * n * P), tol=1e-10, max_iter=5000).fit(X[:, mask[p]], y[:, p])
        np.testing.assert_allclose(coef["weight"][p, mask[p]], ref.coef_[0], atol=2e-3)
        assert coef["bias"][p] == pytest.approx(ref.intercept_[0], abs=2e-3)
        ours = torch.sigmoid(model.score(inputs, 50, T)[:, p]).numpy()
        np.testing.assert_allclose(ours, ref.predict_proba(X[:, mask[p]])[:, 1], atol=5e-4)


def test_lbfgs_is_fitted_along_its_penalty_path_by_the_training_loop():
    """The loop fits one point per penalty scale (strongest first), keeps the one best on
    validation, and a resumed run fits again to the same weights."""
    from core.data.splits import make_splits
    from core.train.loop import Trainer

    rng = np.random.default_rng(5)
    T = 600
    Y = k_per_day(rng, T, 39, 5)
    cfg = load_config(
        None,
        overrides=["model.kind=logistic", "model.optimizer=lbfgs", "model.penalty_scales=[1, 100]", "train.device=cpu"],
    )
    (split,) = make_splits(T, test_days=100, val_days=100, min_train_days=100)
    fits = []
    for resume in (False, True):
        model = build_scorer(cfg.model, 39)
        trainer = Trainer(
            model, model.prepare(Y, dates_for(T, START)), Y, split, cfg.train, cfg.eval, model_cfg=cfg.model
        )
        fits.append((trainer.fit(resume=resume), trainer))
    (fit, trainer), (again, _) = fits
    assert [row["penalty_scale"] for row in fit.epochs] == [100, 1]
    assert all(row["optimizer"] == "lbfgs" for row in fit.epochs)
    losses = [row["val_loss"] for row in fit.epochs]
    assert fit.best_epoch == 1 + int(np.argmin(losses))
    assert trainer.validate()["val_loss"] == pytest.approx(min(losses), abs=1e-7)
    assert [row["val_loss"] for row in again.epochs] == losses
