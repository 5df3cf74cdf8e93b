"""Planted data drawn by successive sampling (Plackett-Luce top-K) as well as conditional
Bernoulli: the default is unchanged, the new design is seeded, and its quadrature truth
matches brute force and a Monte Carlo of the generator's own sampler."""

from __future__ import annotations

import itertools
import json
import re
import time

import numpy as np
import pytest
from typer.testing import CliRunner

from core import cbern
from core.data import synthetic
from core.data.synthetic import (
    PlantedParams,
    SyntheticError,
    generate,
    truth_path,
    write,
)
from synapse_tui.cli import app

# The quadrature's error against brute-force enumeration, also for weights spread over
# tens of nats (achieved: 1.4e-14).
BRUTE_TOL = 1e-12


def brute_force(w: np.ndarray, K: int) -> np.ndarray:
    """Inclusion probabilities of successive sampling by summing over every ordered draw."""
    P = len(w)
    pi = np.zeros(P)
    for seq in itertools.permutations(range(P), K):
        pr, left = 1.0, np.ones(P, dtype=bool)
        for i in seq:
            pr *= w[i] / w[left].sum()  # the sum of what is left, not W minus what went: no cancellation
            left[i] = False
        pi[list(seq)] += pr
    return pi


def static(base: tuple[float, ...]) -> PlantedParams:
    """Planted params with no day-to-day mechanism: every day has the weights exp(base)."""
    return PlantedParams(base_logits=base, excite_parts=(), inhibit_parts=(), weekday_parts=(), pairs=())


def npz_params(path) -> dict:
    with np.load(path, allow_pickle=False) as z:
        return json.loads(str(z["params"]))


@pytest.fixture(scope="module")
def successive():
    t0 = time.process_time()
    syn = generate("planted", days=11_000, parts=39, per_day=5, seed=1, sampling="successive")
    return syn, time.process_time() - t0


# ---------------------------------------------------------------------------- the default


def test_default_is_cbern_byte_for_byte(tmp_path):
    default = write(tmp_path / "d.csv", generate("planted", days=400, seed=4))
    explicit = write(tmp_path / "e.csv", generate("planted", days=400, seed=4, sampling="cbern"))
    for a, b in zip(default, explicit):
        assert a.read_bytes() == b.read_bytes()
    params = npz_params(default[1])
    assert "sampling" not in params and "truth_method" not in params  # the bytes files had before
    assert generate("planted", days=3, seed=4).sampling == "cbern"


# ---------------------------------------------------------------------------- successive draws


def test_successive_is_seeded_and_differs_from_cbern(tmp_path):
    a = generate("planted", days=1500, seed=5, sampling="successive")
    b = generate("planted", days=1500, seed=5, sampling="successive")
    np.testing.assert_array_equal(a.Y, b.Y)
    np.testing.assert_array_equal(a.truth, b.truth)
    assert a.params == b.params and a.sampling == "successive"
    assert [p.read_bytes() for p in write(tmp_path / "a.csv", a)] == [
        p.read_bytes() for p in write(tmp_path / "b.csv", b)
    ]

    assert not np.array_equal(a.Y, generate("planted", days=1500, seed=6, sampling="successive").Y)
    cb = generate("planted", days=1500, seed=5)
    assert (a.Y != cb.Y).any(axis=1).mean() > 0.5  # same uniforms, another design
    assert not np.allclose(a.truth, cb.truth, atol=1e-3)

    # causal, and the truth of a day does not depend on which days share its block
    longer = generate("planted", days=3000, seed=5, sampling="successive")
    np.testing.assert_array_equal(longer.Y[:1500], a.Y)
    np.testing.assert_array_equal(longer.truth[:1500], a.truth)


def test_full_size_successive_is_fast_with_k_a_day_and_stated_accuracy(successive):
    syn, cpu_seconds = successive
    assert cpu_seconds < 2.5  # measured 1.0 s
    assert syn.Y.shape == (11_000, 39) and np.all(syn.Y.sum(axis=1) == 5)
    np.testing.assert_allclose(syn.truth.sum(axis=1), 5.0, rtol=0, atol=1e-9)
    assert np.all((syn.truth > 0) & (syn.truth < 1))
    assert syn.params["sampling"] == "successive"
    method = syn.params["truth_method"]
    assert method.startswith("exponential-race quadrature")
    estimate, row_sum = (float(x) for x in re.findall(r"error (?:estimate )?([0-9.e+-]+)", method))
    assert estimate <= 1e-10 and row_sum <= 1e-12
    assert row_sum == pytest.approx(np.abs(syn.truth.sum(axis=1) - 5).max(), rel=0.1)


# ---------------------------------------------------------------------------- the truth


@pytest.mark.parametrize("K", [2, 3])
def test_truth_matches_brute_force_even_for_spread_weights(K):
    rng = np.random.default_rng(K)
    L = np.concatenate([rng.normal(0, sd, (8, 6)) for sd in (0.3, 1.0, 3.0, 10.0, 25.0)])
    race = synthetic.successive_inclusion_probabilities(np.exp(L), K)
    brute = np.array([brute_force(w, K) for w in np.exp(L)])
    assert np.abs(race.pi - brute).max() < BRUTE_TOL
    np.testing.assert_allclose(race.pi.sum(axis=1), K, rtol=0, atol=1e-12)
    assert race.error.max() <= 1e-10
    assert race.nodes.min() == 32 and race.nodes.max() > 32  # the spread rows needed the panels


def test_truth_closed_forms_and_bad_weights():
    w = np.array([[3.0, 1.0, 0.5, 0.25, 2.0], [1.0, 1.0, 1.0, 1.0, 1e-9]])
    np.testing.assert_allclose(
        synthetic.successive_inclusion_probabilities(w, 1).pi, w / w.sum(axis=1, keepdims=True), rtol=0, atol=1e-13
    )
    np.testing.assert_allclose(synthetic.successive_inclusion_probabilities(w, 5).pi, 1.0, rtol=0, atol=1e-12)
    zero = synthetic.successive_inclusion_probabilities([[1.0, 0.0, 2.0, 0.5]], 3).pi
    np.testing.assert_allclose(zero, [[1.0, 0.0, 1.0, 1.0]], rtol=0, atol=1e-12)
    # weights hundreds of nats apart are beyond the ladder: an error, never a quiet wrong truth
    with pytest.raises(SyntheticError, match="did not reach 1e-10 on 1 day"):
        synthetic.successive_inclusion_probabilities([[1, 1, 1, 1, 1e-200, 1e-200]], 5)
    for bad, msg in (
        ([[1.0, 0.0, 0.0]], "at least K=2 positive"),
        ([[1.0, np.nan, 2.0]], "finite"),
        ([1.0, 2.0, 3.0], r"shape \(N, P\)"),
    ):
        with pytest.raises(SyntheticError, match=msg):
            synthetic.successive_inclusion_probabilities(bad, 2)


@pytest.mark.parametrize("K", [2, 3])
def test_truth_matches_a_monte_carlo_of_the_generators_sampler(K):
    base = (0.9, -0.4, 0.0, 1.4, -0.8, 0.3)
    syn = generate("planted", days=200_000, parts=6, per_day=K, seed=11, params=static(base), sampling="successive")
    pi = syn.truth[0]
    assert np.all(syn.truth == pi)
    se = np.sqrt(pi * (1 - pi) / len(syn.Y))
    freq = syn.Y.mean(axis=0)
    assert np.all(np.abs(freq - pi) < 4 * se), (freq - pi) / se
    # and the data are measurably not conditional Bernoulli with the same weights
    cb = cbern.inclusion_probabilities(np.exp(np.array(base)), K)
    assert np.abs(freq - cb).max() > 10 * se.max()


# ---------------------------------------------------------------------------- arguments and CLIs


def test_bad_sampling_arguments():
    with pytest.raises(SyntheticError, match="sampling must be one of cbern, successive"):
        generate("planted", days=5, sampling="bernoulli")
    with pytest.raises(SyntheticError, match="for planted data"):
        generate("uniform", days=5, sampling="successive")


def test_cli_sampling_flag_end_to_end(tmp_path):
    out = tmp_path / "s.csv"
    r = CliRunner().invoke(
        app,
        [
            "data",
            "generate",
            "--sampling",
            "successive",
            "--days",
            "40",
            "--parts",
            "10",
            "--per-day",
            "3",
            "--seed",
            "3",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, (r.stdout, r.stderr)
    assert json.loads(r.stdout)["sampling"] == "successive"
    params = npz_params(truth_path(out))
    assert params["sampling"] == "successive" and "exponential-race" in params["truth_method"]
    with np.load(truth_path(out)) as z:
        np.testing.assert_allclose(z["truth"].sum(axis=1), 3.0, rtol=0, atol=1e-9)
    lines = out.read_text().splitlines()
    assert lines[0] == "date,e1,e2,e3" and len(lines) == 41
    made = generate("planted", days=40, parts=10, per_day=3, seed=3, sampling="successive")
    np.testing.assert_array_equal(np.load(truth_path(out))["truth"], made.truth)

    # the module CLI is the same code path
    other = tmp_path / "m.csv"
    assert (
        synthetic._main(
            [
                "--sampling",
                "successive",
                "--days",
                "40",
                "--parts",
                "10",
                "--per-day",
                "3",
                "--seed",
                "3",
                "--out",
                str(other),
            ]
        )
        == 0
    )
    assert other.read_bytes() == out.read_bytes()
    assert truth_path(other).read_bytes() == truth_path(out).read_bytes()


@pytest.mark.parametrize(
    "args, msgs",
    [
        (["--sampling", "bernoulli"], ["--sampling", "'bernoulli' is not one of 'cbern', 'successive'"]),
        (["--kind", "uniform", "--sampling", "successive"], ["error: sampling 'successive' is for planted data"]),
    ],
    ids=["unknown", "uniform"],
)
def test_cli_bad_sampling_exits_2_and_writes_nothing(tmp_path, args, msgs):
    r = CliRunner().invoke(app, ["data", "generate", "--days", "10", *args, "--out", str(tmp_path / "x.csv")])
    assert r.exit_code == 2, (r.stdout, r.stderr)
    text = re.sub(r"[\s│]+", " ", r.stderr)  # without rich's line breaks and box
    assert all(m in text for m in msgs), r.stderr
    assert list(tmp_path.iterdir()) == []
