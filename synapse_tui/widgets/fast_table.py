"""A DataTable that stays fast when hundreds of rows are sorted, filtered or streamed.

Textual's DataTable keys its rendered-cell cache on a counter that every sort, add and
remove bumps, so after a sort every visible cell is rendered again through Rich (~0.2 ms
a cell, ~150 ms for a 48x15 screen), and `remove_row` rewrites the whole row index each
time (removing 450 of 500 rows costs ~1 s). This subclass keeps a second cache keyed on
what a cell *shows* (its text, style, width and highlight), re-pointing the mouse metadata
(row, column) of a cached render to where the cell is now, and removes many rows in one
pass. It relies on DataTable internals, which is why textual is pinned to one version in
pyproject.toml; tests/test_fast_table.py checks it against the plain DataTable.
"""

from __future__ import annotations

from collections.abc import Iterable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.widgets import DataTable
from textual.widgets._data_table import CellKey, RowKey, TwoWayDict

CONTENT_CACHE_SIZE = 20_000


class FastDataTable(DataTable):
    """DataTable with a content-keyed cell cache and a bulk `remove_rows`."""

    def __init__(self, *args, **kwargs) -> None:
        # Set before DataTable.__init__, which already clears caches through reactive watchers.
        self._shown_cache: dict[tuple, tuple[int, int, list[list[Segment]]]] = {}
        super().__init__(*args, **kwargs)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._shown_cache.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._shown_cache.clear()

    def remove_rows(self, keys: Iterable[RowKey | str]) -> None:
        """Remove every row in `keys` at once: the row index is rebuilt a single time."""
        gone = {RowKey(k) if not isinstance(k, RowKey) else k for k in keys}
        gone &= set(self._data)
        if not gone:
            return
        if len(gone) == 1:
            self.remove_row(next(iter(gone)))
            return
        kept = sorted((self._row_locations.get(k), k) for k in self._row_locations if k not in gone)
        self._row_locations = TwoWayDict({k: n for n, (_, k) in enumerate(kept)})
        for row_key in gone:
            for column_key in self._data[row_key]:
                self._updated_cells.discard(CellKey(row_key, column_key))
            del self.rows[row_key]
            del self._data[row_key]
        self._new_rows -= gone
        self._require_update_dimensions = True
        self.check_idle()
        self.cursor_coordinate = self.cursor_coordinate
        self.hover_coordinate = self.hover_coordinate
        self._update_count += 1
        self.refresh(layout=True)

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        # Column widths of plain one-line rows from the text's cell length: measuring through
        # Rich builds console options for every cell (~130 ms for 450 rows of 15 columns).
        columns = self.ordered_columns
        slow = []
        for row_key in new_rows:
            data, row = self._data.get(row_key), self.rows.get(row_key)
            if data is None or row is None:
                continue
            cells = [data.get(c.key) for c in columns]
            if (
                row.auto_height
                or row.label is not None
                or not all(
                    c is None or (isinstance(c, Text) and "\n" not in c.plain and "\t" not in c.plain) for c in cells
                )
            ):
                slow.append(row_key)
                continue
            for column, cell in zip(columns, cells):
                if cell is not None:
                    column.content_width = max(column.content_width, cell.cell_len)
        super()._update_dimensions(slow)  # the rest, and the virtual size

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        if row_index < 0 or column_index < 0 or self.fixed_rows or self.fixed_columns:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        column_key = self._column_locations.get_key(column_index)
        cell = self._data[row_key].get(column_key)
        row = self.rows[row_key]
        if not isinstance(cell, Text) or row.height != 1:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            cell.plain,
            cell.style,
            tuple(cell.spans),
            cell.justify,
            base_style,
            width,
            cursor,
            hover,
            self._show_hover_cursor,
            self.show_cursor,
            self._pseudo_class_state,
        )
        hit = self._shown_cache.get(key)
        if hit is None:
            lines = super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            if len(self._shown_cache) >= CONTENT_CACHE_SIZE:
                self._shown_cache.clear()
            self._shown_cache[key] = (row_index, column_index, lines)
            return lines
        at_row, at_column, lines = hit
        if (at_row, at_column) == (row_index, column_index):
            return lines
        # The same look at another place: only the click metadata differs.
        here = Style.from_meta({"row": row_index, "column": column_index})
        return [list(Segment.apply_style(line, post_style=here)) for line in lines]
