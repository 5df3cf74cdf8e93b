"""The dashboard's budgets (docs/ARCHITECTURE.md, "Budgets"), measured headless:

- first screen with 200 runs on disk: a fresh process, from start to a filled table (< 1.5 s);
- a key press handled while 4 runs stream an epoch every 50 ms each (p95 < 100 ms);
- sorting and filtering 500 runs (< 200 ms);
- the run screen of a run with a 10,000-epoch history, from pushing it to the loss plot
  drawn through the last epoch (< 500 ms);
- on that run screen, a tab switch (each of the five tabs: key to the next frame, p95 < 150 ms).

Runs on disk are copies of one real baselines run under new run ids (made once, ~3 s); the
run screen's run is a copy of a real 3-epoch logistic run with epochs appended.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks.harness import Case

ROOT = Path(__file__).resolve().parents[1]


def fresh_state() -> None:
    """The dashboard remembers its filter, sort and columns in $XDG_STATE_HOME/synapse/tui.json:
    a filter left there by the user's session, or by the case before (sort/filter types one),
    would hide the runs measured. Each app measured starts from an empty state directory."""
    os.environ["XDG_STATE_HOME"] = tempfile.mkdtemp(prefix="synapse-bench-state-")


def in_subprocess(maker: str, *args) -> object:
    """`maker(*args)` run in a child process, its result back through JSON (paths as str).

    Making runs trains models, which imports torch and scikit-learn; the dashboard never
    does at start, and their millions of objects in the measuring process would slow every
    full garbage collection there, a cost the real app does not pay."""
    import json

    code = (
        f"import json, sys; from benchmarks.bench_tui import {maker}; "
        f"print(json.dumps({maker}(*json.loads(sys.argv[1])), default=str))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, json.dumps(args)], check=True, capture_output=True, text=True, cwd=ROOT
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def make_runs(n: int, stream: int = 0) -> tuple[Path, list[Path]]:
    """`n` finished runs (copies of one real baselines run) plus `stream` queued ones."""
    from core.config import load_config
    from core.data import synthetic
    from core.service import jobs
    from core.train.run import run_baselines

    base = Path(tempfile.mkdtemp(prefix="synapse-bench-tui-"))
    data = base / "d.csv"
    synthetic.write(data, synthetic.generate("planted", days=900, seed=5))
    split = ["split.test_days=200", "split.val_days=200"]
    src = run_baselines(load_config("baselines", overrides=split, data=str(data)), base / "src")
    root = base / "runs"
    root.mkdir()
    for i in range(n):
        shutil.copytree(
            src.path,
            root / f"2026{(i // 28) % 12 + 1:02d}{i % 28 + 1:02d}-{i % 24:02d}0000-bench{i}-{i:04x}",
            ignore=shutil.ignore_patterns("*.npz", "*.png", "*.pt"),
        )
    cfg = load_config("baselines", overrides=split, data=str(data))
    streams = [jobs.create_job(cfg, "baselines", root).path for _ in range(stream)]
    return root, streams


_FIRST_SCREEN = """
import asyncio, sys, time
t0 = time.perf_counter()
from synapse_tui.app import SynapseApp

async def main():
    app = SynapseApp(sys.argv[1])
    async with app.run_test(size=(160, 48)) as pilot:
        while True:
            table = app.screen.query("#runs")
            if table and table.first().row_count >= int(sys.argv[2]):
                break
            await pilot.pause(0.005)
        print(time.perf_counter() - t0)

asyncio.run(main())
"""


def case_first_screen(repeat: int = 5) -> Case:
    root = Path(in_subprocess("make_runs", 200)[0])

    def measure() -> list[float]:
        """From starting the process to the table filled (the child says so on stdout at once);
        the app's shutdown after that is not the user's wait."""
        times = []
        for _ in range(repeat):
            (root / "index.sqlite").unlink(missing_ok=True)  # a cold index: the slow first time
            fresh_state()
            t0 = time.perf_counter()
            child = subprocess.Popen(
                [sys.executable, "-u", "-c", _FIRST_SCREEN, str(root), "200"],
                stdout=subprocess.PIPE,
                stderr=subprocess.DEVNULL,
                text=True,
                cwd=ROOT,
            )
            assert child.stdout is not None
            line = child.stdout.readline()
            times.append(time.perf_counter() - t0)
            child.wait(timeout=60)
            if not line.strip():
                raise RuntimeError("the dashboard exited before filling its table")
        return times

    return Case(
        "dashboard first screen, 200 runs (fresh process, cold index)", lambda: None, budget_s=1.5, measure=measure
    )


def _stream_epochs(paths: list[Path], stop: threading.Event) -> None:
    from core.runs import RunDir

    writers = []
    for p in paths:
        w = RunDir(p).event_writer()
        w.run_started(p.name, "bench", "cpu", 1)
        writers.append(w)
    epoch = 0
    while not stop.is_set():
        epoch += 1
        for w in writers:
            w.epoch(epoch, 0.4 - epoch * 1e-5, 0.41, 1e-3, 0.05)
        time.sleep(0.05)
    for w in writers:
        w.close()


class FrameClock:
    """Times from a key press to the first frame drawn after it was handled.

    Pilot.press waits until the whole process is idle, sleeping in 20 ms steps, so it
    counts its own sleeps and any background thread's work; what a user sees is the
    key's handler running and the next frame. This wraps the app's `_display` (every
    compositor frame passes through it, headless too) to stamp frames.
    """

    def __init__(self, app) -> None:
        self.frames: list[float] = []
        display = app._display
        self.display = display  # the unwrapped one, to put back

        def stamped(screen, renderable) -> None:
            if renderable is not None:
                self.frames.append(time.perf_counter())
            display(screen, renderable)

        app._display = stamped
        self.app = app

    async def press(self, key: str, handled) -> float:
        """Post `key` as the terminal would; seconds until a frame after `handled()` holds."""
        from textual import events

        t0 = time.perf_counter()
        self.app._driver.send_message(events.Key(key, key if len(key) == 1 else None))
        return await self.until(handled, t0)

    async def until(self, handled, t0: float, timeout: float = 10.0) -> float:
        while not handled():
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("the key was not handled in 10 s")
            await asyncio.sleep(0)
        done = time.perf_counter()
        while not self.frames or self.frames[-1] < done:
            if time.perf_counter() - t0 > timeout:
                raise RuntimeError("no frame was drawn in 10 s")
            await asyncio.sleep(0.001)
        return next(f for f in self.frames if f >= done) - t0


def measure_keypress() -> list[float]:
    from synapse_tui.app import SynapseApp

    root, streams = in_subprocess("make_runs", 100, 4)
    root, streams = Path(root), [Path(p) for p in streams]
    stop = threading.Event()
    feeder = threading.Thread(target=_stream_epochs, args=(streams, stop), daemon=True)
    times: list[float] = []

    async def main() -> None:
        fresh_state()
        app = SynapseApp(root)
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one("#runs")
            while table.row_count < 104:
                await pilot.pause(0.01)
            clock = FrameClock(app)
            feeder.start()
            await pilot.pause(1.0)
            for i in range(60):
                before = table.cursor_row
                key = "down" if i % 20 < 10 else "up"
                times.append(await clock.press(key, lambda before=before: table.cursor_row != before))
                await pilot.pause(0.03)

    try:
        asyncio.run(main())
    finally:
        stop.set()
    return times


def case_keypress() -> Case:
    return Case(
        "dashboard key press while 4 runs stream epochs (key to next frame)",
        lambda: None,
        budget_s=0.1,
        measure=measure_keypress,
        note="p95 is the budgeted number",
    )


def measure_sort_filter() -> list[float]:
    """Sort by the next column (`s`, key to frame) and filter to the ~1 in 9 runs named
    bench1* and back (the filter's rows applied to the table, to the frame), 6 times each,
    once the screen has settled (every config read)."""
    from synapse_tui.app import SynapseApp

    root = Path(in_subprocess("make_runs", 500)[0])
    times: list[float] = []

    async def main() -> None:
        fresh_state()
        app = SynapseApp(root)
        async with app.run_test(size=(160, 48)) as pilot:
            screen = app.screen
            while screen.query_one("#runs").row_count < 500 or not screen.configs_read:
                await pilot.pause(0.01)
            await pilot.pause(0.5)
            clock = FrameClock(app)
            rows = list(screen.rows.values())
            for i in range(6):
                before = screen.sort_key
                times.append(await clock.press("s", lambda before=before: screen.sort_key != before))
                await pilot.pause(0.1)
                t0 = time.perf_counter()
                screen.filter_text = "bench1" if i % 2 == 0 else ""
                kept = [r for r in rows if "bench1" in r["run_id"]] if i % 2 == 0 else rows
                screen.apply_rows(kept, filter_text=screen.filter_text)
                times.append(await clock.until(lambda: True, t0))
                await pilot.pause(0.1)

    asyncio.run(main())
    return times


def case_sort_filter() -> Case:
    return Case(
        "dashboard sort or filter of 500 runs (key or rows to next frame)",
        lambda: None,
        budget_s=0.2,
        measure=measure_sort_filter,
    )


def make_long_run(epochs: int) -> tuple[Path, str]:
    """A copy of a real logistic run whose events.jsonl holds `epochs` epoch events: the
    trained run's own, then more appended through its EventWriter (validation loss falling
    to a minimum at 70% of them, each new minimum marked improved). Its runs dir and id."""
    import math

    from core.config import load_config
    from core.data import synthetic
    from core.runs import RunDir
    from core.train.run import run_train

    base = Path(tempfile.mkdtemp(prefix="synapse-bench-run-"))
    data = base / "d.csv"
    synthetic.write(data, synthetic.generate("planted", days=900, seed=5))
    cfg = load_config(
        "logistic",
        overrides=["split.test_days=200", "split.val_days=200", "train.epochs=3", "train.device=cpu"],
        data=str(data),
    )
    src = run_train(cfg, base / "src")
    root = base / "runs"
    root.mkdir()
    run_id = "20260101-120000-long-aaaa"  # a valid id: the name, then four hex digits
    shutil.copytree(src.path, root / run_id)
    rd = RunDir(root / run_id)
    own = [e for e in rd.read_events() if e.get("type") == "epoch"]
    last = own[-1]
    fold = {"fold": last["fold"]} if "fold" in last else {}  # loss_series keeps the last fold's epochs
    best_at, span = int(0.7 * epochs), epochs - len(own)
    writer = rd.event_writer()
    for e in range(len(own) + 1, epochs + 1):
        train = last["train_loss"] - 0.01 * (1 - math.exp(-(e - len(own)) / 2000))
        val = last["val_loss"] - 0.005 + 0.005 * ((e - best_at) / span) ** 2
        writer.epoch(e, train, val, 1e-3, 0.05, improved=e <= best_at, **fold)
    writer.close()
    return root, run_id


def measure_run_screen(epochs: int = 10_000, repeat: int = 5) -> list[float]:
    """Seconds from pushing RunScreen to its loss plot having drawn all `epochs` (its data
    holds every epoch and the drawn curve ends at the last one), `repeat` times in one app
    after one unmeasured warm-up open; each open starts with no worker of the last one left."""
    from textual.css.query import NoMatches

    from synapse_tui.app import SynapseApp
    from synapse_tui.screens.run import RunScreen
    from synapse_tui.widgets.plots import LossPlot

    root, run_id = in_subprocess("make_long_run", epochs)
    root = Path(root)
    times: list[float] = []

    def shown(screen: RunScreen) -> bool:
        try:
            plot = screen.query_one("#loss", LossPlot)
        except NoMatches:
            return False
        val = (plot.drawn.get("lines") or {}).get("val")
        return len((plot.series or {}).get("epoch") or []) == epochs and bool(val) and val[0][-1] == epochs

    async def main() -> None:
        fresh_state()
        app = SynapseApp(root)
        async with app.run_test(size=(160, 48)) as pilot:
            t0 = time.perf_counter()
            while app.screen.query_one("#runs").row_count < 1:
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError(f"the runs screen did not list {run_id} in 60 s")
                await pilot.pause(0.01)
            for i in range(repeat + 1):
                t0 = time.perf_counter()
                screen = RunScreen(root, run_id)
                app.push_screen(screen)
                while not shown(screen):
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError(f"the run screen did not draw {epochs} epochs in 60 s: {screen.error}")
                    await pilot.pause(0.002)
                if i:
                    times.append(time.perf_counter() - t0)
                app.pop_screen()
                await pilot.pause(0.5)  # its follower stops; the runs screen reads again on return

    asyncio.run(main())
    return times


def case_run_screen() -> Case:
    return Case(
        "run screen with a 10,000-epoch history: push to the full loss curve drawn",
        lambda: None,
        budget_s=0.5,
        measure=measure_run_screen,
        note="5 opens after one unmeasured warm-up open",
    )


TAB_KEYS = (("2", "parts"), ("3", "pool"), ("4", "config"), ("5", "log"), ("1", "overview"))


def measure_run_tabs(epochs: int = 10_000, opens: int = 2, rounds: int = 3) -> list[float]:
    """Seconds from a tab key (1-5: overview, parts, pool, config, log) to the first frame drawn
    with that tab active, on the run screen of a finished run with an `epochs`-epoch history.

    The screen is opened `opens` times (each a fresh RunScreen, so each tab's first showing,
    the pool's scoring started and the config's highlighting included, is measured once per
    open); on each, once the view is read and the loss plot drawn, the five tabs are cycled
    `rounds` times, 0.3 s apart (a person switching tabs quickly). Each tab's times are
    printed to stderr; the list returned holds them all (p95 is the budgeted number)."""
    from textual.widgets import DataTable, TabbedContent

    from synapse_tui.app import SynapseApp
    from synapse_tui.screens.run import RunScreen
    from synapse_tui.widgets.plots import LossPlot

    made = in_subprocess("make_long_run", epochs)
    assert isinstance(made, list)
    root, run_id = Path(made[0]), str(made[1])
    per_tab: dict[str, list[float]] = {tab: [] for _, tab in TAB_KEYS}

    async def main() -> None:
        fresh_state()
        app = SynapseApp(root)
        async with app.run_test(size=(160, 48)) as pilot:
            t0 = time.perf_counter()
            while app.screen.query_one("#runs", DataTable).row_count < 1:
                if time.perf_counter() - t0 > 60:
                    raise RuntimeError(f"the runs screen did not list {run_id} in 60 s")
                await pilot.pause(0.01)
            for _ in range(opens):
                screen = RunScreen(root, run_id)
                app.push_screen(screen)
                t0 = time.perf_counter()
                while screen.view is None or not screen.query_one("#loss", LossPlot).drawn.get("lines"):
                    if time.perf_counter() - t0 > 60:
                        raise RuntimeError(f"the run screen did not read its view in 60 s: {screen.error}")
                    await pilot.pause(0.01)
                await pilot.pause(1.0)
                tabs = screen.query_one("#tabs", TabbedContent)
                clock = FrameClock(app)
                for _ in range(rounds):
                    for key, tab in TAB_KEYS:
                        per_tab[tab].append(await clock.press(key, lambda tab=tab, tabs=tabs: tabs.active == tab))
                        await pilot.pause(0.3)
                setattr(app, "_display", clock.display)  # noqa: B010 — the next open stamps its own frames
                app.pop_screen()
                await pilot.pause(0.5)

    asyncio.run(main())
    for tab, times in per_tab.items():
        print(f"  tab {tab:<9} " + " ".join(f"{t * 1000:.0f}" for t in times) + " ms", file=sys.stderr)
    return [t for times in per_tab.values() for t in times]


def case_run_tabs() -> Case:
    return Case(
        "run screen tab switch (1-5), finished run with a 10,000-epoch history (key to next frame)",
        lambda: None,
        budget_s=0.15,
        measure=measure_run_tabs,
        note="p95 is the budgeted number; 2 opens x 3 rounds x 5 tabs, per tab on stderr",
    )
