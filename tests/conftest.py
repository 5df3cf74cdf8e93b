"""Fixtures shared by the test files. Plain helpers (ROOT, k_per_day, random_y, dates_for,
write_synthetic) are in helpers.py, imported by name: `from helpers import ROOT`."""

from pathlib import Path

import pytest

from helpers import write_synthetic


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory):
    """A factory: `synthetic_csv("planted", days=1200, seed=1)` writes that synthetic data
    file into a fresh temporary folder and returns its path (kw as `write_synthetic`).
    Session-scoped so module-scoped data fixtures can use it; every call writes a new file."""

    def make(kind: str, *, days: int, seed: int, **kw) -> Path:
        path = tmp_path_factory.mktemp(kind) / f"{kind}.csv"
        return write_synthetic(path, kind, days=days, seed=seed, **kw)

    return make
