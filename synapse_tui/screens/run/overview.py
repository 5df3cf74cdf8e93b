"""OverviewPane: the run screen's first tab, a 2x2 grid of the loss curves, the tier rates
against the baselines, the reliability diagram and the summary (numbers, comparison, verdict,
every scorer); on a small terminal (`compact`) the four stack in one scrolling column; `z`
shows one plot alone.

Attributes down: `view` (what `read_run` returned), `loss` (the loss curves to draw: the
follower's, which may hold epochs the view has not read yet), `error`, `deleted` and
`cancelling` (what the summary says above the numbers). The screen's keys call `smooth`,
`toggle_log_y`, `next_tier`, `focus_plot` and `zoom`.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Container, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.widgets import Static

from synapse_tui.screens.run import summary
from synapse_tui.screens.run.pane import RunPane
from synapse_tui.widgets.plots import LossPlot, ReliabilityPlot, RunPlot, TierPlot

SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
PLOTS = ("loss", "tiers", "reliability")


class OverviewPane(RunPane):
    """The loss, tiers, reliability and summary panes of one run."""

    DEFAULT_CSS = """
    OverviewPane {
        height: 1fr;
    }
    OverviewPane > #grid {
        layout: grid;
        grid-size: 2 2;
        grid-columns: 1fr 1fr;
        grid-rows: 1fr 1fr;
        height: 1fr;
    }
    OverviewPane.-compact > #grid {
        layout: vertical;
        overflow-y: auto;
        scrollbar-size-vertical: 1;
    }
    OverviewPane .pane {
        border: round $primary 40%;
        border-title-color: $text;
        border-subtitle-color: $text-muted;
        height: 1fr;
        padding: 0;
    }
    OverviewPane .pane:focus-within {
        border: round $accent;
    }
    OverviewPane.-compact .pane {
        height: 15;
    }
    OverviewPane.-compact #summary-pane {
        height: auto;
        max-height: 14;
    }
    OverviewPane .pane PlotextPlot {
        height: 1fr;
        width: 1fr;
    }
    OverviewPane .legend {
        height: 1;
        padding: 0 1;
    }
    OverviewPane #summary {
        padding: 0 1;
    }
    /* z: one plot alone */
    OverviewPane.-zoom > #grid {
        layout: vertical;
        overflow-y: hidden;
    }
    OverviewPane.-zoom .pane {
        display: none;
    }
    OverviewPane.-zoom .pane.-zoomed {
        display: block;
        height: 1fr;
    }
    """

    loss: reactive[dict | None] = reactive(None, always_update=True, init=False)
    """The loss curves to draw (`core.service.series.loss_series`); None: the view's."""
    error: reactive[str | None] = reactive(None, init=False)
    """What went wrong reading the run (shown above what was read last)."""
    deleted: reactive[bool] = reactive(False, init=False)
    cancelling: reactive[bool] = reactive(False, init=False)
    """A cancel was confirmed and the run's status has not changed yet."""
    compact: reactive[bool] = reactive(False)
    """Stacked in one scrolling column (a small terminal)."""

    def __init__(
        self, view: dict | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(view, name=name, id=id, classes=classes)
        self.zoomed: str | None = None  # the plot shown alone (z)

    def compose(self) -> ComposeResult:
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

    def on_mount(self) -> None:
        for plot in self.query(RunPlot):
            plot.can_focus = True
            plot.show_title = False
            plot.show_labels = False
        self._titles()

    # ------------------------------------------------------------------ inputs
    def _changed(self) -> None:
        self._stale = True
        self.sync()

    def watch_loss(self) -> None:
        self._changed()

    def watch_error(self) -> None:
        self._changed()

    def watch_deleted(self) -> None:
        self._changed()

    def watch_cancelling(self) -> None:
        self._changed()

    def watch_compact(self, compact: bool) -> None:
        self.set_class(compact, "-compact")
        self.call_after_refresh(self._show_summary)  # the scorers table comes and goes with the room

    def on_resize(self) -> None:
        self.call_after_refresh(self._show_summary)

    @property
    def loss_plot(self) -> LossPlot:
        return self.query_one("#loss", LossPlot)

    @property
    def tier_plot(self) -> TierPlot:
        return self.query_one("#tiers", TierPlot)

    def _curves(self) -> dict:
        return self.loss if self.loss is not None else ((self.view or {}).get("loss") or {})

    # ------------------------------------------------------------------ drawing
    def show_view(self, view: dict) -> None:
        self.loss_plot.series = self._curves()
        if view:
            tiers = self.tier_plot
            good = ((view.get("config") or {}).get("eval") or {}).get("good_tier") or "good"
            tiers.beats_tier = good
            tiers.curves = view.get("tiers")
            if tiers.tier not in tiers.tiers() and tiers.tiers():
                tiers.tier = tiers.tiers()[0]
            self.query_one("#reliability", ReliabilityPlot).reliability = view.get("reliability")
            loss_text, not_yet = summary.empty_texts(view)
            self.loss_plot.empty_text = loss_text
            tiers.empty_text = not_yet
            self.query_one("#reliability", ReliabilityPlot).empty_text = not_yet
        self._titles()
        self._show_summary()

    def _t(self, text: str) -> str:
        out = self.ascii(text)
        return out if isinstance(out, str) else text

    def _titles(self) -> None:
        loss = self.loss_plot
        bits = ["loss"]
        if loss.smoothing:
            bits.append(f"EMA {loss.smoothing:.2f}")
        bits.append("log y" if loss.log_y else "linear y")
        pane = self.query_one("#loss-pane")
        pane.border_title = self._t(" · ".join(bits))
        pane.border_subtitle = self._t("[ ] smooth · L log")
        tiers = self.tier_plot
        pane = self.query_one("#tiers-pane")
        pane.border_title = self._t(f"{tiers.tier}-or-better@K (test)")
        n = len(tiers.tiers())
        pane.border_subtitle = self._t(f"t: next tier ({n})") if n > 1 else ""
        bins = ((self.view or {}).get("reliability") or {}).get("bins")
        self.query_one("#reliability-pane").border_title = self._t(
            f"reliability (test{f', {bins} bins' if bins else ''})"
        )
        self.query_one("#summary-pane").border_title = "summary"

    def _show_summary(self) -> None:
        if not self.is_attached:
            return
        parts: list[RenderableType] = []
        if self.error:
            deleted = self.deleted
            parts.append(Text(("⚠ " if not deleted else "") + self.error, style="bold red" if deleted else "red"))
            if deleted:
                parts.append(Text("What was read last is still shown; esc goes back.", style="dim"))
        if self.view:
            text = summary.summary_text(self.view, self._curves(), cancelling=self.cancelling)
            parts.append(text)
            scorers = summary.scorers_table(self.view, ascii_only=self.ascii_only)
            room = self.query_one("#summary-pane").size.height - (text.plain.count("\n") + 1) - 1
            if scorers is not None and (room >= scorers.row_count + 3 or self.compact):
                parts += [Text(""), scorers]  # every scorer where the pane has room for them
        elif not self.error:
            parts.append(Text("reading the run…", style="dim"))
        self.query_one("#summary", Static).update(Group(*[self.ascii(p) if isinstance(p, Text) else p for p in parts]))

    @on(RunPlot.Drawn)
    def _plot_drawn(self, message: RunPlot.Drawn) -> None:
        plot = message.plot
        if not self.is_attached or plot.id not in PLOTS:
            return
        legend = summary.legend_text(plot.drawn, counts=plot.id == "reliability", ascii_only=self.ascii_only)
        self.query_one(f"#{plot.id}-legend", Static).update(legend)

    # ------------------------------------------------------------------ what the keys do
    def focus_plot(self, plot_id: str) -> None:
        """Focus one plot (loss, tiers, reliability), leaving a zoom on another."""
        if self.zoomed not in (None, plot_id):
            self.unzoom()
        plot = self.query_one(f"#{plot_id}", RunPlot)
        self.screen.set_focus(plot)  # at once (focus() waits a turn): a z right behind zooms this plot
        plot.scroll_visible(animate=False)

    def next_tier(self) -> None:
        self.tier_plot.next_tier()
        self._titles()

    def smooth(self, step: int) -> None:
        """One step more (1) or less (-1) EMA smoothing of the loss curves."""
        loss = self.loss_plot
        i = min(range(len(SMOOTHING_STEPS)), key=lambda j: abs(SMOOTHING_STEPS[j] - loss.smoothing))
        loss.smoothing = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + step))]
        self._titles()

    def toggle_log_y(self) -> None:
        self.loss_plot.log_y = not self.loss_plot.log_y
        self._titles()

    def zoom(self, plot: RunPlot | None) -> None:
        """`plot`'s pane alone (the loss when None); again: all four.

        A class on the panes rather than Textual's maximize, which loses a widget nested in tabs."""
        if self.zoomed is not None:
            self.unzoom()
            return
        target = plot if plot is not None and plot.id in PLOTS else self.loss_plot
        self.zoomed = target.id
        self.add_class("-zoom")
        self.query_one(f"#{target.id}-pane").add_class("-zoomed")
        target.focus()

    def unzoom(self) -> None:
        if self.zoomed is not None:
            self.query_one(f"#{self.zoomed}-pane").remove_class("-zoomed")
            self.zoomed = None
            self.remove_class("-zoom")
