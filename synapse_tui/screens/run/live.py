"""The run screen kept live: a follower polls events.jsonl, new epochs redraw the loss plot,
anything else re-reads the whole view, both throttled (see the package's docstring).

`LiveRun` is a part of RunScreen (its first base class): it holds the follower and the
reads, and calls the screen's `_show*` methods with what arrived.
"""

from __future__ import annotations

import math
import time

from textual import work
from textual.message import Message
from textual.worker import get_current_worker

from core.errors import InputError
from synapse_tui.screens.run.reading import read_run
from synapse_tui.widgets.plots import LossPlot

POLL_S = 0.3  # how often the follower looks at events.jsonl
MIN_REREAD_S = 0.5  # at most two re-reads of the view a second, however fast events come
MIN_REDRAW_S = 0.3  # new epochs redraw the loss plot at most this often
ACTIVE_REREAD_S = 5.0  # a queued or running run is re-read this often even without events
QUIET_EVENTS = ("epoch", "heartbeat", "checkpoint")  # events that need no re-read of the view


class LiveRun:
    """Following the run's event log and re-reading its view, for RunScreen."""

    cancelling: str | None = None  # RunKeys': the status when a cancel was confirmed, until it changes

    # Handled as on_run_screen_changed / on_run_screen_gone, the names they had inside RunScreen.
    class Changed(Message, namespace="run_screen"):
        """The run's event log grew. `series`: the loss curves with the new epochs (None: no new
        epoch); `full`: something else happened, re-read the view. A flood is one message."""

        def __init__(self, series: dict | None = None, full: bool = False) -> None:
            super().__init__()
            self.series = series
            self.full = full

        def can_replace(self, message: Message) -> bool:
            # Called on the queued message with the one behind it, which then supersedes it:
            # hand on what this one still asks for.
            if not isinstance(message, LiveRun.Changed):
                return False
            message.full = message.full or self.full
            if message.series is None:
                message.series = self.series
            return True

    class Gone(Message, namespace="run_screen"):
        """The run directory disappeared (or cannot be opened)."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def _live_init(self) -> None:
        self.view: dict | None = None
        self.error: str | None = None
        self.deleted = False
        self.reads = 0  # completed re-reads (the live test and the redraw measurement count them)
        self.changes = 0  # Changed messages handled (after merging)
        self.posted = 0  # Changed messages the follower posted
        self._reading = False
        self._dirty = False
        self._reread_timer = None
        self._last_read_start = -math.inf
        self.series: dict | None = None  # the loss curves as the follower last saw them
        self._pending_series: dict | None = None
        self._redraw_timer = None
        self._last_redraw = -math.inf
        self.redraws = 0  # loss-plot updates from followed epochs

    # ------------------------------------------------------------------ following
    @work(thread=True, exclusive=True, group="run-follow", exit_on_error=False)
    def follow(self) -> None:
        """Poll events.jsonl; post Changed when it grows, Gone when the run directory goes."""
        from core.service.runs import open_run

        worker = get_current_worker()
        try:
            rd = open_run(self.run_id, self.runs_dir)
        except InputError as exc:
            self.post_message(self.Gone(str(exc)))
            return
        from core.service.series import loss_series

        reader = rd.event_reader()
        events = reader.read_new()
        epochs = [e for e in events if e.get("type") == "epoch"]
        resets = reader.resets
        self.post_message(self.Changed(loss_series(epochs)))
        # The first view from the same events: a long run's log is parsed once, not by two
        # threads at once (on_mount marked this read as in flight).
        self.app.call_from_thread(self._loaded, *self._read(events))
        del events
        while not worker.is_cancelled:
            time.sleep(POLL_S)
            if not rd.path.is_dir():
                self.post_message(self.Gone("run deleted"))
                return
            new = reader.read_new()
            if not new:
                continue
            if reader.resets != resets:  # the log was replaced: it was read again from the start
                epochs, resets = [], reader.resets
            fresh = [e for e in new if e.get("type") == "epoch"]
            epochs.extend(fresh)
            full = any(e.get("type") not in QUIET_EVENTS for e in new)
            self.posted += 1
            self.post_message(self.Changed(loss_series(epochs) if fresh else None, full=full))

    def on_run_screen_changed(self, message: Changed) -> None:
        self.changes += 1
        if message.series is not None:
            self._pending_series = message.series
            self._request_redraw()
        if message.full:
            self._request_read()

    def _request_redraw(self) -> None:
        if self._redraw_timer is not None:
            return
        wait = self._last_redraw + MIN_REDRAW_S - time.monotonic()
        if wait > 0:
            self._redraw_timer = self.set_timer(wait, self._redraw)
        else:
            self._redraw()

    def _redraw(self) -> None:
        """The followed epochs onto the loss plot (no re-read)."""
        self._redraw_timer = None
        series, self._pending_series = self._pending_series, None
        if series is None or not self.is_attached:
            return
        self._last_redraw = time.monotonic()
        self.redraws += 1
        self.series = series
        self._show_loss()
        self._crumbs_update()
        if self.view is not None and not self.view.get("summary"):
            self._show_summary()  # "n epochs · best" of a run not evaluated yet

    def _loss(self) -> dict:
        """The loss curves: the follower's, or the last read's when it has seen more."""
        read = (self.view or {}).get("loss") or {}
        mine = self.series or {}
        return read if len(read.get("epoch") or []) > len(mine.get("epoch") or []) else (mine or read)

    def _show_loss(self) -> None:
        self.query_one("#loss", LossPlot).series = self._loss()

    # ------------------------------------------------------------------ reading
    def _request_read(self) -> None:
        """Read now, or as soon as the throttle and the read in flight allow."""
        if self.deleted:
            return
        if self._reading:
            self._dirty = True
            return
        if self._reread_timer is not None:
            return  # a read is already scheduled
        wait = self._last_read_start + MIN_REREAD_S - time.monotonic()
        if wait > 0:
            self._reread_timer = self.set_timer(wait, self._timer_read)
        else:
            self._start_read()

    def _timer_read(self) -> None:
        self._reread_timer = None
        self._start_read()

    def _start_read(self) -> None:
        self._reading, self._dirty = True, False
        self._last_read_start = time.monotonic()
        self.load()

    def action_refresh(self) -> None:
        self._request_read()

    @work(thread=True, exclusive=True, group="run-read", exit_on_error=False)
    def load(self) -> None:
        self.app.call_from_thread(self._loaded, *self._read())

    def _read(self, events: list[dict] | None = None) -> tuple[dict | None, str | None]:
        try:
            return read_run(self.runs_dir, self.run_id, events), None
        except InputError as exc:
            return None, str(exc)
        except Exception as exc:  # noqa: BLE001 — a run half-written or deleted mid-read
            return None, f"{type(exc).__name__}: {exc}"

    def _loaded(self, view: dict | None, error: str | None) -> None:
        self._reading = False
        self.reads += 1
        if not self.is_attached:
            return
        if view is None:
            if not (self.runs_dir / self.run_id).is_dir() and self._gone_for_good():
                self._mark_deleted("run deleted")
                return
            self.error = error
            self._show_summary()
        else:
            self.error = None
            row, old = view.get("run") or {}, (self.view or {}).get("run") or {}
            if row and row.get("model") is None and old.get("model") and view.get("config_error"):
                row["model"] = old["model"]  # config.yaml unreadable: keep the model known before
            if self.cancelling is not None and row.get("status") != self.cancelling:
                self.cancelling = None  # the cancel took: the status says the rest
            self.view = view
            self._show()
        if self._dirty:
            self._request_read()

    def _gone_for_good(self) -> bool:
        try:
            from core.service.runs import open_run

            open_run(self.run_id, self.runs_dir)
            return False
        except InputError:
            return True

    def on_run_screen_gone(self, message: Gone) -> None:
        self._mark_deleted(message.reason)

    def _mark_deleted(self, reason: str) -> None:
        if self.deleted:
            return
        self.deleted = True
        self.error = reason
        self.workers.cancel_group(self, "run-follow")
        self.refresh_bindings()
        self._crumbs_update()
        self._show_summary()
        self.notify(f"{self.run_id}: {reason}", severity="warning", timeout=6)

    def _tick(self) -> None:
        status = ((self.view or {}).get("run") or {}).get("status")
        if status == "running":
            self._crumbs_update()
        if status in ("queued", "running") and time.monotonic() - self._last_read_start > ACTIVE_REREAD_S:
            self._request_read()  # no event for a while: is the worker still there?
