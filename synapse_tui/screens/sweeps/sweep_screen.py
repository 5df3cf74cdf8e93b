"""SweepScreen: one sweep: its runs with the swept keys as columns, the winner (validation
only), the verdicts, and how the validation metric depends on the chosen key (left/right).

Reads through core.service.sweeps.view in a thread worker, again every REFRESH_SECONDS while
any of the sweep's runs is queued or running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from synapse_tui.formatting import clean
from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.dependence import DependencePlot
from synapse_tui.screens.sweeps.glyphs import fmt, glyphs
from synapse_tui.screens.sweeps.importance import ImportanceBars
from synapse_tui.screens.sweeps.runs_table import SweepRunsTable
from synapse_tui.screens.sweeps.verdicts import VerdictLines

REFRESH_SECONDS = 2.0
NARROW = 120  # columns below which the panes stack


def read_sweep(runs_dir: Path, sweep_id: str) -> dict[str, Any]:
    from core.service.sweeps import view

    return view(sweep_id, runs_dir)


class SweepScreen(Screen):
    """A sweep's runs, winner, verdicts, dependence plot and key importance."""

    HELP_TITLE = "Sweep"
    DEFAULT_CSS = """
    SweepScreen #sweep-title { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SweepScreen SweepRunsTable { max-height: 45%; }
    SweepScreen #sweep-bottom { height: 1fr; }
    SweepScreen #sweep-left { width: 2fr; height: 1fr; }
    SweepScreen #sweep-right { width: 1fr; height: 1fr; border-left: solid $panel; }
    SweepScreen.-narrow SweepRunsTable { max-height: 8; overflow-x: hidden; }
    SweepScreen.-narrow #sweep-bottom { layout: vertical; }
    SweepScreen.-narrow #sweep-left { width: 100%; }
    SweepScreen.-narrow #sweep-right { width: 100%; height: auto; max-height: 3; border-left: none; }
    SweepScreen.-narrow DependencePlot { min-height: 6; }
    """
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),  # first: visible at 80 columns
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("left", "key_step(-1)", "Prev key", key_display="left", priority=True),
        Binding("right", "key_step(1)", "Next key", key_display="right", priority=True),
        Binding("enter", "open_run", "Open run"),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, runs_dir: Path, sweep_id: str) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.sweep_id = sweep_id
        self.view: dict[str, Any] | None = None
        self.error: str | None = None
        self.key_index = 0

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("reading the sweep...", style="dim"), id="sweep-title")
        yield SweepRunsTable(id="sweep-runs")
        with Horizontal(id="sweep-bottom"):
            with Vertical(id="sweep-left"):
                yield DependencePlot(id="sweep-dependence")
                yield ImportanceBars(id="sweep-importance")
            with VerticalScroll(id="sweep-right"):
                yield VerdictLines(id="sweep-verdicts")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"sweep {self.sweep_id}"
        self.set_class(self.size.width < NARROW, "-narrow")
        if getattr(self.app, "ascii_plots", False):
            self.query_one("#sweep-title", Static).styles.text_overflow = "clip"  # no "…"
        self.load()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_active)

    def on_resize(self, event: Resize) -> None:
        self.set_class(event.size.width < NARROW, "-narrow")

    # ------------------------------------------------------------------ reading
    def action_refresh(self) -> None:
        self.load()

    def _refresh_if_active(self) -> None:
        if self.view is None or self.view["active"]:
            self.load()

    @work(thread=True, exclusive=True, group="sweep-read")
    def load(self) -> None:
        try:
            view = read_sweep(self.runs_dir, self.sweep_id)
        except Exception as exc:  # noqa: BLE001 — an unreadable sweep is said, not raised
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, view)

    def _show_error(self, message: str) -> None:
        self.error = message
        if self.is_attached:
            self.query_one("#sweep-title", Static).update(
                Text(f"cannot read sweep {clean(self.sweep_id)}: {clean(message)}", style="bold red")
            )

    def _show(self, view: dict[str, Any]) -> None:
        if not self.is_attached:
            return
        self.view, self.error = view, None
        self.query_one("#sweep-title", Static).update(self._title(view))
        self._draw()

    def _draw(self) -> None:
        if self.view is None:
            return
        self.query_one(SweepRunsTable).show(self.view, self.key_index)
        self.query_one(DependencePlot).show(self.view, self.key_index)
        self.query_one(ImportanceBars).show(self.view, self.key_index)
        self.query_one(VerdictLines).show(self.view)

    def _title(self, view: dict[str, Any]) -> Text:
        g = glyphs(bool(getattr(self.app, "ascii_plots", False)))
        out = Text(no_wrap=True, overflow="ellipsis")  # the sweep id is the header's subtitle
        out.append(clean(view["name"]), style="bold")
        out.append(f" {g['sep']} ")
        out.append(f"{view['done']}/{view['total']} done", style="bold cyan" if view["active"] else "green")
        w = view.get("winner")
        if w:
            out.append(f" {g['sep']} {g['winner']} ", style="bold yellow")
            out.append(f"{clean(w['label'])} ({view['metric_label']} {fmt(w['value'])})")
        return ascii_text(out) if getattr(self.app, "ascii_plots", False) else out

    # ------------------------------------------------------------------ keys
    def action_key_step(self, delta: int) -> None:
        if self.view is None or not self.view["keys"]:
            return
        self.key_index = (self.key_index + delta) % len(self.view["keys"])
        self._draw()

    def action_open_run(self) -> None:
        run_id = self.query_one(SweepRunsTable).run_id_at_cursor()
        if run_id is not None:
            self.app.open_run(run_id)  # type: ignore[attr-defined]

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self.app.open_run(str(event.row_key.value))  # type: ignore[attr-defined]

    def action_back(self) -> None:
        self.app.pop_screen()
