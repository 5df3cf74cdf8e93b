"""Plot widgets for a run's curves (textual_plotext), used by the run screen; any screen may use them.

Each widget takes its data as plain values from core.service and redraws itself — at its
current size, so a resize needs nothing — whenever a reactive changes:

    from synapse_tui.widgets.plots import LossPlot, TierPlot, ReliabilityPlot

    loss = LossPlot(id="loss")                      # compose it like any widget
    loss.series = loss_series(view["epochs"])       # core.service.series.loss_series
    loss.smoothing = 0.6                            # EMA weight in [0, 1); 0 is the raw curve
    loss.log_y = True

    tiers = TierPlot(id="tiers")
    tiers.curves = view["tiers"]                    # core.service.runs.tier_curves(report)
    tiers.tier = "good"                             # or tiers.next_tier()

    rel = ReliabilityPlot(id="reliability")
    rel.reliability = view["reliability"]           # {"before", "after", "bins"} of run_view

Constructors take only Textual's `id`/`classes`/`name` plus `ascii_only` (None: follow
the app's `ascii_plots` attribute, set where the terminal is not UTF-8). `drawn` holds what
the last render plotted ({"lines": {label: (xs, ys)}, "legend": [(symbol, label, rgb)], ...},
see synapse_tui.widgets.draw). `show_title` / `show_labels` (default True) turn off the
plot's own title line and in-plot legend, for a caller that shows them around the plot.
"""

from __future__ import annotations

import textwrap

from rich.text import Text
from textual.app import RenderResult
from textual.message import Message
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from core.service.series import tier_names
from synapse_tui.widgets.draw import ASCII_FRAME, draw_loss, draw_reliability, draw_tiers


class RunPlot(PlotextPlot):
    """What the three plots share: `drawn`, `renders`, ASCII mode, `empty_text`, and the
    `RunPlot.Drawn` message, posted when what the last render drew (its legend, its bin
    counts) changed, so a caller can show a legend beside the plot that never disagrees."""

    class Drawn(Message):
        def __init__(self, plot: RunPlot) -> None:
            super().__init__()
            self.plot = plot

    def __init__(
        self,
        *,
        ascii_only: bool | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._ascii_only = ascii_only
        self.drawn: dict = {}
        self.renders = 0  # times drawn (what a redraw measurement counts)
        self.show_title = True  # the plot's own title line (off when a border title says it)
        self.show_labels = True  # plotext's legend in the plot (off when the caller shows drawn["legend"])
        self._empty_text = "nothing to plot yet"
        self._drawn_key: str | None = None

    @property
    def empty_text(self) -> str:
        """What the plot says instead of an empty frame when there is nothing to draw."""
        return self._empty_text

    @empty_text.setter
    def empty_text(self, text: str) -> None:
        if text != self._empty_text:
            self._empty_text = text
            self.refresh()

    @property
    def ascii_only(self) -> bool:
        if self._ascii_only is not None:
            return self._ascii_only
        try:
            return bool(getattr(self.app, "ascii_plots", False))
        except Exception:  # noqa: BLE001 — no app yet (not mounted)
            return False

    def draw(self) -> None:  # pragma: no cover — each plot draws its own
        raise NotImplementedError

    def render(self) -> RenderResult:
        self.renders += 1
        self.draw()
        key = repr((self.drawn.get("legend"), self.drawn.get("counts")))
        if key != self._drawn_key:
            self._drawn_key = key
            self.post_message(self.Drawn(self))
        if not self.drawn.get("lines"):
            lines = textwrap.wrap(self.empty_text, max(10, self.size.width - 2)) or [""]
            pad = "\n" * max(0, (self.size.height - len(lines)) // 2)
            return Text(pad + "\n".join(line.center(self.size.width).rstrip() for line in lines), style="dim")
        out = super().render()
        if self.ascii_only and isinstance(out, Text):
            out.plain = out.plain.translate(ASCII_FRAME)  # one character for one: the colours stay put
        return out


class LossPlot(RunPlot):
    """Train and validation loss by epoch, the best epoch marked; EMA smoothing, log or linear y."""

    series: reactive[dict | None] = reactive(None)
    """`core.service.series.loss_series(epoch events)`; None draws an empty frame."""
    smoothing: reactive[float] = reactive(0.0)
    """EMA weight in [0, 1): 0 is the raw curve, 0.9 very smooth."""
    log_y: reactive[bool] = reactive(False)

    def draw(self) -> None:
        self.drawn = draw_loss(
            self.plt,
            self.series or {},
            width=max(10, self.size.width - 8),
            smoothing=self.smoothing,
            log_y=self.log_y,
            ascii_only=self.ascii_only,
            title=self.show_title,
            labels=self.show_labels,
        )


class TierPlot(RunPlot):
    """tier-or-better@K on test: model with its Wilson interval, best baseline, random, oracle,
    and where the paired test says the model beats the baseline."""

    curves: reactive[dict | None] = reactive(None)
    """`core.service.runs.tier_curves(report)` (run_view's "tiers"); None: not evaluated yet."""
    tier: reactive[str] = reactive("good")
    beats_tier: reactive[str] = reactive("good")
    """The tier the paired McNemar test is about (the config's eval.good_tier)."""

    def tiers(self) -> list[str]:
        return tier_names(self.curves, first=self.beats_tier)

    def next_tier(self) -> str:
        """Switch to the next tier of the run (good first, then strictest to loosest); the new tier."""
        names = self.tiers()
        if names:
            self.tier = names[(names.index(self.tier) + 1) % len(names)] if self.tier in names else names[0]
        return self.tier

    def draw(self) -> None:
        self.drawn = draw_tiers(
            self.plt,
            self.curves,
            self.tier,
            beats_tier=self.beats_tier,
            width=max(10, self.size.width - 8),
            ascii_only=self.ascii_only,
            title=self.show_title,
            labels=self.show_labels,
        )


class ReliabilityPlot(RunPlot):
    """Observed rate against predicted probability per bin on test, before and after calibration."""

    reliability: reactive[dict | None] = reactive(None)
    """run_view's "reliability": {"before", "after" (bins of mean_p, mean_y, count), "bins"}."""

    def draw(self) -> None:
        self.drawn = draw_reliability(
            self.plt, self.reliability, ascii_only=self.ascii_only, title=self.show_title, labels=self.show_labels
        )


__all__ = ["LossPlot", "ReliabilityPlot", "RunPlot", "TierPlot"]
