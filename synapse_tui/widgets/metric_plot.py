"""`MetricPlot`: any per-epoch metric of 1..8 runs, against the epoch or the wall clock.

Drop it into any pane; it owns its drawing state and redraws itself at its size whenever
an attribute changes:

    from core.service.series import epoch_table
    from synapse_tui.widgets.metric_plot import MetricPlot

    plot = MetricPlot(id="metric")                    # compose it like any widget
    # in a worker: one table per run (pure, O(epochs)); then, on the event loop:
    plot.runs = [{"label": "A", "table": epoch_table(view["epochs"])}, ...]   # 1..8 runs
    plot.metric = "val_auc"                           # any of plot.metrics()
    plot.x_mode = "wall"                              # or "epoch" (plot.toggle_x())
    plot.smoothing = 0.6                              # EMA weight in [0, 1), as LossPlot
    plot.log_y = True
    plot.also = "train_loss"                          # a dotted partner curve per run, or None
    plot.mark_best = True                             # the best epoch (checkpoint kept) marked, as LossPlot

and handle `MetricPlot.Drawn` (`on_metric_plot_drawn`) to show `event.plot.drawn`
(its "legend", the "missing" runs, the "metric" and "x") beside it. A run entry may hold
its raw epoch events as "epochs" instead of "table" (converted once per list, on the event
loop: fine for short runs; give a table for long ones). Runs are coloured by position
(`draw_metric.RUN_COLOURS`: A blue, B orange, ...); in ASCII mode each run also gets its
own marker (* + o x # % @ =). Long histories are min/max-downsampled to the plot's width
and the result cached, so a redraw of 8 runs x 10,000 epochs costs a screen's width.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping

from rich.text import Text
from textual.app import RenderResult
from textual.reactive import reactive
from textual_plotext import PlotextPlot

from core.service.series import X_MODES, epoch_table, union_metrics
from synapse_tui.widgets.draw import ASCII_FRAME
from synapse_tui.widgets.draw_metric import MAX_RUNS, metric_lines, metric_title, partner, plot_metric
from synapse_tui.widgets.plots import RunPlot


class MetricPlot(RunPlot):
    """One per-epoch metric of 1..8 runs overlaid, by epoch or by wall clock."""

    class Drawn(RunPlot.Drawn):
        """Posted when what the plot shows changed: its legend, metric, x axis or missing runs.
        `plot.drawn`: {"lines", "legend" [(swatch, label, rgb)], "missing", "no_wall",
        "metric", "x", "unit", "log_y", "smoothing"}."""

    runs: reactive[list[dict]] = reactive(list)
    """[{"label": "A", "table": core.service.series.epoch_table(events)}] (or "epochs": events), 1..8."""
    metric: reactive[str] = reactive("val_loss")
    """The metric drawn: a key of the runs' epoch events (see `metrics()`)."""
    x_mode: reactive[str] = reactive("epoch")
    """"epoch" or "wall" (seconds since the run's first epoch began; shown in s, min, h or d)."""
    smoothing: reactive[float] = reactive(0.0)
    """EMA weight in [0, 1): 0 is the raw curve."""
    log_y: reactive[bool] = reactive(False)
    also: reactive[str | None] = reactive(None)
    """A second metric drawn dotted in each run's colour (`partner(metric)`: train_loss beside val_loss)."""
    mark_best: reactive[bool] = reactive(False)
    """Mark each run's best epoch (its last logged `best_epoch`: the checkpoint kept) on its curve."""

    def __init__(
        self,
        *,
        ascii_only: bool | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(ascii_only=ascii_only, name=name, id=id, classes=classes)
        self._tables: list[tuple[object, Mapping]] = []  # (the entry's events list, its table)
        self._prepared_key: tuple | None = None
        self._prepared: dict | None = None
        self._keep: list[Mapping] = []  # the tables the cache key's ids refer to
        self._shown_key: str | None = None  # what the last Drawn message was about

    # ------------------------------------------------------------------ what it can show
    def tables(self) -> list[Mapping]:
        """The runs' epoch tables (raw "epochs" converted once per list and kept)."""
        out, kept = [], []
        for run in list(self.runs)[:MAX_RUNS]:
            table = run.get("table")
            if not isinstance(table, Mapping):
                events = run.get("epochs") or []
                table = next((t for src, t in self._tables if src is events), None)
                if table is None:
                    table = epoch_table(events)
                kept.append((events, table))
            out.append(table)
        self._tables = kept
        return out

    def metrics(self) -> list[str]:
        """The metrics any of the runs recorded, loss first (`core.service.series.union_metrics`)."""
        return union_metrics(self.tables())

    def next_metric(self, step: int = 1) -> str:
        """Switch to the next (or previous) metric the runs have; the new metric."""
        names = self.metrics()
        if names:
            i = names.index(self.metric) + step if self.metric in names else 0
            self.metric = names[i % len(names)]
        return self.metric

    def toggle_x(self) -> str:
        """Epoch <-> wall clock; the new x mode."""
        self.x_mode = X_MODES[(X_MODES.index(self.x_mode) + 1) % len(X_MODES)] if self.x_mode in X_MODES else "epoch"
        return self.x_mode

    @staticmethod
    def partner(metric: str) -> str | None:
        """The metric worth drawing dotted beside `metric` (val_X <-> train_X), or None."""
        return partner(metric)

    @property
    def title(self) -> str:
        """What the plot's own title line says (also when `show_title` is off, for a border title)."""
        prepared = self._prepared or {"metric": self.metric, "x": self.x_mode, "lines": [], "missing": []}
        return metric_title(prepared, bool(self.drawn.get("lines")), self.ascii_only)

    # ------------------------------------------------------------------ drawing
    def validate_x_mode(self, value: str) -> str:
        if value not in X_MODES:
            raise ValueError(f"x_mode must be one of {', '.join(X_MODES)}, got {value!r}")
        return value

    def validate_smoothing(self, value: float) -> float:
        if not 0 <= value < 1:
            raise ValueError(f"smoothing must be in [0, 1), got {value}")
        return value

    def _width(self) -> int:
        return max(10, self.size.width - 8)

    def draw(self) -> None:
        tables = self.tables()
        width = self._width()
        key = (
            tuple(id(t) for t in tables),
            tuple(str(r.get("label")) for r in list(self.runs)[:MAX_RUNS]),
            self.metric,
            self.x_mode,
            width,
            self.smoothing,
            self.log_y,
            self.also,
        )
        if key != self._prepared_key or self._prepared is None:
            entries = [{"label": r.get("label"), "table": t} for r, t in zip(self.runs, tables)]
            self._prepared = metric_lines(
                entries,
                self.metric,
                self.x_mode,
                width=width,
                smoothing=self.smoothing,
                log_y=self.log_y,
                also=self.also,
            )
            self._prepared_key = key
            self._keep = tables  # the ids in the key stay valid while the tables live
        self.drawn = plot_metric(
            self.plt,
            self._prepared,
            width=width,
            height=self.size.height,
            ascii_only=self.ascii_only,
            title=self.show_title,
            labels=self.show_labels,
            best=self.mark_best,
        )

    def _post_drawn(self) -> None:
        self.post_message(self.Drawn(self))

    def render(self) -> RenderResult:
        self.renders += 1
        self.draw()
        d = self.drawn
        key = repr((d.get("legend"), d.get("missing"), d.get("no_wall"), d.get("metric"), d.get("x"), d.get("unit")))
        if key != self._shown_key:
            self._shown_key = key
            # Made in the plot's own loop, not here: a message made while the screen renders
            # names the screen as its sender and so never bubbles up to the screen or the app.
            self.call_later(self._post_drawn)
        if not d.get("lines"):
            text = self.title if self.runs else self.empty_text
            lines = textwrap.wrap(text, max(10, self.size.width - 2)) or [""]
            pad = "\n" * max(0, (self.size.height - len(lines)) // 2)
            out = Text(pad + "\n".join(line.center(self.size.width).rstrip() for line in lines), style="dim")
            if self.ascii_only:
                out.plain = out.plain.translate(ASCII_FRAME)
            return out
        rendered = PlotextPlot.render(self)
        if self.ascii_only and isinstance(rendered, Text):
            rendered.plain = rendered.plain.translate(ASCII_FRAME)  # one character for one: colours stay put
        return rendered


__all__ = ["MetricPlot"]
