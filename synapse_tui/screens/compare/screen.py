"""CompareScreen: the layout (a legend of the runs, then tabs: curves, metrics, config diff,
paired test), the reading workers and the keys. What the panes show is built in tables.py
(and plot.py for the good-or-better@K plot) from the view the worker read."""

from __future__ import annotations

import re
from pathlib import Path

from rich.measure import Measurement
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.errors import InputError
from synapse_tui.screens.compare import reading, tables
from synapse_tui.screens.compare.plot import ComparePlot, draw_gob
from synapse_tui.screens.compare.table_pane import TablePane
from synapse_tui.screens.run.glyphs import ascii_renderable
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.metric_picker import MetricPicker
from synapse_tui.widgets.metric_plot import MetricPlot

REFRESH_SECONDS = 2.0  # while a compared run is still queued or running
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)  # as the run screen's [ and ]


class CompareScreen(Screen):
    """2-8 runs side by side; the paired test only on `P`, after a yes."""

    HELP_TITLE = "Compare"
    CSS_PATH = "compare.tcss"
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),  # first: the footer always shows it
        Binding("escape", "back", "Back", key_display="esc"),
        # P, not p (the run screen's Parts tab): a key no other screen uses; it asks first, as
        # the test touches the test windows and is recorded in each paired run's manifest.
        Binding("P", "paired", "Paired test (asks)", key_display="P"),
        # m and w mean the same on every screen with a metric plot: pick the metric, epoch/wall clock x.
        Binding("m", "pick_metric", "Metric", tooltip="Plot another per-epoch metric (a list of those the runs have)"),
        Binding("w", "toggle_x", "Epoch/wall", tooltip="x axis: epoch or wall clock (time since the first epoch)"),
        Binding("M", "next_metric", "Next metric", key_display="M", show=False),
        Binding("E", "export_plot", "Export the curves (SVG and PNG)", key_display="E", show=False),
        Binding("T", "toggle_train", "Train loss", key_display="T", tooltip="Show/hide the train loss (dotted)"),
        Binding("left_square_bracket", "smooth(-1)", "Less smoothing", key_display="[", show=False),
        Binding("right_square_bracket", "smooth(1)", "More smoothing", key_display="]", show=False),
        Binding("L", "log_y", "Curves: log/linear y", key_display="L", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("1", "tab('curves')", "Curves tab", show=False),
        Binding("2", "tab('metrics')", "Metrics tab", show=False),
        Binding("3", "tab('config')", "Config diff tab", show=False),
        Binding("4", "tab('paired')", "Paired test tab", show=False),
    ]

    def __init__(self, runs_dir: Path, run_ids: list[str]) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.run_ids = list(run_ids)
        self.view: dict | None = None
        self.tests: list[dict] | None = None
        self.paired_error: str | None = None
        self.paired_running = False
        self.show_train = False
        self.compact = False  # set from the width: two runs a legend line when 8 do not fit one a line

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._out(Text("reading the runs…", style="dim")), id="legend")
        with TabbedContent(id="tabs", initial="curves"):
            with TabPane("Curves", id="curves"):
                with Vertical(id="curves-box"):
                    yield Static(id="curves-note")
                    with Horizontal(id="plots"):
                        # any per-epoch metric (val loss first); the id is the one tests have always known
                        plot = MetricPlot(id="loss-plot")
                        plot.show_labels = False  # the legend above names the runs in their colours
                        plot.empty_text = "reading the runs…"
                        yield plot
                        yield ComparePlot(id="gob-plot")
            with TabPane("Metrics", id="metrics"):
                with TablePane(classes="pane"):
                    yield Static(id="metrics-table")
            with TabPane("Config diff", id="config"):
                with TablePane(classes="pane"):
                    yield Static(id="config-table")
            with TabPane("Paired test", id="paired"):
                with TablePane(classes="pane"):
                    yield Static(id="paired-view")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"compare {len(self.run_ids)} runs"
        self._show_paired()
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_active)

    # ------------------------------------------------------------------ reading
    def action_refresh(self) -> None:
        self.load()

    def _refresh_if_active(self) -> None:
        if self.view is not None and self.view["active"]:
            self.load()

    @work(thread=True, exclusive=True, group="compare-read")
    def load(self) -> None:
        try:
            view = reading.read_comparison(self.runs_dir, self.run_ids)
        except InputError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, view)

    def _show_error(self, message: str) -> None:
        try:
            self.query_one("#legend", Static).update(self._out(Text(f"cannot compare: {message}", style="bold red")))
        except NoMatches:
            pass

    def _show(self, view: dict) -> None:
        if not self.is_attached:
            return
        self.view = view
        self.compact = len(view["ids"]) > 4 and self.size.width >= 2 * 36
        self._show_legend(view)
        plot = self.query_one("#loss-plot", MetricPlot)
        metrics = view.get("metrics") or []
        if plot.metric not in metrics and metrics:
            plot.metric = metrics[0]
        plot.runs = [{"label": lab, "table": t} for lab, t in zip(view["labels"], view.get("tables") or [])]
        self._plot_loss()
        self._plot_gob()
        self._show_tables(view)
        self._show_paired()

    def _show_legend(self, view: dict) -> None:
        legend = tables.legend(view, compact=self.compact, ascii_only=self.ascii_only)
        self.query_one("#legend", Static).update(self._out(legend))

    def _show_tables(self, view: dict) -> None:
        """The metrics and config-diff tabs, built for the pane's width."""
        console, width = self.app.console, self._pane_width()
        self._fit(self.query_one("#metrics-table", Static), tables.metrics(view, console=console, width=width))
        self._fit(self.query_one("#config-table", Static), tables.config_diff(view, console=console, width=width))

    def _fit(self, box: Static, renderable) -> None:
        """Show `renderable` at its natural width (at least the pane's), so a table of 8 runs
        keeps every column whole and its pane scrolls sideways instead of squeezing it."""
        options = self.app.console.options.update(max_width=1000)
        width = Measurement.get(self.app.console, options, renderable).maximum
        box.styles.width = max(width, 10)
        box.update(self._out(renderable))

    def _pane_width(self) -> int:
        """The columns a tab's table has: the screen less the pane's padding and scrollbar."""
        return max(20, (self.size.width or 80) - 3)

    @property
    def ascii_only(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _out(self, renderable):
        """What a Static shows: as it is, or in ASCII when the app draws with ASCII."""
        return ascii_renderable(renderable, self.ascii_only)

    # ------------------------------------------------------------------ the plots
    def _plot_loss(self) -> None:
        """The metric plot's partner curve (T: train loss dotted beside val loss) follows the metric."""
        plot = self.query_one("#loss-plot", MetricPlot)
        plot.also = MetricPlot.partner(plot.metric) if self.show_train else None
        self._curves_note()

    def on_metric_plot_drawn(self, event: MetricPlot.Drawn) -> None:
        event.stop()
        self._curves_note()

    def _curves_note(self) -> None:
        """One line above the plots: why a run has no curve, else the keys that change the plot."""
        try:
            plot = self.query_one("#loss-plot", MetricPlot)
            note = self.query_one("#curves-note", Static)
        except NoMatches:
            return
        note.update(self._out(tables.curves_note(self.view or {}, plot.drawn, plot.metric)))

    def _plot_gob(self) -> None:
        widget = self.query_one("#gob-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        gob = (self.view or {}).get("gob") or {"ks": []}
        draw_gob(plt, gob, self.view["labels"] if self.view else [], self.ascii_only)
        widget.refresh()

    # ------------------------------------------------------------------ the paired test
    def action_paired(self) -> None:
        """Asks first: the test looks at the test windows, and that is recorded in the manifests."""
        if self.paired_running:
            return
        ids = (self.view or {}).get("ids") or self.run_ids
        self.app.push_screen(
            YesNo(
                "Run the paired test?\n"
                "It looks at the test window: the test window will be touched, and this is recorded as a "
                f"test touch in each run's manifest (test_touches of {', '.join(ids)})."
            ),
            self._paired_answered,
        )

    def _paired_answered(self, yes: bool | None) -> None:
        if yes:
            self._start_paired()

    def _start_paired(self) -> None:
        if self.paired_running or not self.is_attached:
            return
        self.paired_running = True
        self.paired_error = None
        self.query_one("#tabs", TabbedContent).active = "paired"
        self._show_paired()
        self.run_paired()

    @work(thread=True, exclusive=True, group="compare-paired")
    def run_paired(self) -> None:
        try:
            tests = reading.paired_test(self.runs_dir, self.run_ids)
        except InputError as exc:
            # the service speaks to the CLI too: its --no-paired hint means nothing here
            message = re.sub(r"\s*\((or )?pass --no-paired[^)]*\)", "", str(exc))
            self.app.call_from_thread(self._paired_done, None, message)
            return
        self.app.call_from_thread(self._paired_done, tests, None)

    def _paired_done(self, tests: list[dict] | None, error: str | None) -> None:
        self.paired_running = False
        self.tests, self.paired_error = tests, error
        if not self.is_attached:
            return
        self._show_paired()
        if tests is not None:
            n = sum("skipped" not in t for t in tests)
            self.notify(f"paired test done; recorded as a test touch in {n + 1 if n else 0} manifests", timeout=4)
            self.load()  # the touches show in the runs' rows

    def _show_paired(self) -> None:
        try:
            box = self.query_one("#paired-view", Static)
        except NoMatches:
            return
        view = tables.paired(self.view or {}, self.tests, running=self.paired_running, error=self.paired_error)
        box.update(self._out(view))

    # ------------------------------------------------------------------ keys
    def action_toggle_train(self) -> None:
        self.show_train = not self.show_train
        self._plot_loss()

    def _plot(self) -> MetricPlot:
        self.query_one("#tabs", TabbedContent).active = "curves"  # a plot key shows the plot
        return self.query_one("#loss-plot", MetricPlot)

    def action_pick_metric(self) -> None:
        plot = self._plot()
        metrics = plot.metrics()
        if not metrics:
            self.notify("no run has per-epoch metrics yet (baselines runs do not train)", timeout=4)
            return
        self.app.push_screen(MetricPicker(metrics, current=plot.metric), self._picked)

    def _picked(self, metric: str | None) -> None:
        if metric and self.is_attached:
            self._set_metric(metric)

    def _set_metric(self, metric: str) -> None:
        plot = self.query_one("#loss-plot", MetricPlot)
        plot.metric = metric
        self._plot_loss()  # the partner curve follows the metric

    def action_next_metric(self) -> None:
        plot = self._plot()
        if plot.metrics():
            self._set_metric(plot.next_metric())

    def action_toggle_x(self) -> None:
        self._plot().toggle_x()

    def action_export_plot(self) -> None:
        """The curves as drawn (the metric, the x axis, every run) to SVG and PNG files, in a worker."""
        plot = self._plot()
        self.export_plot(plot.metric, plot.x_mode)

    @work(thread=True, group="compare-export", exit_on_error=False)
    def export_plot(self, what: str, x: str) -> None:
        from core.service.plot_export import default_export_path, export_plot
        from core.service.runs import open_runs

        try:
            rds = open_runs(self.run_ids, self.runs_dir)
            name = "compare-" + "-".join(rd.run_id[-4:] for rd in rds)
            paths = [
                export_plot(rds, what, default_export_path(name, what, suffix), x=x) for suffix in (".svg", ".png")
            ]
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8, markup=False)
            return
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error", markup=False)
            return
        self.app.call_from_thread(
            self.notify, "wrote " + " and ".join(str(p) for p in paths), title="plot exported", timeout=8, markup=False
        )

    def action_smooth(self, step: int) -> None:
        plot = self._plot()
        i = min(range(len(SMOOTHING_STEPS)), key=lambda j: abs(SMOOTHING_STEPS[j] - plot.smoothing))
        plot.smoothing = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + step))]

    def action_log_y(self) -> None:
        plot = self._plot()
        plot.log_y = not plot.log_y

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        if tab != "curves":  # arrows scroll the table (sideways too, when 8 runs are wider than the screen)
            pane = self.query_one(f"#{tab} .pane", TablePane)
            self.call_after_refresh(pane.focus)

    def action_back(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def on_resize(self) -> None:
        if self.view is not None:
            self._show_tables(self.view)
            compact = len(self.view["ids"]) > 4 and self.size.width >= 2 * 36
            if compact != self.compact:
                self.compact = compact
                self._show_legend(self.view)
