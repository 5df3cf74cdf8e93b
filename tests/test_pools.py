"""core.pools: hit distributions against brute force and Monte Carlo, weights round trip,
pool tables, and the backtest of the pool promise on data with known truth."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest

from helpers import ROOT

from core import cbern, pools

from core.evaluation import metrics
from core.data import synthetic

TIERS = {"excellent": 5, "good": 4, "fair": 3}
KS = list(range(20, 28))


def brute_hits(w: np.ndarray, mask: np.ndarray, E: int) -> np.ndarray:
    """P(hits = h) by enumerating every E-subset, probabilities in log space."""
    P = len(w)
    with np.errstate(divide="ignore"):
        lw = np.log(w)
    logs, hits = [], []
    for s in itertools.combinations(range(P), E):
        logs.append(lw[list(s)].sum())
        hits.append(int(mask[list(s)].sum()))
    logs = np.array(logs)
    finite = np.isfinite(logs)
    q = np.zeros_like(logs)
    q[finite] = np.exp(logs[finite] - logs[finite].max())
    q /= q.sum()
    return np.bincount(hits, weights=q, minlength=E + 1)


def weight_cases(seed: int = 0):
    rng = np.random.default_rng(seed)
    for P in range(5, 10):
        for E in (2, 3, 4):
            for scale in (0.3, 2.0, 30.0):  # mild .. extreme (log-range of hundreds of nats)
                yield P, E, np.exp(rng.normal(0.0, scale, P)), rng.random(P) < 0.5
            w = np.exp(rng.normal(0.0, 1.0, P))
            w[rng.permutation(P)[: P - E - 1]] = 0.0  # some parts impossible, still >= E positive
            yield P, E, w, rng.random(P) < 0.5
    yield 6, 3, np.array([1e150, 1e-150, 1.0, 3.0, 1e-150, 1e150]), np.array([1, 0, 1, 0, 1, 0], bool)
    yield 7, 4, np.full(7, 2.5), np.array([1, 1, 1, 0, 0, 0, 0], bool)  # equal weights: hypergeometric


@pytest.fixture(scope="module")
def planted():
    return synthetic.generate("planted", days=3000, seed=3)


def sharpen(p: np.ndarray, factor: float = 3.0) -> np.ndarray:
    """An overconfident scorer: the truth's logits times `factor`, rescaled to sum to 5."""
    z = factor * (np.log(p) - np.log1p(-p))
    return pools.rescale_probabilities(1.0 / (1.0 + np.exp(-z)), 5)[0]


# --------------------------------------------------------------------------- hit distribution


def test_hit_distribution_matches_brute_force():
    n = 0
    for P, E, w, mask in weight_cases():
        got = pools.hit_distribution(w, mask, E)
        want = brute_hits(w, mask, E)
        assert got.shape == (E + 1,)
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-12, err_msg=f"P={P} E={E} w={w}")
        assert got.sum() == pytest.approx(1.0, abs=1e-12)
        n += 1
    assert n > 60


def test_hit_distribution_edge_pools_and_hypergeometric():
    w = np.full(7, 2.5)
    for k in range(8):
        mask = np.arange(7) < k
        d = pools.hit_distribution(w, mask, 4)
        # equal weights: every 4-subset equally likely -> hypergeometric tail
        for m in range(5):
            assert d[m:].sum() == pytest.approx(metrics.hypergeom_at_least(7, 4, k, m), abs=1e-12)
    assert pools.hit_distribution(w, np.zeros(7, bool), 4)[0] == pytest.approx(1.0)
    assert pools.hit_distribution(w, np.ones(7, bool), 4)[4] == pytest.approx(1.0)


def test_hit_distribution_is_vectorised_over_leading_axes():
    rng = np.random.default_rng(1)
    w = np.exp(rng.normal(0, 2, (3, 4, 8)))
    mask = rng.random((3, 4, 8)) < 0.4
    d = pools.hit_distribution(w, mask, 3)
    assert d.shape == (3, 4, 4)
    for i, j in itertools.product(range(3), range(4)):
        np.testing.assert_allclose(d[i, j], brute_hits(w[i, j], mask[i, j], 3), rtol=1e-9, atol=1e-13)
    # a single mask broadcasts against many weight rows
    d1 = pools.hit_distribution(w, mask[0, 0], 3)
    np.testing.assert_allclose(d1[2, 1], brute_hits(w[2, 1], mask[0, 0], 3), rtol=1e-9, atol=1e-13)


def test_topk_hit_distribution_equals_masked_pools():
    rng = np.random.default_rng(2)
    w = np.exp(rng.normal(0, 1.5, (5, 39)))
    p = rng.random((5, 39))
    order = np.argsort(-p, axis=1, kind="stable")
    ks = [0, 1, 5, 20, 27, 38, 39]
    d = pools.topk_hit_distribution(w, order, ks, 5)
    assert d.shape == (5, len(ks), 6)
    for j, k in enumerate(ks):
        mask = np.zeros((5, 39), bool)
        np.put_along_axis(mask, order[:, :k], True, axis=1)
        np.testing.assert_allclose(d[:, j], pools.hit_distribution(w, mask, 5), rtol=1e-10, atol=1e-14)


def test_hit_distribution_matches_monte_carlo_p39(planted):
    pi = planted.truth[17]
    w = pools.pool_weights(pi, 5)
    mask = np.zeros(39, bool)
    mask[np.argsort(-pi, kind="stable")[:22]] = True
    want = pools.hit_distribution(w, mask, 5)
    rng = np.random.default_rng(12345)
    N = 8000
    hits = np.array([mask[cbern.sample(w, 5, rng)].sum() for _ in range(N)])
    freq = np.bincount(hits, minlength=6) / N
    se = np.sqrt(want * (1 - want) / N)
    assert np.all(np.abs(freq - want) <= 4.5 * se + 1.0 / N), (freq, want)


# --------------------------------------------------------------------------- weights


def test_pool_weights_round_trip_on_truth(planted):
    pi = planted.truth[:200]
    w, q, c, used = pools.pool_weights(pi, 5, return_rescale=True)
    assert np.all(used == pools.EPS)
    assert w.shape == q.shape == pi.shape and c.shape == (200,)
    np.testing.assert_allclose(q, pi, atol=1e-12)  # already valid: unchanged
    np.testing.assert_allclose(c, 1.0, atol=1e-12)
    np.testing.assert_allclose(cbern.inclusion_probabilities(w, 5), pi, atol=1e-9)


@pytest.mark.parametrize("case", ["scaled_down", "scaled_up", "saturated", "zeros_and_ones", "flat"])
def test_pool_weights_round_trip_after_rescale(case):
    rng = np.random.default_rng(4)
    base = rng.dirichlet(np.ones(39), size=6) * 5
    base = np.clip(base, 0.001, 0.9)
    p = {
        "scaled_down": base * 0.6,
        "scaled_up": np.clip(base * 1.7, 0, 1),
        "saturated": np.clip(base * 6, 0, 1),
        "zeros_and_ones": np.where(rng.random((6, 39)) < 0.3, 0.0, np.where(rng.random((6, 39)) < 0.05, 1.0, base)),
        "flat": np.full((6, 39), 0.2),
    }[case]
    w, q, c, _ = pools.pool_weights(p, 5, return_rescale=True)
    np.testing.assert_allclose(q.sum(axis=1), 5.0, atol=1e-9)
    assert q.min() >= pools.EPS * (1 - 1e-12) and q.max() <= 1 - pools.EPS * (1 - 1e-9)
    np.testing.assert_allclose(cbern.inclusion_probabilities(w, 5), q, atol=1e-9)
    # rescaling keeps the order of parts (never swaps two, may tie at a clip bound)
    for t in range(6):
        o = np.argsort(-p[t], kind="stable")
        assert np.all(np.diff(q[t][o]) <= 1e-15)
    # the factor: q = clip(c * max(p, eps), eps, 1 - eps)
    np.testing.assert_allclose(
        np.clip(c[:, None] * np.maximum(p, pools.EPS), pools.EPS, 1 - pools.EPS), q, rtol=1e-9, atol=1e-15
    )
    if case == "scaled_down":
        np.testing.assert_allclose(c, 1 / 0.6, rtol=1e-9)
    if case == "flat":
        np.testing.assert_allclose(q, 5 / 39, rtol=1e-12)


def test_pool_weights_step_function_scorers():
    """Isotonic-style scores (many exact 0s and 1s) at the default eps: all solvable."""
    rng = np.random.default_rng(11)
    for i in range(40):
        P = int(rng.choice([6, 10, 39]))
        E = int(rng.integers(1, min(5, P - 1) + 1))
        u = rng.random(P)
        p = (
            np.where(u < 0.1, 1.0, np.where(u < 0.5, 0.0, rng.random(P) * 0.5))
            if i % 2
            else np.where(u < E / P, 1.0, 0.0)
        )
        w, q, c, used = pools.pool_weights(p, E, return_rescale=True)
        np.testing.assert_allclose(cbern.inclusion_probabilities(w, E), q, atol=1e-9)
        assert used == pools.EPS


def test_pool_weights_raises_eps_only_for_unsolvable_rows():
    # two parts at 1 - 2e-6 among six: cbern.solve_weights cannot reach that; that row
    # alone is retried at eps 1e-5, the other rows keep the asked eps
    p = np.array([[1.0, 1.0, 0.0, 0.0, 0.0, 0.0], [0.5, 0.4, 0.3, 0.3, 0.3, 0.2], [0.3] * 6])
    w, q, c, used = pools.pool_weights(p, 2, eps=1e-6, return_rescale=True)
    assert used.tolist() == [1e-5, 1e-6, 1e-6]
    np.testing.assert_allclose(cbern.inclusion_probabilities(w, 2), q, atol=1e-9)
    assert q[0, 0] == pytest.approx(1 - 2e-5)


def test_rescale_rejects_bad_input():
    with pytest.raises(ValueError):
        pools.rescale_probabilities(np.full(39, np.nan), 5)
    with pytest.raises(ValueError):
        pools.rescale_probabilities(np.full(39, 1.2), 5)
    with pytest.raises(ValueError):
        pools.rescale_probabilities(np.full(39, 0.1), 39)


# --------------------------------------------------------------------------- pool table


def test_pool_table_expected_hits_and_consistency(planted):
    p = planted.truth[5] * 0.9  # a scorer whose mass is 10% short: rescaled back
    table = pools.pool_table(p, 5, range(1, 40), TIERS)
    json.dumps(table, allow_nan=False)
    assert table["rescale"] == pytest.approx(1 / 0.9, rel=1e-9)
    assert table["sum_p"] == pytest.approx(4.5)
    q = np.asarray(table["q_ranked"])
    ranking = np.asarray(table["ranking"])
    assert sorted(ranking.tolist()) == list(range(1, 40))
    w = pools.pool_weights(p, 5)
    for row in table["pools"]:
        k = row["k"]
        assert row["parts"] == ranking[:k].tolist()
        # expected hits = sum of inclusion probabilities over the pool
        assert row["expected_hits"] == pytest.approx(q[:k].sum(), abs=1e-9)
        d = np.asarray(row["hit_distribution"])
        assert d.sum() == pytest.approx(1.0, abs=1e-12)
        mask = np.zeros(39, bool)
        mask[np.asarray(row["parts"]) - 1] = True
        np.testing.assert_allclose(d, pools.hit_distribution(w, mask, 5), atol=1e-12)
        for name, m in TIERS.items():
            assert row["or_better"][name] == pytest.approx(d[m:].sum(), abs=1e-12)
            assert row["random_or_better"][name] == pytest.approx(metrics.hypergeom_at_least(39, 5, k, m))
        assert row["exact"]["good"] == pytest.approx(d[4], abs=1e-12)
        assert row["exact"]["fair"] == pytest.approx(d[3], abs=1e-12)
    assert table["pools"][-1]["or_better"]["excellent"] == pytest.approx(1.0)


def test_pool_table_expected_hits_random_masks():
    rng = np.random.default_rng(7)
    p = rng.dirichlet(np.ones(39) * 2, size=4) * 5
    w, q, _, _ = pools.pool_weights(p, 5, return_rescale=True)
    masks = rng.random((4, 39)) < 0.5
    d = pools.hit_distribution(w, masks, 5)
    np.testing.assert_allclose(d @ np.arange(6), np.where(masks, q, 0).sum(axis=1), atol=1e-9)


def test_pool_table_ties_go_to_lower_part_id():
    p = np.full(39, 5 / 39)
    p[[30, 10]] = 0.3  # tie at the top between parts 11 and 31
    p[[0, 1, 2]] = 0.01
    table = pools.pool_table(p, 5, [1, 2, 3, 39])
    assert table["ranking"][:2] == [11, 31]
    assert table["ranking"][2:5] == [4, 5, 6]  # the flat block, by id
    assert table["ranking"][-3:] == [1, 2, 3]
    assert table["pools"][0]["parts"] == [11]


def test_suggest_k_is_monotone(planted):
    for t in (0, 100, 2000):
        table = pools.pool_table(planted.truth[t], 5, range(1, 40), TIERS)
        for name in TIERS:
            probs = [r["or_better"][name] for r in table["pools"]]
            assert np.all(np.diff(probs) >= -1e-12)  # nested pools: never worse with K
            ks = [pools.suggest_k(table, name, x) for x in np.linspace(0.0, 1.0, 21)]
            ks = [39 if k is None else k for k in ks]
            assert ks == sorted(ks)  # a higher target needs a larger pool
            k = pools.suggest_k(table, name, 0.5)
            row = {r["k"]: r for r in table["pools"]}
            assert row[k]["or_better"][name] >= 0.5
            if k > 1:
                assert row[k - 1]["or_better"][name] < 0.5
        # tiers nest: a stricter tier needs at least as large a pool
        assert (
            pools.suggest_k(table, "fair", 0.6)
            <= pools.suggest_k(table, "good", 0.6)
            <= pools.suggest_k(table, "excellent", 0.6)
        )
    small = pools.pool_table(planted.truth[0], 5, [20, 21], TIERS)
    assert pools.suggest_k(small, "excellent", 0.999) is None
    assert pools.suggest_k(small, "fair", 0.0) == 20
    with pytest.raises(ValueError):
        pools.suggest_k(small, "great", 0.5)


# --------------------------------------------------------------------------- backtest


@pytest.fixture(scope="module")
def honest(planted):
    return pools.backtest(planted.truth, planted.Y, 5, KS, TIERS, keep_days=True)


@pytest.fixture(scope="module")
def overconfident(planted):
    return pools.backtest(sharpen(planted.truth), planted.Y, 5, KS, TIERS)


def test_backtest_truth_is_calibrated(honest):
    assert honest["n_days"] == 3000 and honest["ks"] == KS and honest["min_hits"] == 4
    for row in honest["per_k"]:
        assert abs(row["z"]) < 3, row
        se = np.sqrt(row["pred_rate"] * (1 - row["pred_rate"]) / row["n"])
        assert abs(row["pred_rate"] - row["real_rate"]) < 3 * se
        assert row["ece"] < 0.04
        assert row["mean_expected_hits"] == pytest.approx(row["mean_hits"], abs=0.05)
    assert abs(honest["pooled"]["z"]) < 3
    assert honest["pooled"]["ece"] < 0.02
    assert honest["rescale"]["min"] == pytest.approx(1.0) and honest["rescale"]["max"] == pytest.approx(1.0)


def test_backtest_overconfident_is_caught(honest, overconfident):
    assert overconfident["pooled"]["ece"] > 0.15
    assert overconfident["pooled"]["ece"] > 5 * honest["pooled"]["ece"]
    assert overconfident["pooled"]["z"] < -10
    for row_o, row_h in zip(overconfident["per_k"], honest["per_k"]):
        assert row_o["pred_rate"] > row_o["real_ci_high"]
        assert row_o["ece"] > row_h["ece"]
        assert row_o["brier"] > row_h["brier"]
        # same ranking (a monotone transform), so the same realised pools
        assert row_o["real_rate"] == row_h["real_rate"]


def test_backtest_agrees_with_metrics_and_pool_table(planted, honest):
    hits = metrics.pool_hits(planted.truth, planted.Y, KS)
    for name, m in TIERS.items():
        np.testing.assert_allclose(honest["tier_rates"][name]["real_rate"], (hits >= m).mean(axis=0))
    np.testing.assert_allclose([r["real_rate"] for r in honest["per_k"]], (hits >= 4).mean(axis=0))
    for t in (0, 1234, 2999):
        table = pools.pool_table(planted.truth[t], 5, KS, TIERS)
        pred = [r["or_better"]["good"] for r in table["pools"]]
        np.testing.assert_allclose(honest["days"]["pred"][t], pred, atol=1e-12)
    rel = honest["pooled"]["reliability"]
    assert sum(rel["count"]) == 3000 * len(KS)
    assert len(rel["edges"]) == honest["bins"] + 1


def test_backtest_bins_last_closed_and_json():
    # a perfectly confident scorer: pool probabilities reach 1.0 exactly and land in the last bin
    y = np.zeros((4, 6), bool)
    y[:, :2] = True
    p = np.tile([1.0, 1.0, 0.0, 0.0, 0.0, 0.0], (4, 1))
    res = pools.backtest(p, y, 2, [2, 3], {"top": 2, "one": 1}, good_tier="top", bins=5)
    json.dumps({k: v for k, v in res.items()}, allow_nan=False)
    for row in res["per_k"]:
        assert row["pred_rate"] == pytest.approx(1.0, abs=1e-3)  # O(eps) short of 1
        assert row["reliability"]["count"][-1] == 4
        assert row["real_rate"] == 1.0


def test_backtest_rows(honest):
    rows = pools.backtest_rows(honest)
    assert all(set(r) == {"metric", "k", "value"} for r in rows)
    by = {(r["metric"], r["k"]): r["value"] for r in rows}
    for j, k in enumerate(KS):
        for metric in (
            "pool_ece",
            "pool_pred_rate",
            "pool_real_rate",
            "pool_brier",
            "pool_z",
            "pool_real_ci_low",
            "pool_real_ci_high",
            "pool_expected_hits",
            "pool_mean_hits",
            "pool_pred_good_or_better",
            "pool_real_fair_or_better",
        ):
            assert (metric, k) in by
        assert by[("pool_ece", k)] == honest["per_k"][j]["ece"]
    assert by[("pool_ece", None)] == honest["pooled"]["ece"]
    assert by[("pool_pred_rate", None)] == honest["pooled"]["pred_rate"]
    assert ("pool_rescale_max", None) in by
    json.dumps(rows, allow_nan=False)


def test_backtest_validates():
    y = np.zeros((3, 10), bool)
    y[:, :3] = True
    p = np.full((3, 10), 0.3)
    with pytest.raises(ValueError, match="events"):
        pools.backtest(p, y, 2, [3])
    with pytest.raises(ValueError, match="good_tier"):
        pools.backtest(p, y, 3, [3], {"fair": 2}, good_tier="good")
    with pytest.raises(ValueError):
        pools.backtest(p[:2], y, 3, [3])
    with pytest.raises(ValueError):
        pools.backtest(p, y, 3, [11])


def test_backtest_speed(planted):
    import time

    p, y = planted.truth[:1000], planted.Y[:1000]
    pools.backtest(p, y, 5, KS)  # warm
    t0 = time.perf_counter()
    pools.backtest(p, y, 5, KS)
    assert time.perf_counter() - t0 < 1.0


# --------------------------------------------------------------------------- plot, imports


def test_plot_pool_calibration_writes_png(tmp_path, honest, overconfident):
    for name, res in (("honest.png", honest), ("over.png", overconfident)):
        out = tmp_path / name
        pools.plot_pool_calibration(res, out)
        data = out.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000
        from matplotlib import image

        img = image.imread(out)
        assert img.ndim == 3 and img.shape[0] > 300 and img.shape[1] > 300
    assert sorted(p.name for p in tmp_path.iterdir()) == ["honest.png", "over.png"]  # no temp files left


def test_import_is_light():
    code = (
        "import sys, core.pools; bad = [m for m in ('matplotlib', 'torch', 'textual', 'typer', "
        "'plotext') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout + r.stderr
