"""Hawkes scorer (core/models/hawkes.py) and its traces (core.models.features.exp_traces): recovery
of a known process by maximum likelihood, causality of fitting by perturbation, agreement
with slow references, constraints, heads and the shipped config. Causality of scoring,
shapes and state round trip: test_scorer_contract.py."""

import numpy as np
import pytest
import torch

from helpers import dates_for, k_per_day

from core.config import load_config
from core.models.features import exp_traces
from core.models import build_scorer
from core.models.base import head_loss, weekdays
from core.models.hawkes import HawkesScorer

torch.set_num_threads(1)

START = "1999-12-30"  # the first day of every sequence here


def simulate(mu, alpha, tau, T, seed):
    """Unconstrained Bernoulli Hawkes: each part independently occurs on day t with
    probability sigmoid(mu_p + sum_q alpha[q, p] h[t, q]), h[t] = sum_{s<t} e^{-(t-1-s)/tau} Y[s]."""
    rng = np.random.default_rng(seed)
    r = np.exp(-1.0 / tau)
    u = rng.random((T, len(mu)))
    Y = np.zeros((T, len(mu)), dtype=bool)
    h = np.zeros(len(mu))
    for t in range(T):
        Y[t] = u[t] < 1.0 / (1.0 + np.exp(-(mu + h @ alpha)))
        h = r * h + Y[t]
    return Y


# A sparse 8-part process: self-excitation, self-inhibition, cross-excitation, cross-inhibition.
P8 = 8
BASE = np.array([0.30, 0.35, 0.40, 0.45, 0.30, 0.40, 0.35, 0.45])
ALPHA = np.zeros((P8, P8))
for (q, p), v in {
    (0, 0): 0.8,
    (1, 2): 0.6,
    (2, 1): -0.7,
    (3, 3): -0.5,
    (4, 5): 1.0,
    (5, 4): -0.6,
    (6, 7): 0.5,
    (7, 6): -0.8,
    (6, 6): -0.5,
    (0, 3): 0.5,
}.items():
    ALPHA[q, p] = v
TAU = 1.0


@pytest.fixture(scope="module")
def planted():
    return simulate(np.log(BASE / (1 - BASE)), ALPHA, TAU, 20_000, seed=0)


# --------------------------------------------------------------------------- recovery


@pytest.mark.slow  # a maximum-likelihood fit on a 20,000-day planted process
def test_mle_recovers_a_known_hawkes_process(planted):
    model = HawkesScorer(P8, decays=[TAU], inhibition=True)
    inputs = model.prepare(planted, dates_for(len(planted), START))
    info = model.fit_mle(inputs, planted, l2=0.0, cross_l2=0.0)
    assert info["converged"] and info["iterations"] > 1
    rates = model.base_rates()
    np.testing.assert_array_less(np.abs(rates - BASE) / BASE, 0.15)
    est = model.interactions()
    assert est.shape == (1, P8, P8)
    big = np.abs(ALPHA) >= 0.3
    assert (np.sign(est[0][big]) == np.sign(ALPHA[big])).all()
    np.testing.assert_array_less(np.abs(est[0][big] - ALPHA[big]), 0.1)
    assert np.abs(est[0][~big]).max() < 0.2  # and no large spurious effect
    # maximum likelihood: the fit beats the truth's own likelihood on its training data
    truth = HawkesScorer(P8, decays=[TAU])
    with torch.no_grad():
        truth.mu.copy_(torch.from_numpy(np.log(BASE / (1 - BASE))).float())
        truth.weight.copy_(torch.from_numpy(ALPHA[None] / truth.trace_scale.numpy()[:, None, None]).float())
    np.testing.assert_allclose(truth.interactions()[0], ALPHA, atol=1e-6)
    y = torch.from_numpy(planted.astype(np.float32))
    assert info["nll"] <= float(truth._nll(truth.score(inputs, 0, len(planted)), y, 0)) + 1e-6


@pytest.mark.slow  # a maximum-likelihood fit on a 20,000-day planted process
def test_without_inhibition_every_interaction_is_nonnegative(planted):
    model = HawkesScorer(P8, decays=[TAU, 7.0], inhibition=False)
    inputs = model.prepare(planted, dates_for(len(planted), START))
    model.fit_mle(inputs, planted, l2=1e-3, max_iter=60)
    est = model.interactions()
    assert est.shape == (2, P8, P8) and (est >= 0).all()
    assert est[0, 4, 5] > 0.3  # the strongest excitation is still found


@pytest.mark.slow  # a maximum-likelihood fit on a 20,000-day planted process
def test_l2_shrinks_the_interactions(planted):
    sizes = []
    for l2 in (0.0, 1.0):
        model = HawkesScorer(P8, decays=[TAU])
        info = model.fit_mle(model.prepare(planted, dates_for(len(planted), START)), planted, l2=l2, cross_l2=l2)
        sizes.append(np.abs(model.interactions()).sum())
        assert info["loss"] >= info["nll"]
    assert sizes[1] < 0.5 * sizes[0]


# --------------------------------------------------------------------------- the model's arithmetic


def ref_traces(Y, decays):
    T, P = Y.shape
    h = np.zeros((T, P, len(decays)))
    for t in range(T):
        for d, tau in enumerate(decays):
            for s in range(t):
                h[t, :, d] += np.exp(-(t - 1 - s) / tau) * Y[s]
    return h.reshape(T, -1)


def test_exp_traces_match_reference():
    rng = np.random.default_rng(1)
    Y = k_per_day(rng, 80, 5, 2)
    decays = [0.5, 1.0, 7.0, 30.0]
    h = exp_traces(Y, decays)
    assert h.shape == (80, 5 * 4)
    np.testing.assert_allclose(h, ref_traces(Y, decays), rtol=1e-12, atol=1e-12)
    assert (h[0] == 0).all() and np.array_equal(h.reshape(80, 5, 4)[1, :, 0], Y[0])  # yesterday weighs 1


def test_forward_is_mu_plus_alpha_times_traces():
    rng = np.random.default_rng(2)
    Y, P = k_per_day(rng, 60, 6, 2), 6
    model = HawkesScorer(P, decays=[1.0, 5.0])
    with torch.no_grad():
        model.mu.normal_()
        model.weight.normal_()
    inputs = model.prepare(Y, dates_for(60, START))
    h = exp_traces(Y, [1.0, 5.0]).reshape(60, P, 2)
    expected = model.base_rates()
    expected = np.log(expected / (1 - expected)) + np.einsum("tqd,dqp->tp", h, model.interactions())
    np.testing.assert_allclose(model.score(inputs, 0, 60).numpy(), expected, rtol=1e-4, atol=1e-4)


# --------------------------------------------------------------------------- causality of fitting
# (of scoring, for every learned scorer: test_scorer_contract.py)


def test_fit_on_training_rows_ignores_every_later_day():
    rng = np.random.default_rng(4)
    T, P, K, n = 300, 10, 3, 200
    Y = k_per_day(rng, T, P, K)
    Y2 = Y.copy()
    Y2[n:] = k_per_day(rng, T - n, P, K)
    fits = []
    for data in (Y, Y2):
        model = HawkesScorer(P, decays=[2.0, 10.0])
        model.fit_mle(model.prepare(data, dates_for(T, START)), data, rows=np.arange(n), l2=0.01, max_iter=30)
        fits.append((model.base_rates(), model.interactions()))
    assert np.array_equal(fits[0][0], fits[1][0]) and np.array_equal(fits[0][1], fits[1][1])
    # rows given as a slice or a mask fit the same thing
    model = HawkesScorer(P, decays=[2.0, 10.0])
    inputs = model.prepare(Y, dates_for(T, START))
    model.fit_mle(inputs, Y, rows=slice(0, n), l2=0.01, max_iter=30)
    np.testing.assert_allclose(model.interactions(), fits[0][1], atol=1e-6)
    mask = np.zeros(T, dtype=bool)
    mask[:n] = True
    model.fit_mle(inputs, torch.from_numpy(Y.astype(np.float32)), rows=mask, l2=0.01, max_iter=30)
    np.testing.assert_allclose(model.interactions(), fits[0][1], atol=1e-6)


# --------------------------------------------------------------------------- training loop, heads, config


def test_generic_adamw_loop_can_train_it_through_forward():
    rng = np.random.default_rng(9)
    Y = k_per_day(rng, 400, 10, 3)
    for inhibition in (True, False):
        model = HawkesScorer(10, decays=[1.0, 7.0], inhibition=inhibition)
        inputs = model.prepare(Y, dates_for(400, START))
        y = torch.from_numpy(Y.astype(np.float32))
        opt = torch.optim.AdamW(model.parameters(), lr=0.05)
        losses = []
        for _ in range(30):
            opt.zero_grad()
            loss = head_loss(model(inputs.x), y, model.head, inputs.events)
            loss.backward()
            opt.step()
            losses.append(float(loss.detach()))
        assert losses[-1] < losses[0] - 0.05


def test_softmax_head_shapes_and_fit():
    rng = np.random.default_rng(6)
    Y = k_per_day(rng, 200, 10, 3)
    model = HawkesScorer(10, decays=[1.0, 7.0], head="softmax")
    inputs = model.prepare(Y, dates_for(200, START))
    assert inputs.x.shape == (200, 20 + 7) and inputs.events == 3  # traces and the weekday one-hot
    assert model(inputs.x[:7]).shape == (7, 10)
    info = model.fit_mle(inputs, Y, rows=np.arange(150), l2=0.1, max_iter=20)
    assert np.isfinite(info["loss"]) and model.score(inputs, 150, 200).shape == (50, 10)


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="distinct"):
        HawkesScorer(5, decays=[1.0, 1.0])
    with pytest.raises(ValueError, match="positive"):
        HawkesScorer(5, decays=[0.0])
    model = HawkesScorer(5)
    Y = k_per_day(np.random.default_rng(0), 20, 5, 2)
    inputs = model.prepare(Y, dates_for(20, START))
    with pytest.raises(ValueError, match="shape"):
        model.fit_mle(inputs, Y[:10])
    with pytest.raises(ValueError, match="no training rows"):
        model.fit_mle(inputs, Y, rows=np.arange(0))


def test_shipped_config_builds_a_39_part_scorer():
    cfg = load_config("configs/hawkes.yaml")
    model = build_scorer(cfg.model, 39)
    assert isinstance(model, HawkesScorer) and model.regime == "rows"
    assert model.decays == tuple(cfg.model.decays) and model.l2 == cfg.model.l2
    D = len(cfg.model.decays)
    assert model.n_features == 39 * D + 7 and model(torch.zeros(4, model.n_features)).shape == (4, 39)
    assert model.base_rates().shape == (39,) and model.interactions().shape == (D, 39, 39)
    Y = k_per_day(np.random.default_rng(0), 50, 39, 5)
    assert model.score(model.prepare(Y, dates_for(50, START)), 0, 50).shape == (50, 39)


@pytest.mark.slow  # a maximum-likelihood fit on a long planted process
def test_a_weekday_baseline_and_sparse_cross_effects_are_recovered():
    """A process whose base rate follows the week and with one cross-effect: the seasonal
    term finds the favoured weekday, the self- and cross-effects keep their sign and size,
    and the heavier cross penalty leaves the absent cross-effects near zero."""
    rng = np.random.default_rng(5)
    T, P = 12_000, 6
    dates = dates_for(T, START)
    wd = weekdays(dates)
    mu = np.log(np.full(P, 0.3) / 0.7)
    season = np.zeros((7, P))
    season[:, 0] = 1.2 * np.cos(2 * np.pi * (np.arange(7) - 2) / 7)  # part 0 peaks on Wednesdays
    alpha = np.zeros((P, P))
    alpha[1, 1], alpha[2, 3] = 0.9, 0.8
    r, h, Y = np.exp(-1.0), np.zeros(P), np.zeros((T, P), dtype=bool)
    for t in range(T):
        Y[t] = rng.random(P) < 1 / (1 + np.exp(-(mu + season[wd[t]] + h @ alpha)))
        h = r * h + Y[t]
    model = HawkesScorer(P, decays=[1.0], l2=1e-3, cross_l2=1e-2)
    info = model.fit_mle(model.prepare(Y, dates), Y)
    assert info["converged"]
    s = model.season.detach().numpy()
    assert int(np.argmax(s[:, 0])) == 2 and s[2, 0] - s[:, 0].min() > 1.5
    assert np.abs(s[:, 1:] - s[:, 1:].mean(axis=0)).max() < 0.25  # no week where there is none
    est = model.interactions()[0]
    off = ~np.eye(P, dtype=bool)
    off[2, 3] = False
    # Penalised, the real cross-effect shrinks but stands out; the absent ones stay near 0.
    assert abs(est[1, 1] - 0.9) < 0.15 and est[2, 3] > 0.25 and est[2, 3] > 4 * np.abs(est[off]).max()
    assert np.abs(est[off]).max() < 0.08
    # The plain MLE of the same model recovers the sizes.
    mle = HawkesScorer(P, decays=[1.0])
    mle.fit_mle(mle.prepare(Y, dates), Y, l2=0.0, cross_l2=0.0)
    est = mle.interactions()[0]
    assert abs(est[1, 1] - 0.9) < 0.1 and abs(est[2, 3] - 0.8) < 0.1 and np.abs(est[off]).max() < 0.15


def test_the_group_lasso_prunes_absent_cross_pairs_and_keeps_the_real_one():
    """cross_l1 zeroes whole (q, p) pairs the data do not support, where an L2 penalty of the
    same size only shrinks them: on a process with one real cross-effect, the lasso fit has
    that pair and (almost) nothing else."""
    rng = np.random.default_rng(4)
    P, T = 8, 3000
    mu = np.log(np.full(P, 0.3) / 0.7)
    alpha = np.zeros((P, P))
    alpha[2, 5] = 1.0
    r, h, Y = np.exp(-1.0), np.zeros(P), np.zeros((T, P), dtype=bool)
    for t in range(T):
        Y[t] = rng.random(P) < 1 / (1 + np.exp(-(mu + h @ alpha)))
        h = r * h + Y[t]
    dates = dates_for(T, START)
    groups = {}
    for name, l2, l1, self_l1 in (("ridge", 0.01, 0.0, 0.0), ("lasso", 0.001, 0.01, 0.0), ("both", 0.001, 0.01, 0.01)):
        model = HawkesScorer(P, decays=[1.0, 7.0], l2=l2, cross_l2=l2, cross_l1=l1, l1=self_l1, seasonal=False)
        assert model.fit_mle(model.prepare(Y, dates), Y)["converged"]
        groups[name] = np.sqrt((model.interactions() ** 2).sum(axis=0))  # (q, p)
    off = ~np.eye(P, dtype=bool)
    off[2, 5] = False
    assert groups["lasso"][2, 5] > 0.4 and groups["ridge"][2, 5] > 0.4  # kept by both
    assert (groups["lasso"][off] < 1e-2).mean() > 0.9  # pruned
    assert (groups["ridge"][off] < 1e-2).mean() < 0.5  # only shrunk
    # l1 does the same to the self-effects (none are planted here); cross_l1 leaves them alone
    diag = np.eye(P, dtype=bool)
    assert (groups["both"][diag] < 1e-2).all() and (groups["lasso"][diag] >= 1e-2).sum() >= P // 2
    assert groups["both"][2, 5] > 0.4
    with pytest.raises(ValueError, match="cross_l1"):
        HawkesScorer(P, cross_l1=-1.0)
    with pytest.raises(ValueError, match="l1"):
        HawkesScorer(P, l1=-1.0)


def test_a_yearly_cycle_in_the_baseline_is_recovered():
    """Part 0's base rate follows the year (amplitude 1.0 in log-odds, peaking on day 91 of
    the cycle), part 1 is flat, part 2 self-excites: with ``yearly=1`` the fit finds the
    amplitude and phase of part 0's cycle, no cycle in part 1, the self-effect of part 2,
    and a better likelihood on later years than the same model without the yearly term."""
    rng = np.random.default_rng(11)
    T, P = 8 * 365, 3
    dates = dates_for(T, START)
    d = dates.astype("datetime64[D]").astype(np.int64).astype(np.float64)
    ang = 2 * np.pi * d / 365.25
    cycle = np.sin(ang)  # amplitude 1, in the model's own sin/cos basis
    mu = np.log(np.full(P, 0.25) / 0.75)
    r, h, Y = np.exp(-1.0), np.zeros(P), np.zeros((T, P), dtype=bool)
    for t in range(T):
        logit = mu + np.array([cycle[t], 0.0, 0.9 * h[2]])
        Y[t] = rng.random(P) < 1 / (1 + np.exp(-logit))
        h = r * h + Y[t]
    fit_rows = slice(0, 6 * 365)
    model = HawkesScorer(P, decays=[1.0], l2=1e-4, seasonal=False, yearly=1)
    inputs = model.prepare(Y, dates)
    assert inputs.x.shape == (T, P * 1 + 2) and model.n_features == P + 2
    assert model.fit_mle(inputs, Y, rows=fit_rows)["converged"]
    sin_w, cos_w = model.annual.detach().numpy()  # (P,) each
    assert abs(sin_w[0] - 1.0) < 0.2 and abs(cos_w[0]) < 0.2  # amplitude and phase of part 0
    assert abs(sin_w[1]) < 0.2 and abs(cos_w[1]) < 0.2  # no cycle where there is none
    assert abs(model.interactions()[0][2, 2] - 0.9) < 0.2
    flat = HawkesScorer(P, decays=[1.0], l2=1e-4, seasonal=False)
    flat_inputs = flat.prepare(Y, dates)
    flat.fit_mle(flat_inputs, Y, rows=fit_rows)
    later = slice(6 * 365, T)
    y = torch.from_numpy(Y[later].astype(np.float32))

    def nll(m, inp):
        return float(torch.nn.functional.binary_cross_entropy_with_logits(m.score(inp, later.start, T), y))

    assert nll(model, inputs) < nll(flat, flat_inputs) - 0.005
    # a config section builds it, and yearly = 0 keeps the state dict of earlier checkpoints
    cfg = load_config("configs/hawkes.yaml", overrides=["model.yearly=2"])
    assert build_scorer(cfg.model, 39).n_features == 39 * 3 + 7 + 4
    assert "annual" not in HawkesScorer(4).state_dict()
