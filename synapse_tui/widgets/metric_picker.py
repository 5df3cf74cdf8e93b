"""`MetricPicker`: a small modal list of the per-epoch metrics runs recorded; enter picks one.

    self.app.push_screen(MetricPicker(plot.metrics(), current=plot.metric), self._picked)

dismisses with the chosen metric's key (e.g. "val_auc"), or None on escape. Each option
reads "val AUC  val_auc" (the label a plot shows, then the key as events.jsonl spells it).
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from core.service.series import metric_label
from synapse_tui.formatting import clean


class MetricPicker(ModalScreen[str | None]):
    """Pick one of `metrics` (keys of the runs' epoch events); `current` starts highlighted."""

    DEFAULT_CSS = """
    MetricPicker {
        align: center middle;
    }
    MetricPicker > #metric-picker-box {
        width: auto;
        min-width: 30;
        max-width: 90%;
        height: auto;
        max-height: 90%;
        padding: 0 1;
        border: round $accent;
        background: $surface;
    }
    MetricPicker #metric-picker-list {
        width: auto;
        height: auto;
        max-height: 20;
        border: none;
    }
    MetricPicker #metric-picker-keys {
        color: $text-muted;
    }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(self, metrics: list[str], current: str | None = None) -> None:
        super().__init__()
        self.metrics = list(metrics)
        self.current = current

    def compose(self) -> ComposeResult:
        width = max((len(metric_label(m)) for m in self.metrics), default=0)
        options = []
        for m in self.metrics:
            prompt = Text(metric_label(clean(m)).ljust(width))
            if metric_label(m) != m:
                prompt.append(f"  {clean(m)}", style="dim")
            options.append(Option(prompt, id=m))
        with Vertical(id="metric-picker-box"):
            yield Static("Plot which metric?", id="metric-picker-title")
            yield OptionList(*options, id="metric-picker-list")
            yield Static("enter pick  esc close", id="metric-picker-keys")

    def on_mount(self) -> None:
        options = self.query_one("#metric-picker-list", OptionList)
        if self.current in self.metrics:
            options.highlighted = self.metrics.index(self.current)
        options.focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self.dismiss(event.option.id)

    def action_close(self) -> None:
        self.dismiss(None)


__all__ = ["MetricPicker"]
