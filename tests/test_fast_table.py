"""FastDataTable against Textual's own DataTable: the same frames (text, colours and the
click metadata of every cell) after sorts, bulk removals and re-adds, and a click after a
sort lands on the row under the mouse."""

import random

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from synapse_tui.widgets.fast_table import FastDataTable

COLUMNS = ["name", "score", "status"]
STYLES = ["", "bold green", "red", "italic"]


def _rows(n: int, seed: int = 0) -> list[tuple[str, list[Text]]]:
    rng = random.Random(seed)
    return [
        (
            f"r{i}",
            [
                Text(f"run-{i:03d}"),
                Text(f"{rng.random():.3f}"),
                Text(rng.choice(["ok", "failed", "running"]), style=rng.choice(STYLES)),
            ],
        )
        for i in range(n)
    ]


class TableApp(App):
    def __init__(self, table_cls: type[DataTable]) -> None:
        super().__init__()
        self.table_cls = table_cls
        self.selected: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.table_cls(id="t", cursor_type="row", zebra_stripes=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.selected.append(event.row_key.value)


def _frame(table: DataTable) -> list[list[tuple[str, object, dict]]]:
    lines = table.render_lines(Region(0, 0, table.size.width, table.size.height))
    return [[(seg.text, seg.style, (seg.style.meta if seg.style else {})) for seg in line] for line in lines]


async def _script(table_cls: type[DataTable]) -> list:
    """Frames after each step of one fixed script of sorts, removals and additions."""
    frames = []
    app = TableApp(table_cls)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one("#t", DataTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        for key, cells in _rows(40):
            table.add_row(*cells, key=key)
        await pilot.pause()
        frames.append(_frame(table))
        for step, column in enumerate(["score", "status", "name", "score"]):
            table.sort(column, key=lambda c: c.plain, reverse=step % 2 == 1)
            await pilot.pause()
            frames.append(_frame(table))
        gone = [f"r{i}" for i in range(0, 40, 3)]
        if isinstance(table, FastDataTable):
            table.remove_rows(gone)
        else:
            for key in gone:
                table.remove_row(key)
        await pilot.pause()
        frames.append(_frame(table))
        table.move_cursor(row=5)
        table.sort("score", key=lambda c: c.plain)
        await pilot.pause()
        frames.append(_frame(table))
        for key, cells in _rows(45, seed=1)[40:]:
            table.add_row(*cells, key=key)
        table.update_cell("r1", "name", Text("a much longer run name", style="bold"), update_width=True)
        await pilot.pause()
        frames.append(_frame(table))
        frames.append([table.row_count, [r.key.value for r in table.ordered_rows], table.cursor_coordinate])
    return frames


async def test_frames_match_textual_data_table():
    fast, plain = await _script(FastDataTable), await _script(DataTable)
    assert len(fast) == len(plain)
    for step, (a, b) in enumerate(zip(fast, plain)):
        assert a == b, f"step {step} differs"


async def test_remove_rows_keeps_order_cursor_and_ignores_unknown_keys():
    app = TableApp(FastDataTable)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one("#t", FastDataTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        for key, cells in _rows(10):
            table.add_row(*cells, key=key)
        table.move_cursor(row=8)
        table.remove_rows(["r1", "r2", "r9", "no-such-row"])
        await pilot.pause()
        assert [r.key.value for r in table.ordered_rows] == ["r0", "r3", "r4", "r5", "r6", "r7", "r8"]
        assert table.cursor_row == 6  # clamped into the rows left
        assert table.get_row("r8")[0].plain == "run-008"
        table.remove_rows([])
        table.remove_rows(["r0"])  # a single key goes through DataTable.remove_row
        assert table.row_count == 6


@pytest.mark.parametrize("table_cls", [FastDataTable, DataTable])
async def test_a_click_after_a_sort_selects_the_row_under_the_mouse(table_cls):
    app = TableApp(table_cls)
    async with app.run_test(size=(60, 20)) as pilot:
        table = app.query_one("#t", DataTable)
        for key in COLUMNS:
            table.add_column(key, key=key)
        for key, cells in _rows(12):
            table.add_row(*cells, key=key)
        await pilot.pause()
        # r10 and r11 to the top: every other row moves down two, so its zebra stripe and
        # look stay the same and a content-keyed cache hands back its render from before.
        table.sort("name", key=lambda c: (int(c.plain[4:]) < 10, c.plain))
        await pilot.pause()
        await pilot.click("#t", offset=(2, 1 + 10))  # the header is line 0: the 11th row
        await pilot.click("#t", offset=(2, 1 + 10))
        await pilot.pause()
        assert app.selected and app.selected[-1] == "r8"
