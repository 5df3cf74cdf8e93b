"""The exact K-of-P head against brute force over every subset, the numpy truth code
(core.cbern), autograd, extreme weights, and a real training run with `head: kofp`."""

import itertools
import math

import numpy as np
import pytest
import torch

from core import cbern
from core.models.base import head_logits, head_loss, head_probabilities
from core.models.kofp import kofp_inclusion, kofp_loss, kofp_nll, log_esp


def brute(x: np.ndarray, K: int) -> tuple[float, np.ndarray]:
    """(e_K(w), inclusion probabilities) by enumerating every K-subset."""
    w = np.exp(x)
    total, incl = 0.0, np.zeros(len(w))
    for S in itertools.combinations(range(len(w)), K):
        p = math.prod(w[list(S)])
        total += p
        incl[list(S)] += p
    return total, incl / total


@pytest.mark.parametrize("P, K", [(6, 1), (6, 2), (6, 3), (7, 5), (5, 5), (8, 4)])
def test_log_esp_and_inclusion_match_brute_force(P, K):
    rng = np.random.default_rng(P * 10 + K)
    x = rng.normal(0, 1.5, size=(3, P))
    table = log_esp(torch.tensor(x), K).numpy()
    for row in range(3):
        for j in range(K + 1):
            assert table[row, j] == pytest.approx(math.log(brute(x[row], j)[0]) if j else 0.0, rel=1e-10, abs=1e-10)
        pi = kofp_inclusion(torch.tensor(x[row]), K).numpy()
        np.testing.assert_allclose(pi, brute(x[row], K)[1], rtol=1e-10, atol=1e-12)
        assert pi.sum() == pytest.approx(K, abs=1e-10)


def test_inclusion_matches_core_cbern_and_is_the_gradient_of_log_e_K():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 1, size=(20, 39))
    pi = kofp_inclusion(torch.tensor(x), 5).numpy()
    np.testing.assert_allclose(pi, cbern.inclusion_probabilities(np.exp(x), 5), rtol=1e-9, atol=1e-12)
    xt = torch.tensor(x, requires_grad=True)
    log_esp(xt, 5)[..., 5].sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), pi, rtol=1e-9, atol=1e-12)


def test_the_set_probabilities_sum_to_one():
    rng = np.random.default_rng(1)
    x = torch.tensor(rng.normal(0, 2, size=7))
    total = 0.0
    for S in itertools.combinations(range(7), 3):
        y = torch.zeros(7, dtype=torch.float64)
        y[list(S)] = 1
        total += math.exp(-float(kofp_nll(x, y)))
    assert total == pytest.approx(1.0, abs=1e-12)


def test_extreme_weights_stay_finite_in_float32():
    x = torch.tensor([[40.0, -40.0, 0.0, 25.0, -25.0, 3.0, 80.0, -80.0]], requires_grad=True)
    y = torch.tensor([[0, 1, 0, 0, 1, 0, 0, 1.0]])  # the least likely set there is
    loss = kofp_loss(x, y)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(x.grad).all()
    pi = kofp_inclusion(x.detach(), 3)
    assert torch.isfinite(pi).all() and float(pi.sum()) == pytest.approx(3.0, abs=1e-4)


def test_label_smoothing_is_the_expected_loss_under_the_mixture():
    rng = np.random.default_rng(2)
    x = torch.tensor(rng.normal(size=(4, 6)))
    y = torch.zeros(4, 6, dtype=torch.float64)
    for r in range(4):
        y[r, rng.choice(6, 2, replace=False)] = 1
    eps = 0.2
    # The mixture (1 - eps) * the day's set + eps * a uniformly random 2-subset.
    uniform = np.mean(
        [
            float(
                kofp_nll(x, torch.zeros(6, dtype=torch.float64).index_fill(0, torch.tensor(S), 1.0).expand(4, 6)).mean()
            )
            for S in itertools.combinations(range(6), 2)
        ]
    )
    want = ((1 - eps) * kofp_nll(x, y).mean() + eps * uniform) / 6
    assert float(kofp_loss(x, y, eps)) == pytest.approx(float(want), rel=1e-10)


def test_the_heads_api_for_kofp():
    rng = np.random.default_rng(3)
    x = torch.tensor(rng.normal(size=(5, 12)), dtype=torch.float32)
    p = head_probabilities(x, "kofp", 3)
    assert p.dtype == torch.float32 and torch.allclose(p.sum(-1), torch.full((5,), 3.0), atol=1e-5)
    z = head_logits(x, "kofp", 3)
    assert torch.allclose(torch.sigmoid(z), p, atol=1e-5)
    y = torch.zeros(5, 12)
    y[:, :3] = 1
    assert float(head_loss(x, y, "kofp", 3)) == pytest.approx(
        float(kofp_nll(x.double(), y.double()).mean()) / 12, rel=1e-5
    )


@pytest.mark.slow
def test_a_logistic_model_with_the_kofp_head_learns_the_planted_process(tmp_path, synthetic_csv):
    """On conditional-Bernoulli data the K-of-P head is the true likelihood: it reaches the
    sigmoid head's calibration and ranking (within noise) and its raw probabilities sum to K."""
    import json

    from core.config import load_config
    from core.train.run import run_train

    data = synthetic_csv("planted", days=1500, seed=11)
    common = ["split.test_days=300", "split.val_days=300", "train.epochs=40", "train.device=cpu"]
    out = {}
    for head in ("sigmoid", "kofp"):
        run = run_train(
            load_config("logistic", overrides=[*common, f"model.head={head}"], data=str(data)), tmp_path / head
        )
        out[head] = json.loads(run.path.joinpath("report.json").read_text())
    s, k = (out[h]["summary"] for h in ("sigmoid", "kofp"))
    assert k["lift_capture"] > 0.3 and k["lift_capture"] >= s["lift_capture"] - 0.05
    assert k["brier_skill"] > 0 and k["ece_after"] < 0.05
    run_dir = next((tmp_path / "kofp").iterdir())
    z = np.load(run_dir / "predictions.npz")["logistic__logits_test"]
    np.testing.assert_allclose((1 / (1 + np.exp(-z))).sum(axis=1), 5, atol=1e-3)  # before calibration: sums to K
