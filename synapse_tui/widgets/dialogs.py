"""Small modal dialogs shared by the dashboard's screens."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class YesNo(ModalScreen[bool]):
    """A question answered with y (True) or n / escape (False).

    self.app.push_screen(YesNo("Cancel run X?"), lambda yes: yes and self.do_it())
    """

    DEFAULT_CSS = """
    YesNo {
        align: center middle;
    }
    YesNo > #yes-no-box {
        width: auto;
        max-width: 90%;
        height: auto;
        padding: 1 2;
        border: round $warning;
        background: $surface;
    }
    YesNo #yes-no-box > Static {
        width: auto;
        max-width: 100%;
    }
    YesNo #yes-no-keys {
        color: $text-muted;
        margin-top: 1;
    }
    """
    BINDINGS = [Binding("y", "answer(True)", "Yes"), Binding("n,escape", "answer(False)", "No")]

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="yes-no-box"):
            yield Static(self.question, markup=False)
            yield Static("[b]y[/b] yes    [b]n[/b] no", id="yes-no-keys")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)


__all__ = ["YesNo"]
