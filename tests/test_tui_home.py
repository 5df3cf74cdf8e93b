"""The dashboard's runs screen on real runs: live rows by key, sort, filter, columns, select,
cancel, help, a corrupt run and a deleted one."""

import json
import shutil

import pytest
from textual.widgets import DataTable, Input, Label, SelectionList, Static

from core.config import load_config
from core.runs import status_of
from core.service import jobs
from core.train.run import run_baselines, run_train
from synapse_tui.app import SynapseApp
from synapse_tui.screens.help import HelpScreen
from synapse_tui.screens.runs import ColumnsScreen, RunsScreen
from tui_helpers import until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory, synthetic_csv):
    data = synthetic_csv("planted", days=900, seed=5)
    root = tmp_path_factory.mktemp("home") / "runs"
    a = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    m = run_train(
        load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data)), root
    )
    return root, data, a, b, m


def _copy(world, tmp_path):
    root, data, a, b, m = world
    dst = tmp_path / "runs"
    shutil.copytree(root, dst, ignore=shutil.ignore_patterns("index.sqlite*"))
    return dst, data, a.run_id, b.run_id, m.run_id


def _keys(table: DataTable) -> list[str]:
    return [row.key.value for row in table.ordered_rows]


def _table(app) -> DataTable:
    return app.screen.query_one("#runs", DataTable)


async def test_rows_show_the_index_fields_newest_first(world, tmp_path):
    root, _, a, b, m = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        table = _table(app)
        assert _keys(table) == [m, b, a]
        screen = app.screen
        row = screen.rows[m]
        cells = dict(zip(["sel", *screen.columns_shown], table.get_row(m)))
        assert cells["status"].plain == "succeeded" and cells["model"].plain == "logistic"
        assert cells["verdict"].plain == row["verdict"]
        assert cells["brier_skill"].plain == f"{row['brier_skill']:+.4f}"
        assert cells["epoch"].plain == f"{row['epochs']} ▲{row['best_epoch']}"
        assert cells["run_id"].plain == m
        assert "3 runs" in screen.sub_title


async def test_sort_walks_the_columns_and_flips(world, tmp_path):
    root, *_ = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        screen = app.screen
        while screen.sort_key != "brier_skill":
            await pilot.press("s")
        by_skill = sorted(screen.rows.values(), key=lambda r: r["brier_skill"], reverse=True)
        assert _keys(_table(app)) == [r["run_id"] for r in by_skill]
        await pilot.press("S")
        assert _keys(_table(app)) == [r["run_id"] for r in reversed(by_skill)]
        assert "B.skill ↑" in screen.sub_title


async def test_filter_by_text_and_by_expression_with_inline_errors(world, tmp_path):
    root, _, a, b, m = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        await pilot.press("slash")
        box = app.screen.query_one("#filter", Input)
        assert box.has_focus
        box.value = "model=logistic and epochs>=1"
        await pilot.press("enter")
        assert await _until(pilot, lambda: _keys(_table(app)) == [m])
        await pilot.press("slash")
        box.value = "baselines"
        await pilot.press("enter")
        assert await _until(pilot, lambda: _keys(_table(app)) == [b, a])
        await pilot.press("slash")
        box.value = "ece<<0.1"
        await pilot.press("enter")
        error = app.screen.query_one("#filter-error", Label)
        assert await _until(pilot, lambda: "ece<<0.1" in str(error.render()) or "expected" in str(error.render()))
        await pilot.press("escape")
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        assert str(app.screen.query_one("#filter-error", Label).render()) == ""


async def test_new_runs_and_status_changes_arrive_without_a_key_and_keep_the_cursor(world, tmp_path):
    root, data, a, b, m = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        table = _table(app)
        table.move_cursor(row=1)
        assert app.screen._cursor_key() == b
        new = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", root)
        assert await _until(pilot, lambda: table.row_count == 4)
        assert _keys(table)[0] == new.run_id and app.screen._cursor_key() == b
        status = lambda: table.get_row(new.run_id)[1 + app.screen.columns_shown.index("status")].plain  # noqa: E731
        assert status() == "queued"
        jobs.cancel(new)
        assert await _until(pilot, lambda: status() == "cancelled")
        assert table.row_count == 4 and app.screen._cursor_key() == b
        assert table.columns["status"].content_width >= len("cancelled")  # a longer value widens its column
        shutil.rmtree(new.path)  # deleted while shown
        assert await _until(pilot, lambda: table.row_count == 3)
        assert new.run_id not in app.screen.rows


async def test_cancel_asks_first_then_cancels(world, tmp_path):
    root, data, *_ = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        new = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", root)
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        _table(app).move_cursor(row=_table(app).get_row_index(new.run_id))
        await pilot.press("x")
        assert await _until(pilot, lambda: app.screen.__class__.__name__ == "YesNo")
        assert all(s.size.width > 10 for s in app.screen.query(Static))  # the question is visible
        await pilot.press("n")
        await pilot.pause(0.2)
        assert status_of(new).status == "queued"
        await pilot.press("x")
        assert await _until(pilot, lambda: app.screen.__class__.__name__ == "YesNo")
        await pilot.press("y")
        assert await _until(pilot, lambda: status_of(new).status == "cancelled")


async def test_select_runs_and_compare_needs_two(world, tmp_path):
    root, *_ = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        await pilot.press("space")
        assert len(app.screen.selected) == 1 and "1 selected" in app.screen.sub_title
        await pilot.press("C")
        await pilot.pause(0.1)
        assert isinstance(app.screen, RunsScreen)  # one run is not a comparison
        assert any("select 2 to 8" in n.message for n in app._notifications)


async def test_columns_hide_and_reorder(world, tmp_path):
    root, *_ = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        await pilot.press("c")
        assert await _until(pilot, lambda: isinstance(app.screen, ColumnsScreen))
        sl = app.screen.query_one("#columns", SelectionList)
        sl.focus()
        sl.highlighted = 4  # host (after id, status, name, model)
        await pilot.press("space")  # hide it
        sl.highlighted = 1  # status
        await pilot.press("right_square_bracket")  # one down: after name
        await pilot.press("enter")
        assert await _until(pilot, lambda: isinstance(app.screen, RunsScreen))
        shown = app.screen.columns_shown
        assert "host" not in shown and shown[:3] == ["id", "name", "status"]
        assert [c.key.value for c in _table(app).ordered_columns][1:4] == ["id", "name", "status"]
        assert _table(app).row_count == 3


async def test_help_lists_the_screen_keys(world, tmp_path):
    root, *_ = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("question_mark")
        assert await _until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_text = app.screen.query_one("#help-text", Static)
        assert help_text.size.width > 30 and help_text.size.height > 10  # really shown, not a zero-wide box
        text = str(help_text.render())
        for words in ("Filter", "Sort: next column", "Compare selected", "Cancel run", "Resume run", "Quit"):
            assert words in text
        await pilot.press("escape")
        assert await _until(pilot, lambda: isinstance(app.screen, RunsScreen))


async def test_a_corrupt_run_directory_shows_as_such(tmp_path):
    bad = tmp_path / "20260101-000000-broken-abcd"
    bad.mkdir()
    (bad / "manifest.json").write_text("{not json")
    (bad / "events.jsonl").write_text(json.dumps({"ts": "x", "type": "nonsense"}) + "\n")
    app = SynapseApp(tmp_path)
    async with app.run_test(size=(120, 30)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 1)
        cells = _table(app).get_row(bad.name)
        assert cells[1 + app.screen.columns_shown.index("status")].plain == "unreadable"


async def test_a_missing_runs_dir_offers_the_demo(tmp_path):
    app = SynapseApp(tmp_path / "nowhere")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause(0.3)
        text = str(app.screen.query_one("#empty", Static).render())
        assert "yet (the directory does not exist)" in text and "Press d to run the demo" in text.replace("\n", " ")
        assert not _table(app).display


async def test_ascii_mode_draws_no_unicode_glyphs(world, tmp_path):
    root, *_ = _copy(world, tmp_path)
    app = SynapseApp(root, ascii_plots=True)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3)
        await pilot.press("space")
        text = "".join(c.plain for key in _keys(_table(app)) for c in _table(app).get_row(key))
        assert "^" in text and "*" in text  # the best-epoch mark and the selection, in ASCII
        assert not any(ord(ch) > 127 for ch in text), text


@pytest.mark.slow  # a real worker process
async def test_resume_asks_first_then_the_run_finishes_as_a_new_attempt(world, tmp_path):
    root, data, *_ = _copy(world, tmp_path)
    new = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", root)
    jobs.cancel(new)  # cancelled before it started: resumable
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        _table(app).move_cursor(row=_table(app).get_row_index(new.run_id))
        await pilot.press("R")
        assert await _until(pilot, lambda: app.screen.__class__.__name__ == "YesNo")
        await pilot.press("y")
        assert await _until(pilot, lambda: status_of(new).status == "succeeded", timeout=60)
        assert status_of(new).attempt == 1  # the first attempt that started (the cancel came before any)
        status = lambda: _table(app).get_row(new.run_id)[1 + app.screen.columns_shown.index("status")].plain  # noqa: E731
        assert await _until(pilot, lambda: status() == "succeeded")


async def test_config_keys_that_differ_between_runs_can_be_columns(world, tmp_path):
    root, _, a, b, m = _copy(world, tmp_path)
    app = SynapseApp(root)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 3 and app.screen.config_keys)
        keys = app.screen.config_keys
        assert "eval.baselines" in keys and "model.kind" in keys
        assert "seed" not in keys and "split.test_days" not in keys  # the same in every run: never offered
        await pilot.press("c")
        assert await _until(pilot, lambda: isinstance(app.screen, ColumnsScreen))
        sl = app.screen.query_one("#columns", SelectionList)
        sl.focus()
        sl.highlighted = [sl.get_option_at_index(i).value for i in range(sl.option_count)].index("cfg:model.kind")
        await pilot.press("space", "enter")
        assert await _until(pilot, lambda: isinstance(app.screen, RunsScreen))
        col = app.screen.columns_shown.index("cfg:model.kind")
        kinds = {key: _table(app).get_row(key)[1 + col].plain for key in _keys(_table(app))}
        assert kinds == {m: "logistic", b: "ewma", a: "ewma"}
