"""RunPane: what the run screen's tab widgets share. The screen sets `view` (what `read_run`
returned; attributes down); the pane draws it in `show_view`, which runs only while the pane is
on screen: a view set while its tab is hidden is drawn when the tab shows (Textual's Show
event), so re-reads of a live run cost nothing in tabs nobody looks at. Each pane compares
the part of the view it shows with what it drew last and redraws only when that changed.
"""

from __future__ import annotations

from rich.console import RenderableType
from textual import events
from textual.containers import Vertical
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget

from synapse_tui.screens.run.glyphs import ascii_renderable


class RunPane(Vertical):
    """A tab of the run screen, drawn from the run view it is given."""

    view: reactive[dict | None] = reactive(None, always_update=True, init=False)
    """What `read_run` returned (None: not read yet). Set by the screen on every read."""

    def __init__(
        self, view: dict | None = None, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.set_reactive(RunPane.view, view)
        self._stale = True  # a view set that show_view has not drawn yet
        self.drawn_views = 0  # times show_view ran (what the tab-switch test counts)

    @property
    def ascii_only(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def ascii(self, renderable: RenderableType) -> RenderableType:
        """`renderable` in ASCII when the app draws ASCII (glyphs.RUN_ASCII)."""
        return ascii_renderable(renderable, self.ascii_only)

    @property
    def on_screen(self) -> bool:
        """Shown: neither this pane nor a container above it (its TabPane) is display: none."""
        node: Widget | None = self
        while isinstance(node, Widget) and not isinstance(node, Screen):
            if not node.display:
                return False
            parent = node.parent
            node = parent if isinstance(parent, Widget) else None
        return self.is_attached

    def on_mount(self) -> None:
        self.sync()

    def watch_view(self) -> None:
        self._stale = True
        self.sync()

    def on_show(self, event: events.Show) -> None:
        self.sync()
        self.pane_shown()

    def sync(self) -> None:
        """Draw the view if it changed since the last drawing and the pane is on screen."""
        if self._stale and self.is_mounted and self.on_screen:
            self._stale = False
            self.drawn_views += 1
            self.show_view(self.view or {})

    def show_view(self, view: dict) -> None:
        """Draw `view` (an empty dict: not read yet). Each pane draws what it shows."""

    def pane_shown(self) -> None:
        """The pane came on screen (its tab was opened)."""
