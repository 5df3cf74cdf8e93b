"""The dashboard's group-by screen (synapse_tui/screens/groups.py) on real runs."""

import pytest
from textual.widgets import DataTable, Input

from synapse_tui.app import SynapseApp
from synapse_tui.screens.groups import GroupsScreen, group_filter
from tui_helpers import until


@pytest.fixture(scope="module")
def grouped_runs(synthetic_csv, tmp_path_factory):
    from core.config import load_config
    from core.train.run import run_baselines

    data = synthetic_csv("planted", days=700, seed=3)
    root = tmp_path_factory.mktemp("groups") / "runs"
    for val_days in (120, 120, 150):
        cfg = load_config("baselines", overrides=["split.test_days=150", f"split.val_days={val_days}"], data=str(data))
        run_baselines(cfg, root)
    return root


def test_group_filter_keeps_one_group():
    assert group_filter("model.hidden", 16) == "model.hidden=16"
    assert group_filter("model", "gru") == "model=gru"
    assert group_filter("name", "a b") == 'name="a b"'
    assert group_filter("train.lr", None) == "train.lr=null"


async def test_groups_screen_groups_and_hands_back_a_filter(grouped_runs):
    from core.service.runs import list_runs

    app = SynapseApp(grouped_runs, ascii_plots=False)
    chosen: list = []
    async with app.run_test(size=(120, 30)) as pilot:
        app.push_screen(GroupsScreen(grouped_runs, key="split.val_days"), chosen.append)
        assert await until(pilot, lambda: isinstance(app.screen, GroupsScreen) and bool(app.screen.query("#groups")))
        screen = app.screen
        table = screen.query_one("#groups", DataTable)
        assert await until(pilot, lambda: table.row_count == 2)
        values = [table.get_row_at(i)[0].plain for i in range(2)]
        assert sorted(values) == ["120", "150"]
        assert [table.get_row_at(i)[1].plain for i in range(2)].count("2") == 1
        # a typo in the key: the message says so and the last table stays
        screen.query_one("#group-key", Input).value = "split.val_dayz"
        screen.query_one("#group-key", Input).focus()
        await pilot.press("enter")
        err = screen.query_one("#group-error")
        assert await until(pilot, lambda: err.display)
        assert "did you mean split.val_days" in str(err.render())
        assert table.row_count == 2
        table.focus()
        table.move_cursor(row=values.index("150"))
        await pilot.press("enter")
        assert await until(pilot, lambda: chosen == ["split.val_days=150"])
    kept = list_runs(grouped_runs, where=chosen[0])
    assert len(kept) == 1


async def test_the_metric_must_be_a_number(grouped_runs):
    app = SynapseApp(grouped_runs, ascii_plots=False)
    async with app.run_test(size=(120, 30)) as pilot:
        app.push_screen(GroupsScreen(grouped_runs, key="model", metric="calibration"))
        assert await until(pilot, lambda: isinstance(app.screen, GroupsScreen) and bool(app.screen.query("#groups")))
        err = app.screen.query_one("#group-error")
        assert await until(pilot, lambda: err.display)
        assert "give a number" in str(err.render())


async def test_G_on_the_runs_screen_groups_what_is_shown_and_filters_to_a_group(grouped_runs):
    from synapse_tui.screens.runs import RunsScreen

    app = SynapseApp(grouped_runs, ascii_plots=False)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await until(pilot, lambda: isinstance(app.screen, RunsScreen) and len(app.screen.rows) == 3)
        runs = app.screen
        await pilot.press("G")
        assert await until(pilot, lambda: isinstance(app.screen, GroupsScreen) and bool(app.screen.query("#groups")))
        groups = app.screen
        assert await until(pilot, lambda: groups.result is not None)
        groups.query_one("#group-key", Input).value = "split.val_days"
        groups.query_one("#group-key", Input).focus()
        await pilot.press("enter")
        table = groups.query_one("#groups", DataTable)
        assert await until(pilot, lambda: table.row_count == 2 and groups.result["key"] == "split.val_days")
        table.focus()
        row = [table.get_row_at(i)[0].plain for i in range(2)].index("120")
        table.move_cursor(row=row)
        await pilot.press("enter")
        assert await until(pilot, lambda: app.screen is runs and len(runs.rows) == 2)
        assert runs.filter_text == "split.val_days=120"
