"""SVG snapshots of the dashboard at 80x24 and 160x48 on fixed runs (tests/tui_fixture.py).

A snapshot that differs fails with the path of the new SVG beside the stored one; look at
both in a browser and, if the change is meant, rerun with SYNAPSE_UPDATE_SNAPSHOTS=1.
"""
import os
from pathlib import Path

import pytest
from textual.widgets import DataTable

from synapse_tui.app import SynapseApp
from tui_fixture import make_fixture_runs

SNAPSHOTS = Path(__file__).parent / "snapshots"
UPDATE = os.environ.get("SYNAPSE_UPDATE_SNAPSHOTS") == "1"


@pytest.fixture(scope="module")
def fixed_runs(tmp_path_factory, synthetic_csv):
    root = tmp_path_factory.mktemp("snap") / "runs"
    make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    return root


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
