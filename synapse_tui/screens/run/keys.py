"""What the run screen's keys do (RunScreen.BINDINGS names them): panes and tabs, the tier,
smoothing and log scale of the plots, zoom, sorting the parts, opening an artifact, and
cancelling the run behind a y/n question.

`RunKeys` is a part of RunScreen (a base class): the actions act on the screen's widgets
and state and call its `_titles` and `_sort_parts`.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from textual import work
from textual.widgets import DataTable, Input, TabbedContent

from core.errors import InputError
from core.runs.status import status_phrase
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.plots import LossPlot, RunPlot, TierPlot

SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)


class RunKeys:
    """The run screen's actions, for RunScreen."""

    cancelling: str | None = None  # the status when a cancel was confirmed, until it changes

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

    # ------------------------------------------------------------------ tabs, panes and plots
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
            why = "no xdg-open here" if path.suffix.lower() == ".png" else "not a PNG"
            self.notify(f"{path}  ({why})", title="file", timeout=10)

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

    def _show_cancelling(self) -> None:
        """Redraw what says the status (RunScreen's)."""

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
