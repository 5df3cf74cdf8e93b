"""SVG snapshots of the dashboard at 80x24 and 160x48 on fixed runs (tests/tui_fixture.py),
with pytest-textual-snapshot: the stored SVGs are in tests/__snapshots__/test_tui_snapshots/.

A snapshot that differs fails, and pytest writes an HTML report of old and new side by side
(snapshot_report.html); if the change is meant, accept it with
`python -m pytest tests/test_tui_snapshots.py --snapshot-update`.

The runs live in a temporary directory that the tests enter (chdir) and name by the relative
path `runs`, so a screen that shows where it reads or launches reads the same on every machine.
"""

import pytest
from textual.widgets import DataTable, Input, TabbedContent

from synapse_tui.app import SynapseApp
from tui_fixture import make_fixture_runs

SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
RUN_A, RUN_B = "20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb"


@pytest.fixture(scope="module")
def fixed_runs(synthetic_csv, tmp_path_factory):
    base = tmp_path_factory.mktemp("snapshots")
    make_fixture_runs(base / "runs", synthetic_csv("planted", days=900, seed=5))
    with pytest.MonkeyPatch.context() as mp:
        mp.chdir(base)
        yield base


def _app() -> SynapseApp:
    from pathlib import Path

    return SynapseApp(Path("runs"), ascii_plots=False)


def _table_filled(pilot, rows: int = 4):
    def filled() -> bool:
        screen = pilot.app.screen
        return bool(screen.query("#runs")) and screen.query_one("#runs", DataTable).row_count == rows

    return filled


@SIZES
def test_runs_screen(fixed_runs, size, snap_compare, settle):
    async def ready(pilot):
        await settle(pilot, _table_filled(pilot))

    assert snap_compare(_app(), terminal_size=size, run_before=ready)


@SIZES
def test_empty_runs_dir(tmp_path, size, snap_compare, settle, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "runs" does not exist here: the first-run screen

    async def ready(pilot):
        await settle(pilot)

    assert snap_compare(_app(), terminal_size=size, run_before=ready)


def test_help_screen(fixed_runs, snap_compare, settle):
    async def ready(pilot):
        await settle(pilot, _table_filled(pilot))
        await pilot.press("question_mark")
        await settle(pilot, lambda: pilot.app.screen.__class__.__name__ == "HelpScreen")

    assert snap_compare(_app(), terminal_size=(80, 24), run_before=ready)


@SIZES
@pytest.mark.parametrize("tab", ["curves", "metrics"])
def test_compare_screen(fixed_runs, size, tab, snap_compare, settle):
    from synapse_tui.screens.compare import CompareScreen

    async def ready(pilot):
        app = pilot.app
        await settle(pilot, _table_filled(pilot))
        app.open_compare([RUN_A, RUN_B])
        await settle(pilot, lambda: isinstance(app.screen, CompareScreen))
        app.screen.query_one("#tabs", TabbedContent).active = tab
        await settle(pilot)

    assert snap_compare(_app(), terminal_size=size, run_before=ready)


@SIZES
def test_launch_screen(fixed_runs, size, snap_compare, settle):
    from synapse_tui.screens.launch import LaunchScreen

    async def ready(pilot):
        app = pilot.app
        await settle(pilot, _table_filled(pilot))
        app.push_screen(LaunchScreen(app.runs_dir))
        await settle(pilot, lambda: isinstance(app.screen, LaunchScreen))
        app.screen.query_one("#data", Input).value = "sample_data/parts_daily.csv"
        await pilot.pause(0.5)  # the form validates after a short debounce
        await settle(pilot)

    assert snap_compare(_app(), terminal_size=size, run_before=ready)


@pytest.mark.parametrize(
    "size,tab",
    [((80, 24), "overview"), ((160, 48), "overview"), ((160, 48), "parts")],
    ids=["80x24", "160x48", "parts-160x48"],
)
def test_run_screen(fixed_runs, size, tab, snap_compare, settle):
    from synapse_tui.screens.run import RunScreen

    async def ready(pilot):
        app = pilot.app
        await settle(pilot, _table_filled(pilot))
        app.open_run(RUN_A)
        await settle(pilot, lambda: isinstance(app.screen, RunScreen) and app.screen.view is not None)
        assert app.screen.error is None
        if tab == "parts":
            await pilot.press("p")  # as a user opens it: the table focused, its cursor on the best part
            await settle(pilot, lambda: app.screen.query_one("#tabs", TabbedContent).active == "parts")

    assert snap_compare(_app(), terminal_size=size, run_before=ready)
