"""ConfigPane: the run screen's config tab, config.yaml as resolved (every default filled in),
or why it cannot be read (core.config's words: the file and the line).

Attributes down: `view` (what `read_run` returned). The YAML shows at once as plain text and
is highlighted (pygments, slow on a big config) in a thread worker, then swapped in; a view
whose config did not change redraws nothing.
"""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Static

from synapse_tui.formatting import clean
from synapse_tui.screens.run.pane import RunPane


class ConfigPane(RunPane):
    """config.yaml of one run, highlighted."""

    DEFAULT_CSS = """
    ConfigPane {
        height: 1fr;
    }
    ConfigPane > VerticalScroll {
        height: 1fr;
        padding: 0 1;
        scrollbar-size-vertical: 1;
    }
    """

    def __init__(
        self, view: dict | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(view, name=name, id=id, classes=classes)
        self._key: tuple | None = None  # the config shown
        self.highlighted = False  # the YAML shown is highlighted (not the plain text shown first)

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="config-scroll"):
            yield Static("", id="config-view")

    def show_view(self, view: dict) -> None:
        text = view.get("config_yaml")
        path = (view.get("run") or {}).get("path")
        key = (text, view.get("config_error"), path, bool(view))
        if key == self._key:
            return
        self._key = key
        box = self.query_one("#config-view", Static)
        self.highlighted = False
        if not text:
            box.update(config_problem(view))
            return
        head = config_head(path)
        box.update(Group(head, Text(text)))
        self._highlight(key, head, text)

    @work(thread=True, exclusive=True, group="run-config", exit_on_error=False)
    def _highlight(self, key: tuple, head: Text, text: str) -> None:
        syntax = Syntax(text, "yaml", theme="ansi_dark", background_color="default", word_wrap=True)
        self.app.call_from_thread(self._highlighted, key, Group(head, syntax.highlight(text)))

    def _highlighted(self, key: tuple, shown: RenderableType) -> None:
        if key == self._key and self.is_attached:
            self.highlighted = True
            self.query_one("#config-view", Static).update(shown)


def config_head(path: str | None) -> Text:
    return Text(f"# {path}/config.yaml (resolved: every default filled in)\n", style="dim")


def config_problem(view: dict) -> Text:
    """What the tab says without a config to show: not read yet, or why it cannot be read."""
    if not view:
        return Text("reading the run…", style="dim")
    why = view.get("config_error")
    if not why:
        return Text("no readable config.yaml", style="dim")
    # core.config's words name the file and line; the file's text may quote anything
    out = Text("config.yaml cannot be read:\n", style="bold red")
    out.append(clean(why, newlines=True).rstrip(), style="red")
    return out
