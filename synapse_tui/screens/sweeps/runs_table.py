"""SweepRunsTable: a sweep's runs, a column per swept key, the winner marked."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from synapse_tui.formatting import clean, num
from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.glyphs import fmt, glyphs, value_text
from synapse_tui.theme import STATUS_STYLE

VERDICT_STYLE = {"APPROVED": "bold green", "FAILED": "red"}


def status_text(run: dict[str, Any]) -> str:
    s = run["status"]
    if s == "running" and run.get("epoch") is not None:
        s += f" {run['epoch']}" + (f"/{run['epochs']}" if run.get("epochs") else "")
    return s


class SweepRunsTable(DataTable):
    """A row per run of the sweep (keyed by run id): winner mark, #, the swept keys (the chosen
    one's header marked), status, the validation metric, test AUC, verdict and label. The
    screen hands it the sweep view and the chosen key (`show`); `enter` posts RowSelected."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open run", key_display="enter")
    ]  # shown: the footer says how to open one
    DEFAULT_CSS = """
    SweepRunsTable {
        height: auto;
        max-height: 1fr;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self._shape: tuple | None = None

    def show(self, view: dict[str, Any], key_index: int) -> None:
        ascii_only = bool(getattr(self.app, "ascii_plots", False))
        g = glyphs(ascii_only)
        keys = [k["key"] for k in view["keys"]]
        chosen = key_index % len(keys) if keys else -1
        heads = [
            (g["cursor"] if i == chosen else "") + k.split(".")[-1] + (g["cursor"] if i == chosen else "")
            for i, k in enumerate(keys)
        ]
        shape = (tuple(heads), tuple(r["run_id"] for r in view["runs"]))
        row = self.cursor_row
        if shape != self._shape:
            self.clear(columns=True)
            self.add_column(" ", key="mark")
            self.add_column("#", key="n")
            for i, h in enumerate(heads):
                self.add_column(Text(clean(h), style="bold reverse" if i == chosen else "bold"), key=f"k{i}")
            for label in ("status", view["metric_label"], "test AUC", "verdict", "label"):
                self.add_column(label, key=label)
            self._shape = None
        cells_by_run = []
        for i, run in enumerate(view["runs"], 1):
            won = run["winner"]
            cells: list[Any] = [
                Text(g["winner"] if won else " ", style="bold yellow"),
                Text(str(i), style="dim"),
            ]
            for k in keys:
                cells.append(Text(clean(value_text(run["values"].get(k)))))
            cells += [
                Text(status_text(run), style=STATUS_STYLE.get(run["status"], "")),
                Text(g["dash"] if run["val"] is None else fmt(run["val"]), style="bold" if won else ""),
                Text(num(run["test"].get("auc"), 3), style="dim"),
                Text(clean(run["verdict"] or g["dash"]), style=VERDICT_STYLE.get(run["verdict"] or "", "dim")),
                Text(clean(run["label"]), style="bold" if won else ""),
            ]
            if ascii_only:  # text from runs and formatting's dashes too
                cells = [ascii_text(c) for c in cells]
            cells_by_run.append((run["run_id"], cells))
        if self._shape is None:
            for run_id, cells in cells_by_run:
                self.add_row(*cells, key=run_id)
            self._shape = shape
            if self.row_count:
                self.move_cursor(row=min(row, self.row_count - 1))
        else:
            col_keys = [c.key for c in self.ordered_columns]
            for run_id, cells in cells_by_run:
                for ck, c in zip(col_keys, cells):
                    self.update_cell(run_id, ck, c, update_width=True)

    def run_id_at_cursor(self) -> str | None:
        if not self.row_count:
            return None
        return str(self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value)
