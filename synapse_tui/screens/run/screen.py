"""RunScreen: one run, live. A breadcrumb line, a headline (on a small terminal), and five
tabs, each a widget that draws the run view it is given (attributes down) and posts what the
screen must act on (messages up): OverviewPane, PartsPane, PoolPane, ConfigPane, LogPane.

The screen keeps what is shared: the run view and its reads (a `RunFollower`), whether the
run is deleted or being cancelled, the keys (BINDINGS; each asks a pane to act), cancelling
behind a y/n question, and opening an artifact (`LogPane.OpenArtifact`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Input, Static, TabbedContent, TabPane, Tabs

from core.errors import InputError
from core.runs.status import status_phrase
from synapse_tui.screens.run import summary
from synapse_tui.screens.run.config_pane import ConfigPane
from synapse_tui.screens.run import follower as following
from synapse_tui.screens.run.follower import RunFollower
from synapse_tui.screens.run.log_pane import LogPane
from synapse_tui.screens.run.overview import OverviewPane
from synapse_tui.screens.run.parts_pane import PartsPane
from synapse_tui.screens.run.pool_pane import PoolPane
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.plots import RunPlot

COMPACT_WIDTH, COMPACT_HEIGHT = 100, 30  # below either: the overview's panes stack and scroll
TABS = ("overview", "parts", "pool", "config", "log")


class RunScreen(Screen[None]):
    """One run, live."""

    HELP_TITLE = "Run"
    CSS_PATH = "run.tcss"
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),  # first: shown at any width
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
        Binding("m", "pick_metric", "Plot: choose the metric (val AUC, lr, epoch seconds...)", show=False),
        Binding("M", "next_metric", "Plot: the next metric", key_display="M", show=False),
        Binding("w", "toggle_x", "Plot: epoch / wall-clock x axis", show=False),
        Binding("E", "export_plot", "Export the focused plot (SVG and PNG)", key_display="E", show=False),
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

    # The follower's messages, handled here as on_run_screen_changed / on_run_screen_gone.
    Changed = following.Changed
    Gone = following.Gone

    def __init__(self, runs_dir: Path, run_id: str) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.run_id = run_id
        self.view: dict | None = None  # the last view read
        self.error: str | None = None  # why the last read failed
        self.deleted = False
        self.cancelling: str | None = None  # the status when a cancel was confirmed, until it changes
        self.follower = RunFollower(self, self.runs_dir, run_id, on_series=self._series, on_read=self._read)

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Static(self._crumbs(), id="crumbs")
        yield Static("", id="headline")
        with TabbedContent(id="tabs", initial="overview"):
            with TabPane("Overview", id="overview"):
                yield OverviewPane(id="overview-pane")
            with TabPane("Parts", id="parts"):
                yield PartsPane(id="parts-pane")
            with TabPane("Pool", id="pool"):
                yield PoolPane(self.runs_dir, self.run_id, id="pool-pane")
            with TabPane("Config", id="config"):
                yield ConfigPane(id="config-pane")
            with TabPane("Log", id="log"):
                yield LogPane(id="log-pane")
        yield Footer(compact=True)

    @property
    def overview(self) -> OverviewPane:
        return self.query_one(OverviewPane)

    @property
    def parts_pane(self) -> PartsPane:
        return self.query_one(PartsPane)

    @property
    def pool_pane(self) -> PoolPane:
        return self.query_one(PoolPane)

    @property
    def config_pane(self) -> ConfigPane:
        return self.query_one(ConfigPane)

    @property
    def log_pane(self) -> LogPane:
        return self.query_one(LogPane)

    @property
    def zoomed(self) -> str | None:
        """The plot shown alone in the overview (z), if any."""
        return self.overview.zoomed

    def on_mount(self) -> None:
        self._layout_for(self.app.size.width, self.app.size.height)
        self.set_interval(1.0, self._tick)
        self.follower.start()

    def on_resize(self, event: Resize) -> None:
        self._layout_for(event.size.width, event.size.height)
        self._crumbs_update()

    def _layout_for(self, width: int, height: int) -> None:
        compact = width < COMPACT_WIDTH or height < COMPACT_HEIGHT
        self.set_class(compact, "-compact")
        self.overview.compact = compact

    @property
    def ascii_only(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    # ------------------------------------------------------------------ what the follower brings
    def on_run_screen_changed(self, message: following.Changed) -> None:
        self.follower.changed(message)

    def on_run_screen_gone(self, message: following.Gone) -> None:
        self._mark_deleted(message.reason)

    def _series(self, series: dict) -> None:
        """New epochs followed (no re-read): the loss curves and the crumbs' epoch."""
        self.overview.loss = self.follower.loss(self.view)
        self._crumbs_update()

    def _read(self, view: dict | None, error: str | None) -> None:
        """A re-read finished: `view`, or why there is none."""
        if view is None:
            if not (self.runs_dir / self.run_id).is_dir() and self._gone_for_good():
                self._mark_deleted("run deleted")
                return
            self.error = error
            self.overview.error = error
            return
        self.error = None
        row, old = view.get("run") or {}, (self.view or {}).get("run") or {}
        if row and row.get("model") is None and old.get("model") and view.get("config_error"):
            row["model"] = old["model"]  # config.yaml unreadable: keep the model known before
        if self.cancelling is not None and row.get("status") != self.cancelling:
            self.cancelling = None  # the cancel took: the status says the rest
        self.view = view
        self._show()

    def _show(self) -> None:
        """Hand the view to every tab (each draws it when shown) and redraw the screen's lines."""
        view = self.view
        overview = self.overview
        with self.app.batch_update():
            overview.error = self.error
            overview.cancelling = self.cancelling is not None
            overview.loss = self.follower.loss(view)
            for pane in (overview, self.parts_pane, self.pool_pane, self.config_pane, self.log_pane):
                pane.view = view
            self.refresh_bindings()  # x (cancel) comes and goes with the status
            self._crumbs_update()
            self._headline()

    def _gone_for_good(self) -> bool:
        try:
            from core.service.runs import open_run

            open_run(self.run_id, self.runs_dir)
            return False
        except InputError:
            return True

    def _mark_deleted(self, reason: str) -> None:
        if self.deleted:
            return
        self.deleted = True
        self.error = reason
        self.follower.stop()
        self.overview.error = reason
        self.overview.deleted = True
        self.refresh_bindings()
        self._crumbs_update()
        self._headline()
        self.notify(f"{self.run_id}: {reason}", severity="warning", timeout=6)

    def _tick(self) -> None:
        status = ((self.view or {}).get("run") or {}).get("status")
        if status == "running":
            self._crumbs_update()
        if not self.deleted:
            self.follower.tick(status)

    # ------------------------------------------------------------------ the screen's lines
    def _crumbs(self) -> Text:
        full = self._crumbs_text(" Synapse ▸ runs ▸ ")
        width = self.app.size.width if self.is_attached else 200
        return full if full.cell_len <= width else self._crumbs_text(" ")

    def _crumbs_text(self, prefix: str) -> Text:
        return summary.crumbs_text(
            prefix,
            self.run_id,
            self.view,
            self.follower.loss(self.view),
            deleted=self.deleted,
            ascii_only=self.ascii_only,
            cancelling=self.cancelling is not None,
        )

    def _crumbs_update(self) -> None:
        try:
            self.query_one("#crumbs", Static).update(self._crumbs())
        except NoMatches:
            pass  # the screen is being taken down: nothing left to update

    def _headline(self) -> None:
        self.query_one("#headline", Static).update(
            summary.headline(self.view, deleted=self.deleted, ascii_only=self.ascii_only)
        )

    def _show_cancelling(self) -> None:
        self._crumbs_update()
        self.overview.cancelling = self.cancelling is not None

    # ------------------------------------------------------------------ keys
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "cancel":  # offered (and in the footer) only while there is something to cancel
            status = ((self.view or {}).get("run") or {}).get("status")
            return not self.deleted and status in ("queued", "running")
        return True

    def action_refresh(self) -> None:
        self.follower.request_read()

    def action_back(self) -> None:
        if isinstance(self.focused, Input):  # esc leaves the target box first
            self.pool_pane.focus_pool()
            return
        if self.zoomed is not None:  # then a zoomed plot
            self.overview.unzoom()
            return
        if self.app.screen is self:
            self.dismiss(None)

    @property
    def active_tab(self) -> str:
        return self.query_one("#tabs", TabbedContent).active

    def action_tab(self, tab: str) -> None:
        tabbed = self.query_one("#tabs", TabbedContent)
        # Focus leaves the old tab first (for the tab bar): a focused widget in a tab being hidden
        # passes its focus to the next one there, and TabbedContent shows the tab of a focused
        # widget (the old tab again).
        self.set_focus(tabbed.query_one(Tabs))
        tabbed.active = tab
        if tab == "parts":
            self.parts_pane.focus_table()
        elif tab == "pool":
            self.pool_pane.focus_pool()
        elif tab == "log":
            self.log_pane.focus_table()

    def action_pane(self, pane: str) -> None:
        self.query_one("#tabs", TabbedContent).active = "overview"
        self.overview.focus_plot(pane)

    def action_tiers(self) -> None:
        if self.active_tab == "overview" and self.focused is self.overview.tier_plot:
            self.overview.next_tier()
        else:
            self.action_pane("tiers")

    def action_smooth(self, step: int) -> None:
        self.overview.smooth(step)

    def action_log_y(self) -> None:
        self.overview.toggle_log_y()

    def action_zoom(self) -> None:
        """The focused plot alone in the overview (the loss when none is focused); again: all four."""
        if self.zoomed is None:
            self.query_one("#tabs", TabbedContent).active = "overview"
        self.overview.zoom(self.focused if isinstance(self.focused, RunPlot) else None)

    def action_sort_parts(self) -> None:
        if self.active_tab != "parts":
            self.action_tab("parts")
            return
        self.parts_pane.next_sort()

    def action_edit_target(self) -> None:
        self.action_tab("pool")
        self.pool_pane.edit_target()

    def action_artifact(self) -> None:
        if self.active_tab != "log" or self.focused is not self.log_pane.table:
            self.action_tab("log")
            return
        self.log_pane.open_selected()

    def action_pick_metric(self) -> None:
        """Pick what the first plot draws: the loss curves or any per-epoch metric the run records."""
        from synapse_tui.widgets.metric_picker import MetricPicker

        self.query_one("#tabs", TabbedContent).active = "overview"
        overview = self.overview

        def chosen(metric: str | None) -> None:
            if metric:
                overview.show_metric(metric)
                overview.focus_plot("loss")

        self.app.push_screen(MetricPicker(overview.metrics(), current=overview.metric), chosen)

    def action_next_metric(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "overview"
        overview = self.overview
        metrics = overview.metrics()
        i = metrics.index(overview.metric) if overview.metric in metrics else -1
        overview.show_metric(metrics[(i + 1) % len(metrics)])
        overview.focus_plot("loss")

    def action_toggle_x(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "overview"
        mode = self.overview.toggle_x()
        self.overview.focus_plot("loss")
        self.notify(
            "x axis: " + ("wall clock (s since the first epoch began)" if mode == "wall" else "epoch"), timeout=3
        )

    # ------------------------------------------------------------------ plot export
    def action_export_plot(self) -> None:
        """The focused plot (the first one when none is) to SVG and PNG files, in a worker."""
        overview = self.overview
        focused = self.focused
        if isinstance(focused, RunPlot) and focused.id in ("tiers", "reliability"):
            what = str(focused.id)
        else:
            what = "loss" if overview.metric == "loss" else overview.metric
        self.export_plot(what, overview.x_mode)

    @work(thread=True, group="run-export", exit_on_error=False)
    def export_plot(self, what: str, x: str) -> None:
        from core.service.plot_export import default_export_path, export_plot
        from core.service.runs import open_run

        try:
            rd = open_run(self.run_id, self.runs_dir)
            paths = [
                export_plot([rd], what, default_export_path(self.run_id, what, suffix), x=x)
                for suffix in (".svg", ".png")
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

    # ------------------------------------------------------------------ artifacts
    @on(LogPane.OpenArtifact)
    def _open_artifact(self, message: LogPane.OpenArtifact) -> None:
        """Text, JSON and markdown open in place (ArtifactScreen: a live run's worker.log already
        following); a PNG opens with xdg-open where there is one, else its path is shown."""
        path = message.path
        if path.suffix.lower() != ".png":
            from synapse_tui.screens.artifact import ArtifactScreen

            status = ((self.view or {}).get("run") or {}).get("status")
            follow = status in ("queued", "running") and path.name == "worker.log"
            self.app.push_screen(ArtifactScreen(path, title=f"{path.name} · {self.run_id}", follow=follow))
            return
        opener = shutil.which("xdg-open")
        if path.is_file() and opener:
            try:
                subprocess.Popen(
                    [opener, str(path)],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            except OSError as exc:
                self.notify(f"could not open {path}: {exc}", severity="error")
                return
            self.notify(f"opening {path.name}")
        elif not path.exists():
            self.notify(f"{path} is gone", severity="warning")
        else:
            self.notify(f"{path}  (no xdg-open here)", title="file", timeout=10)

    # ------------------------------------------------------------------ cancel
    def action_cancel(self) -> None:
        if self.deleted:
            self.notify("the run is deleted", severity="warning")
            return
        status = ((self.view or {}).get("run") or {}).get("status")
        if status not in ("queued", "running"):
            self.notify(f"{self.run_id} {status_phrase(status)}: nothing to cancel", severity="warning")
            return
        if self.cancelling is not None:
            self.notify("cancelling already: the run stops after its current epoch")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._cancel_confirmed(status)

        self.app.push_screen(
            YesNo(f"Cancel run {self.run_id}?\nIt saves last.pt and ends cancelled (synapse resume continues it)."),
            answered,
        )

    def _cancel_confirmed(self, status: str) -> None:
        """Say "cancelling…" from now until the run's status changes (the view's reads clear it)."""
        self.cancelling = status
        self._show_cancelling()
        self.cancel_run()

    def _cancel_failed(self, message: str) -> None:
        self.cancelling = None
        self._show_cancelling()
        self.notify(message, severity="error", timeout=8)

    @work(thread=True, group="run-cancel", exit_on_error=False)
    def cancel_run(self) -> None:
        from core.service import jobs
        from core.service.runs import open_run

        try:
            out = jobs.cancel(open_run(self.run_id, self.runs_dir))
            self.app.call_from_thread(self.notify, f"{self.run_id}: {out['message']}")
        except InputError as exc:
            self.app.call_from_thread(self._cancel_failed, str(exc))
        except Exception as exc:  # noqa: BLE001
            self.app.call_from_thread(self._cancel_failed, f"cancel failed: {exc}")
