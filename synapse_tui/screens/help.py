"""`?`: the keys of the screen underneath, built from the same bindings as the footer and palette."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from synapse_tui.screens.run.glyphs import ascii_text


class HelpScreen(ModalScreen):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close", key_display="esc")]

    def __init__(self, under: Screen) -> None:
        super().__init__()
        self.under = under

    def compose(self) -> ComposeResult:
        # screen_actions reads app.screen: this modal is not on top yet while composing
        rows = []
        for owner in (self.under, self.app):
            for b in getattr(owner, "BINDINGS", []):
                if b.description:
                    rows.append((b.key_display or b.key, b.description))
        # Built as Text, not markup: a key such as `[` or `]` (or a description with brackets)
        # would otherwise be read as a markup tag and show as `[[/b]`.
        text = Text()
        text.append(str(getattr(self.under, "HELP_TITLE", type(self.under).__name__)), style="bold")
        text.append(" — keys\n\n")
        seen: set[str] = set()
        for key, desc in rows:
            if desc in seen:
                continue
            seen.add(desc)
            text.append("  ")
            text.append(f"{key:>12}", style="bold")
            text.append(f"  {desc}\n")
        text.append("\n  ")
        text.append("ctrl+p: every action by name · esc closes", style="dim")
        with VerticalScroll(id="help-box"):
            if getattr(self.app, "ascii_plots", False):
                text = ascii_text(text)
            yield Static(text, id="help-text")


__all__ = ["HelpScreen"]
