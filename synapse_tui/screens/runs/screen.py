"""The home screen: every run, live, sortable, filterable; open, compare, cancel, resume, launch;
tag, note, archive, delete a run and clone its config into Launch.

The table is updated by row key: a refresh adds new runs, changes the cells that changed
and removes runs that are gone; it never clears and re-adds (which would lose the cursor
and cost a second at thousands of rows). Reading the index happens in a thread worker.
"""

from __future__ import annotations

import time
from datetime import datetime, UTC
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Input, Label, Log, Static

from core.errors import InputError
from core.query.text import filter_error, is_expression  # the `/` filter: text or an expression
from synapse_tui.formatting import ASCII_GLYPHS
from synapse_tui.screens.runs.columns import (
    COLUMNS,
    NARROW_HIDDEN,
    WIDE,
    Cell,
    ColumnsScreen,
    column,
    missing_last,
)
from synapse_tui.screens.runs.columns import first_sort_descending, mark_sorted_header
from synapse_tui.screens.runs.export import EXPORT_FIELDS, export_value, write_export
from synapse_tui.screens.runs.reading import attach_configs, read_rows
from synapse_tui.screens.runs.manage import (
    active_refusal,
    annotate_run,
    archive_question,
    delete_question,
    job_action,
    job_action_refusal,
    manage_runs,
    note_error,
    tags_error,
)
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.fast_table import FastDataTable

REFRESH_SECONDS = 1.0
MAX_COMPARE = 8  # the compare screen overlays up to 8 runs


class RunsScreen(Screen):
    HELP_TITLE = "Runs"
    AUTO_FOCUS = "#runs"  # not the first focusable widget, the demo's hidden log
    BINDINGS = [
        # First, so the footer shows it at 80 columns too (the app's own `?` comes after every
        # screen key, off the edge of a narrow footer).
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("enter", "open", "Open", show=False),
        Binding("d", "demo", "Run the demo"),  # first-run screen only (check_action); first, to fit 80 columns
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("s", "sort", "Sort: next column"),
        Binding("S", "sort_flip", "Sort: flip order", key_display="S", show=False),
        Binding("space", "select", "Select", show=False),
        Binding("C", "compare", "Compare selected", key_display="C"),
        Binding("n", "launch", "Launch"),
        Binding("x", "cancel", "Cancel run"),
        Binding("R", "resume", "Resume run", key_display="R"),
        Binding("c", "columns", "Columns"),
        Binding("E", "export_csv", "Export CSV", key_display="E", show=False),
        Binding("G", "group", "Group by a field or hyperparameter", key_display="G", show=False),
        Binding("number_sign", "edit_tags", "Tags of the run", key_display="#", show=False),
        # `i`: write (insert) a note; N is "previous match" on the artifact screen
        Binding("i", "edit_note", "Note on the run", show=False),
        Binding("A", "archive", "Archive / unarchive (asks)", key_display="A", show=False),
        Binding("D", "delete", "Delete the run (asks; its test touches are kept)", key_display="D", show=False),
        Binding("y", "clone", "Clone its config into Launch", show=False),
        Binding("H", "toggle_archived", "Show/hide archived runs", key_display="H", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("escape", "clear_filter", "Clear filter", show=False),
    ]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.rows: dict[str, dict] = {}
        self.selected: set[str] = set()
        self.columns_shown = [c.key for c in COLUMNS if c.shown]
        self.columns_chosen = False  # True once the user picks columns: then width changes nothing
        self.config_keys: list[str] = []  # config keys that differ between the listed runs
        self.configs_read = False
        self.sort_key: str | None = None  # None: newest first
        self.sort_descending = True
        self.filter_text = ""
        self.group_key = "model"  # what G groups by first
        self.good_filter = ""  # the last filter the index took (a refused one falls back to it)
        self.demo_running = False
        self.last_refresh_s: float | None = None
        self.show_archived = False  # archived runs are out of the table unless H shows them
        self.archived_hidden = 0  # how many archived runs are hidden, when no other run is shown
        self._demo_offered: bool | None = None  # what the footer last showed for `d`

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="first-run"):
            yield Static(id="empty")
            yield Log(id="demo-log", max_lines=500)
        yield Static(id="no-match")  # a filter that matches no run (not the first-run screen)
        yield FastDataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Input(
            placeholder="filter: text, or an expression like  ece<0.05 and model=gru   (esc clears)", id="filter"
        )
        yield Label("", id="filter-error")
        yield Footer()

    def _default_columns(self, width: int) -> list[str]:
        keys = [c.key for c in COLUMNS if c.shown]
        return keys if width >= WIDE else [k for k in keys if k not in NARROW_HIDDEN]

    def on_resize(self, event) -> None:
        if self.columns_chosen:
            return
        wanted = self._default_columns(event.size.width)
        if wanted != self.columns_shown:
            self.columns_shown = wanted
            self._build_columns()

    def on_mount(self) -> None:
        self.columns_shown = self._default_columns(self.app.size.width)
        self._restore_state()
        self._build_columns()
        self.query_one("#filter", Input).display = bool(self.filter_text)
        self.query_one("#filter", Input).value = self.filter_text
        self.query_one("#filter-error", Label).display = False
        self.query_one("#no-match", Static).display = False
        self.query_one("#demo-log", Log).display = False
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    # ------------------------------------------------------------------ remembered state
    def _restore_state(self) -> None:
        """Columns, sort and filter as the last session left them (the app's state, synapse_tui/state.py)."""
        saved = (getattr(self.app, "ui_state", None) or {}).get("runs") or {}
        if saved.get("columns"):
            self.columns_shown, self.columns_chosen = list(saved["columns"]), True
        if "sort" in saved:
            self.sort_key, self.sort_descending = saved["sort"]["key"], saved["sort"]["descending"]
        self.filter_text = saved.get("filter", self.filter_text)
        self._update_subtitle()

    def _remember(self) -> None:
        remember = getattr(self.app, "remember", None)
        if remember is None:
            return
        part: dict = {"sort": {"key": self.sort_key, "descending": self.sort_descending}, "filter": self.filter_text}
        if self.columns_chosen:
            part["columns"] = list(self.columns_shown)
        remember("runs", part)

    def _build_columns(self) -> None:
        """(Re)build the columns (hide/show/reorder); rows are re-added from the rows we hold."""
        table = self.query_one("#runs", DataTable)
        cursor_key = self._cursor_key()
        table.clear(columns=True)
        table.add_column(" ", key="sel", width=1)
        for key in self.columns_shown:
            table.add_column(column(key).header, key=key)
        now = datetime.now(UTC)
        for run_id, row in self.rows.items():
            table.add_row(*self._cells(row, now), key=run_id)
        self._order(cursor_key)

    def _cells(self, row: dict, now: datetime) -> list[Cell]:
        # The mark column also carries the default order, newest first: the creation time to
        # the microsecond (run ids give only the second), then the id.
        mark = Cell(
            "●" if row["run_id"] in self.selected else " ", (row.get("created") or "", row["run_id"]), "bold yellow"
        )
        cells = [mark, *(column(k).cell(row, now) for k in self.columns_shown)]
        if getattr(self.app, "ascii_plots", False):
            for c in cells:
                c.plain = c.plain.translate(ASCII_GLYPHS)
        return cells

    # ------------------------------------------------------------------ refresh
    def action_refresh(self) -> None:
        if self.app.screen is not self:
            return  # under another screen: no reading the index for nobody (it is reread on return)
        self.load_rows(self.filter_text)

    def on_screen_resume(self) -> None:
        self.action_refresh()

    @work(thread=True, exclusive=True, group="runs-refresh")
    def load_rows(self, filter_text: str, show_archived: bool | None = None) -> None:
        t0 = time.perf_counter()
        error = None
        archived = self.show_archived if show_archived is None else show_archived
        try:
            rows, self.archived_hidden = read_rows(self.runs_dir, filter_text, archived)
        except InputError as exc:
            # the rows shown stay (never every run instead) and so does the last good filter
            self.app.call_from_thread(self._filter_refused, str(exc), filter_text)
            return
        if not self.configs_read:
            # First the table: reading hundreds of config files the first time (they are
            # cached after) would hold the first screen back for a column nobody chose yet.
            self.app.call_from_thread(
                self.apply_rows, [dict(r, config={}) for r in rows], error, time.perf_counter() - t0, filter_text
            )
        self.config_keys = attach_configs(rows)
        self.configs_read = True
        self.app.call_from_thread(self.apply_rows, rows, error, time.perf_counter() - t0, filter_text)

    def apply_rows(
        self, rows: list[dict], error: str | None = None, seconds: float | None = None, filter_text: str | None = None
    ) -> None:
        """Bring the table in line with `rows` by key: add, update changed cells, remove."""
        if filter_text is not None and filter_text != self.filter_text:
            return  # read under a filter since replaced: the next refresh brings the right rows
        if filter_text is not None:
            self.good_filter = filter_text
        table = self.query_one("#runs", DataTable)
        self.last_refresh_s = seconds
        if error:
            self._show_filter_error(error)
        now = datetime.now(UTC)
        cursor_key = self._cursor_key()
        fresh = {r["run_id"]: r for r in rows}
        changed_order = False
        gone = [k for k in self.rows if k not in fresh]
        if gone:
            table.remove_rows(gone)
            self.selected.difference_update(gone)
            changed_order = True
        for run_id, row in fresh.items():
            before = self.rows.get(run_id)
            if before == row:
                continue  # the common case: nothing about this run changed since the last refresh
            cells = self._cells(row, now)
            if before is None:
                table.add_row(*cells, key=run_id)
                changed_order = True
                continue
            old = self._cells(before, now)
            for col, new_cell, old_cell in zip(["sel", *self.columns_shown], cells, old):
                if new_cell.plain != old_cell.plain or new_cell.style != old_cell.style:
                    table.update_cell(run_id, col, new_cell, update_width=True)
                    if self.sort_key == col:
                        changed_order = True
        self.rows = fresh
        if changed_order:
            self._order(cursor_key)
        self._show_empty(not fresh)
        self._update_subtitle()

    def _update_subtitle(self) -> None:
        n = len(self.rows)
        parts = [f"{n} run{'s' if n != 1 else ''}"]
        if self.sort_key is not None:
            parts.append(f"by {column(self.sort_key).header} {'↓' if self.sort_descending else '↑'}")
        if self.filter_text:
            parts.append(f"filter: {self.filter_text}")
        if self.show_archived:
            parts.append("archived shown")
        if self.selected:
            parts.append(f"{len(self.selected)} selected")
        self.sub_title = " · ".join(parts)

    def _order(self, cursor_key: str | None) -> None:
        table = self.query_one("#runs", DataTable)
        shown_key = self.sort_key if self.sort_key in self.columns_shown else None
        mark_sorted_header(table, shown_key, self.sort_descending, getattr(self.app, "ascii_plots", False))
        if not self.rows:
            return
        if self.sort_key is None or self.sort_key not in self.columns_shown:
            table.sort("sel", key=lambda c: c.sort_key, reverse=True)  # newest first
        else:
            desc = self.sort_descending
            table.sort(self.sort_key, key=lambda c: missing_last(c.sort_key, desc), reverse=desc)
        if cursor_key is not None and cursor_key in self.rows:
            table.move_cursor(row=table.get_row_index(cursor_key), animate=False)

    def _cursor_key(self) -> str | None:
        table = self.query_one("#runs", DataTable)
        if not table.row_count:
            return None
        try:
            return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        except Exception:  # noqa: BLE001 — a cursor on a row just removed
            return None

    def _show_empty(self, empty: bool) -> None:
        # A filter that matches nothing says so over the (empty) table: it is not the first-run screen.
        no_match = empty and (bool(self.filter_text) or self.archived_hidden > 0)
        empty = empty and not no_match
        message = self.query_one("#no-match", Static)
        message.display = no_match
        if no_match and self.filter_text:
            message.update(Text(f"no run matches {self.filter_text} (esc clears)"))
        elif no_match:
            n = self.archived_hidden
            message.update(Text(f"every run here is archived ({n}): H shows archived runs"))
        box = self.query_one("#first-run", Vertical)
        box.display = empty or self.demo_running
        # `d` is offered on the first-run screen only. Only when that changes: every refresh of
        # the bindings rebuilds the footer, which a refresh a second would keep half-drawn.
        offered = bool(self.check_action("demo", ()))
        if offered != self._demo_offered:
            self._demo_offered = offered
            self.refresh_bindings()
        self.query_one("#runs", DataTable).display = not empty
        if empty and not self.demo_running:
            yet = "yet" if self.runs_dir.exists() else "yet (the directory does not exist)"
            self.query_one("#empty", Static).update(
                f"No runs in [b]{self.runs_dir}[/b] {yet}.\n\n"
                "Press [b]d[/b] to run the demo here (every baseline, a logistic model and a GRU on the bundled "
                "sample; about half a minute), [b]n[/b] to launch a config, or start one from a shell:\n"
                "  synapse train -c configs/gru.yaml --runs-dir " + str(self.runs_dir)
            )

    # ------------------------------------------------------------------ actions
    def _current(self) -> str | None:
        return self._cursor_key()

    def action_open(self) -> None:
        key = self._current()
        if key is not None:
            self.app.open_run(key)

    @on(DataTable.RowSelected, "#runs")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        self.app.open_run(event.row_key.value)

    @on(DataTable.HeaderSelected, "#runs")
    def _header_selected(self, event: DataTable.HeaderSelected) -> None:
        self._sort_by(event.column_key.value)

    def action_sort(self) -> None:
        """The next shown column (the table's cursor selects rows, so `s` walks the columns)."""
        cols = self.columns_shown
        nxt = cols[0] if self.sort_key not in cols else cols[(cols.index(self.sort_key) + 1) % len(cols)]
        self.sort_key, self.sort_descending = nxt, first_sort_descending(nxt)
        self._order(self._cursor_key())
        self._say_sort()

    def action_sort_flip(self) -> None:
        if self.sort_key is None:
            self.sort_key = "started"
        self.sort_descending = not self.sort_descending
        self._order(self._cursor_key())
        self._say_sort()

    def _say_sort(self) -> None:
        self._update_subtitle()
        self._remember()

    def _sort_by(self, key: str) -> None:
        if key == "sel":
            return
        if self.sort_key == key:
            self.sort_descending = not self.sort_descending
        else:
            self.sort_key, self.sort_descending = key, first_sort_descending(key)
        self._order(self._cursor_key())
        self._say_sort()

    def action_select(self) -> None:
        key = self._current()
        if key is None:
            return
        self.selected.symmetric_difference_update({key})
        table = self.query_one("#runs", DataTable)
        table.update_cell(key, "sel", self._cells(self.rows[key], datetime.now(UTC))[0])
        if table.cursor_row < table.row_count - 1:
            table.move_cursor(row=table.cursor_row + 1)
        self._update_subtitle()

    def action_compare(self) -> None:
        ids = [k for k in self.rows if k in self.selected]
        if not 2 <= len(ids) <= MAX_COMPARE:
            self.notify(f"select 2 to {MAX_COMPARE} runs with space first ({len(ids)} selected)", severity="warning")
            return
        self.app.open_compare(sorted(ids))

    def action_launch(self) -> None:
        self.app.open_launch()

    def action_group(self) -> None:
        """The runs shown grouped by a key (screens/groups.py); a group chosen there filters the table to it."""
        from synapse_tui.screens.groups import GroupsScreen

        def chosen(group_filter: str | None) -> None:
            if not group_filter:
                return
            # an expression is kept and narrowed; plain text cannot be joined to one, so the group replaces it
            keep = self.filter_text if self.filter_text and is_expression(self.filter_text) else ""
            self.filter_text = f"({keep}) and {group_filter}" if keep else group_filter
            box = self.query_one("#filter", Input)
            box.value, box.display = self.filter_text, True
            self.query_one("#runs", DataTable).focus()
            self._remember()
            self.action_refresh()

        self.app.push_screen(GroupsScreen(self.runs_dir, key=self.group_key, where=self.filter_text), chosen)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.value = self.filter_text
        box.focus()

    def _filter_refused(self, error: str, filter_text: str) -> None:
        """The index refused `filter_text`: back to the last filter it took, the error shown."""
        if filter_text == self.filter_text:
            self.filter_text = self.good_filter
            self._remember()
        self._show_filter_error(error)

    def _show_filter_error(self, error: str | None) -> None:
        """Under the filter box: why the filter typed is not one, and that the last good one stays."""
        label = self.query_one("#filter-error", Label)
        box = self.query_one("#filter", Input)
        box.set_class(bool(error), "-invalid")
        label.display = bool(error)
        if not error:
            label.update("")
            return
        kept = f"filter: {self.filter_text}" if self.filter_text else "every run"
        label.update(Text.assemble((error, "bold red"), (f"\nstill showing {kept} · esc clears", "dim")))
        box.display = True

    @on(Input.Submitted, "#filter")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        error = filter_error(text)
        if error:  # the box stays open on the text to fix; the last good filter stays applied
            self._show_filter_error(error)
            return
        self._show_filter_error(None)
        self.filter_text = text
        self.query_one("#runs", DataTable).focus()
        if not self.filter_text:
            event.input.display = False
        self._remember()
        self.action_refresh()

    def action_clear_filter(self) -> None:
        box = self.query_one("#filter", Input)
        if self.filter_text or box.display:
            self._show_filter_error(None)
            self.filter_text = ""
            box.value = ""
            box.display = False
            self.query_one("#runs", DataTable).focus()
            self._remember()
            self.action_refresh()

    def action_columns(self) -> None:
        def chosen(keys: list[str] | None) -> None:
            if keys:
                self.columns_shown, self.columns_chosen = keys, True
                if self.sort_key not in self.columns_shown:
                    self.sort_key = None
                self._build_columns()
                self._remember()

        self.app.push_screen(ColumnsScreen(self.columns_shown, self.config_keys), chosen)

    def action_export_csv(self) -> None:
        """The table as shown (filter, sort, columns) to `<runs dir>/exports/runs-<UTC time>.csv`,
        with full values: the whole run id, numbers as read, not as drawn."""
        table = self.query_one("#runs", DataTable)
        keys = [row.key.value for row in table.ordered_rows if row.key.value in self.rows]
        if not keys:
            self.notify("no runs shown: nothing to export", severity="warning")
            return
        self.write_csv(list(self.columns_shown), [self.rows[k] for k in keys])

    @work(thread=True, group="export")
    def write_csv(self, columns: list[str], rows: list[dict]) -> None:
        try:
            path = write_export(self.runs_dir, columns, rows)
        except OSError as exc:
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error", timeout=8)
            return
        self.app.call_from_thread(self.notify, f"{len(rows)} run{'s' if len(rows) != 1 else ''} exported to {path}")

    def _refused(self, what: str, key: str) -> bool:
        """Say why `what` does not apply to run `key` (no dialog then); False when it does."""
        row = self.rows.get(key) or {}
        why = job_action_refusal(what, key, row.get("status"), row.get("error"))
        if why:
            self.notify(why, severity="warning")
        return why is not None

    def action_cancel(self) -> None:
        key = self._current()
        if key is None or self._refused("cancel", key):
            return
        self.app.push_screen(
            YesNo(f"Cancel run {key}?\nIt saves last.pt and ends cancelled (resumable)."),
            lambda yes: yes and self.run_job_action("cancel", key),
        )

    def action_resume(self) -> None:
        key = self._current()
        if key is None or self._refused("resume", key):
            return
        self.app.push_screen(
            YesNo(f"Resume run {key} from last.pt as a new attempt?"),
            lambda yes: yes and self.run_job_action("resume", key),
        )

    @work(thread=True, group="job-action")
    def run_job_action(self, what: str, run_id: str) -> None:
        try:
            msg = job_action(self.runs_dir, what, run_id)
            self.app.call_from_thread(self.notify, msg)
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
        self.app.call_from_thread(self.action_refresh)

    # ------------------------------------------------------------------ run management
    def _targets(self) -> list[str]:
        """The selected runs shown, else the run under the cursor."""
        picked = [k for k in self.rows if k in self.selected]
        if picked:
            return picked
        key = self._current()
        return [key] if key is not None else []

    def action_edit_tags(self) -> None:
        key = self._current()
        if key is None:
            return
        from synapse_tui.widgets.text_prompt import TextPrompt

        current = " ".join((self.rows.get(key) or {}).get("tags") or [])
        self.app.push_screen(
            TextPrompt(
                f"Tags of {key}",
                value=current,
                placeholder="e.g. baseline-v2 keep",
                hint="space or comma between tags; empty removes them all",
                check=tags_error,
                append_space=True,
            ),
            lambda text: self._answered(key, tags=text),
        )

    def action_edit_note(self) -> None:
        key = self._current()
        if key is None:
            return
        from core.runs.annotations import NOTE_MAX
        from synapse_tui.widgets.text_prompt import TextPrompt

        self.app.push_screen(
            TextPrompt(
                f"Note on {key}",
                value=(self.rows.get(key) or {}).get("note") or "",
                placeholder="what it was for, what you saw",
                hint="empty clears it",
                check=note_error,
                max_length=NOTE_MAX,
            ),
            lambda text: self._answered(key, note=text),
        )

    def _answered(self, run_id: str, *, tags: str | None = None, note: str | None = None) -> None:
        """A prompt's answer (None: cancelled) saved in a worker."""
        if tags is not None or note is not None:
            self.save_annotations(run_id, tags=tags, note=note)

    @work(thread=True, group="annotate")
    def save_annotations(self, run_id: str, *, tags: str | None = None, note: str | None = None) -> None:
        try:
            msg = annotate_run(self.runs_dir, run_id, tags=tags, note=note)
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
            return
        self.app.call_from_thread(self.notify, msg)
        self.app.call_from_thread(self.action_refresh)

    def action_archive(self) -> None:
        keys = self._targets()
        if not keys:
            return
        rows = [self.rows.get(k) or {} for k in keys]
        unarchive = all(r.get("archived") for r in rows)
        if not unarchive:
            why = active_refusal(self.rows, keys, "archived")
            if why:
                self.notify(why, severity="warning")
                return
        self.app.push_screen(
            YesNo(archive_question(keys, unarchive)),
            lambda yes: self._confirmed(yes, "unarchive" if unarchive else "archive", keys),
        )

    def action_delete(self) -> None:
        keys = self._targets()
        if not keys:
            return
        why = active_refusal(self.rows, keys, "deleted")
        if why:
            self.notify(why, severity="warning")
            return
        touches = sum(int((self.rows.get(k) or {}).get("test_touches") or 0) for k in keys)
        self.app.push_screen(
            YesNo(delete_question(keys, touches, self.runs_dir)),
            lambda yes: self._confirmed(yes, "delete", keys),
        )

    def _confirmed(self, yes: bool | None, what: str, run_ids: list[str]) -> None:
        if yes:
            self.run_manage(what, run_ids)

    @work(thread=True, group="manage")
    def run_manage(self, what: str, run_ids: list[str]) -> None:
        try:
            msg = manage_runs(self.runs_dir, what, run_ids)
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8)
        else:
            self.app.call_from_thread(self._managed, run_ids, msg)
        self.app.call_from_thread(self.action_refresh)

    def _managed(self, run_ids: list[str], message: str) -> None:
        self.selected.difference_update(run_ids)
        self._update_subtitle()
        self.notify(message)

    def action_toggle_archived(self) -> None:
        self.show_archived = not self.show_archived
        self._update_subtitle()
        self.notify("archived runs shown" if self.show_archived else "archived runs hidden", timeout=3)
        self.action_refresh()

    def action_clone(self) -> None:
        """The run's resolved config.yaml in Launch, named `<name>-clone`, to tweak and launch."""
        key = self._current()
        if key is None:
            return
        row = self.rows.get(key) or {}
        path = Path(row.get("path") or self.runs_dir / key) / "config.yaml"
        self.app.open_launch(config_path=path, clone_of=key)  # type: ignore[attr-defined]

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "demo":  # the first-run screen's key: hidden (and inert) once there are runs
            # or a filter (or the archive) hides them
            return not self.rows and not self.demo_running and not self.filter_text and not self.archived_hidden
        return True

    def action_demo(self) -> None:
        """The demo's runs, detached (they outlive the dashboard), followed in place (runs/demo.py)."""
        if self.rows or self.demo_running or self.filter_text or self.archived_hidden:
            return
        from synapse_tui.screens.runs.demo import start_demo

        start_demo(self)
        self.refresh_bindings()


# Names that lived here before runs/manage.py and runs/export.py (tests and callers import them from here).
__all__ = [
    "EXPORT_FIELDS",
    "MAX_COMPARE",
    "REFRESH_SECONDS",
    "RunsScreen",
    "export_value",
    "filter_error",
    "job_action_refusal",
]
