"""The runs screen's defects from a user report, each held by a Pilot test on the fixed runs
of tests/tui_fixture.py: a bad filter's error shown where it is seen (the last good filter
kept), a filter with no matches that is not the first-run screen, cancel/resume offered only
where they apply, and an identifying column and `?` at every width."""

import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, Label, Static
from textual.widgets._footer import FooterKey

from synapse_tui.app import SynapseApp
from synapse_tui.screens.runs import RunsScreen
from tui_fixture import make_fixture_runs
from tui_helpers import until as _until

SUCCEEDED = ("20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb")
QUEUED, FAILED = "20260103-120000-queued-cccc", "20260104-120000-broken-dddd"


@pytest.fixture(scope="module")
def fixed(tmp_path_factory, synthetic_csv):
    root = tmp_path_factory.mktemp("defects") / "runs"
    make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    return root


@pytest.fixture
def runs(fixed, tmp_path) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(fixed, dst, ignore=shutil.ignore_patterns("index.sqlite*"))
    return dst


def _table(app) -> DataTable:
    return app.screen.query_one("#runs", DataTable)


def _keys(app) -> list[str]:
    return [row.key.value for row in _table(app).ordered_rows]


async def _filter(pilot, app, text: str) -> None:
    await pilot.press("slash")
    app.screen.query_one("#filter", Input).value = text
    await pilot.press("enter")


def _seen(app, widget) -> bool:
    """Shown on the screen: displayed, inside the screen, and not under the footer."""
    region = widget.region
    footer = app.screen.query_one("Footer").region
    screen = app.screen.region
    return (
        widget.display
        and region.width > 0
        and region.height > 0
        and screen.contains_region(region)
        and not region.overlaps(footer)
    )


async def test_a_bad_filter_says_why_where_it_is_seen_and_keeps_the_last_good_one(runs):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        await _filter(pilot, app, "status=succeeded")
        assert await _until(pilot, lambda: sorted(_keys(app)) == sorted(SUCCEEDED))
        await _filter(pilot, app, "ece<0.05 and modle=gru")
        error = app.screen.query_one("#filter-error", Label)
        assert await _until(pilot, lambda: "did you mean model" in str(error.render()))
        assert "position" in str(error.render())  # the CLI's message, from core.query
        await pilot.pause(1.5)  # a refresh or two later: still the last good filter's rows
        assert sorted(_keys(app)) == sorted(SUCCEEDED)
        assert "status=succeeded" in app.screen.sub_title
        assert _seen(app, error), (error.region, app.screen.query_one("Footer").region)
        # fixed, it applies and the error goes
        await _filter(pilot, app, "name=recency and model=baselines")
        assert await _until(pilot, lambda: str(error.render()) == "")
        assert await _until(pilot, lambda: _keys(app) == [SUCCEEDED[1]])


async def test_a_typo_in_a_config_key_keeps_the_last_good_filter(runs):
    """Only the index knows the config keys, so `trian.lr` parses and the index refuses it:
    the error with its did-you-mean, the last good filter's rows, and that filter kept."""
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        await _filter(pilot, app, "status=succeeded")
        assert await _until(pilot, lambda: sorted(_keys(app)) == sorted(SUCCEEDED))
        await _filter(pilot, app, "trian.lr<0.01")
        error = app.screen.query_one("#filter-error", Label)
        assert await _until(pilot, lambda: "did you mean train.lr" in str(error.render()))
        assert "still showing filter: status=succeeded" in str(error.render())
        await pilot.pause(1.5)  # refreshes later: still the good filter, not the refused one
        assert app.screen.filter_text == "status=succeeded"
        assert sorted(_keys(app)) == sorted(SUCCEEDED)


async def test_a_filter_with_no_matches_is_not_the_first_run_screen(runs):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        await _filter(pilot, app, "model=gru")
        assert await _until(pilot, lambda: not app.screen.rows)
        await pilot.pause(0.2)
        assert not app.screen.query_one("#first-run").display  # not "No runs in ...; press d"
        message = app.screen.query_one("#no-match", Static)
        assert message.display and "no run matches model=gru (esc clears)" in str(message.render())
        assert _seen(app, message)
        before = sorted(p.name for p in runs.iterdir())
        app.screen.set_focus(None)  # `d` to the screen, not typed into the filter box
        await pilot.press("d")
        await pilot.pause(1.0)
        assert not app.screen.demo_running
        assert sorted(p.name for p in runs.iterdir()) == before  # no demo run appeared
        await pilot.press("escape")
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        assert not message.display


@pytest.mark.parametrize(
    "run_id,key,reason",
    [
        (SUCCEEDED[0], "x", f"run {SUCCEEDED[0]} succeeded: nothing to cancel"),
        (SUCCEEDED[0], "R", f"run {SUCCEEDED[0]} succeeded: only lost, cancelled or failed runs resume"),
        (FAILED, "x", f"run {FAILED} failed: nothing to cancel"),
        (QUEUED, "R", f"run {QUEUED} queued: only lost, cancelled or failed runs resume"),
    ],
)
async def test_cancel_and_resume_only_where_they_apply(runs, run_id, key, reason):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        _table(app).move_cursor(row=_table(app).get_row_index(run_id))
        await pilot.press(key)
        await pilot.pause(0.3)
        assert isinstance(app.screen, RunsScreen)  # no dialog
        assert [n.message for n in app._notifications] == [reason]


async def test_resume_of_a_failed_run_still_asks(runs):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        _table(app).move_cursor(row=_table(app).get_row_index(FAILED))
        await pilot.press("R")
        assert await _until(pilot, lambda: app.screen.__class__.__name__ == "YesNo")
        await pilot.press("n")
        assert await _until(pilot, lambda: isinstance(app.screen, RunsScreen))


def _column_on_screen(table: DataTable, key: str) -> bool:
    x = 0
    for col in table.ordered_columns:
        width = col.get_render_width(table)
        if col.key.value == key:
            return x + width <= table.scrollable_content_region.width
        x += width
    return False


def _help_key(app) -> FooterKey | None:
    return next((k for k in app.screen.query(FooterKey) if k.key == "question_mark"), None)


async def _help_key_shown(app, pilot) -> bool:
    """`?` laid out in the footer, on screen (waited for: the footer is rebuilt whenever the
    screen's bindings change, and a key is sized only once it is laid out)."""

    def shown() -> bool:
        key = _help_key(app)
        return key is not None and key.region.width > 0 and app.screen.region.contains_region(key.region)

    return await _until(pilot, shown)


async def test_80x24_rows_are_told_apart_and_help_is_in_the_footer(runs):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        await pilot.pause(0.2)
        table, screen = _table(app), app.screen
        assert "id" in screen.columns_shown and _column_on_screen(table, "id")
        assert _column_on_screen(table, "verdict")  # the last default column, not clipped
        col = 1 + screen.columns_shown.index("id")
        cells = [table.get_row(k)[col].plain for k in _keys(app)]
        assert len(set(cells)) == 4 and all(cells), cells
        assert _seen(app, table)
        assert await _help_key_shown(app, pilot), _help_key(app)


async def test_160x48_a_long_run_name_leaves_the_id_on_screen(runs):
    long_id = "20260105-120000-" + "sweep-lr0.001-hidden256-layers4-dropout0.25-seed17-abcdefghijk"[:60] + "-eeee"
    assert len(long_id.split("-", 2)[2].rsplit("-", 1)[0]) == 60
    (runs / long_id).mkdir()
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 5)
        await pilot.pause(0.2)
        table, screen = _table(app), app.screen
        assert _column_on_screen(table, "id")
        col = 1 + screen.columns_shown.index("id")
        assert table.get_row(long_id)[col].plain == "eeee"
        name = table.get_row(long_id)[1 + screen.columns_shown.index("name")].plain
        assert name.endswith("…") and len(name) < 40  # bounded, with an ellipsis
        assert await _help_key_shown(app, pilot), _help_key(app)
