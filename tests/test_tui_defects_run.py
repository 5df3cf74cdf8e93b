"""Run-screen defects from a user report, each held by a test: the Log tab shows the live
worker.log (cleaned, bounded), "cancelling…" after a confirmed cancel, the Pool tab on an
unfinished run says so at once, an empty Parts table says why, a corrupt config.yaml shows
its file:line reason and the model still shows, and pool target errors say the level's range,
name `--target`, keep the last pool, with a placeholder that fits."""

import shutil

import pytest
from textual.widgets import Input, Static

from core.config import load_config
from core.service import jobs
from core.service.runs import open_run, run_view
from core.store import Store
from core.train.run import run_train
from synapse_tui.app import SynapseApp
from synapse_tui.widgets.dialogs import YesNo

from helpers import write_synthetic
from tui_helpers import open_run as _open, static_text as _text, until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A finished 2-epoch logistic run on planted data, and its config for live runs."""
    base = tmp_path_factory.mktemp("tui_defects_run")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    cfg = load_config("logistic", overrides=[*SPLIT, "train.epochs=2", "train.device=cpu"], data=str(data))
    done = run_train(cfg, root)
    return root, done, cfg


def _running(root, cfg):
    """A run whose worker is this process (alive: it reads running)."""
    rd = jobs.create_job(cfg, "train", root)
    with rd.event_writer() as w:
        w.run_started(rd.run_id, "hash", "cpu", 1)
    return rd


# ---------------------------------------------------------------------- 6: the live log
def test_log_file_tail_reads_only_the_end(tmp_path):
    from core.service.runs import log_file_tail

    p = tmp_path / "worker.log"
    p.write_text("".join(f"epoch {i} loss 0.5\n" for i in range(1, 100_001)))
    lines, cut = log_file_tail(p, max_lines=200)
    assert len(lines) == 200 and lines[-1] == "epoch 100000 loss 0.5" and lines[0] == "epoch 99801 loss 0.5"
    assert cut is True
    assert log_file_tail(tmp_path / "none.log") == ([], False)
    p.write_text("one\ntwo")  # a torn last line is shown as it is
    assert log_file_tail(p) == (["one", "two"], False)


async def test_log_tab_shows_worker_log_lines_without_log_events(world):
    root, _, cfg = world
    rd = _running(root, cfg)
    (rd.path / "worker.log").write_text(
        "".join(f"epoch {i:>3} train 0.41 val 0.43\n" for i in range(1, 251))
        + "\x1b[31mred\x1b[0m \x1b]0;title\x07tail\n"
    )
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        await pilot.press("g")
        shown = _text(screen.query_one("#log-view", Static))
        assert "no log lines yet" not in shown
        assert "epoch 126 train 0.41 val 0.43" in shown and "epoch  52 train" in shown
        assert "epoch  51 train" not in shown  # the last 200 lines only
        assert "red tail" in shown and "\x1b" not in shown and "title" not in shown
        with open(rd.path / "worker.log", "a") as fh:
            fh.write("epoch 251 train 0.40 val 0.42\n")
        assert await _until(pilot, lambda: "epoch 251" in _text(screen.query_one("#log-view", Static)), timeout=12)


# ---------------------------------------------------------------------- 12: states
async def test_a_confirmed_cancel_shows_cancelling_until_the_status_changes(world, monkeypatch):
    root, _, cfg = world
    rd = _running(root, cfg)
    calls = []

    def fake_cancel(run):
        calls.append(run.run_id)
        return {"run_id": run.run_id, "status": "running", "message": "SIGTERM sent"}

    monkeypatch.setattr(jobs, "cancel", fake_cancel)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        assert screen.view["run"]["status"] == "running"
        await pilot.press("x")
        assert isinstance(app.screen, YesNo)
        await pilot.press("y")
        assert await _until(pilot, lambda: calls == [rd.run_id])
        await pilot.pause(0.2)
        crumbs = _text(screen.query_one("#crumbs", Static))
        assert "cancelling…" in crumbs and "running" not in crumbs
        assert "cancelling…" in _text(screen.query_one("#summary", Static))
        screen.action_refresh()  # a re-read while the worker still runs keeps it
        reads = screen.follower.reads
        assert await _until(pilot, lambda: screen.follower.reads > reads)
        assert "cancelling…" in _text(screen.query_one("#crumbs", Static))
        with rd.event_writer() as w:
            w.run_finished("cancelled")
        assert await _until(pilot, lambda: screen.view["run"]["status"] == "cancelled", timeout=10)
        await pilot.pause(0.1)
        crumbs = _text(screen.query_one("#crumbs", Static))
        assert "cancelled" in crumbs and "cancelling" not in crumbs


async def test_pool_tab_on_a_running_run_says_at_once_it_needs_a_finished_run(world):
    root, _, cfg = world
    rd = _running(root, cfg)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        await pilot.press("o")
        await pilot.pause(0.05)
        assert not screen.pool_pane.pool_running  # nothing scored
        shown = _text(screen.query_one("#pool-view", Static))
        assert "needs a finished run" in shown and "running" in shown
        assert "scoring" not in shown


async def test_an_empty_parts_table_says_why(world):
    root, done, cfg = world
    rd = _running(root, cfg)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, rd.run_id)
        await pilot.press("p")
        note = screen.query_one("#parts-note", Static)
        assert note.display and "per-part metrics appear when the run has been evaluated" in _text(note)
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        await pilot.press("p")
        assert not screen.query_one("#parts-note", Static).display


# ---------------------------------------------------------------------- 13: a corrupt config.yaml
async def test_a_corrupt_config_shows_its_file_line_reason_and_the_model_stays(world, tmp_path):
    root, done, _ = world
    other = tmp_path / "runs"
    shutil.copytree(done.path, other / done.run_id)
    Store(other).sync()  # the runs table has read it while config.yaml was fine
    cfg = other / done.run_id / "config.yaml"
    with open(cfg, "a") as fh:  # in place, as an editor might
        fh.write("broken: [1,\n")
    assert run_view(open_run(done.run_id, other), other)["run"]["model"] == "logistic"
    app = SynapseApp(other)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        assert "config.yaml:" in (screen.view.get("config_error") or "")
        await pilot.press("4")
        shown = _text(screen.query_one("#config-view", Static))
        assert "config.yaml:" in shown and "YAML syntax error" in shown
        crumbs = _text(screen.query_one("#crumbs", Static))
        assert "logistic" in crumbs and " ? " not in crumbs
        screen.action_refresh()  # and on every later read too
        reads = screen.follower.reads
        assert await _until(pilot, lambda: screen.follower.reads > reads)
        await pilot.pause(0.1)
        assert "logistic" in _text(screen.query_one("#crumbs", Static))


# ---------------------------------------------------------------------- 14: pool target errors
def test_target_errors_say_the_range_and_name_the_flag():
    from core.errors import InputError
    from core.service.predict import parse_target

    for bad in ("good-or-better:2", "good-or-better:0", "good-or-better:x", "good-or-better"):
        with pytest.raises(InputError) as err:
            parse_target(bad)
        msg = str(err.value)
        assert "(0, 1)" in msg and "--target" in msg and "synapse predict --target good-or-better:0.6" in msg, msg
        assert "expected TIER:LEVEL" in msg  # the words the CLI has always said


async def test_a_bad_target_keeps_the_last_pool_and_the_placeholder_fits(world):
    root, done, _ = world
    app = SynapseApp(root)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await _open(app, pilot, done.run_id)
        box = screen.query_one("#target", Input)
        await pilot.press("o")
        await pilot.pause(0.1)
        assert box.content_region.width >= len(box.placeholder) + 1, (box.content_region.width, box.placeholder)
        assert await _until(
            pilot, lambda: screen.pool_pane.pool is not None or screen.pool_pane.pool_error is not None, timeout=60
        )
        assert screen.pool_pane.pool_error is None
        await pilot.press("e")
        box.value = "good-or-better:2"
        await pilot.press("enter")
        assert await _until(
            pilot, lambda: not screen.pool_pane.pool_running and screen.pool_pane.pool_error is not None, timeout=30
        )
        shown = _text(screen.query_one("#pool-view", Static))
        assert "(0, 1)" in shown and "--target" in shown
        assert "top-K pools" in shown and "calibrated probability per part" in shown  # the last pool stays
        assert "last pool" in shown and "good-or-better:0.6" in shown


def test_compare_does_not_diff_against_a_config_that_cannot_be_read():
    """Compare with a run whose config.yaml is corrupt listed every key as differing (the
    unreadable config read as {}): it is unknown, not different."""
    from core.service.compare import MISSING, config_diff

    a = {"model": {"kind": "gru", "hidden": 16}, "train": {"lr": 0.01}}
    b = {"model": {"kind": "gru", "hidden": 32}, "train": {"lr": 0.01}}
    diff = config_diff([a, None, b])
    assert list(diff) == ["model.hidden"]
    assert diff["model.hidden"] == [16, MISSING, 32]
    assert config_diff([a, None]) == {}
