"""LogPane: the run screen's log tab, the log tail (log events, then the last lines of
worker.log) kept at its end while lines arrive, and the table of the run's artifacts.

Attributes down: `view` (what `read_run` returned); the log and the table are redrawn only
when their part of the view changed. Messages up: `LogPane.OpenArtifact(path)` when enter
(or `a`, through the screen's `open_selected`) is pressed on an artifact; the screen decides
how to open it.
"""

from __future__ import annotations

from pathlib import Path

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import DataTable, Static

from synapse_tui.formatting import byte_size
from synapse_tui.screens.run import panes
from synapse_tui.screens.run.pane import RunPane


class LogPane(RunPane):
    """The log tail and the artifacts of one run."""

    DEFAULT_CSS = """
    LogPane {
        height: 1fr;
    }
    LogPane > #log-scroll {
        height: 1fr;
        min-height: 4;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    LogPane > #artifacts-title {
        height: 1;
        padding: 0 1;
    }
    LogPane > #artifacts {
        height: auto;
        max-height: 50%;
    }
    """

    class OpenArtifact(Message):
        """Open the artifact at `path` (enter or `a` on its row)."""

        def __init__(self, path: Path) -> None:
            super().__init__()
            self.path = path

    def __init__(
        self, view: dict | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(view, name=name, id=id, classes=classes)
        self._log_shown: str | None = None  # the log text shown
        self._artifacts_key: tuple | None = None  # the artifacts in the table

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="log-scroll"):
            yield Static("", id="log-view")
        yield Static("", id="artifacts-title")
        yield DataTable(id="artifacts", cursor_type="row")

    def on_mount(self) -> None:
        for key, label in (("name", "artifact"), ("size", "size")):
            self.table.add_column(label, key=key)

    @property
    def table(self) -> DataTable:
        return self.query_one("#artifacts", DataTable)

    def focus_table(self) -> None:
        self.table.focus()

    def show_view(self, view: dict) -> None:
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
        fill_artifacts(self.table, arts)
        title = Text(f"artifacts in {(view.get('run') or {}).get('path', '')} — enter or a opens a PNG", style="bold")
        self.query_one("#artifacts-title", Static).update(self.ascii(title))

    @on(DataTable.RowSelected, "#artifacts")
    def _selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_selected()

    def open_selected(self) -> None:
        """Post OpenArtifact for the artifact under the cursor (nothing when there is none)."""
        table = self.table
        if not table.row_count:
            return
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        art = next((a for a in (self.view or {}).get("artifacts") or [] if a["name"] == name), None)
        if art is not None:
            self.post_message(self.OpenArtifact(Path(art["path"])))


def fill_artifacts(table: DataTable, arts: list[dict]) -> None:
    """The artifacts table (name, size), the cursor kept on the same row number."""
    cursor = table.cursor_row
    table.clear()
    for a in arts:
        table.add_row(a["name"], Text(byte_size(a.get("bytes") or 0), justify="right", style="dim"), key=a["name"])
    if table.row_count:
        table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)
