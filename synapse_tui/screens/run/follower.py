"""Following a run: a thread polls its events.jsonl, new epochs travel as loss curves, anything
else asks for a re-read of the whole view; both throttled (see the package's docstring).

`RunFollower` is a plain object the run screen owns: it runs its threads as the screen's
workers (so they stop with the screen), posts `Changed` and `Gone` to the screen, and hands
what arrived to the screen's callbacks: `on_series(series)` for the followed loss curves,
`on_read(view, error)` for a re-read view. The screen forwards the two messages back to
`changed()` and its own `Gone` handling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from pathlib import Path

from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.worker import get_current_worker

from core.errors import InputError
from synapse_tui.screens.run.reading import read_run

POLL_S = 0.3  # how often the follower looks at events.jsonl
MIN_REREAD_S = 0.5  # at most two re-reads of the view a second, however fast events come
MIN_REDRAW_S = 0.3  # new epochs redraw the loss plot at most this often
ACTIVE_REREAD_S = 5.0  # a queued or running run is re-read this often even without events
QUIET_EVENTS = ("epoch", "heartbeat", "checkpoint")  # events that need no re-read of the view


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
        if not isinstance(message, Changed):
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


class RunFollower:
    """The follower thread, the throttled redraws and re-reads of one run, for its screen."""

    def __init__(
        self,
        screen: Screen,
        runs_dir: Path,
        run_id: str,
        *,
        on_series: Callable[[dict], None],
        on_read: Callable[[dict | None, str | None], None],
    ) -> None:
        self.screen = screen
        self.runs_dir = runs_dir
        self.run_id = run_id
        self._on_series = on_series
        self._on_read = on_read
        self.stopped = False
        self.reads = 0  # completed re-reads (the live test and the redraw measurement count them)
        self.changes = 0  # Changed messages handled (after merging)
        self.posted = 0  # Changed messages the follower posted
        self.redraws = 0  # loss-curve updates from followed epochs
        self.series: dict | None = None  # the loss curves as the follower last saw them
        self.last_read_start = -math.inf
        self._reading = False
        self._dirty = False
        self._reread_timer: Timer | None = None
        self._pending_series: dict | None = None
        self._redraw_timer: Timer | None = None
        self._last_redraw = -math.inf

    # ------------------------------------------------------------------ the thread
    def start(self) -> None:
        """Start following; its first pass also reads the first view (marked in flight here)."""
        self._reading, self.last_read_start = True, time.monotonic()
        self.screen.run_worker(self._follow, thread=True, exclusive=True, group="run-follow", exit_on_error=False)

    def stop(self) -> None:
        self.stopped = True
        self.screen.workers.cancel_group(self.screen, "run-follow")

    def _follow(self) -> None:
        """Poll events.jsonl; post Changed when it grows, Gone when the run directory goes."""
        from core.service.runs import open_run
        from core.service.series import loss_series

        worker = get_current_worker()
        try:
            rd = open_run(self.run_id, self.runs_dir)
        except InputError as exc:
            self.screen.post_message(Gone(str(exc)))
            return
        reader = rd.event_reader()
        events = reader.read_new()
        epochs = [e for e in events if e.get("type") == "epoch"]
        resets = reader.resets
        self.screen.post_message(Changed(loss_series(epochs)))
        # The first view from the same events: a long run's log is parsed once, not by two
        # threads at once (start() marked this read as in flight).
        self.screen.app.call_from_thread(self._loaded, *self._read(events))
        del events
        while not worker.is_cancelled:
            time.sleep(POLL_S)
            if not rd.path.is_dir():
                self.screen.post_message(Gone("run deleted"))
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
            self.screen.post_message(Changed(loss_series(epochs) if fresh else None, full=full))

    # ------------------------------------------------------------------ what arrived
    def changed(self, message: Changed) -> None:
        """The screen's Changed handler: redraw the epochs, re-read for anything else (throttled)."""
        self.changes += 1
        if message.series is not None:
            self._pending_series = message.series
            self._request_redraw()
        if message.full:
            self.request_read()

    def _request_redraw(self) -> None:
        if self._redraw_timer is not None:
            return
        wait = self._last_redraw + MIN_REDRAW_S - time.monotonic()
        if wait > 0:
            self._redraw_timer = self.screen.set_timer(wait, self._redraw)
        else:
            self._redraw()

    def _redraw(self) -> None:
        self._redraw_timer = None
        series, self._pending_series = self._pending_series, None
        if series is None or not self.screen.is_attached:
            return
        self._last_redraw = time.monotonic()
        self.redraws += 1
        self.series = series
        self._on_series(series)

    def loss(self, view: dict | None) -> dict:
        """The loss curves: the follower's, or the view's when its read has seen more."""
        read = (view or {}).get("loss") or {}
        mine = self.series or {}
        return read if len(read.get("epoch") or []) > len(mine.get("epoch") or []) else (mine or read)

    # ------------------------------------------------------------------ reading
    def request_read(self) -> None:
        """Read now, or as soon as the throttle and the read in flight allow."""
        if self.stopped:
            return
        if self._reading:
            self._dirty = True
            return
        if self._reread_timer is not None:
            return  # a read is already scheduled
        wait = self.last_read_start + MIN_REREAD_S - time.monotonic()
        if wait > 0:
            self._reread_timer = self.screen.set_timer(wait, self._timer_read)
        else:
            self._start_read()

    def _timer_read(self) -> None:
        self._reread_timer = None
        self._start_read()

    def _start_read(self) -> None:
        self._reading, self._dirty = True, False
        self.last_read_start = time.monotonic()
        self.screen.run_worker(self._load, thread=True, exclusive=True, group="run-read", exit_on_error=False)

    def _load(self) -> None:
        self.screen.app.call_from_thread(self._loaded, *self._read())

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
        if not self.screen.is_attached:
            return
        self._on_read(view, error)
        if self._dirty:
            self.request_read()

    def tick(self, status: str | None) -> None:
        """Every second: an active run with no event for a while is re-read (is its worker still there?)."""
        if status in ("queued", "running") and time.monotonic() - self.last_read_start > ACTIVE_REREAD_S:
            self.request_read()
