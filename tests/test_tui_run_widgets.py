"""The run screen's tab widgets alone, each mounted in a bare App and given a run view as an
attribute (as the screen does): they draw it, redraw only what changed, draw nothing while
hidden until shown, and post what the screen acts on (LogPane.OpenArtifact)."""

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable, Static, TabbedContent, TabPane

from core.config import load_config
from core.train.run import run_train
from synapse_tui.screens.run import read_run
from synapse_tui.screens.run.config_pane import ConfigPane
from synapse_tui.screens.run.log_pane import LogPane
from synapse_tui.screens.run.overview import OverviewPane
from synapse_tui.screens.run.parts_pane import PartsPane
from synapse_tui.screens.run.pool_pane import PoolPane
from synapse_tui.widgets.plots import LossPlot, TierPlot

from helpers import write_synthetic
from tui_helpers import static_text as _text, until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished 3-epoch logistic run on planted data and the view `read_run` makes of it."""
    base = tmp_path_factory.mktemp("tui_run_widgets")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    cfg = load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data))
    done = run_train(cfg, root)
    return root, done, read_run(root, done.run_id)


class Alone(App):
    """One widget, nothing else; the messages it posts up are kept."""

    def __init__(self, widget) -> None:
        super().__init__()
        self.widget = widget
        self.opened: list = []

    def compose(self) -> ComposeResult:
        yield self.widget

    def on_log_pane_open_artifact(self, message: LogPane.OpenArtifact) -> None:
        self.opened.append(message.path)


def _parts(rows: list[tuple[int, float, float]]) -> dict:
    return {
        "run": {"status": "succeeded"},
        "summary": {"auc": 0.6},
        "auc_per_part": [{"part": p, "auc": auc, "ap": ap} for p, auc, ap in rows],
    }


async def test_parts_pane_draws_the_view_it_is_given_and_only_what_changed():
    view = _parts([(1, 0.55, 0.2), (2, 0.71, 0.1), (3, 0.42, 0.3)])
    pane = PartsPane(view)
    async with Alone(pane).run_test(size=(80, 20)) as pilot:
        table = pane.query_one("#parts-table", DataTable)
        assert [int(table.get_row_at(i)[0].plain) for i in range(3)] == [2, 1, 3]  # by AUC, best first
        assert table.get_row_at(2)[1].style == "red"  # AUC below 0.5
        assert not pane.query_one("#parts-note", Static).display
        pane.next_sort()  # AP, best first
        assert [int(table.get_row_at(i)[0].plain) for i in range(3)] == [3, 1, 2] and pane.sort == ("ap", True)

        table.move_cursor(row=2)
        pane.view = _parts([(1, 0.55, 0.2), (2, 0.71, 0.1), (3, 0.42, 0.3)])  # a re-read, the same rows
        await pilot.pause(0.05)
        assert table.cursor_row == 2  # not refilled
        pane.view = _parts([(1, 0.55, 0.2), (2, 0.71, 0.1), (3, 0.42, 0.3), (4, 0.9, 0.9)])
        await pilot.pause(0.05)
        assert table.row_count == 4 and int(table.get_row_at(0)[0].plain) == 4  # refilled, still by AP

        pane.view = {"run": {"status": "running"}}
        await pilot.pause(0.05)
        note = pane.query_one("#parts-note", Static)
        assert note.display and "per-part metrics appear when the run has been evaluated" in _text(note)


class Tabs(App):
    """Two tabs, as on the run screen: an overview-like first tab and the parts."""

    def __init__(self, pane: PartsPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        with TabbedContent(id="tabs", initial="first"):
            with TabPane("First", id="first"):
                yield Static("first")
            with TabPane("Parts", id="parts"):
                yield self.pane


async def test_a_hidden_pane_draws_its_view_only_when_shown():
    pane = PartsPane()
    async with Tabs(pane).run_test(size=(80, 20)) as pilot:
        await pilot.pause(0.05)
        drawn = pane.drawn_views
        for n in range(5):  # re-reads while the tab is hidden
            pane.view = _parts([(p, 0.5 + p / 100 + n / 1000, 0.1) for p in range(1, 40)])
        await pilot.pause(0.05)
        assert pane.drawn_views == drawn and pane.query_one(DataTable).row_count == 0
        pilot.app.query_one(TabbedContent).active = "parts"
        assert await _until(pilot, lambda: pane.query_one(DataTable).row_count == 39)
        assert pane.drawn_views == drawn + 1  # the last view, once


async def test_log_pane_shows_the_log_and_posts_open_artifact(tmp_path):
    png, cfg = tmp_path / "loss.png", tmp_path / "config.yaml"
    png.write_bytes(b"\x89PNG")
    cfg.write_text("kind: logistic\n")
    view = {
        "run": {"path": str(tmp_path)},
        "log_tail": [{"ts": "2026-01-01T12:00:01", "level": "warning", "message": "slow \x1b[31mdisk"}],
        "worker_log": {"lines": ["epoch 1 train 0.4"], "cut": False},
        "artifacts": [
            {"name": "config.yaml", "path": str(cfg), "bytes": 15},
            {"name": "loss.png", "path": str(png), "bytes": 4},
        ],
    }
    pane = LogPane(view)
    async with Alone(pane).run_test(size=(80, 24)) as pilot:
        log = _text(pane.query_one("#log-view", Static))
        assert "warning" in log and "slow disk" in log and "\x1b" not in log and "epoch 1 train 0.4" in log
        assert str(tmp_path) in _text(pane.query_one("#artifacts-title", Static))
        table = pane.query_one("#artifacts", DataTable)
        assert table.row_count == 2
        table.focus()
        table.move_cursor(row=1)
        await pilot.press("enter")
        assert await _until(pilot, lambda: pilot.app.opened == [png])
        table.move_cursor(row=0)
        pane.open_selected()  # what `a` on the screen does
        assert await _until(pilot, lambda: pilot.app.opened == [png, cfg])


async def test_config_pane_shows_the_yaml_at_once_and_highlights_it_in_a_worker(world):
    _, done, view = world
    pane = ConfigPane(view)
    async with Alone(pane).run_test(size=(80, 24)) as pilot:
        box = pane.query_one("#config-view", Static)
        assert "kind: logistic" in _text(box) and f"{done.path}/config.yaml" in _text(box)
        assert await _until(pilot, lambda: pane.highlighted)
        assert "kind: logistic" in _text(box)
        pane.view = {**view, "config_yaml": None, "config_error": "config.yaml:3: YAML syntax error"}
        await pilot.pause(0.05)
        shown = _text(box)
        assert "cannot be read" in shown and "config.yaml:3: YAML syntax error" in shown


async def test_overview_pane_draws_the_plots_and_summary_of_the_view(world):
    _, done, view = world
    report = done.read_json("report.json")
    pane = OverviewPane(view)
    async with Alone(pane).run_test(size=(120, 36)) as pilot:
        loss = pane.query_one("#loss", LossPlot)
        assert await _until(pilot, lambda: bool(loss.drawn.get("lines")))
        assert loss.series["epoch"] == [1, 2, 3]
        tiers = pane.query_one("#tiers", TierPlot)
        assert await _until(pilot, lambda: bool(tiers.drawn.get("lines")))
        assert (
            tiers.drawn["lines"]["model"][1]
            == report["models"][report["primary"]]["test"]["tier_rates"]["good"]["rate"]
        )
        assert f"AUC {report['summary']['auc']:.3f}" in _text(pane.query_one("#summary", Static))
        pane.loss = {**view["loss"], "epoch": [1, 2, 3, 4], "train": [0.5, 0.4, 0.3, 0.2], "val": [0.5, 0.4, 0.3, 0.3]}
        assert await _until(pilot, lambda: loss.drawn["lines"]["val"][0][-1] == 4)  # the follower's curves
        pane.smooth(1)
        assert loss.smoothing == 0.3 and "EMA 0.30" in pane.query_one("#loss-pane").border_title
        pane.zoom(tiers)
        await pilot.pause(0.05)
        assert pane.zoomed == "tiers" and not pane.query_one("#loss-pane").display
        pane.zoom(None)  # again: all four
        await pilot.pause(0.05)
        assert pane.zoomed is None and pane.query_one("#loss-pane").display
        pane.deleted, pane.error = True, "run deleted"
        await pilot.pause(0.05)
        assert "run deleted" in _text(pane.query_one("#summary", Static))


async def test_pool_pane_on_an_unfinished_run_says_so_without_scoring(world):
    root, done, view = world
    running = {**view, "run": {**view["run"], "status": "running"}}
    pane = PoolPane(root, done.run_id, running)
    async with Alone(pane).run_test(size=(100, 24)) as pilot:
        await pilot.pause(0.05)  # shown: it is the only widget
        assert not pane.pool_running and pane.pool is None
        assert "needs a finished run" in (pane.pool_error or "")
        assert "needs a finished run" in _text(pane.query_one("#pool-view", Static))
        assert not [w for w in pilot.app.workers if w.group == "run-pool"]
