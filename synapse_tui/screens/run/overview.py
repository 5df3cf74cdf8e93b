"""OverviewPane: the run screen's first tab, a 2x2 grid of the loss curves, the tier rates
against the baselines, the reliability diagram and the summary (numbers, comparison, verdict,
every scorer); on a small terminal (`compact`) the four stack in one scrolling column; `z`
shows one plot alone. The first pane draws the loss curves, or any per-epoch metric the loop
records (`show_metric`: val AUC, lr, epoch seconds...), by epoch or wall clock (`toggle_x`),
with a MetricPlot in place of the LossPlot.

Attributes down: `view` (what `read_run` returned), `loss` (the loss curves to draw: the
follower's, which may hold epochs the view has not read yet), `error`, `deleted` and
`cancelling` (what the summary says above the numbers). The screen's keys call `smooth`,
`toggle_log_y`, `next_tier`, `focus_plot`, `zoom`, `show_metric` and `toggle_x`.
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
from synapse_tui.widgets.metric_plot import MetricPlot
from synapse_tui.widgets.plots import LossPlot, ReliabilityPlot, RunPlot, TierPlot

SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)
PLOTS = ("loss", "tiers", "reliability")
PANE_OF = {"loss": "loss", "metric": "loss", "tiers": "tiers", "reliability": "reliability"}  # plot id -> its pane
LOSS = "loss"  # the first pane's default: train and val loss, best epoch marked (LossPlot)


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
        self.zoomed: str | None = None  # the pane shown alone (z): loss, tiers or reliability
        self.metric = LOSS  # what the first pane draws: LOSS or a key of the epoch events
        self.x_mode = "epoch"  # or "wall": seconds since the first epoch began

    def compose(self) -> ComposeResult:
        with Container(id="grid"):
            with Vertical(id="loss-pane", classes="pane"):
                yield LossPlot(id="loss")
                yield MetricPlot(id="metric")
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
        self.metric_plot.mark_best = True
        self.metric_plot.display = False
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
    def metric_plot(self) -> MetricPlot:
        return self.query_one("#metric", MetricPlot)

    @property
    def first_plot(self) -> LossPlot | MetricPlot:
        """The plot the first pane shows: the loss curves, or a metric (m) or the wall clock (w)."""
        return self.metric_plot if self.metric_plot.display else self.loss_plot

    @property
    def tier_plot(self) -> TierPlot:
        return self.query_one("#tiers", TierPlot)

    def _curves(self) -> dict:
        return self.loss if self.loss is not None else ((self.view or {}).get("loss") or {})

    # ------------------------------------------------------------------ drawing
    def show_view(self, view: dict) -> None:
        self.loss_plot.series = self._curves()
        table = view.get("epoch_table") if view else None
        if table is not None:
            label = str((view.get("run") or {}).get("name") or (view.get("run") or {}).get("run_id") or "run")
            self.metric_plot.runs = [{"label": label, "table": table}]
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
            self.metric_plot.empty_text = loss_text
            tiers.empty_text = not_yet
            self.query_one("#reliability", ReliabilityPlot).empty_text = not_yet
        self._titles()
        self._show_summary()

    def _t(self, text: str) -> str:
        out = self.ascii(text)
        return out if isinstance(out, str) else text

    def _titles(self) -> None:
        loss = self.first_plot
        bits = [self.metric_plot.title if loss is self.metric_plot else "loss"]
        if loss.smoothing:
            bits.append(f"EMA {loss.smoothing:.2f}")
        bits.append("log y" if loss.log_y else "linear y")
        pane = self.query_one("#loss-pane")
        pane.border_title = self._t(" · ".join(bits))
        pane.border_subtitle = self._t("m metric · w x axis · [ ] smooth · L log")
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
        if not self.is_attached or plot.id not in PANE_OF or not plot.display:
            return
        legend = summary.legend_text(plot.drawn, counts=plot.id == "reliability", ascii_only=self.ascii_only)
        self.query_one(f"#{PANE_OF[plot.id]}-legend", Static).update(legend)
        if plot is self.metric_plot:
            self._titles()  # the metric's name and unit come with its drawing

    # ------------------------------------------------------------------ what the keys do
    def focus_plot(self, plot_id: str) -> None:
        """Focus one plot (loss, tiers, reliability), leaving a zoom on another."""
        if self.zoomed not in (None, plot_id):
            self.unzoom()
        plot = self.first_plot if plot_id == "loss" else self.query_one(f"#{plot_id}", RunPlot)
        self.screen.set_focus(plot)  # at once (focus() waits a turn): a z right behind zooms this plot
        plot.scroll_visible(animate=False)

    def next_tier(self) -> None:
        self.tier_plot.next_tier()
        self._titles()

    def smooth(self, step: int) -> None:
        """One step more (1) or less (-1) EMA smoothing of the loss curves."""
        i = min(range(len(SMOOTHING_STEPS)), key=lambda j: abs(SMOOTHING_STEPS[j] - self.loss_plot.smoothing))
        weight = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + step))]
        self.loss_plot.smoothing = self.metric_plot.smoothing = weight  # the same on both: one setting
        self._titles()

    def toggle_log_y(self) -> None:
        log_y = not self.loss_plot.log_y
        self.loss_plot.log_y = self.metric_plot.log_y = log_y
        self._titles()

    def metrics(self) -> list[str]:
        """What `m` offers: the loss curves, then every numeric key of the run's epoch events."""
        return [LOSS, *[m for m in self.metric_plot.metrics() if m not in ("best_epoch",)]]

    def show_metric(self, metric: str) -> None:
        """Draw `metric` (LOSS: the loss curves) in the first pane, by the current x axis."""
        self.metric = metric
        self._show_first()

    def toggle_x(self) -> str:
        """Epoch <-> wall clock on the first pane's x axis; the new mode."""
        self.x_mode = "wall" if self.x_mode == "epoch" else "epoch"
        self._show_first()
        return self.x_mode

    def _show_first(self) -> None:
        focused = self.screen.focused in (self.loss_plot, self.metric_plot)
        use_metric = self.metric != LOSS or self.x_mode != "epoch"
        plot = self.metric_plot
        if use_metric:
            plot.metric = "val_loss" if self.metric == LOSS else self.metric
            plot.also = "train_loss" if self.metric == LOSS else None
            plot.x_mode = self.x_mode
        plot.display = use_metric
        self.loss_plot.display = not use_metric
        if focused:
            self.screen.set_focus(self.first_plot)
        self._titles()

    def zoom(self, plot: RunPlot | None) -> None:
        """`plot`'s pane alone (the loss when None); again: all four.

        A class on the panes rather than Textual's maximize, which loses a widget nested in tabs."""
        if self.zoomed is not None:
            self.unzoom()
            return
        target = plot if plot is not None and plot.id in PANE_OF else self.first_plot
        self.zoomed = PANE_OF[str(target.id)]
        self.add_class("-zoom")
        self.query_one(f"#{self.zoomed}-pane").add_class("-zoomed")
        target.focus()

    def unzoom(self) -> None:
        if self.zoomed is not None:
            self.query_one(f"#{self.zoomed}-pane").remove_class("-zoomed")
            self.zoomed = None
            self.remove_class("-zoom")
