"""What many test files share: the project root, synthetic data files, and small random
event sequences. Import by name, `from helpers import ROOT, k_per_day`: pytest puts tests/
on sys.path (it has no __init__.py), as for known_pattern.py and cuda_tags.py. The
fixture that writes a planted data file into a temporary folder is in conftest.py."""

from pathlib import Path

import numpy as np

from core.data import synthetic

ROOT = Path(__file__).resolve().parents[1]
"""The project root: configs/, sample_data/, tests/."""

TINY_GRU = [
    "model.hidden=8",
    "model.chunks=4",
    "model.tbptt=32",
    "train.epochs=6",
    "train.patience=100",
    "split.test_days=200",
    "split.val_days=200",
    "split.min_train_days=100",
    "train.device=cpu",
]
"""Overrides of configs/gru.yaml for a run of six short epochs on a 1,200-day file: long
enough for a worker to be killed, cancelled or resumed mid-run, short enough for a test."""


def write_synthetic(path: Path, kind: str, *, days: int, seed: int, **kw) -> Path:
    """Write a `core.data.synthetic` data file ("planted" or "uniform"; its truth file goes
    beside it) and return its path. kw: parts, per_day, start..., as `generate` takes them."""
    synthetic.write(path, synthetic.generate(kind, days=days, seed=seed, **kw))
    return path


def k_per_day(rng: np.random.Generator, T: int, P: int, K: int) -> np.ndarray:
    """(T, P) bool with exactly K random parts a day."""
    Y = np.zeros((T, P), dtype=bool)
    np.put_along_axis(Y, np.argsort(rng.random((T, P)), axis=1)[:, :K], True, axis=1)
    return Y


def random_y(seed: int, T: int, P: int, K: int) -> np.ndarray:
    """(T, P) float32 0/1 with exactly K random parts a day, from `seed`."""
    rng = np.random.default_rng(seed)
    Y = np.zeros((T, P), dtype=np.float32)
    for t in range(T):
        Y[t, rng.choice(P, K, replace=False)] = 1.0
    return Y


def dates_for(T: int, start: str = "2001-01-01") -> np.ndarray:
    """(T,) datetime64[D], consecutive days from `start`."""
    return np.datetime64(start) + np.arange(T)
