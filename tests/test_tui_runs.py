from textual.widgets import DataTable, Static

from core.runs import new_run_id
from synapse_tui.app import SynapseApp


def _keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


async def _settle(pilot, app, rows: int) -> DataTable:
    for _ in range(50):
        await pilot.pause(0.05)
        table = app.screen.query_one("#runs", DataTable)
        if table.row_count == rows:
            break
    return table


async def test_lists_run_directories_newest_first(tmp_path):
    older = tmp_path / "20260101-000000-gru-aaaa"
    newer = tmp_path / "20260102-000000-ewma-bbbb"
    for d in (older, newer):
        d.mkdir()
    (tmp_path / "not-a-run").mkdir()
    app = SynapseApp(tmp_path)
    async with app.run_test(size=(80, 24)) as pilot:
        table = await _settle(pilot, app, 2)
        assert table.row_count == 2
        assert _keys(table) == [newer.name, older.name]
        # A run appearing later shows up without a restart.
        (tmp_path / new_run_id("late")).mkdir()
        await pilot.press("r")
        table = await _settle(pilot, app, 3)
        assert table.row_count == 3


async def test_empty_runs_dir_says_what_to_do(tmp_path):
    app = SynapseApp(tmp_path / "nothing-here")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        empty = app.screen.query_one("#empty", Static)
        assert empty.display
        assert "No runs" in str(empty.render())
