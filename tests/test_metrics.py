"""core.evaluation.metrics against scikit-learn / scipy and slow reference loops written here."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from helpers import ROOT

from core.evaluation import metrics as M

TIERS = {"excellent": 5, "good": 4, "fair": 3}


def exactly_k(T, P=39, k=5, seed=0):
    rng = np.random.default_rng(seed)
    y = np.zeros((T, P), dtype=bool)
    idx = np.argsort(rng.random((T, P)), axis=1)[:, :k]
    np.put_along_axis(y, idx, True, axis=1)
    return y


def sk_per_part(y, p):
    auc, ap = [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for j in range(y.shape[1]):
            col = y[:, j]
            auc.append(roc_auc_score(col, p[:, j]) if 0 < col.sum() < len(col) else np.nan)
            ap.append(average_precision_score(col, p[:, j]) if col.sum() > 0 else np.nan)
    return np.array(auc), np.array(ap)


def assert_close_nan(a, b, tol=1e-9):
    a, b = np.asarray(a, float), np.asarray(b, float)
    np.testing.assert_array_equal(np.isnan(a), np.isnan(b))
    np.testing.assert_allclose(a[~np.isnan(a)], b[~np.isnan(b)], rtol=0, atol=tol)


# ----------------------------------------------------------------------- ranking


@pytest.mark.parametrize("seed,T,P", [(0, 1000, 39), (1, 50, 7), (2, 3, 4), (3, 200, 12)])
def test_auc_ap_equal_sklearn_on_random_inputs(seed, T, P):
    rng = np.random.default_rng(seed)
    y = rng.random((T, P)) < 0.3
    p = rng.random((T, P))
    auc, ap = sk_per_part(y, p)
    assert_close_nan(M.roc_auc_per_part(y, p), auc)
    assert_close_nan(M.average_precision_per_part(y, p), ap)


@pytest.mark.parametrize("decimals", [0, 1, 2])
def test_auc_ap_equal_sklearn_on_heavily_tied_inputs(decimals):
    rng = np.random.default_rng(10 + decimals)
    T, P = 400, 10
    y = rng.random((T, P)) < 0.2
    p = np.round(rng.random((T, P)) * 0.8 + 0.1 * y, decimals)  # informative, tied
    p[:, 0] = 0.3  # constant column
    p[:, 1] = rng.integers(0, 3, T)  # three levels, outside [0, 1] is fine for ranking
    p[:, 2] = np.where(rng.random(T) < 0.5, 0.0, 1.0)
    y[:, 3] = False  # no positive: AUC and AP NaN
    y[:, 4] = True  # no negative: AUC NaN, AP 1 (as sklearn)
    y[:5, 5] = True
    y[5:, 5] = False  # a rare part
    auc, ap = sk_per_part(y, p)
    got_auc, got_ap = M.roc_auc_per_part(y, p), M.average_precision_per_part(y, p)
    assert_close_nan(got_auc, auc)
    assert_close_nan(got_ap, ap)
    assert math.isnan(got_auc[3]) and math.isnan(got_ap[3])
    assert math.isnan(got_auc[4]) and got_ap[4] == pytest.approx(1.0)
    assert got_auc[0] == 0.5


def test_auc_ties_use_midranks():
    y = np.array([[1], [0], [1], [0]], dtype=bool)
    p = np.array([[0.5], [0.5], [0.9], [0.1]])
    # pairs (pos, neg): (0.5,0.5)=0.5, (0.5,0.1)=1, (0.9,0.5)=1, (0.9,0.1)=1 -> 3.5/4
    assert M.roc_auc_per_part(y, p)[0] == pytest.approx(0.875)


def test_macro_is_nanmean_over_parts_with_both_classes():
    y = np.array([[1, 0, 1], [0, 0, 1], [1, 0, 1]], dtype=bool)
    assert M.macro([0.8, np.nan, np.nan]) == pytest.approx(0.8)
    assert M.macro([0.8, np.nan, 1.0], y) == pytest.approx(0.8)  # part 3 is all positive
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(M.macro([np.nan, np.nan]))


# ------------------------------------------------------------------- calibration


@pytest.mark.parametrize("tied", [False, True])
def test_brier_equals_sklearn(tied):
    rng = np.random.default_rng(4)
    y = exactly_k(300, seed=4)
    p = rng.random(y.shape)
    if tied:
        p = np.round(p, 1)
    assert M.brier(y, p) == pytest.approx(brier_score_loss(y.ravel(), p.ravel()), abs=1e-12)
    per_col = np.mean([brier_score_loss(y[:, j], p[:, j]) for j in range(y.shape[1])])
    assert M.brier(y, p) == pytest.approx(per_col, abs=1e-12)


def test_brier_skill_against_training_base_rate():
    y = exactly_k(500, seed=5)
    base = exactly_k(2000, seed=6).mean(axis=0)  # a different ("training") window
    p = np.clip(np.broadcast_to(base, y.shape) + 0.05 * y, 0, 1)
    ref = np.mean((np.broadcast_to(base, y.shape) - y) ** 2)
    assert M.brier_skill(y, p, base) == pytest.approx(1 - M.brier(y, p) / ref, abs=1e-12)
    assert M.brier_skill(y, np.broadcast_to(base, y.shape), base) == pytest.approx(0.0, abs=1e-12)
    assert M.brier_skill(y, y.astype(float), base) == pytest.approx(1.0)


def slow_bins(p, bins):
    """Reference: bin b holds edges[b] <= p < edges[b+1]; the last bin also holds 1.0."""
    edges = np.linspace(0, 1, bins + 1)
    for b in range(bins):
        if edges[b] <= p < edges[b + 1] or (b == bins - 1 and p == edges[-1]):
            return b
    raise AssertionError(p)


def slow_table(y, p, bins):
    n = [0] * bins
    sp = [0.0] * bins
    sy = [0.0] * bins
    for pv, yv in zip(np.ravel(p), np.ravel(y)):
        b = slow_bins(float(pv), bins)
        n[b] += 1
        sp[b] += float(pv)
        sy[b] += float(yv)
    return n, sp, sy


def slow_ece(y, p, bins):
    n, sp, sy = slow_table(y, p, bins)
    N = sum(n)
    return sum(n[b] / N * abs(sp[b] / n[b] - sy[b] / n[b]) for b in range(bins) if n[b])


def edge_probs(seed, T=120, P=9, bins=15):
    rng = np.random.default_rng(seed)
    y = rng.random((T, P)) < 0.25
    p = rng.random((T, P)) ** 2
    flat = p.ravel()
    flat[: bins + 1] = np.linspace(0, 1, bins + 1)  # every edge exactly, 0.0 and 1.0 too
    flat[bins + 1 : bins + 20] = 1.0
    flat[bins + 20 : bins + 40] = 0.0
    return y, p


@pytest.mark.parametrize("bins", [15, 10, 1, 7])
def test_ece_and_reliability_against_slow_loop(bins):
    y, p = edge_probs(bins, bins=bins)
    assert M.ece(y, p, bins) == pytest.approx(slow_ece(y, p, bins), abs=1e-12)
    n, sp, sy = slow_table(y, p, bins)
    table = M.reliability(y, p, bins)
    np.testing.assert_allclose(table["edges"], np.linspace(0, 1, bins + 1))
    np.testing.assert_array_equal(table["count"], n)
    for b in range(bins):
        if n[b]:
            assert table["mean_p"][b] == pytest.approx(sp[b] / n[b], abs=1e-12)
            assert table["mean_y"][b] == pytest.approx(sy[b] / n[b], abs=1e-12)
        else:
            assert math.isnan(table["mean_p"][b]) and math.isnan(table["mean_y"][b])
    assert table["count"].sum() == y.size


def test_reliability_empty_bins_are_nan():
    p = np.array([[0.0, 1.0], [0.05, 0.99]])
    table = M.reliability(p > 0.5, p, bins=10)
    assert table["count"].tolist() == [2, 0, 0, 0, 0, 0, 0, 0, 0, 2]
    assert np.isnan(table["mean_p"][1:9]).all()


@pytest.mark.parametrize("bins", [15, 4])
def test_classwise_ece_against_slow_loop(bins):
    y, p = edge_probs(20 + bins, bins=bins)
    ref = np.mean([slow_ece(y[:, j], p[:, j], bins) for j in range(y.shape[1])])
    assert M.classwise_ece(y, p, bins) == pytest.approx(ref, abs=1e-12)


def test_constant_k_over_p_has_zero_pooled_ece():
    """The warning of docs/ARCHITECTURE.md ("Metrics"): with exactly K events a day, the constant K/P predictor is
    perfectly calibrated when pooled (ECE 0) although it knows nothing; classwise ECE
    (unequal per-part rates) and Brier skill expose it."""
    rng = np.random.default_rng(7)
    T, P, K = 2000, 39, 5
    w = np.linspace(0.2, 3.0, P)  # unequal per-part rates
    y = np.zeros((T, P), bool)
    for t in range(T):
        y[t, rng.choice(P, K, replace=False, p=w / w.sum())] = True
    p = np.full((T, P), K / P)
    assert M.ece(y, p) == pytest.approx(0.0, abs=1e-12)
    assert M.classwise_ece(y, p) > 0.03
    assert M.brier_skill(y, p, y.mean(axis=0)) < 0


def test_ece_rejects_probabilities_outside_unit_interval():
    y = np.zeros((2, 2), bool)
    for bad in (1.0000001, -0.1, np.nan):
        p = np.full((2, 2), 0.5)
        p[0, 0] = bad
        with pytest.raises(ValueError):
            M.ece(y, p)


# -------------------------------------------------------------------- tier rates


def brute_pool_hits(p, y, ks):
    T, P = p.shape
    out = np.zeros((T, len(ks)), int)
    for t in range(T):
        ranked = sorted(range(P), key=lambda j: (-p[t, j], j))  # ties -> lower part id
        for c, k in enumerate(ks):
            out[t, c] = sum(bool(y[t, j]) for j in ranked[:k])
    return out


@pytest.mark.parametrize("decimals", [None, 1, 0])
def test_pool_hits_against_brute_force_with_ties(decimals):
    rng = np.random.default_rng(8)
    y = exactly_k(150, seed=8)
    p = rng.random(y.shape)
    if decimals is not None:
        p = np.round(p, decimals)
    ks = [0, 1, 5, 20, 23, 27, 39]
    np.testing.assert_array_equal(M.pool_hits(p, y, ks), brute_pool_hits(p, y, ks))


def test_pool_ties_go_to_lower_part_id():
    p = np.array([[0.5, 0.5, 0.5, 0.5]])
    y = np.array([[False, False, True, True]])
    assert M.pool_hits(p, y, [1, 2, 3, 4]).tolist() == [[0, 0, 1, 2]]


def test_pool_hits_rejects_bad_k():
    with pytest.raises(ValueError):
        M.pool_hits(np.zeros((2, 3)), np.zeros((2, 3), bool), [4])


def test_nan_scores_are_rejected():
    p = np.array([[0.1, np.nan], [0.2, 0.3]])
    y = np.array([[True, False], [False, True]])
    for fn in (M.roc_auc_per_part, M.average_precision_per_part):
        with pytest.raises(ValueError):
            fn(y, p)
    with pytest.raises(ValueError):
        M.pool_hits(p, y, [1])


def test_tier_rates_against_brute_force():
    rng = np.random.default_rng(9)
    y = exactly_k(300, seed=9)
    p = np.round(rng.random(y.shape) + 0.3 * y, 1)
    ks = list(range(20, 28))
    hits = M.pool_hits(p, y, ks)
    brute = brute_pool_hits(p, y, ks)
    got = M.tier_rates(hits, TIERS)
    assert list(got) == ["excellent", "good", "fair"]
    for c in range(len(ks)):
        h = brute[:, c].tolist()
        for name, lo, hi in [("excellent", 5, 99), ("good", 4, 5), ("fair", 3, 4)]:
            at_least = sum(x >= lo for x in h) / len(h)
            exact = sum(lo <= x < hi for x in h) / len(h)
            assert got[name]["rate"][c] == pytest.approx(at_least)
            assert got[name]["exact_rate"][c] == pytest.approx(exact)
            assert got[name]["count"][c] == sum(x >= lo for x in h)
    below = 1 - got["fair"]["rate"]
    total = got["excellent"]["exact_rate"] + got["good"]["exact_rate"] + got["fair"]["exact_rate"] + below
    np.testing.assert_allclose(total, 1.0)
    ind = M.good_or_better_indicator(hits, TIERS, "good")
    np.testing.assert_array_equal(ind, brute >= 4)
    np.testing.assert_array_equal(M.day_indicators(y, p, ks, TIERS), ind)


def test_tiers_are_validated():
    with pytest.raises(ValueError):
        M.tier_rates(np.zeros((3, 1)), {"a": 2, "b": 2})


# ------------------------------------------------------------ intervals + tests


def test_wilson_known_values():
    # Newcombe (1998), Statistics in Medicine 17:857, Table I, method 3 (Wilson score)
    for x, n, lo, hi in [
        (81, 263, 0.2553, 0.3662),
        (15, 148, 0.0624, 0.1605),
        (0, 20, 0.0, 0.1611),
        (1, 29, 0.0061, 0.1718),
    ]:
        got = M.wilson_interval(x, n)
        assert got == pytest.approx((lo, hi), abs=6e-5)
        assert isinstance(got[0], float)


def test_wilson_hand_formula_and_vectorised():
    z = 1.959964
    x = np.array([0, 3, 50, 99, 100])
    n = np.array([100, 100, 100, 100, 100])
    lo, hi = M.wilson_interval(x, n)
    ph = x / n
    c = (ph + z * z / (2 * n)) / (1 + z * z / n)
    h = z / (1 + z * z / n) * np.sqrt(ph * (1 - ph) / n + z * z / (4 * n * n))
    np.testing.assert_allclose(lo, np.clip(c - h, 0, 1), atol=1e-12)
    np.testing.assert_allclose(hi, np.clip(c + h, 0, 1), atol=1e-12)
    assert lo[0] == 0.0 and hi[-1] == 1.0
    assert hi[0] == pytest.approx(z * z / (100 + z * z))  # closed form at x = 0
    assert lo[-1] == pytest.approx(100 / (100 + z * z))  # and at x = n
    # the bounds invert the score test: |phat - b| / sqrt(b (1 - b) / n) == z
    for b in (lo[1:4], hi[1:4]):
        np.testing.assert_allclose(np.abs(ph[1:4] - b) / np.sqrt(b * (1 - b) / 100), z, rtol=1e-9)
    lo0, hi0 = M.wilson_interval(np.array([0]), np.array([0]))
    assert np.isnan(lo0).all() and np.isnan(hi0).all()


@pytest.mark.parametrize("P,events,k", [(39, 5, 20), (39, 5, 27), (10, 3, 4), (39, 5, 39)])
def test_hypergeom_matches_scipy(P, events, k):
    for m in range(0, events + 2):
        ref = stats.hypergeom.sf(m - 1, P, events, k)
        assert M.hypergeom_at_least(P, events, k, m) == pytest.approx(ref, abs=1e-12)
    got = M.hypergeom_at_least(P, events, np.arange(1, P + 1), 4)
    np.testing.assert_allclose(got, stats.hypergeom.sf(3, P, events, np.arange(1, P + 1)), atol=1e-12)


def test_hypergeom_matches_monte_carlo():
    rng = np.random.default_rng(11)
    P, events, n = 39, 5, 100_000
    ranks = np.argsort(rng.random((n, P)), axis=1)  # a random pool: the first k of a shuffle
    hits_by_k = np.cumsum(ranks < events, axis=1)  # parts 0..events-1 are the events
    for k in (20, 24, 27):
        for m in (3, 4, 5):
            mc = (hits_by_k[:, k - 1] >= m).mean()
            exact = M.hypergeom_at_least(P, events, k, m)
            assert abs(mc - exact) < 5 * math.sqrt(exact * (1 - exact) / n) + 1e-9


@pytest.mark.parametrize("b10,b01,both", [(10, 3, 5), (3, 10, 0), (0, 7, 2), (5, 5, 1), (1, 0, 0), (40, 25, 100)])
def test_mcnemar_matches_binomtest(b10, b01, both):
    a = np.array([1] * b10 + [0] * b01 + [1] * both + [0] * 4, bool)
    b = np.array([0] * b10 + [1] * b01 + [1] * both + [0] * 4, bool)
    ref = stats.binomtest(b10, b10 + b01, 0.5).pvalue
    assert M.mcnemar_exact(a, b) == pytest.approx(ref, rel=1e-9)


def test_mcnemar_without_discordant_pairs_is_one():
    a = np.array([1, 0, 1, 1], bool)
    assert M.mcnemar_exact(a, a) == 1.0


def test_holm_hand_worked_case():
    np.testing.assert_allclose(M.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(M.holm([0.5, 0.9]), [1.0, 1.0])  # clipped
    np.testing.assert_allclose(M.holm([0.02, 0.01, 0.03]), [0.04, 0.03, 0.04])  # monotone
    out = M.holm([0.01, np.nan, 0.02])
    assert math.isnan(out[1]) and out[0] == pytest.approx(0.02) and out[2] == pytest.approx(0.02)


def test_compare_beats_only_when_clearly_better():
    rng = np.random.default_rng(12)
    T, ks = 1000, list(range(20, 28))
    base = rng.random((T, len(ks))) < 0.3
    better = base | (rng.random((T, len(ks))) < 0.3)
    res = M.compare(better, base, ks)
    assert res["beats"] and res["beats_at"] == ks and res["worse_at"] == []
    assert all(q < 1e-6 for q in res["p_holm"])
    json.dumps(res, allow_nan=False)

    same = M.compare(base, base, ks)
    assert not same["beats"] and same["p_value"] == [1.0] * len(ks)

    other = rng.random((T, len(ks))) < 0.3  # same rate, independent: no difference
    assert not M.compare(other, base, ks)["beats"]

    worse = M.compare(base, better, ks)
    assert not worse["beats"] and worse["worse_at"] == ks


def test_compare_needs_higher_rate_not_only_small_p():
    ks = [20]
    base = np.ones((100, 1), bool)
    model = np.zeros((100, 1), bool)
    res = M.compare(model, base, ks)
    assert res["p_holm"][0] < 0.05 and not res["beats"]


def test_lift_capture_arithmetic():
    assert M.lift_capture([0.5, 0.6], [0.3, 0.4], [0.7, 0.6]) == pytest.approx((0.5 + 1.0) / 2)
    assert M.lift_capture([0.5, 0.6], [0.3, 0.6], [0.7, 0.6]) == pytest.approx(0.5)  # 0/0 K skipped
    assert math.isnan(M.lift_capture([0.5], [0.5], [0.5]))


# --------------------------------------------------------------------- evaluate


def make_window(T=1000, P=39, seed=13):
    rng = np.random.default_rng(seed)
    y = exactly_k(T, P, seed=seed)
    p = np.clip(0.1 + 0.1 * y + 0.05 * rng.standard_normal(y.shape), 0, 1)
    raw = np.log(p + 1e-3) * 2.0 + rng.standard_normal(y.shape)  # logits, different ranking
    return y, p, raw, exactly_k(3000, P, seed=seed + 1).mean(axis=0)


def test_evaluate_matches_the_pieces():
    y, p, raw, base = make_window()
    ks = list(range(20, 28))
    res = M.evaluate(y, p, ks=ks, base_rate=base, p_raw=raw)
    json.dumps(res, allow_nan=False)
    auc, ap = sk_per_part(y, p)
    assert res["auc_macro"] == pytest.approx(np.nanmean(auc), abs=1e-9)
    assert res["pr_auc_macro"] == pytest.approx(np.nanmean(ap), abs=1e-9)
    np.testing.assert_allclose(res["auc_per_part"], auc, atol=1e-9)
    assert res["brier"] == pytest.approx(brier_score_loss(y.ravel(), p.ravel()), abs=1e-12)
    assert res["brier_skill"] == pytest.approx(M.brier_skill(y, p, base), abs=1e-12)
    assert res["ece"] == pytest.approx(M.ece(y, p), abs=1e-12)
    assert res["classwise_ece"] == pytest.approx(M.classwise_ece(y, p), abs=1e-12)
    assert res["reliability"]["count"] == M.reliability(y, p)["count"].tolist()
    assert res["events_per_day"] == 5 and res["events_constant"] and res["n_days"] == 1000
    assert res["ks"] == ks and res["parts_scored"] == 39
    hits = M.pool_hits(p, y, ks)
    good = res["tier_rates"]["good"]
    assert good["rate"] == pytest.approx((hits >= 4).mean(axis=0).tolist())
    assert res["good_or_better"]["count"] == (hits >= 4).sum(axis=0).tolist()
    lo, hi = M.wilson_interval((hits >= 4).sum(axis=0), 1000)
    assert good["ci_low"] == pytest.approx(lo.tolist()) and good["ci_high"] == pytest.approx(hi.tolist())
    assert good["random"] == pytest.approx(M.hypergeom_at_least(39, 5, np.array(ks), 4).tolist())
    raw_hits = M.pool_hits(raw, y, ks)
    assert res["raw_tier_rates"]["good"]["rate"] == pytest.approx((raw_hits >= 4).mean(axis=0).tolist())
    assert res["oracle"] is None and res["lift_capture"] is None


def test_evaluate_oracle_with_truth_equal_to_outcomes():
    y, p, _, base = make_window(T=400)
    truth = y.astype(float)  # the oracle knows every event: its pool holds all 5 when K >= 5
    res = M.evaluate(y, p, base_rate=base, truth=truth)
    for name in TIERS:
        assert res["oracle"]["tier_rates"][name]["rate"] == [1.0] * 8
    model = np.array(res["tier_rates"]["good"]["rate"])
    rnd = np.array(res["tier_rates"]["good"]["random"])
    assert res["lift_capture"] == pytest.approx(np.mean((model - rnd) / (1 - rnd)))
    assert res["oracle"]["brier"] == 0.0
    # a general truth: the oracle is just the truth-ranked pool on the same days
    rng = np.random.default_rng(14)
    truth2 = rng.random(y.shape)
    res2 = M.evaluate(y, p, base_rate=base, truth=truth2)
    expect = (M.pool_hits(truth2, y, range(20, 28)) >= 5).mean(axis=0)
    assert res2["oracle"]["tier_rates"]["excellent"]["rate"] == pytest.approx(expect.tolist())


def test_evaluate_with_varying_event_counts_and_nan_parts():
    y, p, _, base = make_window(T=200)
    y[0, :] = False  # a day with no events
    y[1, :3] = True  # and one with more
    y[:, 7] = False  # a part that never occurs
    res = M.evaluate(y, p, base_rate=base)
    assert res["events_constant"] is False and res["events_mode"] == 5
    assert res["events_per_day"] == pytest.approx(y.sum(axis=1).mean())
    assert res["auc_per_part"][7] is None and res["ap_per_part"][7] is None
    assert res["parts_scored"] == 38
    json.dumps(res, allow_nan=False)


def test_rows_long_format():
    y, p, raw, base = make_window(T=300)
    res = M.evaluate(y, p, base_rate=base, p_raw=raw, truth=p)
    out = M.rows(res, "test", "gru")
    assert all(set(r) == {"split", "model", "metric", "k", "value"} for r in out)
    assert all(r["split"] == "test" and r["model"] == "gru" for r in out)
    by = {(r["metric"], r["k"]): r["value"] for r in out}
    assert len(by) == len(out)  # no duplicate (metric, k)
    for name in ("auc_macro", "pr_auc_macro", "brier", "brier_skill", "ece", "classwise_ece", "lift_capture"):
        assert by[(name, None)] == res[name]
    for k_i, k in enumerate(range(20, 28)):
        assert by[("good_or_better", k)] == res["tier_rates"]["good"]["rate"][k_i]
        assert by[("good_or_better_ci_low", k)] <= by[("good_or_better", k)] <= by[("good_or_better_ci_high", k)]
        assert ("raw_excellent_or_better", k) in by and ("oracle_fair_or_better_ci_high", k) in by
        assert ("random_good_or_better", k) in by and ("good_exact", k) in by
    assert by[("auc_part_1", None)] == res["auc_per_part"][0]
    json.dumps(out, allow_nan=False)


def test_evaluate_validates_inputs():
    y, p, _, base = make_window(T=50)
    with pytest.raises(ValueError):
        M.evaluate(y, p, base_rate=base[:-1])
    with pytest.raises(ValueError):
        M.evaluate(y, p[:, :-1], base_rate=base)
    with pytest.raises(ValueError):
        M.evaluate(y, p, base_rate=base, good_tier="great")


def test_importing_metrics_pulls_in_no_sklearn():
    out = subprocess.run(
        [sys.executable, "-c", "import core.evaluation.metrics, sys; print(' '.join(sys.modules))"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=True,
    ).stdout.split()
    roots = {m.split(".")[0] for m in out}
    assert not roots & {"sklearn", "torch", "textual", "typer", "plotext"}
