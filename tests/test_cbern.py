"""Conditional Bernoulli math against brute force over all K-subsets."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from scipy import stats
from scipy.special import logsumexp

from core import cbern


def brute(w: np.ndarray, K: int):
    """(inclusion probs, log e_K, {subset: prob}) by enumerating every K-subset in log space."""
    P = len(w)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    subsets = list(itertools.combinations(range(P), K))
    logs = np.array([lw[list(s)].sum() for s in subsets])
    Z = logsumexp(logs)
    probs = np.exp(logs - Z)
    pi = np.zeros(P)
    for s, q in zip(subsets, probs):
        pi[list(s)] += q
    return pi, Z, dict(zip(subsets, probs))


def weight_cases(seed: int = 0):
    """Random weight vectors for P <= 8: mild, wide, extreme (log-range ~600), with zeros."""
    rng = np.random.default_rng(seed)
    for P in range(1, 9):
        for scale in (0.3, 3.0, 30.0, 100.0):
            yield P, np.exp(rng.normal(0.0, scale, P))
        w = np.exp(rng.normal(0.0, 1.0, P))
        w[rng.permutation(P)[: P // 3]] = 0.0  # some parts impossible
        yield P, w
    yield 6, np.array([1e150, 1e-150, 1.0, 3.0, 1e-150, 1e150])
    yield 5, np.full(5, 7.5)  # all equal: inclusion K/P


@pytest.mark.parametrize("case", list(enumerate(weight_cases())), ids=lambda c: f"case{c[0]}")
def test_inclusion_and_esp_match_brute_force(case):
    _, (P, w) = case
    npos = int((w > 0).sum())
    for K in range(0, npos + 1):
        pi_b, logZ, _ = brute(w, K)
        pi = cbern.inclusion_probabilities(w, K)
        assert pi.shape == (P,)
        np.testing.assert_allclose(pi, pi_b, rtol=0, atol=1e-12)
        assert abs(pi.sum() - K) < 1e-12
        assert np.all(pi[w == 0] == 0)
        le = cbern.log_esp(w, K)
        assert le.shape == (K + 1,)
        assert le[0] == 0.0
        assert abs(le[K] - logZ) <= 1e-10 * max(1.0, abs(logZ))
        for k in range(K + 1):  # every lower ESP too
            _, lz, _ = brute(w, k)
            assert abs(le[k] - lz) <= 1e-10 * max(1.0, abs(lz))


def test_esp_matches_polynomial_coefficients():
    w = np.array([0.5, 1.0, 2.0, 3.0, 4.0])
    coeffs = np.poly(-w)  # prod (x + w_i) -> coefficients e_0..e_5
    np.testing.assert_allclose(cbern.esp(w, 5), coeffs, rtol=1e-13)
    np.testing.assert_allclose(cbern.esp(w, 2), coeffs[:3], rtol=1e-13)
    # exact zeros where there are fewer positive weights than k
    assert cbern.esp(np.array([2.0, 0.0, 0.0]), 3).tolist() == [1.0, 2.0, 0.0, 0.0]


def test_equal_weights_give_k_over_p_and_scaling_is_irrelevant():
    rng = np.random.default_rng(3)
    np.testing.assert_allclose(cbern.inclusion_probabilities(np.ones(39), 5), 5 / 39, atol=1e-15)
    w = np.exp(rng.normal(0, 2, 39))
    a = cbern.inclusion_probabilities(w, 5)
    for c in (1e-200, 1e-9, 7.0, 1e200):
        np.testing.assert_allclose(cbern.inclusion_probabilities(w * c, 5), a, rtol=1e-12)


def test_edges_k_zero_and_k_equal_p():
    w = np.array([0.1, 2.0, 5.0])
    assert cbern.inclusion_probabilities(w, 0).tolist() == [0.0, 0.0, 0.0]
    assert cbern.inclusion_probabilities(w, 3).tolist() == [1.0, 1.0, 1.0]


def test_batch_shapes_match_row_by_row():
    rng = np.random.default_rng(4)
    W = np.exp(rng.normal(0, 1.5, (2, 3, 7)))
    for K in (1, 3, 6):
        pi = cbern.inclusion_probabilities(W, K)
        le = cbern.log_esp(W, K)
        assert pi.shape == (2, 3, 7) and le.shape == (2, 3, K + 1)
        assert cbern.esp(W, K).shape == (2, 3, K + 1)
        for i in range(2):
            for j in range(3):
                np.testing.assert_allclose(pi[i, j], cbern.inclusion_probabilities(W[i, j], K), rtol=0, atol=1e-15)
                np.testing.assert_allclose(le[i, j], cbern.log_esp(W[i, j], K), rtol=1e-14)
        np.testing.assert_allclose(pi.sum(-1), K, atol=1e-12)
    # a long batch (days x parts), as the generator uses it
    W = np.exp(rng.normal(0, 1, (5000, 39)))
    pi = cbern.inclusion_probabilities(W, 5)
    assert pi.shape == (5000, 39)
    np.testing.assert_allclose(pi.sum(1), 5, atol=1e-12)
    np.testing.assert_allclose(pi[1234], cbern.inclusion_probabilities(W[1234], 5), atol=1e-15)


@pytest.mark.parametrize(
    "bad, K, msg",
    [
        (np.array([1.0, -1.0, 2.0]), 1, "finite and >= 0"),
        (np.array([1.0, np.nan, 2.0]), 1, "finite and >= 0"),
        (np.array([1.0, np.inf, 2.0]), 1, "finite and >= 0"),
        (np.array([1.0, 0.0, 0.0]), 2, "at least K=2 positive"),
        (np.array([1.0, 2.0]), 3, "K must be"),
        (np.array([1.0, 2.0]), -1, "K must be"),
        (np.array(1.0), 0, "at least one axis"),
    ],
)
def test_bad_input_is_refused(bad, K, msg):
    with pytest.raises(ValueError, match=msg):
        cbern.inclusion_probabilities(bad, K)


# ---------------------------------------------------------------------------- sampling


def test_sample_shape_sorted_distinct_and_deterministic():
    w = np.exp(np.random.default_rng(5).normal(0, 1, 39))
    a = [cbern.sample(w, 5, np.random.default_rng(9)) for _ in range(2)]
    np.testing.assert_array_equal(a[0], a[1])
    rng = np.random.default_rng(10)
    for _ in range(200):
        s = cbern.sample(w, 5, rng)
        assert s.dtype == np.int64 and s.shape == (5,)
        assert np.all(np.diff(s) > 0) and s.min() >= 0 and s.max() < 39
    w0 = w.copy()
    w0[[3, 17]] = 0.0
    for _ in range(200):
        assert not set(cbern.sample(w0, 5, rng).tolist()) & {3, 17}
    assert cbern.sample(np.ones(4), 4, rng).tolist() == [0, 1, 2, 3]
    assert cbern.sample(np.ones(4), 0, rng).tolist() == []
    with pytest.raises(ValueError):
        cbern.sample(np.ones((2, 4)), 2, rng)


@pytest.mark.parametrize("scale", [1.0, 60.0])  # 60: takes the rescaling path
def test_sample_subset_frequencies_match_exact_design(scale):
    rng = np.random.default_rng(11)
    P, K, N = 7, 3, 20_000
    w = np.exp(rng.normal(0, scale, P))
    if scale > 1:  # keep every subset probability away from 0 and 1 so the test has power
        w = np.array([1e100, 2e100, 1.0, 3.0, 0.5, 2.0, 1e-100])
    v, _ = cbern._normalise(w, K)
    assert cbern._needs_rescale(v, K) == (scale > 1)
    _, _, exact = brute(w, K)
    pi = cbern.inclusion_probabilities(w, K)
    counts = dict.fromkeys(exact, 0)
    incl = np.zeros(P)
    for _ in range(N):
        s = cbern.sample(w, K, rng)
        counts[tuple(s.tolist())] += 1
        incl[s] += 1
    # per-part inclusion frequencies: z-scores
    se = np.sqrt(np.maximum(pi * (1 - pi), 1e-300) / N)
    z = np.where(pi * (1 - pi) > 0, (incl / N - pi) / se, incl / N - pi)
    assert np.max(np.abs(z)) < 4.5, z
    # the whole subset distribution: chi-square over subsets with expected count >= 5
    keys = [k for k in exact if exact[k] * N >= 5]
    obs = np.array([counts[k] for k in keys], dtype=float)
    exp = np.array([exact[k] for k in keys]) * N
    other_obs, other_exp = N - obs.sum(), N - exp.sum()
    if other_exp >= 5:
        obs, exp = np.append(obs, other_obs), np.append(exp, other_exp)
    else:
        assert other_obs <= 10
    chi2 = float(((obs - exp) ** 2 / exp).sum())
    assert stats.chi2.sf(chi2, len(obs) - 1) > 1e-3, chi2


def test_fast_and_rescaled_sampler_paths_agree():
    rng = np.random.default_rng(12)
    for _ in range(300):
        w = np.exp(rng.normal(0, 1, 39))
        v, _ = cbern._normalise(w, 5)
        u = rng.random(39).tolist()
        assert cbern._sample_list(v.tolist(), 5, u, rescale=False) == cbern._sample_list(v.tolist(), 5, u, rescale=True)


# ---------------------------------------------------------------------------- inverse map


@pytest.mark.parametrize(
    "P, K, scale", [(39, 5, 0.5), (39, 5, 2.0), (12, 1, 2.0), (12, 4, 6.0), (39, 20, 2.0), (39, 38, 1.0)]
)
def test_solve_weights_round_trip(P, K, scale):
    rng = np.random.default_rng(P * 100 + K)
    W = np.exp(rng.normal(0, scale, (25, P)))
    pi = cbern.inclusion_probabilities(W, K)
    pi = pi[np.all((pi > 1e-9) & (pi < 1 - 1e-9), axis=1)]
    sol = cbern.solve_weights(pi, K)
    assert sol.shape == pi.shape
    np.testing.assert_allclose(cbern.inclusion_probabilities(sol, K), pi, rtol=0, atol=1e-10)
    np.testing.assert_allclose(np.log(sol).mean(axis=1), 0.0, atol=1e-12)


def test_solve_weights_recovers_the_weights_up_to_scale_and_keeps_batch_shape():
    rng = np.random.default_rng(13)
    W = np.exp(rng.normal(0, 1, (3, 4, 39)))
    pi = cbern.inclusion_probabilities(W, 5)
    sol = cbern.solve_weights(pi, 5)
    assert sol.shape == (3, 4, 39)
    lw = np.log(W) - np.log(W).mean(axis=-1, keepdims=True)
    np.testing.assert_allclose(np.log(sol), lw, atol=1e-7)
    # a target that is not itself a weight: K/P for all is solved by equal weights
    np.testing.assert_allclose(cbern.solve_weights(np.full(39, 5 / 39), 5), 1.0, atol=1e-12)


@pytest.mark.parametrize(
    "pi, K, msg",
    [
        (np.array([0.5, 0.5, 0.5]), 2, "sum to K"),
        (np.array([1.0, 0.5, 0.5]), 2, "0 < pi < 1"),
        (np.array([0.0, 1.0, 1.0]), 2, "0 < pi < 1"),
        (np.array([0.5, 0.5]), 2, "K must be"),
    ],
)
def test_solve_weights_refuses_bad_targets(pi, K, msg):
    with pytest.raises(ValueError, match=msg):
        cbern.solve_weights(pi, K)


def test_solve_weights_reports_non_convergence():
    pi = cbern.inclusion_probabilities(np.exp(np.random.default_rng(1).normal(0, 3, 39)), 5)
    with pytest.raises(RuntimeError, match="did not converge"):
        cbern.solve_weights(pi, 5, iters=1, tol=1e-15)
    assert math.isfinite(cbern.solve_weights(pi, 5).sum())
