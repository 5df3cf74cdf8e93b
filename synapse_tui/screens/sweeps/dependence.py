"""DependencePlot: the sweep's validation metric against one swept key, drawn to fit its size."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.scatter import draw_dependence


class DependencePlot(Widget):
    """Shows `view["importance"][key_index]` as a text scatter (strips for non-numeric keys).
    The screen hands it the sweep view and the chosen key (`show`); it draws on every resize."""

    DEFAULT_CSS = """
    DependencePlot {
        height: 1fr;
        min-height: 7;
        max-height: 22;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: dict[str, Any] | None = None
        self.key_index = 0

    def show(self, view: dict[str, Any], key_index: int) -> None:
        self.view, self.key_index = view, key_index
        self.refresh()

    @property
    def key(self) -> str | None:
        """The key drawn now (None before the first view, or for a sweep without a grid)."""
        if self.view is None or not self.view["importance"]:
            return None
        return self.view["importance"][self.key_index % len(self.view["importance"])]["key"]

    def render(self) -> Text:
        if self.view is None:
            return Text("reading the sweep...", style="dim")
        imps = self.view["importance"]
        i = self.key_index % len(imps) if imps else 0
        winner = self.view.get("winner") or {}
        ascii_only = bool(getattr(self.app, "ascii_plots", False))
        text = draw_dependence(
            imps[i] if imps else None,
            self.view["keys"][i]["values"] if imps else [],
            width=max(20, self.content_size.width),
            height=max(6, self.content_size.height),
            ascii_only=ascii_only,
            winner_run_id=winner.get("run_id"),
            metric_label=self.view["metric_label"],
            lower_is_better=self.view["lower_is_better"],
        )
        return ascii_text(text) if ascii_only else text
