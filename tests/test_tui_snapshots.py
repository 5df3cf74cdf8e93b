"""SVG snapshots of the dashboard at 80x24 and 160x48 on fixed runs (tests/tui_fixture.py).

A snapshot that differs fails with the path of the new SVG beside the stored one; look at
both in a browser and, if the change is meant, rerun with SYNAPSE_UPDATE_SNAPSHOTS=1.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest
from textual.widgets import DataTable

from synapse_tui.app import SynapseApp
from tui_fixture import make_fixture_runs

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SYNAPSE_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def fixed_runs(synthetic_csv):
    # A fixed path too: the launch screen shows where it launches into.
    root = Path(tempfile.gettempdir()) / "synapse-snapshots" / "runs"
    shutil.rmtree(root.parent, ignore_errors=True)
    make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    yield root
    shutil.rmtree(root.parent, ignore_errors=True)


def _check(name: str, svg: str, tmp_path: Path) -> None:
    stored = SNAPSHOTS / f"{name}.svg"
    if UPDATE or not stored.exists():
        if not UPDATE and os.environ.get("CI"):
            pytest.fail(f"no stored snapshot {stored}: run the tests once with SYNAPSE_UPDATE_SNAPSHOTS=1")
        stored.write_text(svg)
        return
    if stored.read_text() != svg:
        new = tmp_path / f"{name}.svg"
        new.write_text(svg)
        pytest.fail(f"{name} differs from {stored}; the new one is {new} (SYNAPSE_UPDATE_SNAPSHOTS=1 accepts it)")


async def _settled(app, pilot, rows: int) -> None:
    for _ in range(100):
        await pilot.pause(0.05)
        if app.screen.query("#runs") and app.screen.query_one("#runs", DataTable).row_count == rows:
            break
    await pilot.pause(0.2)
    await app.workers.wait_for_complete()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_runs_screen(fixed_runs, size, tmp_path):
    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, 4)
        _check(f"runs_{size[0]}x{size[1]}", app.export_screenshot(), tmp_path)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_empty_runs_dir(tmp_path, size):
    app = SynapseApp(Path("/nonexistent/runs"), ascii_plots=False)
    async with app.run_test(size=size) as pilot:
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()
        _check(f"first_run_{size[0]}x{size[1]}", app.export_screenshot(), tmp_path)


async def test_help_screen(fixed_runs, tmp_path):
    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settled(app, pilot, 4)
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        _check("help_80x24", app.export_screenshot(), tmp_path)


async def _screen_settled(app, pilot) -> None:
    for _ in range(3):
        await pilot.pause(0.3)
        await app.workers.wait_for_complete()


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
@pytest.mark.parametrize("tab", ["curves", "metrics"])
async def test_compare_screen(fixed_runs, size, tab, tmp_path):
    from textual.widgets import TabbedContent

    from synapse_tui.screens.compare import CompareScreen

    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, 4)
        app.push_screen(CompareScreen(fixed_runs, ["20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb"]))
        await _screen_settled(app, pilot)
        app.screen.query_one("#tabs", TabbedContent).active = tab
        await _screen_settled(app, pilot)
        _check(f"compare_{tab}_{size[0]}x{size[1]}", app.export_screenshot(), tmp_path)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_launch_screen(fixed_runs, size, tmp_path):
    from textual.widgets import Input

    from synapse_tui.screens.launch import LaunchScreen

    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, 4)
        app.push_screen(LaunchScreen(fixed_runs))
        await _screen_settled(app, pilot)
        app.screen.query_one("#data", Input).value = "sample_data/parts_daily.csv"  # not this checkout's path
        await _screen_settled(app, pilot)
        await pilot.pause(0.5)
        await _screen_settled(app, pilot)
        _check(f"launch_{size[0]}x{size[1]}", app.export_screenshot(), tmp_path)


async def _run_settled(app, pilot) -> None:
    """The run screen read and drawn. Its follower polls events.jsonl for as long as the
    screen is up, so it is the one worker not waited for."""
    for _ in range(200):
        await pilot.pause(0.05)
        if getattr(app.screen, "view", None) is not None and app.screen.reads:
            break
    for _ in range(3):
        await pilot.pause(0.3)
        others = [w for w in app.workers if w.group != "run-follow"]
        if others:  # an empty list would mean every worker, the follower too
            await app.workers.wait_for_complete(others)


async def _steady_screenshot(app, pilot) -> str:
    """The screen once two screenshots in a row agree (a late redraw would show as a flaky diff)."""
    shot = app.export_screenshot()
    for _ in range(10):
        await pilot.pause(0.2)
        again = app.export_screenshot()
        if again == shot:
            break
        shot = again
    return shot


@pytest.mark.parametrize(
    "size,tab",
    [((80, 24), "overview"), ((160, 48), "overview"), ((160, 48), "parts")],
    ids=["80x24", "160x48", "parts-160x48"],
)
async def test_run_screen(fixed_runs, size, tab, tmp_path):
    from textual.widgets import TabbedContent

    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=size) as pilot:
        await _settled(app, pilot, 4)
        app.open_run("20260101-120000-baselines-aaaa")
        await _run_settled(app, pilot)
        assert app.screen.view is not None and app.screen.error is None
        if tab == "parts":
            await pilot.press("p")  # as a user opens it: the table focused, its cursor on the best part
            await _run_settled(app, pilot)
            assert app.screen.query_one("#tabs", TabbedContent).active == "parts"
        _check(f"run_{tab}_{size[0]}x{size[1]}", await _steady_screenshot(app, pilot), tmp_path)
