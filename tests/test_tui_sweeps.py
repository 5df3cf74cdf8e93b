"""The sweeps view on real sweeps (start_sweep on a small planted file, tiny logistic configs).

Fast: a sweep whose runs are all queued (nobody runs them) is listed, opens with enter, has
a column per swept key, and its dependence pane follows left/right and says there is nothing
to plot yet, at 80x24 in ASCII. Slow (real training: the runs are executed in this process
instead of by a supervisor): the winner marked, the dependence pane's marks, a run opened
with enter, the screen following the last run to the end; and `synapse sweep show`."""

import asyncio
import json

import pytest

from helpers import ROOT, write_synthetic
from tui_helpers import until

from core.jobs.sweep import SweepDir, start_sweep
from core.runs import RunDir
from core.train.run import execute
from synapse_tui.app import SynapseApp
from synapse_tui.screens.sweeps import SweepScreen, SweepsScreen
from synapse_tui.screens.sweeps.dependence import DependencePlot
from synapse_tui.screens.sweeps.importance import ImportanceBars
from synapse_tui.screens.sweeps.runs_table import SweepRunsTable

CONFIGS = ROOT / "configs"
TINY = [
    "split.test_days=200",
    "split.val_days=200",
    "split.min_train_days=100",
    "train.epochs=2",
    "train.patience=100",
    "train.device=cpu",
    "eval.baselines=[frequency]",
]
GRID = ["train.lr=1e-3,1e-1", "model.recency_cap=30,60"]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_synthetic(tmp_path_factory.mktemp("sweeps") / "planted.csv", "planted", days=900, seed=4)


@pytest.fixture(scope="module")
def queued(data, tmp_path_factory):
    """A 2 x 2 sweep of tiny logistic runs, all queued (no supervisor)."""
    root = tmp_path_factory.mktemp("queued") / "runs"
    return root, start_sweep(root, [CONFIGS / "logistic.yaml"], GRID, TINY, data=data, supervise=False)


@pytest.fixture(scope="module")
def world(data, tmp_path_factory):
    """The same sweep with three runs executed, the last left queued (the live test runs it)."""
    root = tmp_path_factory.mktemp("world") / "runs"
    sweep = start_sweep(root, [CONFIGS / "logistic.yaml"], GRID, TINY, data=data, supervise=False)
    runs = [run for _, run in sweep.runs()]
    for run in runs[:3]:
        execute(run)
    return root, sweep, runs


def _plain(widget, width: int = 200) -> str:
    """What a widget draws, as plain text."""
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=width, record=True, color_system=None)
    console.print(widget.render())
    return console.export_text()


def _table_text(table) -> list[list[str]]:
    return [[str(getattr(c, "plain", c)) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def _open_sweep(app, pilot, sweep: SweepDir) -> SweepScreen:
    app.push_screen(SweepsScreen(app.runs_dir))
    assert await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.sweeps is not None)
    listing = app.screen
    table = listing.query_one("#sweeps-table")
    assert await until(pilot, lambda: table.row_count == 1)
    await pilot.press("enter")
    assert await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.view is not None)
    return app.screen


async def test_a_queued_sweep_is_listed_opens_and_its_panes_fit_80x24_in_ascii(queued):
    root, sweep = queued
    app = SynapseApp(root, ascii_plots=True)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("W")  # from the runs screen, as a user opens it (an app-wide key)
        assert await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.sweeps)
        table = app.screen.query_one("#sweeps-table")
        assert await until(pilot, lambda: table.row_count == 1)
        row = _table_text(table)[0]
        assert row[:6] == [sweep.sweep_id[-4:], "logistic: lr x recency_cap", "0/4", "running", "-", "-"]
        await pilot.press("enter")
        assert await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.view is not None)
        screen = app.screen
        assert screen.sweep_id == sweep.sweep_id
        runs_table = screen.query_one(SweepRunsTable)
        assert [c.label.plain for c in runs_table.ordered_columns][2:4] == [">lr>", "recency_cap"]
        rows = _table_text(runs_table)
        assert [r[4] for r in rows] == ["queued"] * 4 and not any(r[0].strip() for r in rows)
        plot = screen.query_one(DependencePlot)
        assert plot.key == "train.lr"
        assert "no run with a val Brier yet" in _plain(plot, 80)
        assert "needs 3" in _plain(screen.query_one(ImportanceBars), 80)
        await pilot.press("right")
        assert plot.key == "model.recency_cap" and "val Brier vs model.recency_cap" in _plain(plot, 80)
        await pilot.press("right")
        assert plot.key == "train.lr"  # wraps around
        await pilot.pause(0.2)
        assert screen.has_class("-narrow")
        for widget in (runs_table, plot, screen.query_one(ImportanceBars), screen.query_one("#sweep-title")):
            region = widget.region
            assert region.height >= 1 and region.bottom <= 23, (widget, region)  # above the footer
        assert plot.region.height >= 7 and screen.query_one("#sweep-title").region.height == 1
        shot = app.export_screenshot()
        assert all(g not in shot for g in ("★", "●", "▸", "η", "│", "└", "·", "–", "…"))


@pytest.mark.slow
async def test_the_sweeps_list_shows_the_sweep_and_enter_opens_it_with_the_winner_marked(world):
    root, sweep, runs = world
    app = SynapseApp(root, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        app.push_screen(SweepsScreen(root))
        assert await until(pilot, lambda: isinstance(app.screen, SweepsScreen) and app.screen.sweeps)
        table = app.screen.query_one("#sweeps-table")
        assert await until(pilot, lambda: table.row_count == 1)
        row = _table_text(table)[0]
        winner = app.screen.sweeps[0]["winner"]
        assert row[0] == sweep.sweep_id.rsplit("-", 1)[-1]
        assert row[1] == "logistic: lr x recency_cap" and row[2] == "3/4" and row[3] == "running"
        assert winner and winner in row[5] and row[5].startswith("★")
        await pilot.press("enter")
        assert await until(pilot, lambda: isinstance(app.screen, SweepScreen) and app.screen.view is not None)
        screen = app.screen
        view = screen.view
        runs_table = screen.query_one(SweepRunsTable)
        rows = _table_text(runs_table)
        assert [r[8] for r in rows] == [r["label"] for r in view["runs"]]
        labels = [col.label.plain for col in runs_table.ordered_columns]
        assert labels[2:4] == ["▸lr▸", "recency_cap"]  # a column per swept key, the plotted one marked
        assert [r[2:4] for r in rows] == [["0.001", "30"], ["0.001", "60"], ["0.1", "30"], ["0.1", "60"]]
        marked = [r for r in rows if r[0] == "★"]
        assert len(marked) == 1 and marked[0][8] == winner == view["winner"]["label"]
        # the winner is the lowest validation Brier among the succeeded runs
        vals = {r["label"]: r["val"] for r in view["runs"] if r["val"] is not None}
        assert len(vals) == 3 and min(vals, key=vals.get) == winner
        assert rows[3][4] == "queued"
        # the dependence pane draws the lr key with the winner's mark; importance lists both keys
        plot = _plain(screen.query_one(DependencePlot))
        head, body = plot.split("\n", 1)
        assert "val Brier vs train.lr" in head and "0.001" in body and "0.1" in body
        assert body.count("★") == 1 and body.count("●") == 2  # a mark per succeeded run, the winner's own
        bars = _plain(screen.query_one(ImportanceBars))
        assert "▸train.lr" in bars and "model.recency_cap" in bars and "chance" in bars
        # right: the next key everywhere
        await pilot.press("right")
        assert screen.query_one(DependencePlot).key == "model.recency_cap"
        assert "val Brier vs model.recency_cap" in _plain(screen.query_one(DependencePlot))
        assert "▸model.recency_cap" in _plain(screen.query_one(ImportanceBars))
        assert [c.label.plain for c in runs_table.ordered_columns][2:4] == ["lr", "▸recency_cap▸"]
        await pilot.press("left")
        assert screen.query_one(DependencePlot).key == "train.lr"
        # enter on a run row opens that run's screen
        from synapse_tui.screens.run import RunScreen

        runs_table.focus()
        runs_table.move_cursor(row=1)
        await pilot.press("enter")
        assert await until(pilot, lambda: isinstance(app.screen, RunScreen))
        assert app.screen.run_id == view["runs"][1]["run_id"]


@pytest.mark.slow
async def test_the_sweep_screen_follows_a_run_to_the_end_and_reads_at_80x24_in_ascii(world):
    """Live: the last run is executed while the screen is open; the screen re-reads until the
    sweep is done. At 80x24 every pane stays on screen; in ASCII nothing outside ASCII is drawn."""
    root, sweep, runs = world
    app = SynapseApp(root, ascii_plots=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open_sweep(app, pilot, sweep)
        assert screen.view["active"] and screen.view["done"] == 3
        if RunDir(runs[3].path).read_events()[-1]["type"] != "run_finished":
            await asyncio.to_thread(execute, runs[3])
        assert await until(pilot, lambda: screen.view["complete"] and not screen.view["active"], timeout=30)
        assert screen.view["done"] == 4 and len(screen.view["importance"][0]["points"]) == 4
        await pilot.pause(0.2)
        assert screen.has_class("-narrow")
        for widget in (screen.query_one(SweepRunsTable), screen.query_one(DependencePlot)):
            region = widget.region
            assert region.height >= 5 and region.bottom <= 23, (widget, region)
        bars = screen.query_one(ImportanceBars).region
        assert bars.height >= 3 and bars.bottom <= 23  # the header and a line per key
        title = screen.query_one("#sweep-title").region
        assert title.height == 1
        drawn = "\n".join(_plain(w, 80) for w in (screen.query_one(DependencePlot), screen.query_one(ImportanceBars)))
        assert "val Brier vs train.lr" in drawn and "*" in drawn and "eta2" in drawn
        assert all(ord(ch) < 128 for ch in drawn), [ch for ch in drawn if ord(ch) >= 128]
        rows = _table_text(screen.query_one(SweepRunsTable))
        assert sum(r[0] == "*" for r in rows) == 1 and all(ord(ch) < 128 for r in rows for ch in "".join(r))
        # the whole screen as the terminal shows it: ASCII only
        await pilot.pause(0.2)
        shot = app.export_screenshot()
        assert "★" not in shot and "●" not in shot and "▸" not in shot and "η" not in shot


@pytest.mark.slow
def test_sweep_show_prints_the_winner_and_each_keys_importance(world):
    root, sweep, runs = world
    for run in runs:  # the other test may not have run (-k): finish the sweep here
        if RunDir(run.path).read_events()[-1]["type"] != "run_finished":
            execute(run)
    from typer.testing import CliRunner

    from synapse_tui.cli import app as cli

    args = ["sweep", "show", "--runs-dir", str(root)]
    out = CliRunner().invoke(cli, [*args, "--json"])
    assert out.exit_code == 0, out.output
    view = json.loads(out.stdout)
    assert view["sweep_id"] == sweep.sweep_id and view["complete"] and view["done"] == 4
    vals = {r["run_id"]: r["val"] for r in view["runs"]}
    assert view["winner"]["run_id"] == min(vals, key=vals.get) and view["winner"]["metric"] == "val_brier"
    assert [m["key"] for m in view["importance"]] == ["train.lr", "model.recency_cap"]
    for m in view["importance"]:
        assert m["n"] == 4 and m["levels"] == 2 and 0 <= m["eta2"] <= 1 and m["p_value"] is not None
        assert m["p_floor"] == pytest.approx(1 / 3)  # 4 runs in 2 pairs: too few to call anything
        assert not m["significant"]
    text = CliRunner().invoke(cli, [*args, sweep.sweep_id[-4:]])  # the 4-hex tail the dashboard lists
    assert text.exit_code == 0, text.output
    assert f"winner: {view['winner']['label']}" in text.stdout
    assert "importance of each swept key on val Brier" in text.stdout
    assert "too few runs to tell" in text.stdout and "train.lr" in text.stdout
