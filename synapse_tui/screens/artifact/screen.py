"""One of a run's files, shown in place: markdown rendered (training_log.md), JSON as a tree
(report.json, manifest.json), anything else as a log view that searches and follows
(worker.log, events.jsonl). Pushed by the run screen's Log tab; usable on its own:
`app.push_screen(ArtifactScreen(path))`.

The screen decides what to show in a thread worker (`reading.open_artifact`), then mounts
one widget (`widgets/artifact_markdown.py`, `widgets/json_tree.py`, `widgets/log_view.py`),
which owns its state and reads in its own workers; the screen forwards keys to it and shows
its status messages. A file that cannot be shown (missing, binary, too large, unreadable)
gets one line saying why.
"""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.binding import Binding
from textual.containers import Container
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Static

from synapse_tui.formatting import byte_size
from synapse_tui.screens.artifact.reading import Opened, open_artifact
from synapse_tui.widgets.artifact_markdown import ArtifactMarkdown
from synapse_tui.widgets.artifact_text import shown_line
from synapse_tui.widgets.json_tree import JsonTree
from synapse_tui.widgets.log_view import LogView

SEARCHABLE = (LogView, JsonTree, ArtifactMarkdown)


class ArtifactScreen(Screen):
    """`path` shown as what it is; `title` names it in the top line (default: the file name);
    `follow`: a text file starts followed (a live run's worker.log)."""

    HELP_TITLE = "Artifact"
    # `?` first, as on the runs screen, so it shows at 80 columns; the rest in `?` help.
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("escape", "back", "Back", key_display="esc"),
        Binding("slash", "search", "Search", key_display="/"),
        Binding("n", "next_match", "Next match"),
        Binding("N", "previous_match", "Previous match", key_display="N", show=False),
        Binding("f", "follow", "Follow", tooltip="Follow the file as it grows (tail); again to stop"),
        Binding("home", "top", "Top", show=False),  # not g: g is the Log tab on the run screen
        Binding("end", "bottom", "Bottom", show=False),
    ]
    DEFAULT_CSS = """
    ArtifactScreen { layout: vertical; }
    ArtifactScreen #artifact-title { height: 1; padding: 0 1; background: $panel; }
    ArtifactScreen #artifact-body { height: 1fr; }
    ArtifactScreen #artifact-message { padding: 1 2; }
    ArtifactScreen #artifact-status { height: 1; padding: 0 1; color: $text-muted; background: $panel; }
    ArtifactScreen #artifact-search { display: none; }
    ArtifactScreen #artifact-search.-shown { display: block; }
    """

    def __init__(self, path: str | os.PathLike, *, title: str | None = None, follow: bool = False) -> None:
        super().__init__()
        self.path = Path(path)
        self.start_following = follow
        self.title_text = title or self.path.name
        self.opened: Opened | None = None
        self.viewer: Widget | None = None
        self._note = ""
        self._status = ""

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Static(self._title(), id="artifact-title")
        with Container(id="artifact-body"):
            yield Static(self._ascii_text("reading…"), id="artifact-message")
        yield Static("", id="artifact-status")
        yield Input(placeholder="search (enter finds, esc closes)", id="artifact-search")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self._open(self.path)

    def _ascii(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _ascii_text(self, text: str) -> Text:
        return Text(shown_line(text, ascii_only=self._ascii(), limit=100_000))

    def _title(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(shown_line(self.title_text, ascii_only=self._ascii()), style="bold")
        size = f" · {byte_size(self.opened.size)}" if self.opened is not None else ""
        text.append(shown_line(f"  {self.path}{size}", ascii_only=self._ascii()), style="dim")
        return text

    # ------------------------------------------------------------------ reading (worker)

    @work(thread=True, exclusive=True, group="open")
    def _open(self, path: Path) -> None:
        opened = open_artifact(path)
        try:
            self.app.call_from_thread(self._show, opened)
        except RuntimeError:  # the app closed meanwhile
            pass

    def _show(self, opened: Opened) -> None:
        self.run_worker(self._mount_view(opened), group="open-mount", exclusive=True)

    async def _mount_view(self, opened: Opened) -> None:
        try:
            await self._mount_view_now(opened)
        except NoMatches:
            pass  # the screen was closed while the file was being opened: nothing left to fill

    async def _mount_view_now(self, opened: Opened) -> None:
        self.opened = opened
        self.query_one("#artifact-title", Static).update(self._title())
        body = self.query_one("#artifact-body", Container)
        self._note = opened.note or ""
        if opened.kind == "message":
            self.query_one("#artifact-message", Static).update(self._ascii_text(opened.note or "nothing to show"))
            self._set_status("")
            self.refresh_bindings()
            return
        viewer: Widget
        if opened.kind == "markdown":
            viewer = ArtifactMarkdown(opened.text or "", id="artifact-view")
        elif opened.kind == "json":
            viewer = JsonTree(opened.data, self.title_text, id="artifact-view")
        else:
            viewer = LogView(self.path, follow=self.start_following, id="artifact-view")
        await body.remove_children()
        await body.mount(viewer)
        self.viewer = viewer
        focus = viewer.query_one("Markdown") if isinstance(viewer, ArtifactMarkdown) else viewer
        focus.focus()
        self._set_status("")
        self.refresh_bindings()

    # ------------------------------------------------------------------ status

    @on(LogView.Status)
    @on(JsonTree.Status)
    @on(ArtifactMarkdown.Status)
    def _viewer_status(self, event: LogView.Status | JsonTree.Status | ArtifactMarkdown.Status) -> None:
        event.stop()
        self._set_status(event.text)

    def _set_status(self, text: str) -> None:
        self._status = " · ".join(t for t in (self._note, text) if t)
        try:
            self.query_one("#artifact-status", Static).update(self._ascii_text(self._status))
        except NoMatches:
            pass  # a viewer's last word while the screen is taken down

    @property
    def status(self) -> str:
        """What the status line says (plain text)."""
        return self._status

    # ------------------------------------------------------------------ keys

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        viewer = self.viewer
        if action in ("search", "next_match", "previous_match"):
            if not isinstance(viewer, SEARCHABLE):
                return False
            if action != "search" and not viewer.term:
                return False
        if action == "follow" and not isinstance(viewer, LogView):
            return False
        if action in ("top", "bottom") and viewer is None:
            return False
        return True

    def _search_box(self) -> Input:
        return self.query_one("#artifact-search", Input)

    def action_back(self) -> None:
        box = self._search_box()
        if box.has_class("-shown"):
            self._close_search()
            return
        self.dismiss()

    def action_search(self) -> None:
        if not isinstance(self.viewer, SEARCHABLE):
            return
        box = self._search_box()
        box.add_class("-shown")
        box.value = self.viewer.term
        box.focus()

    def _close_search(self) -> None:
        self._search_box().remove_class("-shown")
        if self.viewer is not None:
            self.viewer.focus()

    @on(Input.Submitted, "#artifact-search")
    def _search_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self._close_search()
        if isinstance(self.viewer, SEARCHABLE):
            self.viewer.search(event.value)
        self.refresh_bindings()

    def action_next_match(self) -> None:
        if isinstance(self.viewer, SEARCHABLE):
            self.viewer.next_match(1)

    def action_previous_match(self) -> None:
        if isinstance(self.viewer, SEARCHABLE):
            self.viewer.next_match(-1)

    def action_follow(self) -> None:
        if isinstance(self.viewer, LogView):
            self.viewer.follow = not self.viewer.follow

    def action_top(self) -> None:
        viewer = self.viewer
        if isinstance(viewer, LogView):
            viewer.go_top()
        elif isinstance(viewer, JsonTree):
            viewer.move_cursor_to_line(0)
            viewer.scroll_home(animate=False)
        elif viewer is not None:
            viewer.scroll_home(animate=False)

    def action_bottom(self) -> None:
        viewer = self.viewer
        if isinstance(viewer, LogView):
            viewer.go_bottom()
        elif isinstance(viewer, JsonTree):
            if viewer.last_line >= 0:
                viewer.move_cursor_to_line(viewer.last_line)
            viewer.scroll_end(animate=False)
        elif viewer is not None:
            viewer.scroll_end(animate=False)


__all__ = ["ArtifactScreen"]
