"""Fixtures shared by the test files. Plain helpers (ROOT, k_per_day, random_y, dates_for,
write_synthetic) are in helpers.py, imported by name: `from helpers import ROOT`."""

from pathlib import Path

import pytest

from helpers import write_synthetic


@pytest.fixture(autouse=True)
def _utf8_terminal(monkeypatch):
    """Every test runs as in a UTF-8 terminal, whatever the machine's locale (the dashboard
    draws with ASCII by itself under LANG=C or TERM=dumb; a test that wants that sets it)."""
    for name in ("LC_ALL", "LC_CTYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("LANG", "C.UTF-8")
    monkeypatch.setenv("TERM", "xterm-256color")


@pytest.fixture(autouse=True)
def _state_home(monkeypatch, tmp_path_factory):
    """No test reads or writes the real ~/.local/state: the dashboard's remembered state
    (synapse_tui/state.py) goes to a fresh folder per test."""
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path_factory.mktemp("xdg-state")))


@pytest.fixture(scope="session")
def synthetic_csv(tmp_path_factory):
    """A factory: `synthetic_csv("planted", days=1200, seed=1)` writes that synthetic data
    file into a fresh temporary folder and returns its path (kw as `write_synthetic`).
    Session-scoped so module-scoped data fixtures can use it; every call writes a new file."""

    def make(kind: str, *, days: int, seed: int, **kw) -> Path:
        path = tmp_path_factory.mktemp(kind) / f"{kind}.csv"
        return write_synthetic(path, kind, days=days, seed=seed, **kw)

    return make


@pytest.fixture
def settle():
    """`await settle(pilot, condition=None)`: the dashboard at rest before a screenshot or an
    assertion: the condition holds, every worker but the followers is done, the screen is
    steady (tui_helpers.settle)."""
    from tui_helpers import settle as settle_

    return settle_
