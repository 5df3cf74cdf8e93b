"""A one-line text prompt: a title, an Input, what is wrong with the text (checked on enter).

    self.app.push_screen(TextPrompt("Tags of run X", value="a b", check=why_not), on_text)

`check(text)` returns why the text will not do (shown under the box, which stays open) or
None; it must be quick and do no I/O (it runs on the event loop). Enter answers the text,
escape None. Used for a run's tags and note (runs screen) and a YAML path (Launch).
"""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from synapse_tui.formatting import clean


class TextPrompt(ModalScreen[str | None]):
    """Enter answers the text typed (when `check` finds nothing wrong), escape None."""

    DEFAULT_CSS = """
    TextPrompt {
        align: center middle;
    }
    TextPrompt > #prompt-box {
        width: 80%;
        max-width: 100;
        height: auto;
        padding: 1 2;
        border: round $accent;
        background: $surface;
    }
    TextPrompt #prompt-input {
        margin-top: 1;
    }
    TextPrompt #prompt-error {
        color: $error;
        height: auto;
    }
    TextPrompt #prompt-keys {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self,
        title: str,
        *,
        value: str = "",
        placeholder: str = "",
        hint: str = "",
        check: Callable[[str], str | None] | None = None,
        max_length: int = 0,
        append_space: bool = False,
    ) -> None:
        super().__init__()
        self.append_space = append_space
        self.title_text = title
        self.value = value
        self.placeholder = placeholder
        self.hint = hint
        self.check = check
        self.max_length = max_length

    def compose(self) -> ComposeResult:
        with Vertical(id="prompt-box"):
            yield Static(Text(clean(self.title_text), style="bold"), id="prompt-title")
            # The cursor after the text, nothing selected: typing adds to the tags there.
            yield Input(
                value=self.value + (" " if self.value and self.append_space else ""),
                placeholder=self.placeholder,
                id="prompt-input",
                max_length=self.max_length,
                select_on_focus=False,
            )
            yield Static("", id="prompt-error")
            yield Static(Text("enter saves · esc cancels" + (f" · {self.hint}" if self.hint else "")), id="prompt-keys")

    def on_mount(self) -> None:
        if getattr(self.app, "ascii_plots", False):
            from synapse_tui.formatting import ASCII_GLYPHS

            keys = self.query_one("#prompt-keys", Static)
            keys.update(Text(str(keys.content).translate(ASCII_GLYPHS)))
        self.query_one("#prompt-error", Static).display = False
        box = self.query_one("#prompt-input", Input)
        box.focus()
        box.cursor_position = len(box.value)

    @on(Input.Submitted, "#prompt-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value
        why = self.check(text) if self.check is not None else None
        error = self.query_one("#prompt-error", Static)
        error.display = bool(why)
        if why:
            error.update(Text(clean(why)))
            return
        self.dismiss(text)

    def show_error(self, message: str) -> None:
        """Say what went wrong after the answer was taken (the caller keeps the box open)."""
        error = self.query_one("#prompt-error", Static)
        error.update(Text(clean(message)))
        error.display = True

    def action_cancel(self) -> None:
        self.dismiss(None)


__all__ = ["TextPrompt"]
