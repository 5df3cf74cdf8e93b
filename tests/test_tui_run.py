"""The dashboard's run screen on real runs: the summary numbers of report.json, tier
switching, loss smoothing and log scale, per-part sorting, epochs of a live run arriving
(throttled re-reads), cancel behind y/n, a run deleted while shown, tomorrow's pool with
its errors inline, ASCII plots, and nothing raising at 80x24 or 160x48."""

import json
import shutil
import threading
import time

import pytest
from textual.widgets import DataTable, Input, Static, TabbedContent

from core.config import load_config
from core.runs import RunDir
from core.service import jobs
from core.service.series import tier_names
from core.train.run import run_train
from synapse_tui.app import SynapseApp
from synapse_tui.screens.run import RunScreen
from synapse_tui.screens.run.follower import ACTIVE_REREAD_S, MIN_REDRAW_S
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.plots import LossPlot, ReliabilityPlot, TierPlot

from helpers import write_synthetic
from tui_helpers import open_run as _open, static_text as _text, until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished 3-epoch logistic run on planted data, and its config for queued runs."""
    base = tmp_path_factory.mktemp("tui_run")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    cfg = load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data))
    done = run_train(cfg, root)
    return root, done, cfg


async def test_opens_with_the_summary_numbers_of_report_json(world):
    root, done, _ = world
    report = done.read_json("report.json")
    s = report["summary"]
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        assert screen.error is None
        summary = _text(screen.query_one("#summary", Static))
        assert f"AUC {s['auc']:.3f}" in summary and f"PR-AUC {s['pr_auc']:.3f}" in summary
        assert f"Brier skill {s['brier_skill']:+.4f}" in summary
        assert f"ECE {s['ece_before']:.4f} → {s['ece_after']:.4f} ({s['calibration']})" in summary
        assert f"lift {s['lift_capture']:.2f}" in summary
        assert f"verdict {report['verdict']['status']}" in summary
        touches = len(done.read_json("manifest.json")["test_touches"])
        assert f"test×{touches}" in summary
        crumbs = _text(screen.query_one("#crumbs", Static))
        assert done.run_id in crumbs and "succeeded" in crumbs and "epoch 3/3" in crumbs

        loss = screen.query_one("#loss", LossPlot)
        assert loss.series["epoch"] == [1, 2, 3] and loss.series["best_epoch"] is not None
        assert set(loss.drawn["lines"]) == {"train", "val"} and loss.drawn["best"][0] == loss.series["best_epoch"]
        tiers = screen.query_one("#tiers", TierPlot)
        assert (
            tiers.tier == "good"
            and tiers.drawn["lines"]["model"][1]
            == report["models"][report["primary"]]["test"]["tier_rates"]["good"]["rate"]
        )
        rel = screen.query_one("#reliability", ReliabilityPlot)
        assert {"before", "after"} <= set(rel.drawn["lines"]) and sum(rel.drawn["counts"]) > 0
        assert screen.has_class("-compact") is False
        await pilot.press("p")  # a tab draws the view when it is shown
        assert await _until(pilot, lambda: screen.query_one("#parts-table", DataTable).row_count == 39)
        await pilot.press("escape")
        assert not isinstance(app.screen, RunScreen)


async def test_tier_switching_smoothing_and_log_scale_change_the_plots(world):
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        tiers = screen.query_one("#tiers", TierPlot)
        names = tier_names(tiers.curves)
        assert len(names) == 3 and names[0] == "good"
        await pilot.press("t")  # first: go to the tiers pane
        assert screen.focused is tiers and tiers.tier == "good"
        await pilot.press("t")  # again: the next tier
        await pilot.pause(0.1)
        assert tiers.tier == names[1] and tiers.drawn["tier"] == names[1]
        assert screen.query_one("#tiers-pane").border_title.startswith(f"{names[1]}-or-better@K")
        for _ in names[1:]:
            await pilot.press("t")
        assert tiers.tier == "good"

        loss = screen.query_one("#loss", LossPlot)
        raw_val = loss.drawn["lines"]["val"][1]
        await pilot.press("right_square_bracket", "right_square_bracket")
        await pilot.pause(0.1)
        assert loss.smoothing == 0.6 and loss.drawn["smoothing"] == 0.6
        assert "EMA 0.60" in screen.query_one("#loss-pane").border_title
        smooth = loss.drawn["lines"]["val"][1]
        assert smooth[0] == pytest.approx(raw_val[0]) and smooth[-1] != pytest.approx(raw_val[-1], abs=1e-6)
        await pilot.press("L")
        await pilot.pause(0.1)
        assert loss.log_y and loss.drawn["log_y"] and "log y" in screen.query_one("#loss-pane").border_title
        await pilot.press("L", "left_square_bracket", "left_square_bracket", "left_square_bracket")
        await pilot.pause(0.1)
        assert not loss.log_y and loss.smoothing == 0.0 and loss.drawn["lines"]["val"][1] == raw_val


async def test_parts_table_sorts_by_key_and_header(world):
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        await pilot.press("p")
        table = screen.query_one("#parts-table", DataTable)
        assert screen.query_one("#tabs", TabbedContent).active == "parts" and screen.focused is table
        rows = screen.view["auc_per_part"]

        def first_part() -> int:
            return int(table.get_row_at(0)[0].plain)

        assert first_part() == max(rows, key=lambda r: r["auc"])["part"]  # by AUC, best first
        await pilot.press("s")  # AP
        assert first_part() == max(rows, key=lambda r: r["ap"])["part"]
        await pilot.press("s")  # part number, ascending
        assert [int(table.get_row_at(i)[0].plain) for i in range(3)] == [1, 2, 3]
        await pilot.click("#parts-table", offset=(9, 1))  # the AUC header
        await pilot.pause(0.1)
        assert screen.parts_pane.sort[0] == "auc"


async def test_a_live_runs_epochs_arrive_throttled(world):
    root, _, cfg = world
    rd = jobs.create_job(cfg, "train", root)
    with rd.event_writer() as w:
        w.run_started(rd.run_id, "hash", "cpu", 1)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        loss = screen.query_one("#loss", LossPlot)
        assert loss.series["epoch"] == []
        await pilot.pause(0.1)
        assert "running: no epoch yet" in loss.render().plain  # words, not an empty frame
        assert "not evaluated yet" in screen.query_one("#tiers", TierPlot).render().plain
        reads_before = screen.follower.reads
        n, every = 40, 0.02  # an epoch every 20 ms for 0.8 s

        def write() -> None:
            with rd.event_writer() as w:
                for ep in range(1, n + 1):
                    w.epoch(ep, 0.5 - ep * 0.001, 0.45 - ep * 0.0005, 1e-3, every, improved=True)
                    time.sleep(every)

        t0 = time.monotonic()
        writer = threading.Thread(target=write)
        writer.start()
        assert await _until(pilot, lambda: len(loss.series["epoch"]) >= 1, timeout=5)
        first_seen = time.monotonic() - t0
        await pilot.pause(0)
        writer.join()
        written = time.monotonic()
        assert await _until(pilot, lambda: len(loss.series["epoch"]) == n, timeout=5)
        lag = time.monotonic() - written
        elapsed = time.monotonic() - t0
        reads = screen.follower.reads - reads_before
        assert first_seen < 1.5 and lag < 1.5, (first_seen, lag)
        # epochs travel with the follower's message: a redraw at most every MIN_REDRAW_S, no re-read
        # of the whole view per epoch (only the one every ACTIVE_REREAD_S of an active run)
        assert screen.follower.redraws <= elapsed / MIN_REDRAW_S + 2, (screen.follower.redraws, elapsed)
        assert reads <= elapsed / ACTIVE_REREAD_S + 1, (reads, elapsed)
        assert screen.follower.posted < n  # merged by polling (and by can_replace in the queue)
        assert loss.series["best_epoch"] == n and len(loss.drawn["lines"]["val"][0]) == n
        await pilot.pause(0.1)
        assert f"best e{n}" in _text(screen.query_one("#loss-legend", Static))  # the legend follows the plot
        assert "running" in _text(screen.query_one("#crumbs", Static))
        assert f"epoch {n}" in _text(screen.query_one("#crumbs", Static))
        with rd.event_writer() as w:
            w.run_finished("failed", error="stopped by the test")
        assert await _until(pilot, lambda: screen.view["run"]["status"] == "failed", timeout=5)
        assert "stopped by the test" in _text(screen.query_one("#summary", Static))


async def test_cancel_asks_first_then_cancels_a_queued_run(world):
    root, _, cfg = world
    rd = jobs.create_job(cfg, "train", root)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        assert screen.view["run"]["status"] == "queued"
        await pilot.press("x")
        assert isinstance(app.screen, YesNo)
        question = app.screen.query(Static).first()
        assert rd.run_id in str(question.content) and question.region.width > 20  # readable, not collapsed
        await pilot.press("n")
        assert app.screen is screen and rd.status().status == "queued"
        await pilot.press("x")
        await pilot.press("y")
        assert await _until(pilot, lambda: (screen.view or {}).get("run", {}).get("status") == "cancelled")
        assert rd.status().status == "cancelled"
        assert "cancelled" in _text(screen.query_one("#crumbs", Static))
        await pilot.press("x")  # nothing to cancel any more: said, not asked
        assert app.screen is screen


async def test_a_run_deleted_while_shown_says_so_and_stays(world, tmp_path):
    root, done, _ = world
    other = tmp_path / "runs"
    shutil.copytree(done.path, other / done.run_id)
    app = SynapseApp(other)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        shutil.rmtree(other / done.run_id)
        assert await _until(pilot, lambda: screen.deleted, timeout=5)
        assert "run deleted" in _text(screen.query_one("#crumbs", Static))
        assert "run deleted" in _text(screen.query_one("#summary", Static))
        await pilot.press("t", "t", "L", "p", "s", "g", "a", "x")
        await pilot.pause(0.1)
        assert app.screen is screen and screen.view is not None  # the last read is still shown


async def test_pool_pane_predicts_in_a_worker_and_shows_errors_inline(world):
    root, done, cfg = world
    queued = jobs.create_job(cfg, "train", root)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        assert (
            screen.pool_pane.pool is None and not screen.pool_pane.pool_running
        )  # nothing predicted before the pane opens
        await pilot.press("o")
        assert screen.query_one("#tabs", TabbedContent).active == "pool"
        assert await _until(
            pilot, lambda: screen.pool_pane.pool is not None or screen.pool_pane.pool_error is not None, timeout=60
        )
        assert screen.pool_pane.pool_error is None
        res = screen.pool_pane.pool
        assert len(res["probabilities"]) == 39 and res["suggestion"]["tier"] == "good"
        shown = _text(screen.query_one("#pool-view", Static))
        assert "calibrated probability per part" in shown and "top-K pools" in shown
        if res["suggestion"]["k"] is not None:
            assert f"≥ 0.6: {res['suggestion']['k']}" in shown

        box = screen.query_one("#target", Input)
        assert screen.focused is not box  # o shows the pool; keys keep working until e
        await pilot.press("e")
        assert screen.focused is box
        box.value = "good-or-better:2"
        await pilot.press("enter")
        assert await _until(pilot, lambda: not screen.pool_pane.pool_running, timeout=30)
        assert screen.pool_pane.pool_error and "expected TIER:LEVEL" in screen.pool_pane.pool_error
        assert "expected TIER:LEVEL" in _text(screen.query_one("#pool-view", Static))
        box.value = "superb:0.5"
        await pilot.press("enter")
        assert await _until(pilot, lambda: not screen.pool_pane.pool_running, timeout=30)
        assert "not a tier" in screen.pool_pane.pool_error
        await pilot.press("escape")  # out of the box, still on the screen
        assert screen.focused is not box and app.screen is screen

    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, queued.run_id)
        await pilot.press("o")
        assert await _until(pilot, lambda: screen.pool_pane.pool_error is not None, timeout=30)
        assert "predict needs a succeeded run" in screen.pool_pane.pool_error
        assert "Traceback" not in _text(screen.query_one("#pool-view", Static))


async def test_an_artifact_opens_in_place(world):
    from synapse_tui.screens.artifact import ArtifactScreen

    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        await pilot.press("g")
        table = screen.query_one("#artifacts", DataTable)
        assert screen.focused is table
        names = [table.get_row_at(i)[0] for i in range(table.row_count)]
        assert "config.yaml" in names and "report.json" in names
        table.move_cursor(row=names.index("config.yaml"))
        await pilot.press("a")
        assert await _until(pilot, lambda: isinstance(app.screen, ArtifactScreen))
        viewer = app.screen
        assert viewer.path == done.path / "config.yaml"
        await pilot.press("escape")
        assert await _until(pilot, lambda: app.screen is screen)
        assert "fold 0" in _text(screen.query_one("#log-view", Static))
        await pilot.press("4")  # the config tab (c is the runs screen's Columns)
        assert "kind: logistic" in _text(screen.query_one("#config-view", Static))


@pytest.mark.parametrize("size", [(80, 24), (160, 48)])
async def test_every_pane_at_small_and_large_sizes(world, size):
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=size) as pilot:
        screen = await _open(app, pilot, done.run_id)
        assert screen.has_class("-compact") is (size == (80, 24))
        if size == (80, 24):
            verdict = done.read_json("report.json")["verdict"]["status"]
            assert verdict in _text(screen.query_one("#headline", Static))
        await pilot.press("right_square_bracket", "L", "t", "t", "b", "z")  # b: reliability
        rel = screen.query_one("#reliability", ReliabilityPlot)
        assert screen.zoomed == "reliability" and rel.size.height > size[1] - 12  # alone, nearly full height
        assert not screen.query_one("#loss-pane").display
        await pilot.press("escape")  # un-zooms, stays
        assert screen.zoomed is None and app.screen is screen and screen.query_one("#loss-pane").display
        await pilot.press("p", "4", "g", "1", "escape")
        assert not isinstance(app.screen, RunScreen)  # the last escape went back
        await pilot.pause(0.1)


async def test_ascii_plots_draw_only_ascii(world):
    root, done, _ = world
    app = SynapseApp(root, ascii_plots=True)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        await pilot.pause(0.2)
        for plot_id in ("#loss", "#tiers", "#reliability"):
            plot = screen.query_one(plot_id)
            plain = plot.render().plain
            assert plain.strip() and all(ord(c) < 128 for c in plain), plot_id
        for legend in ("#loss-legend", "#tiers-legend", "#reliability-legend"):
            text = _text(screen.query_one(legend, Static))
            assert all(ord(c) < 128 for c in text), legend
        assert all(ord(c) < 128 for c in _text(screen.query_one("#crumbs", Static)))
        summary = _text(screen.query_one("#summary", Static))
        assert all(ord(c) < 128 for c in summary) and " -> " in summary  # ECE raw -> calibrated


def test_the_view_is_json_ready(world):
    """What the worker hands the screen is plain data (no numpy), as the service promises."""
    from synapse_tui.screens.run import read_run

    root, done, _ = world
    view = read_run(root, done.run_id)
    json.dumps(view)
    assert view["loss"]["epoch"] == [1, 2, 3] and "kind: logistic" in view["config_yaml"]
    assert isinstance(RunDir(done.path), RunDir)


async def test_a_flood_of_changes_is_one_message_that_keeps_what_each_asked_for(world):
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        await pilot.pause(0.6)
        changes, reads = screen.follower.changes, screen.follower.reads
        series = {"epoch": [1, 2, 3, 4], "train": [0.4, 0.3, 0.2, 0.1], "val": [0.5, 0.4, 0.3, 0.35], "best_epoch": 3}
        # posted back to back from this (the event loop's) thread: all queued before any is handled
        screen.post_message(RunScreen.Changed(series=series))
        screen.post_message(RunScreen.Changed(full=True))
        for _ in range(20):
            screen.post_message(RunScreen.Changed())
        assert await _until(pilot, lambda: screen.follower.reads > reads)
        await pilot.pause(0.4)
        assert screen.follower.changes == changes + 1  # merged into one
        assert screen.follower.series == series  # the first one's epochs survived the merge
        assert screen.follower.reads == reads + 1  # and the second one's re-read


async def test_a_digit_leaves_a_tab_whose_table_has_the_focus(world):
    """1 on the Log tab (its artifacts table focused) showed the Log tab again: the hidden
    table passed its focus on inside the tab, and TabbedContent follows the focus."""
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        tabs = screen.query_one("#tabs", TabbedContent)
        for there, back in (("g", "1"), ("p", "1"), ("g", "2"), ("p", "5")):
            await pilot.press(there)
            assert isinstance(screen.focused, DataTable)
            await pilot.press(back)
            await pilot.pause(0.1)
            want = {"1": "overview", "2": "parts", "5": "log"}[back]
            assert tabs.active == want, (there, back, tabs.active)


async def test_m_plots_any_per_epoch_metric_w_the_wall_clock_and_E_exports_it(world, tmp_path, monkeypatch):
    from textual.widgets import OptionList
    from textual.widgets._footer import FooterKey

    from synapse_tui.widgets.metric_picker import MetricPicker
    from synapse_tui.widgets.metric_plot import MetricPlot

    root, done, _ = world
    monkeypatch.chdir(tmp_path)  # the exports go to ./synapse-plots
    app = SynapseApp(root)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await _open(app, pilot, done.run_id)

        def help_shown() -> bool:
            key = next((k for k in screen.query(FooterKey) if k.key == "question_mark"), None)
            return key is not None and key.region.width > 0 and screen.region.contains_region(key.region)

        assert await _until(pilot, help_shown)  # `?` leads the footer, at 80 columns too
        await pilot.press("m")
        assert await _until(pilot, lambda: isinstance(app.screen, MetricPicker))
        picker = app.screen
        assert picker.metrics[0] == "loss" and "val_auc" in picker.metrics and "lr" in picker.metrics
        options = picker.query_one(OptionList)
        options.highlighted = picker.metrics.index("val_auc")
        await pilot.press("enter")
        assert await _until(pilot, lambda: app.screen is screen)
        plot = screen.query_one("#metric", MetricPlot)
        assert await _until(pilot, lambda: plot.display and plot.drawn.get("metric") == "val_auc")
        events = [json.loads(line) for line in (done.path / "events.jsonl").read_text().splitlines()]
        aucs = [e["val_auc"] for e in events if e.get("type") == "epoch"]
        xs, ys = next(iter(plot.drawn["lines"].values()))
        assert list(xs) == [1, 2, 3] and [round(y, 6) for y in ys] == [round(a, 6) for a in aucs]
        assert "val AUC" in str(screen.query_one("#loss-pane").border_title)
        assert screen.focused is plot
        await pilot.press("w")
        assert await _until(pilot, lambda: plot.drawn.get("x") == "wall")
        xs, _ = next(iter(plot.drawn["lines"].values()))
        assert xs[0] >= 0 and list(xs) == sorted(xs)
        await pilot.press("E")
        svg = tmp_path / "synapse-plots" / f"{done.run_id}-val_auc.svg"
        png = svg.with_suffix(".png")
        assert await _until(pilot, lambda: svg.is_file() and png.is_file(), timeout=30)
        assert done.run_id in svg.read_text() and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        await pilot.press("m")  # back to the loss curves
        assert await _until(pilot, lambda: isinstance(app.screen, MetricPicker))
        app.screen.query_one(OptionList).highlighted = 0
        await pilot.press("enter")
        assert await _until(pilot, lambda: app.screen is screen and plot.drawn.get("metric") == "val_loss")
        await pilot.press("w")  # epoch again, and the loss: the LossPlot with its best epoch
        assert await _until(pilot, lambda: screen.query_one("#loss", LossPlot).display and not plot.display)
