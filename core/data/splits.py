"""Forward-chaining splits: train < val < test in time, optionally as rolling-origin folds.

Sizes count rows (days that are present in the data), not calendar days, so a split always
holds the number of observations asked for even when the data has gaps. The embargo
`gap_days` likewise drops that many rows between train and val and between val and test.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from core.errors import InputError


class SplitError(InputError):
    """A split that would let the future leak into the past, or that cannot be built."""


@dataclass(frozen=True)
class Split:
    """Half-open row ranges [start, stop) of one fold; fold 0 is the earliest."""

    fold: int
    train: tuple[int, int]
    val: tuple[int, int]
    test: tuple[int, int]

    def slice(self, part: str) -> slice:
        start, stop = getattr(self, part)
        return slice(start, stop)

    def indices(self, part: str) -> np.ndarray:
        start, stop = getattr(self, part)
        return np.arange(start, stop)

    def to_manifest(self, dates: np.ndarray) -> dict:
        """Indices and dates of every part, ready for manifest.json."""
        out: dict = {"fold": self.fold}
        for part in ("train", "val", "test"):
            start, stop = getattr(self, part)
            out[part] = {
                "start": start,
                "stop": stop,
                "n": stop - start,
                "first_date": str(dates[start]),
                "last_date": str(dates[stop - 1]),
            }
        return out


def check_split(split: Split, dates: np.ndarray | None = None) -> None:
    """Refuse any split where train_max >= val_min or val_max >= test_min (by row and by date)."""
    (_, tr1), (va0, va1), (te0, te1) = split.train, split.val, split.test
    for name, (a, b) in (("train", split.train), ("val", split.val), ("test", split.test)):
        if not 0 <= a < b:
            raise SplitError(f"fold {split.fold}: {name} window [{a}, {b}) is empty or negative")
    if tr1 - 1 >= va0:
        raise SplitError(f"fold {split.fold}: train ends at row {tr1 - 1}, not before val starts at row {va0}")
    if va1 - 1 >= te0:
        raise SplitError(f"fold {split.fold}: val ends at row {va1 - 1}, not before test starts at row {te0}")
    if dates is not None:
        if te1 > len(dates):
            raise SplitError(f"fold {split.fold}: test window ends at row {te1} but the data has {len(dates)} rows")
        if dates[tr1 - 1] >= dates[va0]:
            raise SplitError(
                f"fold {split.fold}: last train date {dates[tr1 - 1]} is not before first val date {dates[va0]}"
            )
        if dates[va1 - 1] >= dates[te0]:
            raise SplitError(
                f"fold {split.fold}: last val date {dates[va1 - 1]} is not before first test date {dates[te0]}"
            )


def make_splits(
    n_rows: int,
    *,
    test_days: int = 1000,
    val_days: int = 1000,
    gap_days: int = 0,
    folds: int = 1,
    fold_step_days: int | None = None,
    min_train_days: int = 1,
    dates: np.ndarray | None = None,
) -> list[Split]:
    """Build `folds` forward-chaining splits over `n_rows` rows, the last fold ending at the last row.

    Fold k's test window ends `(folds - 1 - k) * fold_step_days` rows before the end; its val
    window sits right before it (after `gap_days`), and train is everything earlier (expanding
    window, after another `gap_days`). Raises SplitError when a fold would have fewer than
    `min_train_days` training rows.
    """
    for name, value in (("test_days", test_days), ("val_days", val_days), ("folds", folds)):
        if value < 1:
            raise SplitError(f"split.{name} must be at least 1, got {value}")
    if gap_days < 0:
        raise SplitError(f"split.gap_days must be >= 0, got {gap_days}")
    step = test_days if fold_step_days is None else fold_step_days
    if step < 1:
        raise SplitError(f"split.fold_step_days must be at least 1, got {step}")
    splits = []
    for k in range(folds):
        test_stop = n_rows - (folds - 1 - k) * step
        test_start = test_stop - test_days
        val_stop = test_start - gap_days
        val_start = val_stop - val_days
        train_stop = val_start - gap_days
        needed = test_days + val_days + 2 * gap_days + max(min_train_days, 1) + (folds - 1) * step
        if train_stop < max(min_train_days, 1):
            raise SplitError(
                f"not enough data for {folds} fold(s): {n_rows} rows, need at least {needed} "
                f"(test {test_days} + val {val_days} + gaps 2x{gap_days} + train {max(min_train_days, 1)}"
                + (f" + {folds - 1} fold steps of {step}" if folds > 1 else "")
                + ")"
            )
        split = Split(fold=k, train=(0, train_stop), val=(val_start, val_stop), test=(test_start, test_stop))
        check_split(split, dates)
        splits.append(split)
    return splits


def splits_from_config(split_cfg, n_rows: int, dates: np.ndarray | None = None) -> list[Split]:
    """`make_splits` from a config's `split` section."""
    return make_splits(
        n_rows,
        test_days=split_cfg.test_days,
        val_days=split_cfg.val_days,
        gap_days=split_cfg.gap_days,
        folds=split_cfg.folds,
        fold_step_days=split_cfg.fold_step_days,
        min_train_days=split_cfg.min_train_days,
        dates=dates,
    )
