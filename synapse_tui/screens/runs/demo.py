"""The dashboard's demo (`d` on the first-run screen): what `synapse demo` runs, followed in place.

The runs are `core.service.jobs.demo_runs` on the bundled sample, each worker started
detached (its own session, its output in the run's worker.log), so the dashboard never
holds a worker's stdout: quitting it leaves the runs running to their end (the app asks
first: `SynapseApp.action_quit`). While they run the runs table shows them as they start;
above it a strip of a few lines holds the newest lines of their worker.logs, and a
notification says when each starts and ends. The summary stays in the notifications until
dismissed (a click).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING

from textual.widgets import Log, Static

from core.runs import RunDir, status_of

if TYPE_CHECKING:
    from synapse_tui.screens.runs.screen import RunsScreen

ROOT = Path(__file__).resolve().parents[3]
DEMO_DATA = ROOT / "sample_data" / "parts_daily.csv"
POLL_S = 0.5
SUMMARY_TIMEOUT_S = 24 * 3600.0  # "until dismissed": a click on it closes it
MAX_LINE = 400  # characters of a worker.log line shown in the strip


def make_runs(runs_dir: Path) -> list[RunDir]:
    """The demo's runs, created and queued (tests put a tiny demo here)."""
    from core.service.jobs import demo_runs

    return demo_runs(DEMO_DATA, runs_dir)


def start_runs(runs: list[RunDir]) -> None:
    """Every run's worker, detached and side by side (they split the cores)."""
    from core.service.jobs import start_detached

    for run in runs:
        start_detached(run, parallel=len(runs))


class Demo:
    """The dashboard's demo: its runs, once created, and whether it is over."""

    def __init__(self, runs_dir: Path) -> None:
        from core.service.jobs import DEMO_MODELS

        self.runs_dir = runs_dir
        self.runs: list[RunDir] = []
        self.expected = len(DEMO_MODELS)
        self.over = False

    def active(self) -> int:
        """How many of its runs are still queued or running (all of them while being created)."""
        if self.over:
            return 0
        if not self.runs:
            return self.expected
        return sum(status_of(run).active for run in self.runs)


def start_demo(screen: RunsScreen) -> Demo:
    """Start the demo from the runs screen: create its runs and follow them in a thread."""
    demo = Demo(screen.runs_dir)
    screen.app.demo = demo  # type: ignore[attr-defined]  # SynapseApp.demo: what `q` asks about
    screen.demo_running = True
    log = screen.query_one("#demo-log", Log)
    log.clear()
    log.display = True
    screen.query_one("#empty", Static).update(
        "Running the demo — its runs appear in the table below as they start; they carry on if you quit."
    )
    screen.run_worker(lambda: _follow(screen, demo), thread=True, group="demo", exit_on_error=False)
    return demo


def _tail(path: Path, offset: int) -> tuple[list[str], int]:
    """Complete lines of `path` from byte `offset`, and the offset after them."""
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except OSError:
        return [], offset
    end = data.rfind(b"\n") + 1
    lines = data[:end].decode("utf-8", "replace").splitlines()
    return [ln[:MAX_LINE] for ln in lines if ln.strip()], offset + end


def _follow(screen: RunsScreen, demo: Demo) -> None:
    from textual.worker import get_current_worker

    app = screen.app
    worker = get_current_worker()
    log = screen.query_one("#demo-log", Log)

    def call(fn, *args, **kw) -> bool:
        try:
            app.call_from_thread(fn, *args, **kw)
            return True
        except RuntimeError:  # the app has gone: the runs go on without us
            return False

    t0 = time.monotonic()
    try:
        runs = make_runs(screen.runs_dir)
        demo.runs = runs
        start_runs(runs)
    except Exception as exc:  # noqa: BLE001 — said in the dashboard, not a crash
        demo.over, screen.demo_running = True, False
        call(screen.notify, f"demo: not started: {exc}", severity="error", timeout=SUMMARY_TIMEOUT_S)
        call(screen.action_refresh)
        return
    call(screen.action_refresh)
    said = {run.run_id: "queued" for run in runs}
    offsets = {run.run_id: 0 for run in runs}
    while not worker.is_cancelled:
        active = 0
        for run in runs:
            lines, offsets[run.run_id] = _tail(run.path / "worker.log", offsets[run.run_id])
            for line in lines:
                if not call(log.write_line, f"[{run.name}] {line}"):
                    return
            st = status_of(run)
            active += st.active
            if st.status != said[run.run_id] and st.status != "queued":
                said[run.run_id] = st.status
                ok = st.status in ("running", "succeeded")
                msg = f"demo: {run.name} {'started' if st.status == 'running' else st.status}"
                if not call(screen.notify, msg, severity="information" if ok else "error"):
                    return
        if not active:
            break
        time.sleep(POLL_S)
    if worker.is_cancelled:
        return
    demo.over, screen.demo_running = True, False
    ok, text = _summary(runs, time.monotonic() - t0)
    call(screen.notify, text, title="demo", severity="information" if ok else "error", timeout=SUMMARY_TIMEOUT_S)
    call(screen.action_refresh)


def _summary(runs: list[RunDir], seconds: float) -> tuple[bool, str]:
    """(all succeeded, the lines `synapse demo` ends with, in short)."""
    from core.service.jobs import outcome

    lines, ok = [f"{len(runs)} runs in {seconds:.0f} s (click to close)"], True
    for run in runs:
        st = status_of(run)
        if st.status != "succeeded":
            ok = False
            lines.append(f"{run.name}: {st.status}" + (f" — {st.error}" if st.error else ""))
            continue
        try:
            s = outcome(run)["summary"]
            lines.append(f"{run.name}: {s.get('verdict')} (primary {s.get('primary')})")
        except Exception as exc:  # noqa: BLE001 — a report that cannot be read is said, not raised
            lines.append(f"{run.name}: succeeded; report unreadable: {exc}")
    return ok, "\n".join(lines)
