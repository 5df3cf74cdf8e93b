"""Baselines (core/models/baselines.py): causality, agreement with slow per-day reference loops,
shapes, and sanity on data whose answer is known."""

import inspect

import numpy as np
import pytest

from helpers import k_per_day

from core.models.baselines import (
    BASELINES,
    PROB_EPS,
    ewma,
    frequency,
    frequency_window,
    hot_cold,
    last_occurrence_gap,
    recency,
    score_baseline,
    uniform,
)

KINDS = sorted(BASELINES)
NON_CONSTANT = [k for k in KINDS if k != "uniform"]
# Non-default parameters too, so short windows / caps are exercised on small data.
PARAM_SETS = {
    "uniform": [{}],
    "frequency": [{}, {"window": 7}, {"window": 7, "smoothing": 0.0}],
    "frequency_window": [{}, {"window": 5, "smoothing": 2.5}],
    "recency": [{}, {"max_gap": 4}, {"max_gap": 6, "smoothing": 0.0}],
    "ewma": [{}, {"halflife": 2.0}, {"halflife": 3.0, "smoothing": 0.0}],
    "hot_cold": [
        {},
        {"window": 5, "long_window": 20, "hot_weight": 0.7, "cold_weight": 0.3},
        {"window": 4, "hot_weight": -1.0, "cold_weight": -0.5, "smoothing": 0.0},
    ],
}
CASES = [(k, p) for k in KINDS for p in PARAM_SETS[k]]
CASE_IDS = [f"{k}-{i}" for k in KINDS for i in range(len(PARAM_SETS[k]))]


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def logit(p):
    p = min(max(p, PROB_EPS), 1 - PROB_EPS)
    return np.log(p / (1 - p))


# --------------------------------------------------------------------------- slow references
# Each computes day t's probability from the rows before t with an explicit Python loop,
# straight from the docstring's definition (no cumsum, no filters).


def ref_frequency(Y, K, window=None, smoothing=1.0):
    T, P = Y.shape
    q = K / P
    out = np.empty((T, P))
    for t in range(T):
        lo = 0 if window is None else max(0, t - window)
        for p in range(P):
            c = sum(float(Y[s, p]) for s in range(lo, t))
            n = t - lo
            out[t, p] = logit((c + smoothing * q) / (n + smoothing) if n + smoothing > 0 else q)
    return out


def ref_recency(Y, K, max_gap=60, smoothing=1.0):
    T, P = Y.shape
    q = K / P
    N, O = {}, {}  # hazard table over transitions already observed
    last = [-1] * P
    count = [0] * P
    out = np.empty((T, P))
    for t in range(T):
        buckets = [min(t - last[p], max_gap) for p in range(P)]
        for p in range(P):
            base = (count[p] + q) / (t + 1)
            n, o = N.get(buckets[p], 0), O.get(buckets[p], 0)
            out[t, p] = logit((o + smoothing * base) / (n + smoothing) if n + smoothing > 0 else base)
        for p in range(P):  # day t becomes history only after it is scored
            N[buckets[p]] = N.get(buckets[p], 0) + 1
            O[buckets[p]] = O.get(buckets[p], 0) + int(Y[t, p])
            if Y[t, p]:
                last[p] = t
                count[p] += 1
    return out


def ref_ewma(Y, K, halflife=30.0, smoothing=1.0):
    T, P = Y.shape
    q = K / P
    w = 0.5 ** (1 / halflife)
    out = np.empty((T, P))
    for t in range(T):
        for p in range(P):
            num = smoothing * w**t * q
            den = smoothing * w**t
            for u in range(t):
                num += w ** (t - 1 - u) * Y[u, p]
                den += w ** (t - 1 - u)
            out[t, p] = logit(num / den if den > 0 else q)
    return out


def ref_hot_cold(Y, K, window=30, long_window=None, hot_weight=1.0, cold_weight=0.0, smoothing=1.0):
    T, P = Y.shape
    q = K / P
    clip = lambda p: min(max(p, PROB_EPS), 1 - PROB_EPS)  # noqa: E731
    out = np.empty((T, P))
    for t in range(T):
        for p in range(P):
            lo = 0 if long_window is None else max(0, t - long_window)
            n = t - lo
            L = clip((Y[lo:t, p].sum() + smoothing * q) / (n + smoothing) if n + smoothing > 0 else q)
            lo = max(0, t - window)
            n = t - lo
            R = clip((Y[lo:t, p].sum() + smoothing * L) / (n + smoothing) if n + smoothing > 0 else L)
            seen = [s for s in range(t) if Y[s, p]]
            gap = t - (seen[-1] if seen else -1)
            x = logit(L) + hot_weight * np.log(R / L) + cold_weight * np.log(gap * L)
            out[t, p] = min(max(x, logit(0.0)), logit(1.0))
    return out


REFERENCES = {
    "uniform": lambda Y, K: np.full(Y.shape, logit(K / Y.shape[1])),
    "frequency": ref_frequency,
    "frequency_window": lambda Y, K, window=100, smoothing=1.0: ref_frequency(Y, K, window, smoothing),
    "recency": ref_recency,
    "ewma": ref_ewma,
    "hot_cold": ref_hot_cold,
}


# --------------------------------------------------------------------------- (1) causality


@pytest.mark.parametrize("kind,params", CASES, ids=CASE_IDS)
def test_row_t_depends_only_on_earlier_rows(kind, params):
    rng = np.random.default_rng(1)
    T, P, K = 400, 12, 3
    Y = k_per_day(rng, T, P, K)
    base = score_baseline(kind, Y, **params)
    changed_later = False
    for t in (0, 1, 2, 37, 200, 398, 399):
        Z = Y.copy()
        Z[t:] = k_per_day(rng, T - t, P, K)  # keeps the K-a-day contract
        out = score_baseline(kind, Z, **params)
        assert np.array_equal(out[: t + 1], base[: t + 1]), f"{kind}: rows <= {t} moved"
        changed_later |= not np.array_equal(out[t + 1 :], base[t + 1 :])
    if kind in NON_CONSTANT:
        assert changed_later, f"{kind}: later days never reacted to the changed rows"


@pytest.mark.parametrize("kind", KINDS)
def test_strictly_causal_with_k_given_even_if_later_rows_break_the_contract(kind):
    rng = np.random.default_rng(2)
    Y = k_per_day(rng, 300, 10, 3)
    base = score_baseline(kind, Y, events_per_day=3)
    for t in (0, 5, 150, 299):
        Z = Y.copy()
        Z[t:] = rng.random((300 - t, 10)) < 0.5  # any row sums at all
        out = score_baseline(kind, Z, events_per_day=3)
        assert np.array_equal(out[: t + 1], base[: t + 1])


@pytest.mark.parametrize("kind", KINDS)
def test_row_zero_is_the_uninformed_prior(kind):
    Y = k_per_day(np.random.default_rng(3), 50, 39, 5)
    out = score_baseline(kind, Y)
    np.testing.assert_allclose(out[0], logit(5 / 39), rtol=0, atol=1e-12)


# --------------------------------------------------------------------------- (2) slow reference


@pytest.mark.parametrize("kind,params", CASES, ids=CASE_IDS)
def test_matches_slow_reference_loop(kind, params):
    rng = np.random.default_rng(4)
    T, P, K = 90, 7, 2
    Y = k_per_day(rng, T, P, K)
    Y[:, 6] = False  # a part that never occurs (clipping, long gaps)
    Y[40:, 5] = True  # ... and one that always does from day 40 on
    Y[40:, 6] = False
    got = score_baseline(kind, Y, events_per_day=K, **params)
    want = REFERENCES[kind](Y, K, **params)
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-9)


# --------------------------------------------------------------------------- (3) shapes


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("T", [0, 1, 2, 250])
def test_shape_dtype_finite(kind, T):
    Y = k_per_day(np.random.default_rng(5), T, 39, 5)
    for arr in (Y, Y.astype(np.int8), Y.astype(float)):
        out = score_baseline(kind, arr, events_per_day=5)
        assert out.shape == (T, 39) and out.dtype == np.float64
        assert np.isfinite(out).all()
        assert np.abs(out).max(initial=0) <= logit(1.0) + 1e-12


@pytest.mark.parametrize("kind", KINDS)
def test_finite_on_degenerate_histories(kind):
    for Y in (np.zeros((60, 4), bool), np.ones((60, 4), bool)):
        assert np.isfinite(score_baseline(kind, Y, events_per_day=2)).all()


# --------------------------------------------------------------------------- (4) known data


def test_uniform_is_constant_and_infers_k():
    Y = k_per_day(np.random.default_rng(6), 30, 39, 5)
    np.testing.assert_allclose(sigmoid(uniform(Y)), 5 / 39, rtol=1e-12)
    np.testing.assert_allclose(sigmoid(uniform(Y, events_per_day=7)), 7 / 39, rtol=1e-12)


def test_recency_favours_the_part_after_a_miss_when_it_alternates():
    T = 200
    Y = np.zeros((T, 4), dtype=bool)
    Y[0::2, 0] = True  # every other day
    Y[1::2, 1] = True  # the other days
    Y[0::3, 2] = True  # every third day
    Y[:, 3] = np.random.default_rng(7).random(T) < 0.3
    s = recency(Y, max_gap=10, events_per_day=2)[:, 0]
    after_miss = s[20::2]  # even day: yesterday (odd) was a miss
    after_hit = s[21::2]  # odd day: yesterday was a hit
    assert after_miss.min() > after_hit.max()


def test_frequency_tracks_the_expanding_mean():
    Y = k_per_day(np.random.default_rng(8), 300, 12, 3)
    t = np.arange(1, 300)[:, None]
    mean = np.cumsum(Y, axis=0)[:-1] / t
    p0 = sigmoid(frequency(Y, smoothing=0.0))[1:]
    np.testing.assert_allclose(p0, np.clip(mean, PROB_EPS, 1 - PROB_EPS), atol=1e-12)
    p1 = sigmoid(frequency(Y))[1:]  # one pseudo-day: within 1/(t+1) of the mean
    assert (np.abs(p1 - mean) <= 1.0 / (t + 1) + 1e-12).all()


def test_frequency_window_forgets_old_days():
    Y = np.zeros((100, 3), dtype=bool)
    Y[:50, 0] = True  # part 0 stops at day 50
    p = sigmoid(frequency_window(Y, window=10, smoothing=0.0, events_per_day=1))
    assert p[60, 0] == pytest.approx(PROB_EPS)
    assert sigmoid(frequency(Y, smoothing=0.0, events_per_day=1))[60, 0] == pytest.approx(50 / 60)


def test_ewma_with_tiny_halflife_is_yesterday():
    Y = k_per_day(np.random.default_rng(9), 120, 9, 3)
    p = sigmoid(ewma(Y, halflife=1e-3))
    np.testing.assert_allclose(p[1:], np.clip(Y[:-1], PROB_EPS, 1 - PROB_EPS), atol=1e-12)


def test_ewma_with_huge_halflife_is_the_expanding_mean():
    Y = k_per_day(np.random.default_rng(10), 200, 9, 3)
    a = sigmoid(ewma(Y, halflife=1e9, smoothing=0.0))
    b = sigmoid(frequency(Y, smoothing=0.0))
    np.testing.assert_allclose(a, b, atol=1e-6)


def test_hot_cold_moves_hot_parts_up_and_reduces_to_frequency():
    rng = np.random.default_rng(11)
    Y = k_per_day(rng, 400, 12, 3)
    np.testing.assert_allclose(hot_cold(Y, hot_weight=0.0), frequency(Y), atol=1e-12)
    Y[370:400, 0] = True  # part 0 red hot in the last 30 days
    Y[370:400, 1] = False  # part 1 stone cold
    hc, fr = hot_cold(Y, window=30), frequency(Y)
    assert hc[399, 0] > fr[399, 0] and hc[399, 1] < fr[399, 1]
    overdue = hot_cold(Y, hot_weight=0.0, cold_weight=1.0)
    assert overdue[399, 1] > fr[399, 1] and overdue[399, 0] < fr[399, 0]


def test_last_occurrence_gap():
    Y = np.array([[1, 0], [0, 0], [1, 0], [0, 1]], dtype=bool)
    np.testing.assert_array_equal(last_occurrence_gap(Y), [[1, 1], [1, 2], [2, 3], [1, 4]])


# --------------------------------------------------------------------------- registry


def test_registry_and_defaults():
    assert set(BASELINES) == {"uniform", "frequency", "frequency_window", "recency", "ewma", "hot_cold"}
    defaults = {
        k: {n: p.default for n, p in inspect.signature(f).parameters.items() if n != "Y"} for k, f in BASELINES.items()
    }
    assert defaults["frequency"]["window"] is None
    assert defaults["frequency_window"]["window"] == 100
    assert defaults["ewma"]["halflife"] == 30.0
    assert defaults["hot_cold"]["window"] == 30
    Y = k_per_day(np.random.default_rng(12), 80, 12, 3)
    np.testing.assert_array_equal(score_baseline("frequency_window", Y), frequency(Y, window=100))
    np.testing.assert_array_equal(score_baseline("recency", Y, kind="recency"), recency(Y))


def test_score_baseline_rejects_bad_input():
    Y = k_per_day(np.random.default_rng(13), 20, 5, 2)
    with pytest.raises(ValueError, match="unknown baseline"):
        score_baseline("gru", Y)
    with pytest.raises(ValueError, match="no parameter"):
        score_baseline("ewma", Y, window=3)
    with pytest.raises(ValueError, match="different kind"):
        score_baseline("ewma", Y, kind="recency")
    for kind, params in [
        ("ewma", {"halflife": 0}),
        ("frequency", {"window": 0}),
        ("recency", {"max_gap": 0}),
        ("frequency", {"smoothing": -1}),
        ("uniform", {"events_per_day": 0}),
        ("hot_cold", {"window": None}),
    ]:
        with pytest.raises(ValueError):
            score_baseline(kind, Y, **params)
    with pytest.raises(ValueError, match="2-D"):
        score_baseline("uniform", Y[0])
    with pytest.raises(ValueError, match="0/1"):
        score_baseline("frequency", Y * 2)


def test_config_sections_feed_score_baseline():
    """Every baseline section of core.config, dumped with its defaults, is accepted as is."""
    from core import config

    Y = k_per_day(np.random.default_rng(14), 60, 12, 3)
    for kind in config.BASELINE_KINDS:
        section = config.MODEL_CLASSES[kind]()
        out = score_baseline(kind, Y, **section.model_dump())
        assert out.shape == Y.shape and np.isfinite(out).all()
