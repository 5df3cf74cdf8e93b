"""The runs screen manages runs: `#` tags (a modal), `i` a note, `/ tag=x` filters by tag, `A`
archives (asks; `H` shows archived runs), `D` deletes (asks, says the test touches are kept,
and keeps them), both refused for an active run, `y` clones a run's config into Launch, and
`C` compares up to 8 selected runs."""

from __future__ import annotations

import os

from textual.widgets import DataTable, Input, OptionList, Static, TextArea

from core.runs.annotations import TOUCH_LEDGER, read_annotations, read_touch_ledger
from synapse_tui.app import SynapseApp
from synapse_tui.screens.launch import LaunchScreen
from synapse_tui.widgets.text_prompt import TextPrompt
from synapse_tui.widgets.dialogs import YesNo
from test_store import make_run  # noqa: E402  (tests/ is on sys.path under pytest)
from tui_helpers import static_text, until

A_ID = "20260101-000000-gru-0001"
B_ID = "20260102-000000-logistic-0002"
C_ID = "20260103-000000-gru-0003"


def _runs(root):
    a = make_run(root, "gru", run_id=A_ID, touches=2)
    b = make_run(root, "logistic", run_id=B_ID, kind="logistic", touches=1)
    c = make_run(root, "gru", run_id=C_ID, touches=0)
    return a, b, c


def _table(app) -> DataTable:
    return app.screen.query_one("#runs", DataTable)


def _keys(app) -> list[str]:
    return [r.key.value for r in _table(app).ordered_rows]


def _notes(app) -> str:
    return " | ".join(str(n.message) for n in app._notifications)


async def _to_row(app, pilot, run_id: str) -> None:
    table = _table(app)
    assert await until(pilot, lambda: run_id in _keys(app))
    table.move_cursor(row=_keys(app).index(run_id), animate=False)
    await pilot.pause(0.05)


async def test_tag_in_a_modal_then_filter_by_tag(tmp_path):
    a, b, c = _runs(tmp_path)
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: len(_keys(app)) == 3)
        await _to_row(app, pilot, B_ID)
        await pilot.press("number_sign")
        assert await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        # A bad tag is said in the modal, which stays open; nothing is written.
        await pilot.press(*"Bad!", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TextPrompt)
        assert "bad tag" in static_text(app.screen.query_one("#prompt-error", Static))
        assert not read_annotations(b).tags
        box = app.screen.query_one("#prompt-input", Input)
        box.value = ""
        await pilot.press(*"baseline-v2 keep", "enter")
        assert await until(pilot, lambda: read_annotations(b).tags == ("baseline-v2", "keep"))
        table = _table(app)
        col = 1 + app.screen.columns_shown.index("tags")
        assert await until(pilot, lambda: table.get_row(B_ID)[col].plain == "baseline-v2 keep")

        # `#` again: the tags are there to add to (the cursor after them, nothing selected).
        await pilot.press("number_sign")
        assert await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press(*"more", "enter")
        assert await until(pilot, lambda: read_annotations(b).tags == ("baseline-v2", "keep", "more"))

        await pilot.press("slash", *"tag=baseline-v2", "enter")
        assert await until(pilot, lambda: _keys(app) == [B_ID])
        await pilot.press("escape")
        assert await until(pilot, lambda: len(_keys(app)) == 3)
        await pilot.press("slash", *"keep", "enter")  # plain text finds a tag too
        assert await until(pilot, lambda: _keys(app) == [B_ID])


async def test_note_in_a_modal(tmp_path):
    a, _, _ = _runs(tmp_path)
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_row(app, pilot, A_ID)
        await pilot.press("i")
        assert await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press(*"lr too high", "enter")
        assert await until(pilot, lambda: read_annotations(a).note == "lr too high")
        assert await until(pilot, lambda: app.screen.rows[A_ID].get("note") == "lr too high")


async def test_archive_asks_hides_and_h_shows_archived(tmp_path):
    a, b, c = _runs(tmp_path)
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_row(app, pilot, B_ID)
        await pilot.press("A")
        assert await until(pilot, lambda: isinstance(app.screen, YesNo))
        assert "Archive" in app.screen.question and "nothing is deleted" in app.screen.question
        await pilot.press("y")
        assert await until(pilot, lambda: B_ID not in _keys(app) and len(_keys(app)) == 2)
        assert read_annotations(b).archived and b.path.is_dir()

        await pilot.press("H")
        assert await until(pilot, lambda: B_ID in _keys(app))
        col = 1 + app.screen.columns_shown.index("tags")
        assert _table(app).get_row(B_ID)[col].plain.startswith("archived")
        assert "archived shown" in app.screen.sub_title

        await _to_row(app, pilot, B_ID)
        await pilot.press("A")  # on an archived run: unarchive
        assert await until(pilot, lambda: isinstance(app.screen, YesNo))
        assert app.screen.question.startswith("Unarchive")
        await pilot.press("y")
        assert await until(pilot, lambda: not read_annotations(b).archived)


async def test_delete_asks_says_the_touches_are_kept_and_keeps_them(tmp_path):
    a, _, _ = _runs(tmp_path)
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_row(app, pilot, A_ID)
        await pilot.press("D")
        assert await until(pilot, lambda: isinstance(app.screen, YesNo))
        question = app.screen.question
        assert "Delete run " + A_ID in question and "test touches (2) are kept" in question
        await pilot.press("n")  # no: nothing happens
        await pilot.pause(0.2)
        assert a.path.is_dir() and not (tmp_path / TOUCH_LEDGER).exists()

        await pilot.press("D")
        assert await until(pilot, lambda: isinstance(app.screen, YesNo))
        await pilot.press("y")
        assert await until(pilot, lambda: A_ID not in _keys(app) and not a.path.exists())
        assert [e["run_id"] for e in read_touch_ledger(tmp_path)] == [A_ID, A_ID]
        assert await until(pilot, lambda: "2 test touches kept" in _notes(app))


async def test_active_runs_are_refused_without_a_dialog(tmp_path):
    rd = make_run(tmp_path, "gru", status="running", pid=os.getpid(), finished_ago_s=0)
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_row(app, pilot, rd.run_id)
        assert await until(pilot, lambda: app.screen.rows[rd.run_id]["status"] == "running")
        for key, what in (("D", "deleted"), ("A", "archived")):
            await pilot.press(key)
            await pilot.pause(0.2)
            assert not isinstance(app.screen, YesNo)
            assert await until(pilot, lambda what=what: f"nothing was {what}" in _notes(app))
        assert rd.path.is_dir() and not read_annotations(rd).archived
        # ...but it can be tagged while it runs.
        await pilot.press("number_sign")
        assert await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        await pilot.press(*"live", "enter")
        assert await until(pilot, lambda: read_annotations(rd).tags == ("live",))


async def test_clone_opens_launch_with_the_run_config_and_a_new_name(tmp_path):
    _, b, _ = _runs(tmp_path)
    # A config that validates: the bundled sample as data, a logistic model.
    b.config_yaml.write_text(
        "name: logistic\nseed: 0\ndata:\n  path: sample_data/parts_daily.csv\nmodel:\n  kind: logistic\n"
    )
    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _to_row(app, pilot, B_ID)
        await pilot.press("y")
        assert await until(pilot, lambda: isinstance(app.screen, LaunchScreen))
        screen = app.screen
        assert await until(pilot, lambda: screen.config is not None and screen.config["path"] == str(b.config_yaml))
        assert screen.query_one("#overrides", TextArea).text == "name=logistic-clone"
        assert screen.query_one("#data", Input).value == ""  # the run's own data.path
        assert screen.query_one("#configs", OptionList).highlighted == 0
        assert B_ID in screen.sub_title
        assert await until(pilot, lambda: screen.result is not None, timeout=30)
        assert screen.result["ok"], screen.result["errors"]
        assert "name: logistic-clone" in screen.result["resolved"]


async def test_compare_takes_up_to_eight_selected_runs(tmp_path):
    for i in range(9):
        make_run(tmp_path, "gru", run_id=f"2026010{i + 1}-000000-gru-000{i}", touches=0)
    from synapse_tui.screens.compare import CompareScreen

    app = SynapseApp(tmp_path, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        assert await until(pilot, lambda: len(_keys(app)) == 9)
        _table(app).move_cursor(row=0, animate=False)
        await pilot.press(*["space"] * 9, "C")
        await pilot.pause(0.1)
        assert not isinstance(app.screen, CompareScreen) and "select 2 to 8 runs" in _notes(app)
        _table(app).move_cursor(row=0, animate=False)
        await pilot.press("space", "C")  # unselect one: 8
        assert await until(pilot, lambda: isinstance(app.screen, CompareScreen))
        assert len(app.screen.run_ids) == 8


def test_the_new_keys_mean_one_thing_on_the_runs_screen():
    from synapse_tui.screens.runs.screen import RunsScreen

    keys = [k for b in RunsScreen.BINDINGS for k in b.key.split(",")]
    assert len(keys) == len(set(keys))
    assert {"number_sign", "i", "A", "D", "y", "H"} <= set(keys)


async def test_every_run_archived_says_so_instead_of_the_first_run_screen(tmp_path):
    from core.service.runs import set_archived

    a, b, c = _runs(tmp_path)
    set_archived([a, b, c], tmp_path)
    app = SynapseApp(tmp_path, ascii_plots=True)
    async with app.run_test(size=(80, 24)) as pilot:
        message = app.screen.query_one("#no-match", Static)
        assert await until(pilot, lambda: message.display and "every run here is archived (3)" in static_text(message))
        assert not app.screen.query_one("#first-run").display
        assert not app.screen.check_action("demo", ())  # `d` would run the demo into a runs dir in use
        await pilot.press("H")
        assert await until(pilot, lambda: len(_keys(app)) == 3)
        await _to_row(app, pilot, A_ID)
        await pilot.press("number_sign")
        assert await until(pilot, lambda: isinstance(app.screen, TextPrompt))
        assert static_text(app.screen.query_one("#prompt-keys", Static)).isascii()
