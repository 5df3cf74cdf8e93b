"""SweepsScreen: every sweep of the runs root (newest first): runs done, best validation
metric, winner. `enter` opens the sweep (SweepScreen).

Reads through core.service.sweeps.list_view in a thread worker, again every REFRESH_SECONDS
while any sweep has runs queued or running.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from synapse_tui.formatting import clean
from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.glyphs import fmt, glyphs

REFRESH_SECONDS = 2.0
COLUMNS = ("id", "name", "runs", "state", "best val Brier", "winner", "created")


def short_id(sweep_id: str) -> str:
    """The sweep id's random tail (`...-sweep-1a2b` -> `1a2b`): short, and what a prefix search needs least."""
    return sweep_id.rsplit("-", 1)[-1]


def created(sweep_id: str) -> str:
    """`20250101-120000-...` -> `01-01 12:00`."""
    d, _, rest = sweep_id.partition("-")
    t = rest[:6]
    return f"{d[4:6]}-{d[6:8]} {t[:2]}:{t[2:4]}" if len(d) == 8 and len(t) == 6 else "?"


def read_sweeps(runs_dir: Path) -> list[dict[str, Any]]:
    from core.service.sweeps import list_view

    return list_view(runs_dir)


class SweepsScreen(Screen):
    """A line per sweep; enter opens one."""

    HELP_TITLE = "Sweeps"
    DEFAULT_CSS = """
    SweepsScreen #sweeps-title { height: auto; padding: 0 1; text-wrap: nowrap; text-overflow: ellipsis; }
    SweepsScreen #sweeps-table { height: 1fr; }
    """
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),  # first: visible at 80 columns
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("enter", "open_sweep", "Open the sweep", show=False),
        Binding("r", "refresh", "Refresh", show=False),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.sweeps: list[dict[str, Any]] | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(Text("reading the sweeps...", style="dim"), id="sweeps-title")
        table: DataTable = DataTable(id="sweeps-table", cursor_type="row", zebra_stripes=True)
        for c in COLUMNS:
            table.add_column(c, key=c)
        yield table
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = "sweeps"
        if getattr(self.app, "ascii_plots", False):
            self.query_one("#sweeps-title", Static).styles.text_overflow = "clip"  # no "…"
        self.load()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_active)

    def on_screen_resume(self) -> None:
        if self.sweeps is not None:
            self.load()

    def action_refresh(self) -> None:
        self.load()

    def _refresh_if_active(self) -> None:
        if self.sweeps is None or any(s["active"] for s in self.sweeps):
            self.load()

    @work(thread=True, exclusive=True, group="sweeps-read")
    def load(self) -> None:
        try:
            sweeps = read_sweeps(self.runs_dir)
        except Exception as exc:  # noqa: BLE001 — said on screen
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, sweeps)

    def _show_error(self, message: str) -> None:
        self.error = message
        if self.is_attached:
            self.query_one("#sweeps-title", Static).update(
                Text(f"cannot read the sweeps: {clean(message)}", style="bold red")
            )

    def _show(self, sweeps: list[dict[str, Any]]) -> None:
        if not self.is_attached:
            return
        self.sweeps, self.error = sweeps, None
        g = glyphs(bool(getattr(self.app, "ascii_plots", False)))
        title = self.query_one("#sweeps-title", Static)
        if not sweeps:
            title.update(
                Text(
                    f"no sweeps in {clean(self.runs_dir / 'sweeps')}: start one with "
                    "`synapse sweep -c CONFIG -g KEY=V1,V2` or the Launch screen's grid (n)",
                    style="dim",
                )
            )
        else:
            active = sum(1 for s in sweeps if s["active"])
            title.update(
                Text(
                    f"{len(sweeps)} sweep{'s' if len(sweeps) != 1 else ''}"
                    + (f", {active} running" if active else "")
                    + f" {g['sep']} enter opens one {g['sep']} winners chosen on validation only",
                    style="dim",
                )
            )
        table = self.query_one("#sweeps-table", DataTable)
        row = table.cursor_row
        rows = []
        for s in sweeps:
            state = "running" if s["active"] else ("done" if s["complete"] else "stopped")
            if s.get("error"):
                state = "unreadable"
            rows.append(
                (
                    s["sweep_id"],
                    [
                        Text(clean(short_id(s["sweep_id"])), style="bold"),
                        Text(clean(s["name"])),
                        Text(f"{s['done']}/{s['total']}"),
                        Text(state, style={"running": "bold cyan", "done": "green"}.get(state, "yellow")),
                        Text(fmt(s["best"])),
                        Text((g["winner"] + " " + clean(s["winner"])) if s["winner"] else g["dash"], style="yellow"),
                        Text(created(s["sweep_id"]), style="dim"),
                    ],
                )
            )
        if getattr(self.app, "ascii_plots", False):
            rows = [(sid, [ascii_text(c) for c in cells]) for sid, cells in rows]
        if [str(k.value) for k in table.rows] == [sid for sid, _ in rows]:
            for sid, cells in rows:  # the same sweeps: update in place (no flicker, the cursor stays)
                for col, c in zip(COLUMNS, cells):
                    table.update_cell(sid, col, c, update_width=True)
            return
        table.clear()
        for sid, cells in rows:
            table.add_row(*cells, key=sid)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))

    def action_open_sweep(self) -> None:
        table = self.query_one("#sweeps-table", DataTable)
        if table.row_count:
            self._open(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        if event.row_key.value is not None:
            self._open(str(event.row_key.value))

    def _open(self, sweep_id: str) -> None:
        from synapse_tui.screens.sweeps.sweep_screen import SweepScreen

        self.app.push_screen(SweepScreen(self.runs_dir, sweep_id))

    def action_back(self) -> None:
        self.app.pop_screen()
