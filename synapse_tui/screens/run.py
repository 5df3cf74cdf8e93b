"""One run: loss curves, tier rates against the baselines, reliability before and after
calibration, the headline numbers and verdict; per-part AUC, tomorrow's pool, the config,
the log and the artifacts in tabs. Live while the run goes on.

Reading: `core.service.runs.run_view` in a thread worker. Following: a second thread
worker polls the run's events.jsonl (EventReader.read_new, every POLL_S) and posts
`RunScreen.Changed`, a message that replaces the one still queued before it (a flood of
epochs becomes one). New epochs travel in the message as the loss curves
(`loss_series` of every epoch the follower has read, built in its thread), and the plot
is redrawn at most every MIN_REDRAW_S; any other event (status, evaluation, log) asks
for a re-read of the whole view, at most every MIN_REREAD_S and one at a time. So an
epoch every 50 ms neither floods the event loop nor lags, and a 10,000-epoch history is
not re-parsed (three passes over events.jsonl in run_view, ~100 ms holding the GIL) for
every epoch. While the run is active the view is also re-read every ACTIVE_REREAD_S, so a
worker that died shows as lost. `core.service.predict.predict` (torch) runs only when the
Pool tab is opened, in a worker.

Keys: l t r (a plot; t again: the next tier), z (that plot alone), [ ] (EMA smoothing),
L (log y), p (per-part AUC, s sorts), o (tomorrow's pool, e edits the target), c (config),
g (log and artifacts, a or enter opens one), x (cancel, asks first), esc (back).
"""
from __future__ import annotations

import math
import shutil
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Group
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane
from textual.worker import get_current_worker

from core.errors import InputError
from core.runs import parse_ts
from synapse_tui.formatting import ASCII_GLYPHS, clock, k_ranges, num
from synapse_tui.theme import STATUS_STYLE
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.draw import sparkline
from synapse_tui.widgets.plots import LossPlot, ReliabilityPlot, RunPlot, TierPlot

POLL_S = 0.3  # how often the follower looks at events.jsonl
MIN_REREAD_S = 0.5  # at most two re-reads of the view a second, however fast events come
MIN_REDRAW_S = 0.3  # new epochs redraw the loss plot at most this often
ACTIVE_REREAD_S = 5.0  # a queued or running run is re-read this often even without events
QUIET_EVENTS = ("epoch", "heartbeat", "checkpoint")  # events that need no re-read of the view
COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30  # below either: the overview's panes stack and scroll
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
DEFAULT_TARGET = "good-or-better:0.6"
CRITERIA = {"ece": "ECE", "brier_skill": "Brier skill", "beats_reference": "beats"}  # verdict rules, short
# The glyphs this screen writes, as ASCII (terminals without UTF-8).
RUN_ASCII = {**ASCII_GLYPHS, **str.maketrans({"▸": ">", "·": "-", "✓": "+", "✗": "x", "○": "o", "◆": "#",
                                              "≤": "<=", "≥": ">=", "─": "-", "⚠": "!"})}


def ascii_text(text: Text) -> Text:
    """`text` with RUN_ASCII applied, each piece keeping its styles (a glyph may become two characters)."""
    out = Text(style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
    cuts = sorted({0, len(text), *(sp.start for sp in text.spans), *(sp.end for sp in text.spans)})
    for a, b in zip(cuts, cuts[1:]):
        piece = text.plain[a:b].translate(RUN_ASCII)
        start = len(out)
        out.append(piece)
        for sp in text.spans:
            if sp.start <= a and b <= sp.end:
                out.stylize(sp.style, start, start + len(piece))
    return out


def read_run(runs_dir: Path, run_id: str) -> dict:
    """What the screen shows, read from the run directory (called in a thread worker):
    `run_view` plus the loss curves and the config as YAML text."""
    import yaml

    from core.service.runs import open_run, run_view
    from core.service.series import loss_series

    rd = open_run(run_id, runs_dir)
    view = run_view(rd, runs_dir)
    view["loss"] = loss_series(view["epochs"])
    cfg = view.get("config")
    view["config_yaml"] = _yaml(yaml, cfg) if isinstance(cfg, dict) else None
    view["read_at"] = time.monotonic()
    return view


def _yaml(yaml, cfg: dict) -> str:
    """The config as config.yaml reads: block mappings, lists of plain values on one line."""

    class Dumper(yaml.SafeDumper):
        pass

    def seq(dumper, value):
        flat = all(not isinstance(v, (dict, list)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)

    Dumper.add_representer(list, seq)
    return yaml.dump(cfg, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=100)


def predict_pool(runs_dir: Path, run_id: str, target: str) -> dict:
    """Tomorrow's calibrated probabilities and the pool table (imports torch: a worker only)."""
    from core.service.predict import parse_target, predict
    from core.service.runs import open_run

    parsed = parse_target(target.strip()) if target.strip() else None
    return predict(open_run(run_id, runs_dir), target=parsed)


class RunScreen(Screen):
    """One run, live."""

    HELP_TITLE = "Run"
    CSS_PATH = "run.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("l", "pane('loss')", "Loss", tooltip="The loss curves ([ ] smoothing, L log y)"),
        Binding("t", "tiers", "Tiers", tooltip="The tier rates; pressed again, the next tier"),
        Binding("r", "pane('reliability')", "Reliability"),
        Binding("p", "tab('parts')", "Parts", tooltip="Per-part AUC and AP, sortable (s)"),
        Binding("o", "tab('pool')", "Pool", tooltip="Tomorrow's probabilities and pool sizes"),
        Binding("c", "tab('config')", "Config"),
        Binding("g", "tab('log')", "Log", tooltip="The log tail and the artifacts"),
        Binding("x", "cancel", "Cancel", tooltip="Cancel the run (asks first)"),
        Binding("left_square_bracket", "smooth(-1)", "Less smoothing", key_display="[", show=False),
        Binding("right_square_bracket", "smooth(1)", "More smoothing", key_display="]", show=False),
        Binding("L", "log_y", "Loss: log/linear y", key_display="L", show=False),
        Binding("s", "sort_parts", "Parts: sort by the next column", show=False),
        Binding("a", "artifact", "Open the selected artifact", show=False),
        Binding("z", "zoom", "Zoom: the focused plot alone (again or esc: all four)", show=False),
        Binding("e", "edit_target", "Pool: edit the target", show=False),
    ]

    class Changed(Message):
        """The run's event log grew. `series`: the loss curves with the new epochs (None: no new
        epoch); `full`: something else happened, re-read the view. A flood is one message."""

        def __init__(self, series: dict | None = None, full: bool = False) -> None:
            super().__init__()
            self.series = series
            self.full = full

        def can_replace(self, message: Message) -> bool:
            # Called on the queued message with the one behind it, which then supersedes it:
            # hand on what this one still asks for.
            if not isinstance(message, RunScreen.Changed):
                return False
            message.full = message.full or self.full
            if message.series is None:
                message.series = self.series
            return True

    class Gone(Message):
        """The run directory disappeared (or cannot be opened)."""

        def __init__(self, reason: str) -> None:
            super().__init__()
            self.reason = reason

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
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
        self._parts_sort = ("auc", True)
        self._parts_key: tuple | None = None
        self._artifacts_key: tuple | None = None
        self.pool: dict | None = None
        self.pool_error: str | None = None
        self.pool_running = False
        self.pool_target = DEFAULT_TARGET
        self.zoomed: str | None = None  # the plot shown alone in the overview (z)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(self._crumbs(), id="crumbs")
        yield Static("", id="headline")
        with TabbedContent(id="tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                with Container(id="grid"):
                    with Vertical(id="loss-pane", classes="pane"):
                        yield LossPlot(id="loss")
                        yield Static("", id="loss-legend", classes="legend")
                    with Vertical(id="tiers-pane", classes="pane"):
                        yield TierPlot(id="tiers")
                        yield Static("", id="tiers-legend", classes="legend")
                    with Vertical(id="reliability-pane", classes="pane"):
                        yield ReliabilityPlot(id="reliability")
                        yield Static("", id="reliability-legend", classes="legend")
                    with VerticalScroll(id="summary-pane", classes="pane"):
                        yield Static(Text("reading the run…", style="dim"), id="summary")
            with TabPane("Parts", id="parts"):
                yield DataTable(id="parts-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Pool", id="pool"):
                with Vertical(id="pool-box"):
                    with Horizontal(id="target-row"):
                        yield Static("target", id="target-label")
                        yield Input(value=DEFAULT_TARGET, id="target",
                                    placeholder="TIER:LEVEL, e.g. good-or-better:0.6 (enter computes)")
                        yield Static("e edits, enter computes · P(tier or better) ≥ level", id="target-hint")
                    with VerticalScroll(id="pool-scroll"):
                        yield Static("", id="pool-view")
            with TabPane("Config", id="config"):
                with VerticalScroll(classes="text-pane"):
                    yield Static("", id="config-view")
            with TabPane("Log", id="log"):
                with Vertical(id="log-box"):
                    with VerticalScroll(id="log-scroll", classes="text-pane"):
                        yield Static("", id="log-view")
                    yield Static("", id="artifacts-title")
                    yield DataTable(id="artifacts", cursor_type="row")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        for plot in self.query("LossPlot, TierPlot, ReliabilityPlot"):
            plot.can_focus = True
            plot.show_title = False
            plot.show_labels = False
        self._titles()
        parts = self.query_one("#parts-table", DataTable)
        for key, label in (("part", "part"), ("auc", "AUC"), ("ap", "AP"), ("bar", "AUC − 0.5")):
            parts.add_column(label, key=key)
        arts = self.query_one("#artifacts", DataTable)
        for key, label in (("name", "artifact"), ("size", "size")):
            arts.add_column(label, key=key)
        self._layout_for(self.app.size.width, self.app.size.height)
        self.set_interval(1.0, self._tick)
        self.follow()

    def on_resize(self, event) -> None:
        self._layout_for(event.size.width, event.size.height)
        self._crumbs_update()
        self.call_after_refresh(self._show_summary)  # the scorers table comes and goes with the room

    def _layout_for(self, width: int, height: int) -> None:
        self.set_class(width < COMPACT_WIDTH or height < COMPACT_HEIGHT, "-compact")

    @property
    def ascii_only(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _t(self, text: str) -> str:
        return text.translate(RUN_ASCII) if self.ascii_only else text

    def _text(self, text: Text) -> Text:
        return ascii_text(text) if self.ascii_only else text

    # ------------------------------------------------------------------ following and reading
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
        epochs = [e for e in reader.read_new() if e.get("type") == "epoch"]
        resets = reader.resets
        self.post_message(self.Changed(loss_series(epochs), full=True))
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
        try:
            view, error = read_run(self.runs_dir, self.run_id), None
        except InputError as exc:
            view, error = None, str(exc)
        except Exception as exc:  # noqa: BLE001 — a run half-written or deleted mid-read
            view, error = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._loaded, view, error)

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

    def _loss(self) -> dict:
        """The loss curves: the follower's, or the last read's when it has seen more."""
        read = (self.view or {}).get("loss") or {}
        mine = self.series or {}
        return read if len(read.get("epoch") or []) > len(mine.get("epoch") or []) else (mine or read)

    def _show_loss(self) -> None:
        self.query_one("#loss", LossPlot).series = self._loss()

    # ------------------------------------------------------------------ showing
    def _show(self) -> None:
        view = self.view
        self._crumbs_update()
        self._show_loss()
        tiers = self.query_one("#tiers", TierPlot)
        good = ((view.get("config") or {}).get("eval") or {}).get("good_tier") or "good"
        tiers.beats_tier = good
        tiers.curves = view.get("tiers")
        if tiers.tier not in tiers.tiers() and tiers.tiers():
            tiers.tier = tiers.tiers()[0]
        self.query_one("#reliability", ReliabilityPlot).reliability = view.get("reliability")
        self._empty_texts(view)
        self.refresh_bindings()  # x (cancel) comes and goes with the status
        self._titles()
        self._show_summary()
        self._show_parts()
        self._show_config()
        self._show_log()

    def _crumbs(self) -> Text:
        full = self._crumbs_text(" Synapse ▸ runs ▸ ")
        width = self.app.size.width if self.is_attached else 200
        return full if full.cell_len <= width else self._crumbs_text(" ")

    def _crumbs_text(self, prefix: str) -> Text:
        out = Text(prefix, style="dim")
        out.append(self.run_id, style="bold")
        if self.deleted:
            out.append("   run deleted", style="bold red")
            return self._text(out)
        row = (self.view or {}).get("run") or {}
        if not row:
            return self._text(out)
        out.append("   ")
        bits: list[tuple[str, str]] = [(str(row.get("model") or "?"), ""), (str(row.get("host") or "?"), "dim")]
        status = row.get("status") or "?"
        attempt = row.get("attempt") or 0
        bits.append((status + (f" #{attempt}" if attempt > 1 else ""), STATUS_STYLE.get(status, "")))
        epochs = self._loss().get("epoch") or []
        top = row.get("max_epochs")
        if epochs or row.get("epochs"):
            e = epochs[-1] if epochs else row.get("epochs")
            bits.append((f"epoch {e}" + (f"/{top}" if top else ""), ""))
        bits.append((clock(self._elapsed(row)), ""))
        for i, (text, style) in enumerate(bits):
            if i:
                out.append(" · ", style="dim")
            out.append(text, style=style)
        return self._text(out)

    @staticmethod
    def _elapsed(row: dict) -> float | None:
        if row.get("status") == "running":
            t = parse_ts(row.get("started"))
            return None if t is None else (datetime.now(timezone.utc) - t).total_seconds()
        return row.get("duration_s")

    def _crumbs_update(self) -> None:
        try:
            self.query_one("#crumbs", Static).update(self._crumbs())
        except NoMatches:
            pass

    def _titles(self) -> None:
        loss = self.query_one("#loss", LossPlot)
        bits = ["loss"]
        if loss.smoothing:
            bits.append(f"EMA {loss.smoothing:.2f}")
        bits.append("log y" if loss.log_y else "linear y")
        self.query_one("#loss-pane").border_title = self._t(" · ".join(bits))
        self.query_one("#loss-pane").border_subtitle = self._t("[ ] smooth · L log")
        tiers = self.query_one("#tiers", TierPlot)
        self.query_one("#tiers-pane").border_title = self._t(f"{tiers.tier}-or-better@K (test)")
        n = len(tiers.tiers())
        self.query_one("#tiers-pane").border_subtitle = self._t(f"t: next tier ({n})") if n > 1 else ""
        bins = ((self.view or {}).get("reliability") or {}).get("bins")
        self.query_one("#reliability-pane").border_title = self._t(
            f"reliability (test{f', {bins} bins' if bins else ''})")
        self.query_one("#summary-pane").border_title = "summary"

    def _empty_texts(self, view: dict) -> None:
        row = view.get("run") or {}
        status = row.get("status")
        if row.get("job") == "baselines":
            loss_text = "no loss curves: a baselines run does not train"
        elif status in ("queued", "running"):
            loss_text = f"{status}: no epoch yet"
        else:
            loss_text = "no epochs recorded"
        not_yet = ("not evaluated yet: the test window is scored when training ends"
                   if status in ("queued", "running") else f"{status or 'this run'}: not evaluated")
        self.query_one("#loss", LossPlot).empty_text = loss_text
        self.query_one("#tiers", TierPlot).empty_text = not_yet
        self.query_one("#reliability", ReliabilityPlot).empty_text = not_yet

    @on(RunPlot.Drawn)
    def _plot_drawn(self, message: RunPlot.Drawn) -> None:
        self._legend(message.plot)

    def _legend(self, plot: RunPlot) -> None:
        """The legend line under a plot, from what it last drew."""
        if not self.is_attached or plot.id not in ("loss", "tiers", "reliability"):
            return
        out = Text(no_wrap=True, overflow="ellipsis")
        if plot.id == "reliability" and plot.drawn.get("counts"):  # first: what the diagram cannot show
            out.append("n ", style="dim")
            out.append(sparkline(plot.drawn["counts"], self.ascii_only))
            out.append("  ")
        for i, (sym, label, rgb) in enumerate(plot.drawn.get("legend") or []):
            if i:
                out.append("  ")
            out.append(sym, style="bold rgb({},{},{})".format(*rgb))
            out.append(f" {label}")
        self.query_one(f"#{plot.id}-legend", Static).update(self._text(out))

    def _show_summary(self) -> None:
        try:
            box = self.query_one("#summary", Static)
        except NoMatches:
            return
        parts = []
        if self.error:
            parts.append(Text(("⚠ " if not self.deleted else "") + self.error,
                              style="bold red" if self.deleted else "red"))
            if self.deleted:
                parts.append(Text("What was read last is still shown; esc goes back.", style="dim"))
        if self.view:
            summary = self._summary(self.view)
            parts.append(summary)
            scorers = self._scorers(self.view)
            pane = self.query_one("#summary-pane")
            room = pane.size.height - (summary.plain.count("\n") + 1) - 1
            if scorers is not None and (room >= scorers.row_count + 3 or self.has_class("-compact")):
                parts += [Text(""), scorers]  # every scorer where the pane has room for them
        elif not self.error:
            parts.append(Text("reading the run…", style="dim"))
        body = Group(*[self._text(p) if isinstance(p, Text) else p for p in parts])
        box.update(body)
        self.query_one("#headline", Static).update(self._headline())

    def _headline(self) -> Text:
        """Two lines over the tabs on a small terminal, where the summary pane is below the fold."""
        if self.deleted:
            return self._text(Text("run deleted — what was read last is still shown", style="bold red"))
        s = (self.view or {}).get("summary") or {}
        v = (self.view or {}).get("verdict") or {}
        if not s:
            return Text("")
        out = Text()
        out.append(f"AUC {num(s.get('auc'), 3)} · Brier skill {num(s.get('brier_skill'), 4, signed=True)} · "
                   f"ECE {num(s.get('ece_before'), 3)} → {num(s.get('ece_after'), 3)} · ")
        status = v.get("status")
        out.append(status or "–", style="bold green" if status == "APPROVED" else "bold red")
        return self._text(out)

    def _summary(self, view: dict) -> Text:
        row, s = view.get("run") or {}, view.get("summary") or {}
        out = Text()
        if row.get("error"):
            out.append(f"error: {row['error']}\n", style="bold red")
        if not s:
            status = row.get("status") or "?"
            out.append(f"{status}: ", style=STATUS_STYLE.get(status, ""))
            out.append("not evaluated yet" if status in ("queued", "running") else "no evaluation")
            lo = self._loss()
            if lo.get("epoch"):
                best = lo.get("best_epoch")
                vals = [v for v in lo.get("val") or [] if not math.isnan(v)]
                out.append(f"\nepoch {lo['epoch'][-1]}" + (f"/{row['max_epochs']}" if row.get("max_epochs") else ""))
                if best is not None:
                    out.append(f" · best e{best}")
                if vals:
                    out.append(f" · val loss {min(vals):.5f}")
            self._touches(out, view)
            return out
        out.append(f"AUC {num(s.get('auc'), 3)} · PR-AUC {num(s.get('pr_auc'), 3)} · "
                   f"Brier skill {num(s.get('brier_skill'), 4, signed=True)}\n")
        out.append(f"ECE {num(s.get('ece_before'), 4)} → {num(s.get('ece_after'), 4)} ({s.get('calibration') or '–'})"
                   f" · lift {num(s.get('lift_capture'), 2)}\n")
        ref = s.get("reference") or s.get("best_baseline") or "the baseline"
        comp = view.get("comparison") or {}
        beats = s.get("beats_at") or []
        if beats:
            ks, ph = comp.get("ks") or [], comp.get("p_holm") or []
            ps = [ph[ks.index(k)] for k in beats if k in ks and ks.index(k) < len(ph) and ph[ks.index(k)] is not None]
            out.append(f"beats {ref} K={k_ranges(beats)}", style="green")
            if ps:
                out.append(f" (Holm p≤{max(ps):.2g})", style="green")
        elif comp:
            worse = comp.get("worse_at") or []
            if worse:
                out.append(f"{ref} beats it at K={k_ranges(worse)}", style="red")
            else:
                out.append(f"does not beat {ref} at any K (Holm p≥{comp.get('alpha', 0.05)})", style="yellow")
        else:
            out.append(f"judged against {ref}")
        out.append("\n")
        v = view.get("verdict") or {}
        status = v.get("status")
        out.append("verdict ")
        out.append(status or "–", style="bold green" if status == "APPROVED" else "bold red")
        for c in v.get("criteria") or []:
            out.append("  ")
            out.append("✓" if c.get("ok") else "✗", style="green" if c.get("ok") else "red")
            short = CRITERIA.get(c.get("name"), c.get("rule"))
            out.append(f" {short if c.get('ok') else c.get('rule')}", style="" if c.get("ok") else "red")
        n = len(view.get("test_touches") or [])
        out.append(" · test×")
        out.append(str(n), style="bold yellow" if n > 1 else "")
        if s.get("best_good_or_better") is not None:
            out.append(f"\nbest good+ {num(s.get('best_good_or_better'), 3)}@{s.get('best_k')}"
                       f" · {s.get('primary')} vs {ref}", style="dim")
        split = ((view.get("manifest") or {}).get("splits") or [{}])[-1].get("test") or {}
        if split:
            out.append(f"\ntest {split.get('first_date')}..{split.get('last_date')} ({split.get('n')} days)",
                       style="dim")
        return out

    def _scorers(self, view: dict) -> Table | None:
        """Every scorer of the evaluation on test, the primary first (what the verdict weighed)."""
        metrics = view.get("metrics") or {}
        if not metrics:
            return None
        s = view.get("summary") or {}
        primary, ref = s.get("primary"), s.get("reference")
        t = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold", title="every scorer on test",
                  title_justify="left", title_style="dim")
        for col in ("scorer", "calibration", "AUC", "B.skill", "ECE", "best good+"):
            t.add_column(col, justify="left" if col in ("scorer", "calibration") else "right", no_wrap=True)
        order = sorted(metrics, key=lambda n: (n != primary, n != ref))
        for name in order:
            m = metrics[name]
            g = m.get("good_or_better") or {}
            rates, ks = g.get("rate") or [], g.get("ks") or []
            j = max(range(len(rates)), key=lambda i: rates[i] if rates[i] is not None else -1) if rates else None
            best = "–" if j is None or rates[j] is None else f"{rates[j]:.3f}@{ks[j] if j < len(ks) else '?'}"
            mark = " *" if name == primary else (" ref" if name == ref else "")
            t.add_row(self._t(name + mark), str(m.get("calibration") or "–"), num(m.get("auc_macro"), 3),
                      num(m.get("brier_skill"), 4, signed=True), num(m.get("ece"), 3), best,
                      style="bold" if name == primary else "")
        return t

    @staticmethod
    def _touches(out: Text, view: dict) -> None:
        n = len(view.get("test_touches") or [])
        out.append("\ntest window touched ")
        out.append(f"×{n}", style="yellow" if n > 1 else "")

    def _show_parts(self) -> None:
        rows = (self.view or {}).get("auc_per_part") or []
        key = tuple((r.get("part"), r.get("auc"), r.get("ap")) for r in rows)
        if key == self._parts_key:
            return
        self._parts_key = key
        table = self.query_one("#parts-table", DataTable)
        table.clear()
        for r in rows:
            auc, ap = r.get("auc"), r.get("ap")
            ok = isinstance(auc, (int, float)) and math.isfinite(auc)
            lift = (auc - 0.5) if ok else None
            bar = "" if lift is None else ("+" if lift >= 0 else "-") * min(20, int(abs(lift) * 100))
            table.add_row(
                Text(str(r.get("part")), justify="right"),
                Text(num(auc, 3), justify="right", style="" if not ok or auc >= 0.5 else "red"),
                Text(num(ap, 3), justify="right"),
                Text(bar, style="green" if (lift or 0) >= 0 else "red"),
                key=str(r.get("part")))
        self._sort_parts()

    def _sort_parts(self) -> None:
        table = self.query_one("#parts-table", DataTable)
        if not table.row_count:
            return
        col, descending = self._parts_sort
        col = "auc" if col == "bar" else col
        rows = {str(r.get("part")): r for r in (self.view or {}).get("auc_per_part") or []}

        def value(part: str) -> tuple:
            v = rows[part].get(col) if col != "part" else rows[part].get("part")
            missing = not (isinstance(v, (int, float)) and math.isfinite(v))
            return (missing != descending, 0 if missing else v)  # missing values last either way

        rank = {part: i for i, part in enumerate(sorted(rows, key=value, reverse=descending))}
        table.sort("part", key=lambda cell: rank.get(cell.plain, len(rank)))
        name = {"part": "part", "auc": "AUC", "ap": "AP"}[col]
        self.query_one("#parts-table", DataTable).border_title = self._t(
            f"per-part AUC and AP on test · by {name} {'↓' if descending else '↑'} · s or a header click sorts")

    def _show_config(self) -> None:
        text = (self.view or {}).get("config_yaml")
        box = self.query_one("#config-view", Static)
        if not text:
            box.update(Text("no readable config.yaml", style="dim"))
            return
        path = ((self.view or {}).get("run") or {}).get("path")
        head = Text(f"# {path}/config.yaml (resolved: every default filled in)\n", style="dim")
        box.update(Group(head, Syntax(text, "yaml", theme="ansi_dark", background_color="default",
                                      word_wrap=True)))

    def _show_log(self) -> None:
        view = self.view or {}
        out = Text()
        for e in view.get("log_tail") or []:
            level = e.get("level") or "info"
            out.append(f"{str(e.get('ts', ''))[11:19]} ", style="dim")
            out.append(f"{level:<7} ", style={"warning": "yellow", "error": "bold red"}.get(level, "dim"))
            msg = str(e.get("message", "")).rstrip()
            out.append(msg + "\n")
        if not out.plain:
            out.append("no log lines yet", style="dim")
        self.query_one("#log-view", Static).update(self._text(out))
        arts = view.get("artifacts") or []
        key = tuple((a.get("name"), a.get("bytes")) for a in arts)
        if key == self._artifacts_key:
            return
        self._artifacts_key = key
        table = self.query_one("#artifacts", DataTable)
        cursor = table.cursor_row
        table.clear()
        for a in arts:
            table.add_row(a["name"], Text(_size(a.get("bytes") or 0), justify="right", style="dim"), key=a["name"])
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
        self.query_one("#artifacts-title", Static).update(self._text(Text(
            f"artifacts in {(view.get('run') or {}).get('path', '')} — enter or a opens a PNG", style="bold")))

    # ------------------------------------------------------------------ keys
    def check_action(self, action: str, parameters: tuple) -> bool | None:
        if action == "cancel":  # offered (and in the footer) only while there is something to cancel
            status = ((self.view or {}).get("run") or {}).get("status")
            return not self.deleted and status in ("queued", "running")
        return True

    def action_back(self) -> None:
        if isinstance(self.focused, Input):  # esc leaves the target box first
            self.query_one("#pool-scroll").focus()
            return
        if self.zoomed is not None:  # then a zoomed plot
            self._unzoom()
            return
        if self.app.screen is self:
            self.dismiss(None)

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        focus = {"parts": "#parts-table", "pool": "#pool-scroll", "log": "#artifacts"}.get(tab)
        if focus:
            self.query_one(focus).focus()

    def action_pane(self, pane: str) -> None:
        self.query_one("#tabs", TabbedContent).active = "overview"
        if self.zoomed not in (None, pane):
            self._unzoom()
        plot = self.query_one(f"#{pane}")
        plot.focus()
        plot.scroll_visible(animate=False)

    def action_tiers(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        plot = self.query_one("#tiers", TierPlot)
        if tabs.active == "overview" and self.focused is plot:
            plot.next_tier()
            self._titles()
        else:
            self.action_pane("tiers")

    def action_smooth(self, step: int) -> None:
        loss = self.query_one("#loss", LossPlot)
        i = min(range(len(SMOOTHING_STEPS)), key=lambda j: abs(SMOOTHING_STEPS[j] - loss.smoothing))
        loss.smoothing = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + step))]
        self._titles()

    def action_log_y(self) -> None:
        loss = self.query_one("#loss", LossPlot)
        loss.log_y = not loss.log_y
        self._titles()

    def action_sort_parts(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        if tabs.active != "parts":
            self.action_tab("parts")
            return
        order = ["part", "auc", "ap"]
        col, _ = self._parts_sort
        nxt = order[(order.index(col) + 1) % len(order)] if col in order else "auc"
        self._parts_sort = (nxt, nxt != "part")
        self._sort_parts()

    @on(DataTable.HeaderSelected, "#parts-table")
    def _parts_header(self, event: DataTable.HeaderSelected) -> None:
        col = event.column_key.value
        col = "auc" if col == "bar" else col
        cur, desc = self._parts_sort
        self._parts_sort = (col, not desc) if col == cur else (col, col != "part")
        self._sort_parts()

    def action_edit_target(self) -> None:
        self.action_tab("pool")
        self.query_one("#target", Input).focus()

    def action_zoom(self) -> None:
        """The focused plot's pane alone in the overview (the loss when none is focused); again: all four.

        A class on the panes rather than Textual's maximize, which loses a widget nested in tabs."""
        if self.zoomed is not None:
            self._unzoom()
            return
        focused = self.focused if isinstance(self.focused, RunPlot) else self.query_one("#loss", LossPlot)
        self.query_one("#tabs", TabbedContent).active = "overview"
        self.zoomed = focused.id
        self.add_class("-zoom")
        self.query_one(f"#{focused.id}-pane").add_class("-zoomed")
        focused.focus()

    def _unzoom(self) -> None:
        if self.zoomed is not None:
            self.query_one(f"#{self.zoomed}-pane").remove_class("-zoomed")
            self.zoomed = None
            self.remove_class("-zoom")

    # ------------------------------------------------------------------ artifacts
    def action_artifact(self) -> None:
        tabs = self.query_one("#tabs", TabbedContent)
        table = self.query_one("#artifacts", DataTable)
        if tabs.active != "log" or self.focused is not table:
            self.action_tab("log")
            return
        self._open_artifact()

    @on(DataTable.RowSelected, "#artifacts")
    def _artifact_selected(self, event: DataTable.RowSelected) -> None:
        self._open_artifact()

    def _open_artifact(self) -> None:
        table = self.query_one("#artifacts", DataTable)
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        art = next((a for a in (self.view or {}).get("artifacts") or [] if a["name"] == name), None)
        if art is None:
            return
        path = Path(art["path"])
        opener = shutil.which("xdg-open")
        if path.suffix.lower() == ".png" and path.is_file() and opener:
            try:
                subprocess.Popen([opener, str(path)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True)
            except OSError as exc:
                self.notify(f"could not open {path}: {exc}", severity="error")
                return
            self.notify(f"opening {path.name}")
        elif not path.exists():
            self.notify(f"{path} is gone", severity="warning")
        else:
            why = "no xdg-open here" if path.suffix.lower() == ".png" else "not a PNG"
            self.notify(f"{path}  ({why})", title="file", timeout=10)

    # ------------------------------------------------------------------ tomorrow's pool
    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id == "pool" and self.pool is None and self.pool_error is None and not self.pool_running:
            self._compute_pool()

    @on(Input.Submitted, "#target")
    def _target_submitted(self, event: Input.Submitted) -> None:
        self.pool_target = event.value
        self._compute_pool()

    def _compute_pool(self) -> None:
        self.pool_running = True
        self._show_pool()
        self.run_pool(self.pool_target)

    @work(thread=True, exclusive=True, group="run-pool", exit_on_error=False)
    def run_pool(self, target: str) -> None:
        try:
            res, err = predict_pool(self.runs_dir, self.run_id, target), None
        except InputError as exc:
            res, err = None, str(exc)
        except Exception as exc:  # noqa: BLE001 — shown inline, never a traceback
            res, err = None, f"{type(exc).__name__}: {exc}"
        self.app.call_from_thread(self._pool_done, target, res, err)

    def _pool_done(self, target: str, res: dict | None, err: str | None) -> None:
        if target != self.pool_target:
            return  # a newer target is on its way
        self.pool_running = False
        self.pool, self.pool_error = res, err
        if self.is_attached:
            self._show_pool()

    def _show_pool(self) -> None:
        box = self.query_one("#pool-view", Static)
        if self.pool_running:
            box.update(Text("scoring tomorrow with the run's best checkpoint and calibrator…", style="dim"))
            return
        if self.pool_error:
            box.update(self._text(Text("✗ " + self.pool_error, style="red")))
            return
        res = self.pool
        if res is None:
            box.update("")
            return
        head = Text()
        head.append(f"{res['model']} scores {res['date']}", style="bold")
        head.append(f" from {res['history_rows']:,} days up to {res['history_last_date']}")
        if res.get("new_days_since_run"):
            head.append(f" ({res['new_days_since_run']} newer than the run)")
        sug = res.get("suggestion") or {}
        if sug:
            head.append("\nsmallest K with P(" + f"{sug['tier']} or better) ≥ {sug['target']}: ")
            head.append(str(sug["k"]) if sug.get("k") is not None else "none in range",
                        style="bold green" if sug.get("k") is not None else "yellow")
        probs = res["probabilities"]
        cols = max(1, min(6, (self.size.width - 4) // 22))
        grid = Table(title="calibrated probability per part, ranked", title_justify="left", box=None,
                     padding=(0, 1), title_style="bold")
        for _ in range(cols):
            grid.add_column("#", justify="right", style="dim")
            grid.add_column("part", justify="right")
            grid.add_column("p", justify="right")
        per = (len(probs) + cols - 1) // cols
        for r in range(per):
            cells = []
            for c in range(cols):
                i = c * per + r
                cells += ([str(i + 1), str(probs[i]["part"]), f"{probs[i]['p']:.3f}"] if i < len(probs)
                          else ["", "", ""])
            grid.add_row(*cells)
        table = res["pools"]
        tiers = list(table["tiers"])
        pt = Table(title="top-K pools: expected hits, P(tier or better)", title_justify="left", box=None,
                   header_style="bold", title_style="bold", padding=(0, 1))
        pt.add_column("K", justify="right")
        pt.add_column("E hits", justify="right")
        for t in tiers:
            pt.add_column(f"{t}+", justify="right")
        pt.add_column("random good+", justify="right", style="dim")
        for pool in table["pools"]:
            style = "bold green" if sug.get("k") == pool["k"] else ""
            pt.add_row(str(pool["k"]), f"{pool['expected_hits']:.2f}",
                       *[f"{pool['or_better'][t]:.3f}" for t in tiers],
                       f"{pool['random_or_better'].get('good', float('nan')):.3f}", style=style)
        caveat = Text(res.get("caveat", ""), style="yellow")
        box.update(Group(self._text(head), Text(""), grid, Text(""), pt, Text(""), self._text(caveat)))

    # ------------------------------------------------------------------ cancel
    def action_cancel(self) -> None:
        if self.deleted:
            self.notify("the run is deleted", severity="warning")
            return
        status = ((self.view or {}).get("run") or {}).get("status")
        if status not in ("queued", "running"):
            self.notify(f"{self.run_id} is {status or 'not read yet'}: nothing to cancel", severity="warning")
            return
        self.app.push_screen(YesNo(f"Cancel run {self.run_id}?\nIt saves last.pt and ends cancelled "
                                   "(synapse resume continues it)."),
                             lambda yes: yes and self.cancel_run())

    @work(thread=True, group="run-cancel", exit_on_error=False)
    def cancel_run(self) -> None:
        from core.service import jobs
        from core.service.runs import open_run

        try:
            out = jobs.cancel(open_run(self.run_id, self.runs_dir))
            self.app.call_from_thread(self.notify, f"{self.run_id}: {out['message']}")
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
        except Exception as exc:  # noqa: BLE001
            self.app.call_from_thread(self.notify, f"cancel failed: {exc}", severity="error", timeout=8)


def _size(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return str(n)


__all__ = ["RunScreen", "predict_pool", "read_run"]
