"""core.service.series: the curves behind the dashboard's plots and `runs show --plot`."""

import math
import random

import pytest

from core.service.series import (
    downsample_minmax,
    ema,
    loss_series,
    nice_ticks,
    reliability_points,
    tier_names,
    tier_series,
)


def _epoch(ep, train, val, fold=0, improved=False):
    return {"type": "epoch", "epoch": ep, "fold": fold, "train_loss": train, "val_loss": val, "improved": improved}


# --------------------------------------------------------------------------- ema


def test_ema_matches_a_hand_computation_with_debiasing():
    w = 0.5
    # acc_1 = 0.5*0 + 0.5*4 = 2      -> / (1 - 0.5)   = 4
    # acc_2 = 0.5*2 + 0.5*2 = 2      -> / (1 - 0.25)  = 8/3
    # acc_3 = 0.5*2 + 0.5*8 = 5      -> / (1 - 0.125) = 40/7
    assert ema([4.0, 2.0, 8.0], w) == pytest.approx([4.0, 8 / 3, 40 / 7])


def test_ema_weight_zero_is_the_raw_series_and_constants_stay_constant():
    xs = [3.0, 1.0, 4.0, 1.0, 5.0]
    assert ema(xs, 0.0) == xs
    # debiasing: a constant series is not pulled toward zero at the start
    assert ema([2.5] * 6, 0.9) == pytest.approx([2.5] * 6)


def test_ema_passes_nan_through_without_resetting():
    out = ema([1.0, math.nan, 3.0], 0.5)
    assert out[0] == 1.0 and math.isnan(out[1])
    # the NaN is skipped: the third point is the second observation
    assert out[2] == pytest.approx((0.5 * 0.5 * 1.0 + 0.5 * 3.0) / (1 - 0.25))
    assert math.isnan(ema([None], 0.3)[0])


@pytest.mark.parametrize("w", [-0.1, 1.0, 1.5])
def test_ema_refuses_a_weight_outside_0_1(w):
    with pytest.raises(ValueError):
        ema([1.0], w)


# --------------------------------------------------------------------------- downsample_minmax


def test_downsample_keeps_each_buckets_min_and_max_and_the_length_bound():
    rng = random.Random(3)
    n, buckets = 10_000, 50
    xs = list(range(n))
    ys = [rng.gauss(0, 1) for _ in xs]
    ys[1234] = 50.0  # a spike must survive
    ys[8765] = -50.0
    ox, oy = downsample_minmax(xs, ys, buckets)
    assert len(ox) == len(oy) <= 2 * buckets
    assert ox == sorted(ox)  # in x order
    assert 50.0 in oy and -50.0 in oy
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        chunk = ys[lo:hi]
        kept = [y for x, y in zip(ox, oy) if lo <= x < hi]
        assert min(chunk) in kept and max(chunk) in kept
    assert max(oy) == max(ys) and min(oy) == min(ys)


def test_downsample_leaves_short_series_alone_and_skips_nan():
    xs, ys = [1, 2, 3], [0.3, 0.2, 0.1]
    assert downsample_minmax(xs, ys, 2) == (xs, ys)
    assert downsample_minmax(xs, ys, 0) == (xs, ys)
    ox, oy = downsample_minmax(list(range(10)), [math.nan] * 5 + [float(i) for i in range(5)], 2)
    assert all(not math.isnan(y) for y in oy) and oy == [0.0, 4.0]


# --------------------------------------------------------------------------- loss_series


def test_loss_series_best_epoch_is_the_last_improved_one():
    events = [
        _epoch(1, 0.5, 0.40, improved=True),
        _epoch(2, 0.4, 0.35, improved=True),
        _epoch(3, 0.3, 0.37),
        {"type": "log", "message": "x"},
        _epoch(4, 0.2, None),
    ]
    s = loss_series(events)
    assert s["epoch"] == [1, 2, 3, 4]
    assert s["train"] == [0.5, 0.4, 0.3, 0.2]
    assert s["val"][:3] == [0.40, 0.35, 0.37] and math.isnan(s["val"][3])
    assert s["best_epoch"] == 2


def test_loss_series_without_improved_marks_takes_the_lowest_val_and_keeps_the_last_fold():
    events = [
        _epoch(1, 0.9, 0.10, fold=0),
        _epoch(2, 0.8, 0.05, fold=0),  # an earlier fold: dropped
        _epoch(1, 0.6, 0.30, fold=1),
        _epoch(2, 0.5, 0.20, fold=1),
        _epoch(3, 0.4, 0.25, fold=1),
    ]
    s = loss_series(events)
    assert s["epoch"] == [1, 2, 3] and s["train"] == [0.6, 0.5, 0.4]
    assert s["best_epoch"] == 2
    assert loss_series([])["best_epoch"] is None and loss_series([])["epoch"] == []


# --------------------------------------------------------------------------- tiers, reliability, ticks


CURVES = {
    "ks": [20, 21, 22],
    "primary": "gru",
    "baseline": "ewma",
    "beats_at": [21, 22, 99],
    "worse_at": [],
    "tiers": {
        "good": {
            "model": {"rate": [0.4, 0.5, 0.6], "ci_low": [0.35, 0.45, 0.55], "ci_high": [0.45, 0.55, None]},
            "baseline": {"rate": [0.3, 0.4, 0.5]},
            "random": [0.2, 0.25, 0.3],
            "oracle": {"rate": [0.5, 0.6, 0.7], "min_hits": 4},
        },
        "excellent": {
            "model": {"rate": [0.05, 0.06, 0.07]},
            "baseline": None,
            "random": [0.01, 0.02, 0.03],
            "oracle": {"rate": [0.1, 0.1, 0.1], "min_hits": 5},
        },
        "fair": {
            "model": {"rate": [0.7, 0.8, 0.9]},
            "baseline": None,
            "random": None,
            "oracle": {"rate": [0.8, 0.9, 0.95], "min_hits": 3},
        },
    },
}


def test_tier_series_lines_and_missing_values():
    s = tier_series(CURVES, "good")
    assert s["ks"] == [20, 21, 22] and s["model"] == [0.4, 0.5, 0.6] and s["baseline"] == [0.3, 0.4, 0.5]
    assert s["ci_low"] == [0.35, 0.45, 0.55] and math.isnan(s["ci_high"][2])
    assert s["oracle"] == [0.5, 0.6, 0.7] and s["random"] == [0.2, 0.25, 0.3]
    assert s["beats_at"] == [21, 22]  # a K outside the curve is dropped
    ex = tier_series(CURVES, "excellent")
    assert ex["baseline"] is None and ex["ci_low"] is None
    assert tier_series(None, "good")["model"] is None and tier_series(CURVES, "nope")["model"] is None


def test_tier_names_put_the_good_tier_first_then_strictest():
    assert tier_names(CURVES) == ["good", "excellent", "fair"]
    assert tier_names(CURVES, first="fair") == ["fair", "excellent", "good"]
    assert tier_names(None) == []


def test_reliability_points_keep_the_bins_that_hold_predictions():
    block = {"mean_p": [0.05, None, 0.25, 0.4], "mean_y": [0.04, None, 0.3, 0.5], "count": [100, 0, 30, 0]}
    r = reliability_points(block)
    assert r["p"] == [0.05, 0.25] and r["y"] == [0.04, 0.3] and r["count"] == [100, 30]
    assert r["counts"] == [100, 0, 30, 0] and r["total"] == 130
    assert reliability_points(None)["p"] == []


def test_nice_ticks_are_round_cover_the_range_and_respect_the_bound():
    assert nice_ticks(1, 3, integer=True) == [1, 2, 3]
    assert nice_ticks(0.3, 0.41, most=6) == pytest.approx([0.3, 0.32, 0.34, 0.36, 0.38, 0.4])
    for lo, hi, most in [(1, 10_000, 5), (20, 27, 4), (0, 1, 3), (1, 2, 8)]:
        t = nice_ticks(lo, hi, most=most, integer=True)
        assert 1 <= len(t) <= most + 1 and all(lo <= x <= hi for x in t) and all(isinstance(x, int) for x in t)
    assert nice_ticks(5, 5) == [5] and nice_ticks(math.nan, 1) == []
