import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from core.data.splits import Split, SplitError, check_split, make_splits


def test_defaults_take_last_1000_for_test_and_1000_before_for_val():
    (s,) = make_splits(11_000)
    assert s.test == (10_000, 11_000)
    assert s.val == (9_000, 10_000)
    assert s.train == (0, 9_000)


def test_gap_days_embargo_rows_between_windows():
    (s,) = make_splits(5_000, test_days=500, val_days=400, gap_days=7)
    assert s.test == (4_500, 5_000)
    assert s.val == (4_093, 4_493)
    assert s.train == (0, 4_086)
    assert s.val[0] - s.train[1] == 7 and s.test[0] - s.val[1] == 7


def test_rolling_origin_folds_step_back_from_the_end():
    splits = make_splits(6_000, test_days=500, val_days=500, folds=3, fold_step_days=250)
    assert [s.test for s in splits] == [(5_000, 5_500), (5_250, 5_750), (5_500, 6_000)]
    assert [s.fold for s in splits] == [0, 1, 2]
    for s in splits:
        assert s.train[0] == 0 and s.train[1] == s.val[0]


def test_too_little_data_is_refused_with_the_arithmetic():
    with pytest.raises(SplitError, match="not enough data"):
        make_splits(2_000, min_train_days=365)


def test_check_refuses_overlap_and_misorder():
    with pytest.raises(SplitError, match="train ends"):
        check_split(Split(0, train=(0, 101), val=(100, 200), test=(200, 300)))
    with pytest.raises(SplitError, match="val ends"):
        check_split(Split(0, train=(0, 100), val=(100, 250), test=(200, 300)))
    with pytest.raises(SplitError, match="empty"):
        check_split(Split(0, train=(0, 100), val=(100, 100), test=(200, 300)))


def test_check_refuses_by_date_when_dates_misordered():
    dates = np.arange("2020-01-01", "2020-01-11", dtype="datetime64[D]")
    dates[4] = dates[6]  # a row whose date is not before the val window's first date
    with pytest.raises(SplitError, match="date"):
        check_split(Split(0, train=(0, 5), val=(5, 7), test=(7, 10)), dates)


def test_manifest_holds_indices_and_dates():
    dates = np.arange("2020-01-01", "2020-04-10", dtype="datetime64[D]")
    (s,) = make_splits(len(dates), test_days=20, val_days=10, dates=dates)
    m = s.to_manifest(dates)
    assert m["test"] == {"start": 80, "stop": 100, "n": 20, "first_date": "2020-03-21", "last_date": "2020-04-09"}
    assert m["train"]["last_date"] == "2020-03-10" and m["val"]["first_date"] == "2020-03-11"


@settings(max_examples=300, deadline=None)
@given(
    n_rows=st.integers(1, 5_000),
    test_days=st.integers(1, 800),
    val_days=st.integers(1, 800),
    gap_days=st.integers(0, 50),
    folds=st.integers(1, 5),
    step=st.one_of(st.none(), st.integers(1, 400)),
    min_train=st.integers(1, 500),
)
def test_no_split_puts_a_later_day_before_an_earlier_one(n_rows, test_days, val_days, gap_days, folds, step, min_train):
    dates = np.datetime64("2000-01-01") + np.cumsum(np.ones(n_rows, dtype=int))
    try:
        splits = make_splits(
            n_rows,
            test_days=test_days,
            val_days=val_days,
            gap_days=gap_days,
            folds=folds,
            fold_step_days=step,
            min_train_days=min_train,
            dates=dates,
        )
    except SplitError:
        # Refusal is allowed only when the data really is too short.
        s = test_days if step is None else step
        assert n_rows < test_days + val_days + 2 * gap_days + min_train + (folds - 1) * s
        return
    assert len(splits) == folds
    for s in splits:
        tr, va, te = (s.indices(p) for p in ("train", "val", "test"))
        assert len(tr) >= min_train and len(va) == val_days and len(te) == test_days
        assert tr.max() < va.min() and va.max() < te.min()
        assert dates[tr].max() < dates[va].min() and dates[va].max() < dates[te].min()
        assert te.max() < n_rows and tr.min() >= 0
        assert va.min() - tr.max() - 1 == gap_days and te.min() - va.max() - 1 == gap_days
    assert splits[-1].test[1] == n_rows
