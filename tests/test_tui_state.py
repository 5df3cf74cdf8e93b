"""The dashboard remembers the runs screen's columns, sort and filter and the theme across
sessions (synapse_tui/state.py, in $XDG_STATE_HOME/synapse/tui.json; a bad file is ignored
with a notification), and exports the table as shown to a CSV (`E`)."""

import csv
import json
import shutil
from pathlib import Path

import pytest
from textual.widgets import DataTable, Input, SelectionList

from synapse_tui import state
from synapse_tui.app import SynapseApp
from synapse_tui.screens.runs import ColumnsScreen, RunsScreen
from synapse_tui.screens.runs.columns import BY_KEY
from synapse_tui.screens.runs.screen import filter_error
from tui_fixture import make_fixture_runs
from tui_helpers import until as _until

KNOWN = set(BY_KEY)


# ---------------------------------------------------------------- state.py, pure


def test_state_path_follows_xdg_state_home(tmp_path):
    assert state.state_path({"XDG_STATE_HOME": str(tmp_path)}) == tmp_path / "synapse" / "tui.json"
    default = Path.home() / ".local" / "state" / "synapse" / "tui.json"
    assert state.state_path({}) == default
    assert state.state_path({"XDG_STATE_HOME": "relative/dir"}) == default  # the spec: ignore a relative one


def test_clean_keeps_what_applies_and_drops_the_rest():
    raw = {
        "version": 1,
        "theme": "nord",
        "runs": {
            "columns": ["id", "no_such_column", "status", "cfg:model.kind", "id", 3],
            "sort": {"key": "ece_after", "descending": False},
            "filter": "ece<0.05 and modle=gru",  # no longer parses: dropped
        },
    }
    out = state.clean(raw, KNOWN, filter_error)
    assert out == {
        "theme": "nord",
        "runs": {"columns": ["id", "status", "cfg:model.kind"], "sort": {"key": "ece_after", "descending": False}},
    }
    good = state.clean({"runs": {"filter": "model=gru", "sort": {"key": "gone"}}}, KNOWN, filter_error)
    assert good == {"runs": {"filter": "model=gru"}}  # a sort on an unknown column dropped


@pytest.mark.parametrize(
    "raw",
    [
        [],
        "x",
        {"theme": 3},
        {"runs": []},
        {"runs": {"columns": "id"}},
        {"runs": {"sort": "ece"}},
        {"runs": {"sort": {"key": "ece_after", "descending": "no"}}},
        {"runs": {"filter": 1}},
    ],
)
def test_clean_refuses_the_wrong_shape(raw):
    with pytest.raises(state.StateError):
        state.clean(raw, KNOWN, filter_error)


def test_load_and_save_round_trip_and_refuse_bad_files(tmp_path):
    path = tmp_path / "deep" / "synapse" / "tui.json"
    assert state.load(path, KNOWN) == {}  # none yet
    state.save(path, {"theme": "textual-light", "runs": {"filter": "gru"}})
    assert (path.parent.stat().st_mode & 0o777) == 0o700
    assert state.load(path, KNOWN) == {"theme": "textual-light", "runs": {"filter": "gru"}}
    assert json.loads(path.read_text())["version"] == state.VERSION
    path.write_text("{not json")
    with pytest.raises(state.StateError, match="not JSON"):
        state.load(path, KNOWN)
    path.write_text(json.dumps({"runs": {"filter": "x" * (state.MAX_BYTES + 10)}}))
    with pytest.raises(state.StateError, match="KiB"):
        state.load(path, KNOWN)
    path.write_bytes(b"\xff\xfe")
    with pytest.raises(state.StateError):
        state.load(path, KNOWN)


# ---------------------------------------------------------------- the dashboard

SUCCEEDED = ("20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb")


@pytest.fixture(scope="module")
def fixed(tmp_path_factory, synthetic_csv):
    root = tmp_path_factory.mktemp("state") / "runs"
    make_fixture_runs(root, synthetic_csv("planted", days=900, seed=5))
    return root


@pytest.fixture
def runs(fixed, tmp_path) -> Path:
    dst = tmp_path / "runs"
    shutil.copytree(fixed, dst, ignore=shutil.ignore_patterns("index.sqlite*"))
    return dst


@pytest.fixture
def state_home(tmp_path, monkeypatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    return home


def _table(app) -> DataTable:
    return app.screen.query_one("#runs", DataTable)


def _keys(app) -> list[str]:
    return [str(row.key.value) for row in _table(app).ordered_rows]


async def test_columns_sort_filter_and_theme_come_back_next_session(runs, state_home):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        # columns: hide host, move status after name
        await pilot.press("c")
        assert await _until(pilot, lambda: isinstance(app.screen, ColumnsScreen))
        sl = app.screen.query_one("#columns", SelectionList)
        sl.focus()
        sl.highlighted = 4  # host
        await pilot.press("space")
        sl.highlighted = 1  # status
        await pilot.press("right_square_bracket")
        await pilot.press("enter")
        assert await _until(pilot, lambda: isinstance(app.screen, RunsScreen))
        columns = list(app.screen.columns_shown)
        assert "host" not in columns and columns[:3] == ["id", "name", "status"]
        # sort: by ECE, then flipped
        app.screen._sort_by("ece_after")
        await pilot.press("S")
        sort = (app.screen.sort_key, app.screen.sort_descending)
        assert sort[0] == "ece_after"
        # filter
        await pilot.press("slash")
        app.screen.query_one("#filter", Input).value = "status=succeeded"
        await pilot.press("enter")
        assert await _until(pilot, lambda: sorted(_keys(app)) == sorted(SUCCEEDED))
        # theme
        await pilot.press("ctrl+t")
        theme = app.theme
        shown = _keys(app)
        await pilot.press("q")
    path = state_home / "synapse" / "tui.json"
    assert path.is_file()
    assert (path.parent.stat().st_mode & 0o777) == 0o700

    again = SynapseApp(runs, ascii_plots=False)
    async with again.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: sorted(_keys(again)) == sorted(SUCCEEDED))
        screen = again.screen
        assert screen.columns_shown == columns
        assert [c.key.value for c in _table(again).ordered_columns][1:] == columns
        assert (screen.sort_key, screen.sort_descending) == sort
        assert screen.filter_text == "status=succeeded"
        assert screen.query_one("#filter", Input).value == "status=succeeded"
        assert again.theme == theme
        assert _keys(again) == shown


async def test_state_is_saved_after_a_quiet_moment_not_only_on_quit(runs, state_home):
    path = state_home / "synapse" / "tui.json"
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        await pilot.press("s")
        assert await _until(pilot, lambda: path.is_file())
        assert json.loads(path.read_text())["runs"]["sort"]["key"] == app.screen.sort_key


@pytest.mark.parametrize(
    "content",
    [b"{corrupt", b"[1, 2]", json.dumps({"runs": {"x": "y" * (70 * 1024)}}).encode()],
    ids=["corrupt", "wrong-shape", "oversized"],
)
async def test_a_bad_state_file_is_ignored_with_a_notification(runs, state_home, content):
    path = state_home / "synapse" / "tui.json"
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)

        def told() -> bool:
            notes = [n.message for n in app._notifications]
            return any(str(path) in m and "ignored" in m and "\n" not in m for m in notes)

        assert await _until(pilot, told), [n.message for n in app._notifications]
        screen = app.screen
        assert screen.sort_key is None and screen.filter_text == "" and not screen.columns_chosen


async def test_unknown_columns_and_a_stale_filter_in_the_file_are_dropped(runs, state_home):
    path = state_home / "synapse" / "tui.json"
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"runs": {"columns": ["id", "gone", "status"], "filter": "ece<0.05 and modle=gru"}}))
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        assert app.screen.columns_shown == ["id", "status"]
        assert app.screen.filter_text == ""


async def test_export_writes_the_rows_and_columns_shown(runs):
    app = SynapseApp(runs, ascii_plots=False)
    async with app.run_test(size=(200, 50)) as pilot:
        assert await _until(pilot, lambda: _table(app).row_count == 4)
        screen = app.screen
        screen._sort_by("brier_skill")
        await pilot.press("slash")
        screen.query_one("#filter", Input).value = "status=succeeded"
        await pilot.press("enter")
        assert await _until(pilot, lambda: sorted(_keys(app)) == sorted(SUCCEEDED))
        shown = _keys(app)
        columns = list(screen.columns_shown)
        rows = {k: screen.rows[k] for k in shown}
        await pilot.press("E")
        exports = runs / "exports"
        assert await _until(pilot, lambda: exports.is_dir() and any(exports.glob("runs-*.csv")))
        (path,) = exports.glob("runs-*.csv")
        assert await _until(pilot, lambda: any(str(path) in n.message for n in app._notifications))
    with path.open(newline="") as fh:
        table = list(csv.reader(fh))
    assert table[0] == columns
    assert [r[columns.index("id")] for r in table[1:]] == shown  # the full run id, in the order shown
    assert [r[columns.index("run_id")] for r in table[1:]] == shown
    for line in table[1:]:
        row = rows[line[0]]
        for key in ("brier_skill", "best_val_loss", "ece_after"):
            v = row.get(key)
            assert line[columns.index(key)] == ("" if v is None else repr(v))  # unrounded
            if v is not None:
                assert float(line[columns.index(key)]) == v
        assert line[columns.index("status")] == row["status"]


def test_runs_ls_csv_prints_every_run_in_full(runs):
    import typer
    from typer.testing import CliRunner

    from synapse_tui.commands.runs import runs_app

    cli = typer.Typer()
    cli.add_typer(runs_app, name="runs")

    @cli.callback()
    def _root() -> None:
        """`runs` stays a subcommand."""

    as_json = CliRunner().invoke(cli, ["runs", "ls", "--runs-dir", str(runs), "--json"])
    as_csv = CliRunner().invoke(cli, ["runs", "ls", "--runs-dir", str(runs), "--csv"])
    assert as_json.exit_code == 0 and as_csv.exit_code == 0, as_csv.output
    want = json.loads(as_json.stdout)
    lines = list(csv.DictReader(as_csv.stdout.splitlines()))
    assert [r["run_id"] for r in lines] == [r["run_id"] for r in want]  # the same order
    for line, row in zip(lines, want):
        v = row.get("brier_skill")
        assert line["brier_skill"] == ("" if v is None else repr(v))
