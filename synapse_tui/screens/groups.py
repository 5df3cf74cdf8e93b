"""Runs grouped by a field or a hyperparameter (`G` on the runs screen): one row per value of
the key, with how many runs hold it and a metric's best, mean and median, best group first
(core.service.grouping, as `synapse runs group`). Enter on a group dismisses the screen with
the filter that keeps just that group (`model.hidden=16`), which the runs screen applies.

The runs are read, and grouped, in a thread worker; the key and metric boxes suggest the
fields and config keys the index knows (`synapse runs fields`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.suggester import SuggestFromList
from textual.widgets import DataTable, Footer, Input, Static

from core.errors import InputError
from synapse_tui.formatting import clean, num
from synapse_tui.screens.run.glyphs import ascii_text

DEFAULT_METRIC = "auc"


def group_filter(key: str, value: Any) -> str:
    """The filter that keeps the runs of one group: `key=value`, `key=null` for "not set"."""
    if value is None:
        return f"{key}=null"
    if isinstance(value, bool):
        return f"{key}={'yes' if value else 'no'}"
    if isinstance(value, (int, float)):
        return f"{key}={value}"
    if isinstance(value, str) and value and all(c.isalnum() or c in "-_." for c in value):
        return f"{key}={value}"
    return f"{key}={json.dumps(value if isinstance(value, str) else json.dumps(value))}"


def read_groups(runs_dir: Path, key: str, metric: str, where: str | None) -> tuple[dict, list[str]]:
    """(group_runs's result, the field names known), read in a worker."""
    from core.query import field_help
    from core.service.grouping import group_runs
    from core.service.runs import config_fields, list_runs

    from core.query.text import is_expression, matches_text

    config_keys = [f["name"] for f in config_fields(runs_dir)]
    expression = bool(where) and is_expression(where or "")
    rows = list_runs(runs_dir, where=where if expression else None)
    if where and not expression:  # plain text, as the runs screen's filter box takes it
        rows = [r for r in rows if matches_text(r, where)]
    names = [f["name"] for f in field_help()] + config_keys
    return group_runs(rows, key, metric, config_keys=config_keys), names


class GroupsScreen(Screen[str | None]):
    """The runs grouped by a key; dismissed with a group's filter (enter) or None (esc)."""

    HELP_TITLE = "Groups"
    DEFAULT_CSS = """
    GroupsScreen #group-row { height: 3; }
    GroupsScreen #group-row Static { width: auto; padding: 1 1 0 1; }
    GroupsScreen #group-key { width: 1fr; }
    GroupsScreen #group-metric { width: 24; }
    GroupsScreen #group-note { height: auto; padding: 0 1; color: $text-muted; }
    GroupsScreen #group-error { height: auto; padding: 0 1; color: $error; }
    GroupsScreen #groups { height: 1fr; }
    """
    BINDINGS = [
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("enter", "choose", "Filter the runs to this group", show=False),
    ]

    def __init__(self, runs_dir: Path, key: str = "model", metric: str = DEFAULT_METRIC, where: str = "") -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.key, self.metric, self.where = key, metric, where
        self.result: dict | None = None
        self.error: str | None = None

    def compose(self) -> ComposeResult:
        with Horizontal(id="group-row"):
            yield Static("group by")
            yield Input(self.key, id="group-key", placeholder="a field or a config key: model, train.lr")
            yield Static("metric")
            yield Input(self.metric, id="group-metric", placeholder="auc, ece_after, val_brier")
        yield Static("", id="group-error")
        yield Static("", id="group-note")
        yield DataTable(id="groups", cursor_type="row", zebra_stripes=True)
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "runs grouped" + (f" · where {self.where}" if self.where else "")
        self.query_one("#group-error", Static).display = False
        self.load()

    def _ascii(self, text: Text) -> Text:
        return ascii_text(text) if getattr(self.app, "ascii_plots", False) else text

    # ------------------------------------------------------------------ reading
    @work(thread=True, exclusive=True, group="groups-read", exit_on_error=False)
    def load(self) -> None:
        key, metric, where = self.key, self.metric, self.where
        try:
            result, names = read_groups(self.runs_dir, key, metric, where)
            self.app.call_from_thread(self._loaded, result, names, None)
        except InputError as exc:
            self.app.call_from_thread(self._loaded, None, None, str(exc))

    def _loaded(self, result: dict | None, names: list[str] | None, error: str | None) -> None:
        if not self.is_attached:
            return
        box = self.query_one("#group-error", Static)
        box.update(Text(clean(error or ""), style="bold"))
        box.display = bool(error)
        if names:
            for box_id in ("#group-key", "#group-metric"):
                self.query_one(box_id, Input).suggester = SuggestFromList(names, case_sensitive=False)
        if result is None:  # a refused key keeps the last good table under the message
            return
        self.result = result
        self._fill(result)

    def _fill(self, result: dict) -> None:
        table = self.query_one("#groups", DataTable)
        table.clear(columns=True)
        metric = result["metric"]
        for label in (result["key"], "runs", f"best {metric}", "mean", "median", "best run"):
            table.add_column(label, key=label)
        for i, g in enumerate(result["groups"]):
            value = "(not set)" if g["value"] is None else clean(str(g["value"]))
            runs = f"{g['with_metric']}/{g['runs']}" if g["with_metric"] != g["runs"] else str(g["runs"])
            style = "bold" if i == 0 and g["best"] is not None else ""
            table.add_row(
                Text(value, style=style),
                Text(runs, justify="right"),
                Text(num(g["best"], 5), justify="right", style=style),
                Text(num(g["mean"], 5), justify="right"),
                Text(num(g["median"], 5), justify="right"),
                Text(clean(g["best_run"] or "–"), style="dim"),
                key=str(i),
            )
        n = sum(g["runs"] for g in result["groups"])
        note = Text(
            f"{len(result['groups'])} groups of {n} runs · {metric}: {result['direction']} is better · "
            "enter: the runs table filtered to a group · choose on validation metrics (val_brier), not test",
        )
        self.query_one("#group-note", Static).update(self._ascii(note))
        if table.row_count:
            table.focus()

    # ------------------------------------------------------------------ keys
    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.key = self.query_one("#group-key", Input).value.strip() or "model"
        self.metric = self.query_one("#group-metric", Input).value.strip() or DEFAULT_METRIC
        self.load()

    @on(DataTable.RowSelected, "#groups")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_choose()

    def action_choose(self) -> None:
        table = self.query_one("#groups", DataTable)
        if self.result is None or not table.row_count or self.focused is not table:
            return
        g = self.result["groups"][table.cursor_row]
        self.dismiss(group_filter(self.result["key"], g["value"]))

    def action_back(self) -> None:
        if isinstance(self.focused, Input) and self.query_one("#groups", DataTable).row_count:
            self.query_one("#groups", DataTable).focus()
            return
        self.dismiss(None)


__all__ = ["GroupsScreen", "group_filter"]
