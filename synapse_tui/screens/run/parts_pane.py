"""PartsPane: the run screen's per-part tab, AUC and AP of the primary scorer on test for
every part, sortable (`s` on the screen, or a header click), or a line saying why there is
nothing yet. Attributes down: `view` (what `read_run` returned); `sort` is its own state.
"""

from __future__ import annotations

import math

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.widgets import DataTable, Static

from synapse_tui.formatting import num
from synapse_tui.screens.run import panes
from synapse_tui.screens.run.glyphs import RUN_ASCII
from synapse_tui.screens.run.pane import RunPane

SORT_ORDER = ("part", "auc", "ap")  # what `s` steps through


class PartsPane(RunPane):
    """Per-part AUC and AP, sortable."""

    DEFAULT_CSS = """
    PartsPane {
        height: 1fr;
    }
    PartsPane > #parts-note {
        height: auto;
        padding: 1 1;
    }
    PartsPane > #parts-table {
        height: 1fr;
        border: round $primary 40%;
    }
    """

    def __init__(
        self, view: dict | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(view, name=name, id=id, classes=classes)
        self.sort: tuple[str, bool] = ("auc", True)  # the column and whether descending
        self._rows_key: tuple | None = None  # the rows in the table

    def compose(self) -> ComposeResult:
        yield Static("", id="parts-note")
        yield DataTable(id="parts-table", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.table
        for key, label in (("part", "part"), ("auc", "AUC"), ("ap", "AP"), ("bar", "AUC − 0.5")):
            table.add_column(label, key=key)

    @property
    def table(self) -> DataTable:
        return self.query_one("#parts-table", DataTable)

    def focus_table(self) -> None:
        self.table.focus()

    def show_view(self, view: dict) -> None:
        note = panes.parts_note(view)
        box = self.query_one("#parts-note", Static)
        box.update(self.ascii(Text(note, style="dim")))
        box.display = bool(note)
        rows = view.get("auc_per_part") or []
        key = tuple((r.get("part"), r.get("auc"), r.get("ap")) for r in rows)
        if key == self._rows_key:
            return
        self._rows_key = key
        fill_parts(self.table, rows)
        self._sort()

    # ------------------------------------------------------------------ sorting
    def next_sort(self) -> None:
        """Sort by the next column of part, AUC, AP (AUC and AP best first, part ascending)."""
        col, _ = self.sort
        nxt = SORT_ORDER[(SORT_ORDER.index(col) + 1) % len(SORT_ORDER)] if col in SORT_ORDER else "auc"
        self.sort = (nxt, nxt != "part")
        self._sort()

    @on(DataTable.HeaderSelected, "#parts-table")
    def _header(self, event: DataTable.HeaderSelected) -> None:
        col = event.column_key.value or "auc"
        col = "auc" if col == "bar" else col
        cur, desc = self.sort
        self.sort = (col, not desc) if col == cur else (col, col != "part")
        self._sort()

    def _sort(self) -> None:
        col, descending = self.sort
        sort_parts(self.table, (self.view or {}).get("auc_per_part") or [], col, descending, self.ascii_only)


def fill_parts(table: DataTable, rows: list[dict]) -> None:
    """The per-part table: part, AUC (red below 0.5), AP and a bar of AUC − 0.5."""
    table.clear()
    for r in rows:
        auc, ap = r.get("auc"), r.get("ap")
        lift = (auc - 0.5) if isinstance(auc, (int, float)) and math.isfinite(auc) else None
        bar = "" if lift is None else ("+" if lift >= 0 else "-") * min(20, int(abs(lift) * 100))
        table.add_row(
            Text(str(r.get("part")), justify="right"),
            Text(num(auc, 3), justify="right", style="red" if lift is not None and lift < 0 else ""),
            Text(num(ap, 3), justify="right"),
            Text(bar, style="green" if (lift or 0) >= 0 else "red"),
            key=str(r.get("part")),
        )


def sort_parts(table: DataTable, rows: list[dict], col: str, descending: bool, ascii_only: bool = False) -> None:
    """Order the per-part table by `col` (part, auc or ap; the bar sorts as AUC), missing values
    last either way, and say the order in its title."""
    if not table.row_count:
        return
    col = "auc" if col == "bar" else col
    by_part = {str(r.get("part")): r for r in rows}

    def value(part: str) -> tuple:
        v = by_part[part].get(col)
        missing = not (isinstance(v, (int, float)) and math.isfinite(v))
        return (missing != descending, 0 if missing else v)  # missing values last either way

    rank = {part: i for i, part in enumerate(sorted(by_part, key=value, reverse=descending))}
    table.sort("part", key=lambda cell: rank.get(cell.plain, len(rank)))
    name = {"part": "part", "auc": "AUC", "ap": "AP"}[col]
    title = f"per-part AUC and AP on test · by {name} {'↓' if descending else '↑'} · s or a header click sorts"
    table.border_title = title.translate(RUN_ASCII) if ascii_only else title
