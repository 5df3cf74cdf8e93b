"""TablePane: a compare tab's scrolling pane."""

from __future__ import annotations

from textual.binding import Binding
from textual.containers import ScrollableContainer


class TablePane(ScrollableContainer):
    """A tab's scrolling pane whose arrows move a column's width sideways (8 runs' columns are
    wider than 80 columns), not Textual's one cell."""

    BINDINGS = [
        Binding("left", "sideways(-1)", "Scroll left", show=False),
        Binding("right", "sideways(1)", "Scroll right", show=False),
    ]

    def action_sideways(self, direction: int) -> None:
        self.scroll_relative(x=direction * 16, animate=False)
