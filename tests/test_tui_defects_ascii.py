"""Defects of the ASCII fallback and of the plots' numbers and wording.

7: the fallback is decided from the locale the user set (LC_ALL, LC_CTYPE, LANG) and TERM,
not from Python's stdout encoding (PEP 538/540 make that UTF-8 under LANG=C), and in ASCII
mode every character the dashboard draws is ASCII: borders, the tab underline, the header,
the footer, the plots and the glyphs. 16: `runs show --plot` tick labels are whole numbers
at 80 columns, the legend lists only the lines drawn, Compare's epoch axis is integers and
no number reads as a negative zero, and two messages read as English.
"""

import html
import os
import re

import pytest
from textual.widgets import TabbedContent

from core.config import load_config
from core.runs import RunDir
from core.service.runs import open_run, run_view
from core.service.series import nice_ticks, tick_labels
from core.train.run import run_train
from synapse_tui.app import SynapseApp, ascii_wanted
from synapse_tui.commands.plots import render_plots
from synapse_tui.formatting import num
from tui_fixture import make_fixture_runs

from helpers import write_synthetic
from datetime import UTC

SPLIT = ["split.test_days=200", "split.val_days=200"]
BASE, RECENCY = "20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb"


# --------------------------------------------------------------------------- 7: the decision
@pytest.mark.parametrize(
    "env,term,ascii_mode",
    [
        ({"LANG": "C"}, "xterm-256color", True),
        ({"LANG": "POSIX"}, "xterm-256color", True),
        ({}, "xterm-256color", True),  # nothing set: the C locale
        ({"LANG": "en_US.UTF-8"}, "xterm-256color", False),
        ({"LANG": "en_US.utf8"}, "xterm-256color", False),
        ({"LANG": "en_US.ISO-8859-1"}, "xterm-256color", True),
        ({"LC_ALL": "C", "LANG": "en_US.UTF-8"}, "xterm-256color", True),  # LC_ALL first
        ({"LC_ALL": "C.UTF-8", "LANG": "C"}, "xterm-256color", False),
        ({"LC_CTYPE": "en_GB.UTF-8", "LANG": "C"}, "xterm-256color", False),  # LC_CTYPE before LANG
        ({"LC_ALL": "", "LANG": "de_DE.UTF-8"}, "xterm", False),  # an empty one counts as unset
        ({"LANG": "en_US.UTF-8"}, "linux", True),
        ({"LANG": "en_US.UTF-8"}, "vt100", True),
        ({"LANG": "en_US.UTF-8"}, "dumb", True),
    ],
)
def test_the_locale_and_term_decide_ascii(monkeypatch, tmp_path, env, term, ascii_mode):
    for name in ("LC_ALL", "LC_CTYPE", "LANG"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TERM", term)
    assert ascii_wanted() is ascii_mode
    assert SynapseApp(tmp_path / "runs").ascii_plots is ascii_mode
    # the flags still win
    assert SynapseApp(tmp_path / "runs", ascii_plots=False).ascii_plots is False
    assert SynapseApp(tmp_path / "runs", ascii_plots=True).ascii_plots is True


def test_the_flags_override_the_locale(monkeypatch):
    from synapse_tui import app as app_module

    seen = []
    monkeypatch.setattr(app_module.SynapseApp, "run", lambda self: seen.append(self.ascii_plots))
    monkeypatch.setenv("LANG", "C")
    monkeypatch.delenv("LC_ALL", raising=False)
    monkeypatch.delenv("LC_CTYPE", raising=False)
    app_module.main(["--runs-dir", "/nonexistent", "--unicode"])
    app_module.main(["--runs-dir", "/nonexistent"])
    monkeypatch.setenv("LANG", "en_US.UTF-8")
    app_module.main(["--runs-dir", "/nonexistent", "--ascii"])
    app_module.main(["--runs-dir", "/nonexistent"])
    assert seen == [False, True, True, False]


# --------------------------------------------------------------------------- 7: every character
def _svg_text(svg: str) -> str:
    """The characters an SVG screenshot shows (its <text> nodes; a space is written &#160;)."""
    texts = re.findall(r"<text[^>]*>(.*?)</text>", svg, re.S)
    return html.unescape("".join(texts)).replace("\xa0", " ")


def _non_ascii(svg: str) -> list[str]:
    return sorted({c for c in _svg_text(svg) if ord(c) > 127})


@pytest.fixture(scope="module")
def fixed_runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("ascii")
    root = base / "runs"
    make_fixture_runs(root, write_synthetic(base / "planted.csv", "planted", days=900, seed=5))
    return root


async def _settle(app, pilot, rounds: int = 4) -> None:
    for _ in range(rounds):
        await pilot.pause(0.2)
        others = [w for w in app.workers if w.group != "run-follow"]
        if others:
            await app.workers.wait_for_complete(others)


@pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])
async def test_ascii_mode_draws_only_ascii_on_every_screen(fixed_runs, size):
    from synapse_tui.screens.compare import CompareScreen

    app = SynapseApp(fixed_runs, ascii_plots=True)
    shots = {}
    async with app.run_test(size=size) as pilot:
        await _settle(app, pilot, 6)
        shots["runs"] = app.export_screenshot()
        await pilot.press("question_mark")
        await _settle(app, pilot, 2)
        shots["help"] = app.export_screenshot()
        await pilot.press("escape")
        app.open_run(BASE)
        for _ in range(100):
            await pilot.pause(0.05)
            if getattr(app.screen, "view", None) is not None:
                break
        await _settle(app, pilot)
        shots["run"] = app.export_screenshot()
        app.pop_screen()
        await _settle(app, pilot, 2)
        app.push_screen(CompareScreen(fixed_runs, [BASE, RECENCY]))
        await _settle(app, pilot)
        shots["compare"] = app.export_screenshot()
        app.screen.query_one("#tabs", TabbedContent).active = "metrics"
        await _settle(app, pilot, 2)
        shots["compare metrics"] = app.export_screenshot()
        app.screen.query_one("#tabs", TabbedContent).active = "curves"
        await pilot.press("ctrl+t")  # a theme change parses the CSS again: still ASCII
        await _settle(app, pilot, 2)
        shots["compare, light theme"] = app.export_screenshot()
    bad = {name: _non_ascii(svg) for name, svg in shots.items()}
    assert not any(bad.values()), bad
    assert "+--" in _svg_text(shots["run"]) or "+--" in _svg_text(shots["compare"])  # the borders, as ASCII


async def test_unicode_mode_keeps_its_borders(fixed_runs):
    app = SynapseApp(fixed_runs, ascii_plots=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await _settle(app, pilot, 4)
        app.open_run(BASE)
        await _settle(app, pilot)
        assert "╭" in _svg_text(app.export_screenshot())


# --------------------------------------------------------------------------- 16: the plots' numbers
@pytest.fixture(scope="module")
def no_oracle_run(tmp_path_factory):
    """A trained run on data with no truth file (real data): no oracle line anywhere."""
    base = tmp_path_factory.mktemp("no_oracle")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    for p in base.glob("planted.truth*"):
        p.unlink()
    root = base / "runs"
    run = run_train(
        load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data)), root
    )
    return root, run


def _tick_rows(block: str) -> tuple[list[str], list[tuple[int, list[str]]]]:
    """(the y-axis labels, [(tick marks on the bottom frame, the x labels under it)])."""
    lines = block.splitlines()
    ys = [line.split("┤")[0].strip() for line in lines if "┤" in line]
    xs = []
    for i, line in enumerate(lines):
        if "└" in line and "┘" in line and i + 1 < len(lines):
            xs.append((line.count("┬"), lines[i + 1].split()))
    return ys, xs


def _fake_view(ks: list[int], epochs: int = 30) -> dict:
    n = len(ks)
    rates = [0.1 + 0.8 * i / n for i in range(n)]
    tiers = {
        "ks": ks,
        "primary": "gru",
        "baseline": "frequency",
        "tiers": {
            "good": {
                "model": {"rate": rates, "ci_low": [r - 0.05 for r in rates], "ci_high": [r + 0.05 for r in rates]},
                "baseline": {"rate": [r * 0.7 for r in rates]},
                "random": [0.05] * n,
                "oracle": None,
            }
        },
        "beats_at": [],
        "worse_at": [],
    }
    eps = [
        {"epoch": i + 1, "train_loss": 2e-5 + 1e-7 * i, "val_loss": 2.1e-5 + 1e-7 * i, "fold": None}
        for i in range(epochs)
    ]
    return {"epochs": eps, "run": {"job": "train"}, "tiers": tiers, "config": {}}


@pytest.mark.parametrize(
    "ks",
    [list(range(20, 28)), list(range(1000, 1014)), [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000], list(range(1, 61))],
    ids=["8 Ks", "4-digit Ks", "spread Ks", "60 Ks"],
)
def test_every_tick_label_is_a_whole_number_at_80_columns(ks):
    for block in render_plots(_fake_view(ks), width=80, height=14, ascii_only=False, color=False):
        ys, xs = _tick_rows(block)
        assert ys and xs, block
        for label in [y for y in ys if y] + [x for _, row in xs for x in row]:
            float(label)  # a cut or merged label does not parse
        for marks, labels in xs:
            assert marks <= len(labels) <= marks + 2, block  # a label per tick (ends may sit on a corner)
        assert max(len(line) for line in block.splitlines()) <= 80


def test_real_run_tick_labels_at_80_columns(no_oracle_run):
    root, run = no_oracle_run
    view = run_view(open_run(run.run_id, root), root)
    for block in render_plots(view, width=80, height=14, ascii_only=False, color=False):
        ys, xs = _tick_rows(block)
        for label in [y for y in ys if y] + [x for _, row in xs for x in row]:
            float(label)
        for marks, labels in xs:
            assert marks <= len(labels) <= marks + 2, block


def test_the_legend_lists_no_oracle_when_there_is_none(no_oracle_run):
    root, run = no_oracle_run
    view = run_view(open_run(run.run_id, root), root)
    assert view["tiers"]["tiers"] and all(t["oracle"] is None for t in view["tiers"]["tiers"].values())
    for color in (False, True):
        blocks = render_plots(view, width=100, height=14, ascii_only=False, color=color)
        assert "oracle" not in "\n".join(blocks)
        assert "random" in blocks[-1]


def test_tick_labels_are_compact_and_never_negative_zero():
    assert tick_labels(nice_ticks(1, 100, most=6, integer=True)) == ["20", "40", "60", "80", "100"]
    assert tick_labels([-0.2, 0.0, 0.2]) == ["-0.2", "0.0", "0.2"]
    assert tick_labels([-1e-17, 0.5]) == ["0.0", "0.5"]
    labels = tick_labels(nice_ticks(0.36901, 0.38245, most=5))
    assert all(len(lab) <= 5 for lab in labels) and len(set(labels)) == len(labels)
    small = tick_labels(nice_ticks(2.0e-5, 2.5e-5, most=5))
    assert len(set(small)) == len(small) and all(len(lab) <= 8 for lab in small)
    assert [float(x) for x in small] == pytest.approx(nice_ticks(2.0e-5, 2.5e-5, most=5))


def test_numbers_never_read_as_negative_zero():
    assert num(-0.00001, 4) == "0.0000"
    assert num(-0.0, 3) == "0.000"
    assert num(-0.00001, 4, signed=True) == "+0.0000"
    assert num(-0.00051, 3) == "-0.001"
    assert num(0.25, 2, signed=True) == "+0.25"


async def test_compare_reads_integer_epochs_and_no_negative_zero(tmp_path_factory, monkeypatch):
    from textual_plotext import PlotextPlot

    from synapse_tui.screens.compare import reading as compare_module  # where the screen looks it up
    from synapse_tui.screens.compare import CompareScreen

    base = tmp_path_factory.mktemp("compare_ticks")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    ids = []
    for seed in (1, 2):
        cfg = load_config(
            "logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu", f"seed={seed}"], data=str(data)
        )
        ids.append(run_train(cfg, root).run_id)
    real = compare_module.read_comparison

    def with_negative_zero(runs_dir, run_ids):
        view = real(runs_dir, run_ids)
        for row in view["rows"]:
            row["brier_skill"] = -0.00001
        return view

    monkeypatch.setattr(compare_module, "read_comparison", with_negative_zero)
    app = SynapseApp(root, ascii_plots=False)
    async with app.run_test(size=(160, 48)) as pilot:
        await _settle(app, pilot, 4)
        app.push_screen(CompareScreen(root, ids))
        await _settle(app, pilot)
        plot = app.screen.query_one("#loss-plot", PlotextPlot).render().plain
        _, xs = _tick_rows(plot)
        assert xs and all(re.fullmatch(r"\d+", x) for _, row in xs for x in row), plot
        app.screen.query_one("#tabs", TabbedContent).active = "metrics"
        await _settle(app, pilot, 2)
        text = _svg_text(app.export_screenshot())
        assert "Brier skill" in text and "-0.0000" not in text


# --------------------------------------------------------------------------- 16(d): wording
def test_a_cancelled_run_says_cancelled_once(tmp_path):
    from core.train.lifecycle import Cancelled, run_lifecycle

    rd = RunDir(tmp_path / "run")
    rd.path.mkdir()
    with pytest.raises(Cancelled):
        with run_lifecycle(rd, "", {"config_hash": "x"}):
            raise Cancelled("cancelled after epoch 3; `synapse resume r` continues from last.pt")
    finished = [e for e in rd.read_events() if e.get("type") == "run_finished"][-1]
    assert finished["status"] == "cancelled"
    assert "cancelled" in finished["error"] and finished["error"].lower().count("cancelled") == 1, finished


def test_status_messages_read_as_english(tmp_path):
    from core.errors import InputError
    from core.jobs.launch import cancel, check_resumable
    from core.train.run import run_baselines

    data = write_synthetic(tmp_path / "planted.csv", "planted", days=900, seed=5)
    run = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), tmp_path / "runs")
    with pytest.raises(InputError) as cancelling:
        cancel(run)
    with pytest.raises(InputError) as resuming:
        check_resumable(run)
    for exc in (cancelling, resuming):
        message = str(exc.value)
        assert "is succeeded" not in message and "has succeeded" in message, message


def test_follow_says_a_cancelled_runs_status_once(tmp_path):
    """`runs show --follow` of a cancelled run: "run cancelled after epoch 3; …", not
    "run cancelled: cancelled after epoch 3"."""
    import json
    import subprocess
    import sys
    from datetime import datetime, timedelta

    from helpers import ROOT

    def ts(s: float) -> str:
        return (datetime.now(UTC) + timedelta(seconds=s)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")

    path = tmp_path / "20260101-000000-gru-00aa"
    path.mkdir()
    events = [
        {
            "ts": ts(-60),
            "type": "run_started",
            "run_id": path.name,
            "host": "box",
            "pid": 1,
            "pid_started_at": "x:1",
            "device": "cpu",
            "attempt": 1,
        },
        {
            "ts": ts(-30),
            "type": "run_finished",
            "status": "cancelled",
            "error": "cancelled after epoch 3; last.pt kept (synapse resume continues it)",
        },
    ]
    (path / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (path / "manifest.json").write_text(json.dumps({"run_id": path.name, "job": "train"}))
    r = subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", "runs", "show", path.name, "--follow", "--runs-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert "run cancelled after epoch 3" in r.stdout, r.stdout
    assert "cancelled: cancelled" not in r.stdout


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"LANG": "C"}, True),
        ({}, True),
        ({"LANG": "POSIX"}, True),
        ({"LANG": "C.UTF-8"}, False),
        ({"LANG": "en_US.UTF-8"}, False),
        ({"LANG": "C", "LC_ALL": "en_GB.UTF-8"}, False),
    ],
)
def test_a_real_interpreter_under_the_c_locale_decides_ascii(env, expected):
    """Decided in a fresh interpreter, as `synapse-tui` starts: under LANG=C Python coerces the
    locale (PEP 538) and writes LC_CTYPE=C.UTF-8 into its own environment before our code runs."""
    import subprocess
    import sys

    from helpers import ROOT

    base = {k: v for k, v in os.environ.items() if not k.startswith("LC_") and k not in ("LANG", "PYTHONUTF8")}
    base["TERM"] = "xterm-256color"
    out = subprocess.run(
        [sys.executable, "-c", "from synapse_tui.app import ascii_wanted; print(ascii_wanted())"],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.stdout.strip() == str(expected), (env, out.stdout, out.stderr)
