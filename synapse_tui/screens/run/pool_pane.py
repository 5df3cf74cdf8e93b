"""PoolPane: the run screen's tab for tomorrow — the run's calibrated probabilities for the
day after its data, the smallest K reaching a target and the top-K pools table.

It owns its target box, its scoring worker and what that returned. Attributes down: `view`
(what `read_run` returned: the run's status decides whether there is anything to score).
Scoring (`core.service.predict`, which imports torch) starts only when the tab is shown on a
succeeded run and nothing was scored yet, or when a target is entered: a thread worker waits
on a child process that scores (reading.predict_pool), so torch never holds the dashboard's
GIL nor fills its heap; leaving the screen or a newer target kills the child. Messages up: `PoolPane.Scored` when a scoring ends.
"""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.widgets import Input, Static
from textual.worker import get_current_worker

from core.errors import InputError
from core.runs.status import status_phrase
from synapse_tui.screens.run import panes
from synapse_tui.screens.run.pane import RunPane
from synapse_tui.screens.run.reading import predict_pool

DEFAULT_TARGET = "good-or-better:0.6"


class PoolPane(RunPane):
    """Tomorrow's probabilities and pools of one finished run."""

    DEFAULT_CSS = """
    PoolPane {
        height: 1fr;
    }
    PoolPane #target-row {
        height: auto;
    }
    PoolPane #target-label, PoolPane #target-hint {
        width: auto;
        padding: 1 1;
        color: $text-muted;
    }
    PoolPane #target {
        width: 40;
    }
    PoolPane #pool-scroll {
        height: 1fr;
        padding: 0 1;
    }
    """

    class Scored(Message):
        """A scoring ended: `error` is None when `pool` holds the result for `target`."""

        def __init__(self, pane: PoolPane, target: str, error: str | None) -> None:
            super().__init__()
            self.pane = pane
            self.target = target
            self.error = error

    def __init__(
        self,
        runs_dir: Path,
        run_id: str,
        view: dict | None = None,
        *,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(view, name=name, id=id, classes=classes)
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.pool: dict | None = None  # predict's result for pool_shown_target
        self.pool_error: str | None = None
        self.pool_running = False
        self.pool_target = DEFAULT_TARGET
        self.pool_shown_target: str | None = None  # the target of the pool shown (self.pool)
        self.pool_unfinished = False  # not scored: the run has not succeeded (yet)

    def compose(self) -> ComposeResult:
        with Vertical(id="pool-box"):
            with Horizontal(id="target-row"):
                yield Static("target", id="target-label")
                yield Input(value=DEFAULT_TARGET, id="target", placeholder="TIER:LEVEL, e.g. good:0.6")
                yield Static("e edits, enter computes · P(tier or better) ≥ level", id="target-hint")
            with VerticalScroll(id="pool-scroll"):
                yield Static("", id="pool-view")

    def focus_pool(self) -> None:
        self.query_one("#pool-scroll").focus()

    def edit_target(self) -> None:
        self.query_one("#target", Input).focus()

    def pane_shown(self) -> None:
        """Score when the tab opens, once (again while the run had not succeeded)."""
        if self.pool_running:
            return
        if (self.pool is None and self.pool_error is None) or self.pool_unfinished:
            self.compute()

    @on(Input.Submitted, "#target")
    def _target_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.pool_target = event.value
        self.compute()

    def compute(self) -> None:
        """Score tomorrow for `pool_target`, or say at once why not (a run not succeeded)."""
        status = ((self.view or {}).get("run") or {}).get("status")
        self.pool_unfinished = status is not None and status != "succeeded"
        if self.pool_unfinished:  # said at once, not after loading the data and the model
            self.pool_error = (
                f"the pool needs a finished run: run {self.run_id} {status_phrase(status)}; predict needs a succeeded run"
                + (
                    " (it is scored when you open this tab after the run succeeds)"
                    if status in ("queued", "running")
                    else ""
                )
            )
            self._show_pool()
            return
        self.pool_running = True
        self._show_pool()
        target = self.pool_target
        self._score(target)

    @work(thread=True, exclusive=True, group="run-pool", exit_on_error=False)
    def _score(self, target: str) -> None:
        worker = get_current_worker()
        try:
            res, err = predict_pool(self.runs_dir, self.run_id, target, lambda: worker.is_cancelled), None
        except (InputError, RuntimeError) as exc:  # predict's words, or the child's "Type: words"
            res, err = None, str(exc)
        except Exception as exc:  # noqa: BLE001 — shown inline, never a traceback
            res, err = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._scored, target, res, err)

    def _scored(self, target: str, res: dict | None, err: str | None) -> None:
        if target != self.pool_target:
            return  # a newer target is on its way
        self.pool_running = False
        self.pool_error = err
        if res is not None:
            self.pool, self.pool_shown_target = res, target
        if self.is_attached:
            self._show_pool()
            self.post_message(self.Scored(self, target, err))

    def _show_pool(self) -> None:
        self.query_one("#pool-view", Static).update(
            panes.pool_view(
                self.pool,
                running=self.pool_running,
                error=self.pool_error,
                width=self.size.width or self.app.size.width,
                ascii_only=self.ascii_only,
                shown_target=self.pool_shown_target,
            )
        )
