"""Defects of the dashboard's app level: the command palette reads the screen beneath it,
`q` asks before leaving a running demo behind, and the in-dashboard demo keeps the runs
table in view (its progress a bounded strip) with `d` in the first-run footer."""

import json
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from textual.command import CommandList, CommandPalette
from textual.widgets import DataTable, Log

from helpers import ROOT

from core.config import load_config
from core.errors import InputError
from core.jobs.launch import check_resumable
from core.runs import format_ts, parse_ts, status_of
from core.train.run import create_run, run_baselines
from synapse_tui.app import SynapseApp
from synapse_tui.widgets.dialogs import YesNo
from tui_helpers import until as _until

SPLIT = ["split.test_days=200", "split.val_days=200"]


def _hits(app) -> list[str]:
    if not isinstance(app.screen, CommandPalette):
        return []
    found = app.screen.query(CommandList)
    if not found:
        return []
    hits = found.first()
    return [hits.get_option_at_index(i).hit.text for i in range(hits.option_count)]


async def test_the_palette_lists_the_screen_beneath_it_once(tmp_path):
    app = SynapseApp(tmp_path / "runs")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("ctrl+p")
        assert await _until(pilot, lambda: len(_hits(app)) > 3)
        await pilot.pause(0.3)
        names = _hits(app)
        assert names.count("Quit") == 1, names
        assert "Compare selected" in names, names
        assert len(names) == len(set(names)), names
        await pilot.press(*"compare")
        assert await _until(pilot, lambda: any("compare" in h.lower() for h in _hits(app))), _hits(app)


@pytest.fixture
def tiny_demo(monkeypatch, synthetic_csv):
    """The demo as two tiny baselines runs, left queued (no worker): a demo that stays active."""
    from synapse_tui.screens.runs import demo as demo_module

    data = synthetic_csv("planted", days=900, seed=5)

    def make_runs(runs_dir: Path):
        cfg = load_config("baselines", overrides=SPLIT, data=str(data))
        return [create_run(cfg, runs_dir, "baselines") for _ in range(2)]

    monkeypatch.setattr(demo_module, "make_runs", make_runs)
    monkeypatch.setattr(demo_module, "start_runs", lambda runs: None)
    return data


async def test_the_demo_keeps_the_table_in_view_and_q_asks_first(tmp_path, tiny_demo):
    app = SynapseApp(tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        table = app.screen.query_one("#runs", DataTable)
        assert await _until(pilot, lambda: table.row_count == 2 and table.display)
        await pilot.pause(0.2)
        assert table.region.height >= 4, table.region  # the rows are on screen, not pushed off by the log
        assert app.screen.query_one("#demo-log", Log).region.height <= 10
        await pilot.press("q")
        assert await _until(pilot, lambda: isinstance(app.screen, YesNo))
        assert "2 demo runs are still running; they carry on after you quit" in app.screen.question
        await pilot.press("n")
        assert await _until(pilot, lambda: not isinstance(app.screen, YesNo))
        assert app.is_running


async def test_q_without_a_demo_quits_at_once(tmp_path):
    app = SynapseApp(tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("q")
        await pilot.pause(0.2)
        assert not isinstance(app.screen, YesNo)
        assert app.return_code == 0 or not app.is_running


async def test_the_first_run_footer_shows_d(tmp_path):
    app = SynapseApp(tmp_path / "runs")
    async with app.run_test(size=(160, 30)) as pilot:
        await pilot.pause(0.3)
        keys = [getattr(w, "key", None) for w in app.screen.query("FooterKey")]
        assert "d" in keys, keys


@pytest.mark.slow
async def test_demo_runs_carry_on_and_succeed_after_the_dashboard_quits(tmp_path, monkeypatch, synthetic_csv):
    from synapse_tui.screens.runs import demo as demo_module

    data = synthetic_csv("planted", days=900, seed=5)
    created = []

    def make_runs(runs_dir: Path):
        cfg = load_config("baselines", overrides=SPLIT, data=str(data))
        created.extend(create_run(cfg, runs_dir, "baselines") for _ in range(2))
        return list(created)

    monkeypatch.setattr(demo_module, "make_runs", make_runs)
    app = SynapseApp(tmp_path / "runs")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        await pilot.press("d")
        assert await _until(pilot, lambda: len(created) == 2)
        await pilot.press("q")
        if await _until(pilot, lambda: isinstance(app.screen, YesNo), timeout=1):
            await pilot.press("y")
        await pilot.pause(0.2)
    import time

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and any(status_of(r).active for r in created):
        time.sleep(0.2)
    assert [status_of(r).status for r in created] == ["succeeded", "succeeded"]


# --------------------------------------------------------------------------- a damaged event log


def _cli(*args) -> subprocess.CompletedProcess:
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", *map(str, args)], capture_output=True, text=True, cwd=ROOT, env=env
    )


@pytest.fixture
def damaged(tmp_path, synthetic_csv):
    """A finished baselines run whose events.jsonl lost its run_finished line (cut mid-line),
    its worker long gone (timestamps an hour back, another process's identity)."""
    data = synthetic_csv("planted", days=900, seed=5)
    run = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), tmp_path / "runs")
    lines = run.events_jsonl.read_text().splitlines()
    assert json.loads(lines[-1])["type"] == "run_finished"
    out = []
    for line in lines:
        e = json.loads(line)
        e["ts"] = format_ts(parse_ts(e["ts"]) - timedelta(hours=1))
        if e["type"] == "run_started":
            e["pid_started_at"] = "another-boot:1"
        out.append(json.dumps(e, separators=(",", ":")))
    last = out.pop()
    run.events_jsonl.write_text("\n".join(out) + "\n" + last[: len(last) // 2])
    return run


def test_a_truncated_event_log_reads_damaged_not_merely_lost(damaged):
    st = status_of(damaged)
    assert st.status == "lost" and st.damaged_log, st
    assert st.error.startswith("event log damaged: the run finished (report.json at ")
    assert "run_finished line is missing" in st.error
    with pytest.raises(InputError, match="event log damaged"):
        check_resumable(damaged)


def test_runs_show_names_the_damage_and_resume_refuses_it(damaged):
    root = damaged.path.parent
    show = _cli("runs", "show", damaged.run_id, "--runs-dir", root)
    assert show.returncode == 0, show.stderr
    assert "event log damaged" in show.stdout, show.stdout
    resume = _cli("resume", damaged.run_id, "--runs-dir", root)
    assert resume.returncode == 2, (resume.stdout, resume.stderr)
    err = " ".join(resume.stderr.split())
    assert "event log damaged" in err and "synapse eval" in err and "run_finished" in err, err
    assert status_of(damaged).attempt == 1  # nothing was started


def test_follow_and_the_runs_screen_do_not_offer_resume_for_a_damaged_log(damaged):
    from synapse_tui.screens.runs.screen import job_action_refusal

    root = damaged.path.parent
    follow = _cli("runs", "show", damaged.run_id, "--follow", "--runs-dir", root)
    assert "event log damaged" in follow.stdout and "synapse resume" not in follow.stdout, follow.stdout
    st = status_of(damaged)
    why = job_action_refusal("resume", damaged.run_id, st.status, st.error)
    assert why is not None and "event log damaged" in why
    assert job_action_refusal("resume", damaged.run_id, "lost", None) is None  # a plain lost run resumes
