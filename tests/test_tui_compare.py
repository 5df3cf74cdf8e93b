"""The dashboard's compare screen on real baselines runs: both runs shown, the config
differences, the deltas against A; the paired test only on `P` after a yes, recorded as a test touch;
a refusal (different test windows) shown inline; nothing raises at 80x24 or 160x48."""

import io

import pytest
from rich.console import Console
from textual.widgets import OptionList, Static, TabbedContent

from core.config import load_config
from core.train.run import run_baselines, run_train
from synapse_tui.app import SynapseApp
from synapse_tui.screens.compare import CompareScreen
from synapse_tui.widgets.draw_metric import RUN_COLOURS
from synapse_tui.widgets.metric_picker import MetricPicker
from synapse_tui.widgets.metric_plot import MetricPlot

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


# --------------------------------------------------------------------------- up to 8 runs, any metric, wall clock


@pytest.fixture(scope="module")
def nine(world):
    """world's four runs and five more in the same runs dir: four short logistic runs (2-5
    epochs, each its own learning rate) and one more baselines run — nine runs in all."""
    root, a, b, c, m = world
    data = next(root.parent.glob("planted.csv"))
    more = [
        run_train(
            load_config(
                "logistic",
                overrides=[*SPLIT, f"train.epochs={n}", "train.device=cpu", f"train.lr={lr}", "train.patience=100"],
                data=str(data),
            ),
            root,
        )
        for n, lr in ((2, 0.3), (3, 0.03), (4, 0.01), (5, 0.003))
    ]
    extra = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,frequency]"], data=str(data)), root
    )
    eight = [m, *more, a, b, c]  # A is the 3-epoch logistic run; F, G, H baselines runs
    return root, [rd.run_id for rd in eight], extra.run_id


def _plot(screen) -> MetricPlot:
    return screen.query_one("#loss-plot", MetricPlot)


def _epochs(root, run_id):
    from core.service.runs import open_run, run_detail, run_row

    rd = open_run(run_id, root)
    return run_detail(rd, run_row(rd, root))["epochs"]


async def test_eight_runs_overlay_and_their_tables_read_at_80_columns(nine):
    root, ids, _ = nine
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root, ids)
        assert screen.view["labels"] == list("ABCDEFGH")
        plot = _plot(screen)
        assert await _until(pilot, lambda: len(plot.drawn.get("legend") or []) == 5)
        # one curve for each trained run, in its own colour; the baselines runs are named, not drawn
        assert [label for _, label, _ in plot.drawn["legend"]] == list("ABCDE")
        assert [rgb for *_, rgb in plot.drawn["legend"]] == RUN_COLOURS[:5]
        assert plot.drawn["missing"] == ["F", "G", "H"]
        for label, run_id in zip("ABCDE", ids):
            ys = [e["val_loss"] for e in _epochs(root, run_id)]
            assert plot.drawn["lines"][label][1] == pytest.approx(ys)
        # the note follows the plot's drawing (a message): waited for, not read at once
        assert await _until(
            pilot, lambda: "F, G, H: no epochs (baselines runs do not train)" in _text(screen, "#curves-note")
        )
        assert "val loss by epoch" in plot.plt.build()
        legend = _text(screen, "#legend").rstrip().splitlines()
        assert len(legend) == 4  # two runs a line at 80 columns
        assert all(ids[i][-4:] in "\n".join(legend) for i in range(8))  # every run told apart

        await pilot.press("2")
        metrics = _text(screen, "#metrics-table")
        assert max(len(line.rstrip()) for line in metrics.splitlines()) <= 77  # no column cut off at 80
        assert all(f"{lab}  Δ vs A" in metrics for lab in "BCDEFGH")
        assert metrics.count("AUC") >= 2  # blocks of runs, each with its row labels
        rows = screen.view["rows"]
        d_auc = rows[7]["auc"] - rows[0]["auc"]
        assert f"{rows[7]['auc']:.4f} {d_auc:+.4f}" in metrics
        await pilot.press("3")
        config = _text(screen, "#config-table")
        assert max(len(line.rstrip()) for line in config.splitlines()) <= 77
        assert "train.lr" in config and all(f" {lab} " in f" {config} " for lab in "ABCDEFGH")


async def test_a_ninth_run_is_refused_with_the_limit(nine):
    root, ids, extra = nine
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = CompareScreen(root, [*ids, extra])
        await app.push_screen(screen)
        assert await _until(pilot, lambda: "cannot compare" in _text(screen, "#legend"))
        assert "compare needs 2 to 8 different runs, got 9" in _text(screen, "#legend")


async def test_m_picks_the_metric_and_w_puts_the_wall_clock_on_x(nine):
    root, ids, _ = nine
    trained = ids[:5]
    app = SynapseApp(root)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await _open(app, pilot, root, trained)
        plot = _plot(screen)
        assert plot.metric == "val_loss" and plot.x_mode == "epoch"
        await pilot.press("m")
        assert await _until(pilot, lambda: isinstance(app.screen, MetricPicker))
        picker = app.screen
        options = picker.query_one(OptionList)
        listed = [options.get_option_at_index(i).id for i in range(options.option_count)]
        assert listed == screen.view["metrics"] and listed[:3] == ["val_loss", "train_loss", "val_auc"]
        assert {"lr", "seconds", "train_seconds"} <= set(listed)
        options.highlighted = listed.index("val_auc")
        await pilot.press("enter")
        assert await _until(pilot, lambda: app.screen is screen and plot.metric == "val_auc")
        assert await _until(pilot, lambda: plot.drawn.get("metric") == "val_auc")
        epochs = {label: _epochs(root, run_id) for label, run_id in zip("ABCDE", trained)}
        for label, evs in epochs.items():
            assert plot.drawn["lines"][label] == (
                pytest.approx([e["epoch"] for e in evs]),
                pytest.approx([e["val_auc"] for e in evs]),
            )
        assert "val AUC by epoch" in plot.plt.build()

        await pilot.press("w")
        assert await _until(pilot, lambda: plot.drawn.get("x") == "wall")
        for label, evs in epochs.items():
            xs, ys = plot.drawn["lines"][label]
            assert xs == sorted(xs) and xs[0] == pytest.approx(evs[0]["seconds"], abs=1e-3)
            assert ys == pytest.approx([e["val_auc"] for e in evs])
        built = plot.plt.build()
        assert "val AUC by wall clock" in built and "since the first epoch began" in built
        await pilot.press("w")
        assert await _until(pilot, lambda: plot.drawn.get("x") == "epoch")

        # M: the next metric without the list; [ ] smoothing and L log y as on the run screen
        await pilot.press("M")
        assert plot.metric == listed[listed.index("val_auc") + 1]
        await pilot.press("right_square_bracket", "L")
        assert await _until(pilot, lambda: plot.drawn.get("smoothing") == 0.3 and plot.drawn.get("log_y"))
        # render() draws afresh (plotext's build() takes the log of its data in place: never twice)
        built = plot.render().plain
        assert "EMA 0.30" in built and "log y" in built
        # escape closes the picker and changes nothing
        before = plot.metric
        await pilot.press("m")
        assert await _until(pilot, lambda: isinstance(app.screen, MetricPicker))
        await pilot.press("escape")
        assert await _until(pilot, lambda: app.screen is screen)
        assert plot.metric == before


async def test_ascii_mode_draws_eight_runs_in_ascii_with_a_marker_each(nine):
    root, ids, _ = nine
    app = SynapseApp(root, ascii_plots=True)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, root, ids)
        plot = _plot(screen)
        assert await _until(pilot, lambda: len(plot.drawn.get("legend") or []) == 5)
        shown = plot.render()
        assert all(ord(ch) < 128 for ch in shown.plain), sorted({ch for ch in shown.plain if ord(ch) >= 128})
        assert [sym for sym, _, _ in plot.drawn["legend"]] == ["**", "++", "oo", "xx", "##"]
        area = shown.plain.split("\n", 2)[2]  # below the title
        assert len(set("*+ox#") & set(area)) >= 3  # the runs' own markers (a line may hide another)
        assert not set("%@=") & set(area)  # F-H: baselines runs, no curve
        legend = _text(screen, "#legend")
        assert all(ord(ch) < 128 for ch in legend) and " A  * " in legend and " H  = " in legend
        await pilot.press("w", "T")
        assert await _until(pilot, lambda: plot.drawn.get("x") == "wall" and plot.also == "train_loss")
        shown = plot.render()
        assert all(ord(ch) < 128 for ch in shown.plain) and "val loss by wall clock (+ train)" in shown.plain


async def test_metric_plot_alone_in_ascii_with_eight_long_runs():
    """MetricPlot dropped into a bare app (as the run screen will): 8 runs x 10,000 epochs,
    ASCII only, a marker a run, the Drawn message posted up, each line at most 2 points a column."""
    from textual.app import App, ComposeResult

    from core.service.series import epoch_table

    def table(seed):
        return epoch_table(
            [
                {"type": "epoch", "epoch": e, "seconds": 2.0, "val_loss": 1 / e + seed / 100, "lr": 0.1}
                for e in range(1, 10_001)
            ]
        )

    seen = []

    class Host(App):
        def compose(self) -> ComposeResult:
            yield MetricPlot(id="p", ascii_only=True)

        def on_metric_plot_drawn(self, event: MetricPlot.Drawn) -> None:
            seen.append((event.plot.drawn["metric"], event.plot.drawn["x"]))

    app = Host()
    async with app.run_test(size=(100, 30)) as pilot:
        plot = app.query_one(MetricPlot)
        plot.runs = [{"label": chr(ord("A") + i), "table": table(i)} for i in range(8)]
        assert await _until(pilot, lambda: len(plot.drawn.get("legend") or []) == 8)
        assert all(len(xs) <= 2 * plot.size.width for xs, _ in plot.drawn["lines"].values())
        text = plot.render().plain
        assert all(ord(ch) < 128 for ch in text)
        assert all(m in text for m in "*+ox#%@=")
        plot.toggle_x()
        plot.metric = "lr"
        assert await _until(pilot, lambda: ("lr", "wall") in seen)
        assert "learning rate by wall clock" in plot.render().plain
        assert seen[0] == ("val_loss", "epoch")
        plot.metric = "nope"
        assert await _until(pilot, lambda: "not recorded" in plot.render().plain)
