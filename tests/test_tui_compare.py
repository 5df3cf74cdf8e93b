"""The dashboard's compare screen on real baselines runs: both runs shown, the config
differences, the deltas against A; the paired test only on `P` after a yes, recorded as a test touch;
a refusal (different test windows) shown inline; nothing raises at 80x24 or 160x48."""

import io

import pytest
from rich.console import Console
from textual.widgets import Static, TabbedContent

from core.config import load_config
from core.train.run import run_baselines, run_train
from synapse_tui.app import SynapseApp
from synapse_tui.screens.compare import CompareScreen

from helpers import write_synthetic
from tui_helpers import until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Baselines runs a and b on the same test window (b with fewer baselines), c on a shorter
    one, and a short logistic run m (3 epochs) on a's window."""
    base = tmp_path_factory.mktemp("compare")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    a = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    c = run_baselines(
        load_config("baselines", overrides=["split.test_days=150", "split.val_days=200"], data=str(data)), root
    )
    m = run_train(
        load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data)), root
    )
    return root, a, b, c, m


def _touches(rd) -> list:
    return rd.read_json("manifest.json")["test_touches"]


def _text(screen, selector: str) -> str:
    """What a Static shows, rendered wide as plain text."""
    console = Console(file=io.StringIO(), width=200, record=True, color_system=None)
    console.print(screen.query_one(selector, Static).content)
    return console.export_text()


async def _open(app, pilot, root, ids) -> CompareScreen:
    screen = CompareScreen(root, ids)
    app.push_screen(screen)
    assert await _until(pilot, lambda: screen.view is not None)
    return screen


async def test_shows_runs_config_diff_and_deltas_without_touching_the_test(world):
    root, a, b, *_ = world
    before = (_touches(a), _touches(b))
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root, [a.run_id, b.run_id])
        assert screen.view["labels"] == ["A", "B"] and screen.view["ids"] == [a.run_id, b.run_id]
        legend = _text(screen, "#legend")
        assert a.run_id in legend and b.run_id in legend and "succeeded" in legend

        diff = screen.view["diff"]
        assert diff["eval.baselines"] == [
            ["uniform", "frequency", "recency", "ewma", "hot_cold"],
            ["uniform", "recency"],
        ]
        assert "name" not in diff and "split.test_days" not in diff  # only what differs
        await pilot.press("3")
        assert screen.query_one("#tabs", TabbedContent).active == "config"
        config = _text(screen, "#config-table")
        assert "eval.baselines" in config and "[uniform, recency]" in config and "differ" in config

        await pilot.press("2")
        metrics = _text(screen, "#metrics-table")
        rows = screen.view["rows"]
        for label in ("AUC", "Brier skill", "ECE after", "best good+", "lift capture", "verdict"):
            assert label in metrics
        d_auc = rows[1]["auc"] - rows[0]["auc"]
        assert f"{rows[1]['auc']:.4f} {d_auc:+.4f}" in metrics  # B's value and its delta against A
        assert "Δ vs A" in metrics and "same test window" in metrics

        gob = screen.view["gob"]
        assert gob["ks"] == list(range(20, 28)) and all(len(r) == 8 for r in gob["rates"])
        assert all(not s["epoch"] for s in screen.view["loss"])  # baselines runs do not train
        await pilot.press("4")
        assert "Press P" in _text(screen, "#paired-view")
    assert (_touches(a), _touches(b)) == before  # looking is not a test touch


async def test_P_asks_then_runs_the_paired_test_and_records_the_touch(world):
    root, a, b, *_ = world
    before = (len(_touches(a)), len(_touches(b)))
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root, [a.run_id, b.run_id])
        await pilot.press("P")  # asks first (tests/test_tui_defects_keys.py: nothing recorded on no)
        await pilot.press("y")
        assert await _until(pilot, lambda: screen.paired_running or screen.tests is not None)
        assert screen.query_one("#tabs", TabbedContent).active == "paired"
        assert await _until(pilot, lambda: screen.tests is not None or screen.paired_error is not None)
        assert screen.paired_error is None
        (t,) = screen.tests
        assert t["run"] == b.run_id and t["ks"] == list(range(20, 28)) and len(t["p_holm"]) == 8
        shown = _text(screen, "#paired-view")
        assert "p Holm" in shown and f"on {t['window']}" in shown
        assert any(w in shown for w in ("A better", "B better", "no significant difference"))
    assert (len(_touches(a)), len(_touches(b))) == (before[0] + 1, before[1] + 1)
    assert b.run_id in _touches(a)[-1]["what"] and a.run_id in _touches(b)[-1]["what"]


async def test_loss_curves_of_a_trained_run(world):
    root, a, *_, m = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, root, [m.run_id, a.run_id])
        loss_a, loss_b = screen.view["loss"]
        assert loss_a["epoch"] == [1, 2, 3] and len(loss_a["val"]) == 3 and loss_b["epoch"] == []
        await pilot.pause(0.1)
        assert "val loss by epoch" in screen.query_one("#loss-plot").plt.build()
        await pilot.press("T")
        assert screen.show_train and "val loss by epoch (+ train)" in screen.query_one("#loss-plot").plt.build()
        assert screen.view["rows"][0]["model"] == "logistic" and screen.view["rows"][1]["model"] == "baselines"


async def test_different_test_windows_are_refused_inline(world):
    root, a, _, c, _ = world
    before = (len(_touches(a)), len(_touches(c)))
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root, [a.run_id, c.run_id])
        await pilot.press("2")
        assert "Test windows differ" in _text(screen, "#metrics-table")
        await pilot.press("P", "y")
        assert await _until(pilot, lambda: screen.paired_error is not None)
        shown = _text(screen, "#paired-view")
        assert "refused" in shown and "test windows differ" in shown and "--no-paired" not in shown
        assert app.screen is screen
    assert (len(_touches(a)), len(_touches(c))) == before  # refused before anything was recorded


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_tab_draws_at_both_sizes(world, size):
    root, a, b, c, m = world
    app = SynapseApp(root)
    async with app.run_test(size=size) as pilot:
        screen = await _open(app, pilot, root, [m.run_id, a.run_id, b.run_id, c.run_id])
        for key in ("1", "T", "2", "3", "4", "1", "T", "r"):
            await pilot.press(key)
            await pilot.pause(0.05)
        await pilot.resize_terminal(size[0] // 2 + 20, size[1])
        await pilot.pause(0.1)
        await pilot.press("escape")
        assert app.screen is not screen
    # the app exits cleanly: an exception in any handler or render would fail run_test


async def test_a_missing_run_is_said_not_raised(world):
    root, a, *_ = world
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = CompareScreen(root, [a.run_id, "nosuchrun"])
        await app.push_screen(screen)
        assert await _until(pilot, lambda: "cannot compare" in _text(screen, "#legend"))
        assert screen.view is None
