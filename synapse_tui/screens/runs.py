"""The first screen: every run directory, newest first, refreshed in the background."""
from __future__ import annotations

from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static

from core.runs import RunDirInfo, list_run_dirs, status_of

REFRESH_SECONDS = 2.0


class RunsScreen(Screen):
    BINDINGS = [("r", "refresh", "Refresh")]

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self._shown: list[str] = []

    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(id="empty")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#runs", DataTable)
        table.add_columns("run", "name", "status", "created (UTC)")
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self.action_refresh)

    def action_refresh(self) -> None:
        self.scan()

    @work(thread=True, exclusive=True, group="scan")
    def scan(self) -> None:
        # Directory listing is I/O: keep it off the event loop.
        runs = list_run_dirs(self.runs_dir)
        statuses = {r.run_id: status_of(r.path) for r in runs}
        self.app.call_from_thread(self.show, runs, statuses)

    def show(self, runs: list[RunDirInfo], statuses: dict) -> None:
        ids = [(r.run_id, statuses[r.run_id].status, statuses[r.run_id].attempt) for r in runs]
        empty = self.query_one("#empty", Static)
        empty.display = not runs
        if not runs:
            empty.update(
                f"No runs in [b]{self.runs_dir}[/b] yet.\n\n"
                "Start one from a shell, e.g. [b]synapse data describe sample_data/parts_daily.csv[/b]."
            )
        if ids == self._shown:
            return
        self._shown = ids
        table = self.query_one("#runs", DataTable)
        table.clear()
        for r in runs:
            st = statuses[r.run_id]
            status = st.status + (f" (attempt {st.attempt})" if st.attempt > 1 else "")
            table.add_row(r.run_id, r.name, status, f"{r.created:%Y-%m-%d %H:%M:%S}", key=r.run_id)
        self.sub_title = f"{len(runs)} runs"
