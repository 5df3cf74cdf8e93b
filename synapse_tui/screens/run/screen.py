"""RunScreen: the run screen's layout, and how what was read reaches its panes.

Its parts: `LiveRun` (live.py) follows the run and reads it, `RunKeys` (keys.py) holds the
actions; the words and tables come from summary.py and panes.py. The `@on` handlers are
here: Textual looks for those on the screen's own class.
"""

from __future__ import annotations

import time

from pathlib import Path

from rich.console import Group
from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Container, Horizontal, Vertical, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Input, Static, TabbedContent, TabPane

from core.runs.status import status_phrase
from core.errors import InputError
from synapse_tui.screens.run import panes, summary
from synapse_tui.screens.run.glyphs import RUN_ASCII, ascii_text
from synapse_tui.screens.run.keys import RunKeys
from synapse_tui.screens.run.live import LiveRun
from synapse_tui.screens.run.reading import predict_pool
from synapse_tui.widgets.plots import LossPlot, ReliabilityPlot, RunPlot, TierPlot

COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30  # below either: the overview's panes stack and scroll
DEFAULT_TARGET = "good-or-better:0.6"


class RunScreen(LiveRun, RunKeys, Screen):
    """One run, live."""

    HELP_TITLE = "Run"
    CSS_PATH = "run.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("l", "pane('loss')", "Loss", tooltip="The loss curves ([ ] smoothing, L log y)"),
        Binding("t", "tiers", "Tiers", tooltip="The tier rates; pressed again, the next tier"),
        Binding("b", "pane('reliability')", "Reliability", tooltip="The reliability diagram (calibration bins)"),
        Binding("p", "tab('parts')", "Parts", tooltip="Per-part AUC and AP, sortable (s)"),
        Binding("o", "tab('pool')", "Pool", tooltip="Tomorrow's probabilities and pool sizes"),
        Binding("4", "tab('config')", "Config"),
        Binding("g", "tab('log')", "Log", tooltip="The log tail and the artifacts"),
        Binding("x", "cancel", "Cancel", tooltip="Cancel the run (asks first)"),
        Binding("left_square_bracket", "smooth(-1)", "Less smoothing", key_display="[", show=False),
        Binding("right_square_bracket", "smooth(1)", "More smoothing", key_display="]", show=False),
        Binding("L", "log_y", "Loss: log/linear y", key_display="L", show=False),
        Binding("s", "sort_parts", "Parts: sort by the next column", show=False),
        Binding("a", "artifact", "Open the selected artifact", show=False),
        Binding("z", "zoom", "Zoom: the focused plot alone (again or esc: all four)", show=False),
        Binding("e", "edit_target", "Pool: edit the target", show=False),
        # Digits pick a tab here as on the compare screen (letters mean one thing on every screen).
        Binding("1", "tab('overview')", "Overview tab", show=False),
        Binding("2", "tab('parts')", "Parts tab", show=False),
        Binding("3", "tab('pool')", "Pool tab", show=False),
        Binding("5", "tab('log')", "Log tab", show=False),
    ]

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self._live_init()  # view, error, deleted, the follower's and the reads' state
        self._parts_sort = ("auc", True)
        self._parts_key: tuple | None = None
        self._artifacts_key: tuple | None = None
        self._log_shown: str | None = None  # the log text shown (updated only when it changes)
        self.pool: dict | None = None
        self.pool_error: str | None = None
        self.pool_running = False
        self.pool_target = DEFAULT_TARGET
        self.pool_shown_target: str | None = None  # the target of the pool shown (self.pool)
        self.pool_unfinished = False  # the pool was not scored: the run has not succeeded (yet)
        self.cancelling = None  # the status when a cancel was confirmed, until it changes (keys.py)
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
                yield Static("", id="parts-note")
                yield DataTable(id="parts-table", cursor_type="row", zebra_stripes=True)
            with TabPane("Pool", id="pool"):
                with Vertical(id="pool-box"):
                    with Horizontal(id="target-row"):
                        yield Static("target", id="target-label")
                        yield Input(
                            value=DEFAULT_TARGET,
                            id="target",
                            placeholder="TIER:LEVEL, e.g. good:0.6",
                        )
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
        self._reading, self._last_read_start = True, time.monotonic()  # the follower's first pass reads the view
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
        loss_text, not_yet = summary.empty_texts(view)
        self.query_one("#loss", LossPlot).empty_text = loss_text
        self.query_one("#tiers", TierPlot).empty_text = not_yet
        self.query_one("#reliability", ReliabilityPlot).empty_text = not_yet
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
        return summary.crumbs_text(
            prefix,
            self.run_id,
            self.view,
            self._loss(),
            deleted=self.deleted,
            ascii_only=self.ascii_only,
            cancelling=self.cancelling is not None,
        )

    def _crumbs_update(self) -> None:
        try:
            self.query_one("#crumbs", Static).update(self._crumbs())
        except NoMatches:
            pass  # the screen is being taken down: nothing left to update

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
            f"reliability (test{f', {bins} bins' if bins else ''})"
        )
        self.query_one("#summary-pane").border_title = "summary"

    @on(RunPlot.Drawn)
    def _plot_drawn(self, message: RunPlot.Drawn) -> None:
        plot = message.plot
        if not self.is_attached or plot.id not in ("loss", "tiers", "reliability"):
            return
        legend = summary.legend_text(plot.drawn, counts=plot.id == "reliability", ascii_only=self.ascii_only)
        self.query_one(f"#{plot.id}-legend", Static).update(legend)

    def _show_cancelling(self) -> None:
        self._crumbs_update()
        self._show_summary()

    def _show_summary(self) -> None:
        try:
            box = self.query_one("#summary", Static)
        except NoMatches:
            return
        parts = []
        if self.error:
            parts.append(
                Text(("⚠ " if not self.deleted else "") + self.error, style="bold red" if self.deleted else "red")
            )
            if self.deleted:
                parts.append(Text("What was read last is still shown; esc goes back.", style="dim"))
        if self.view:
            # made ASCII below with the rest
            text = summary.summary_text(self.view, self._loss(), cancelling=self.cancelling is not None)
            parts.append(text)
            scorers = summary.scorers_table(self.view, ascii_only=self.ascii_only)
            pane = self.query_one("#summary-pane")
            room = pane.size.height - (text.plain.count("\n") + 1) - 1
            if scorers is not None and (room >= scorers.row_count + 3 or self.has_class("-compact")):
                parts += [Text(""), scorers]  # every scorer where the pane has room for them
        elif not self.error:
            parts.append(Text("reading the run…", style="dim"))
        box.update(Group(*[self._text(p) if isinstance(p, Text) else p for p in parts]))
        self.query_one("#headline", Static).update(
            summary.headline(self.view, deleted=self.deleted, ascii_only=self.ascii_only)
        )

    def _show_parts(self) -> None:
        note = panes.parts_note(self.view)
        box = self.query_one("#parts-note", Static)
        box.update(self._text(Text(note, style="dim")))
        box.display = bool(note)
        rows = (self.view or {}).get("auc_per_part") or []
        key = tuple((r.get("part"), r.get("auc"), r.get("ap")) for r in rows)
        if key == self._parts_key:
            return
        self._parts_key = key
        panes.fill_parts(self.query_one("#parts-table", DataTable), rows)
        self._sort_parts()

    def _sort_parts(self) -> None:
        col, descending = self._parts_sort
        panes.sort_parts(
            self.query_one("#parts-table", DataTable),
            (self.view or {}).get("auc_per_part") or [],
            col,
            descending,
            ascii_only=self.ascii_only,
        )

    @on(DataTable.HeaderSelected, "#parts-table")
    def _parts_header(self, event: DataTable.HeaderSelected) -> None:
        col = event.column_key.value
        col = "auc" if col == "bar" else col
        cur, desc = self._parts_sort
        self._parts_sort = (col, not desc) if col == cur else (col, col != "part")
        self._sort_parts()

    def _show_config(self) -> None:
        self.query_one("#config-view", Static).update(panes.config_view(self.view or {}))

    def _show_log(self) -> None:
        view = self.view or {}
        text = panes.log_text(view, ascii_only=self.ascii_only)
        if text.plain != self._log_shown:
            self._log_shown = text.plain
            scroll = self.query_one("#log-scroll", VerticalScroll)
            follow = scroll.scroll_y >= scroll.max_scroll_y - 1  # at the end: stay there as lines arrive
            self.query_one("#log-view", Static).update(text)
            if follow:
                scroll.call_after_refresh(scroll.scroll_end, animate=False)
        arts = view.get("artifacts") or []
        key = tuple((a.get("name"), a.get("bytes")) for a in arts)
        if key == self._artifacts_key:
            return
        self._artifacts_key = key
        panes.fill_artifacts(self.query_one("#artifacts", DataTable), arts)
        self.query_one("#artifacts-title", Static).update(panes.artifacts_title(view, ascii_only=self.ascii_only))

    @on(DataTable.RowSelected, "#artifacts")
    def _artifact_selected(self, event: DataTable.RowSelected) -> None:
        self._open_artifact()

    # ------------------------------------------------------------------ tomorrow's pool
    @on(TabbedContent.TabActivated, "#tabs")
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        if event.pane.id != "pool" or self.pool_running:
            return
        if (self.pool is None and self.pool_error is None) or self.pool_unfinished:
            self._compute_pool()

    @on(Input.Submitted, "#target")
    def _target_submitted(self, event: Input.Submitted) -> None:
        self.pool_target = event.value
        self._compute_pool()

    def _compute_pool(self) -> None:
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
        self.pool_error = err
        if res is not None:
            self.pool, self.pool_shown_target = res, target
        if self.is_attached:
            self._show_pool()

    def _show_pool(self) -> None:
        self.query_one("#pool-view", Static).update(
            panes.pool_view(
                self.pool,
                running=self.pool_running,
                error=self.pool_error,
                width=self.size.width,
                ascii_only=self.ascii_only,
                shown_target=self.pool_shown_target,
            )
        )
