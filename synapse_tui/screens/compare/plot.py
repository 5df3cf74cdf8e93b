"""The compare screen's good-or-better@K plot: ComparePlot and what it draws (draw_gob)."""

from __future__ import annotations

from rich.text import Text
from textual_plotext import PlotextPlot

from synapse_tui.screens.compare.tables import is_num
from synapse_tui.widgets.draw_metric import RUN_COLOURS, run_marker

RANDOM_COLOUR = (128, 128, 128)


class ComparePlot(PlotextPlot):
    """A plotext plot whose frame and markers read in ASCII when the app draws with ASCII."""

    def render(self):
        from synapse_tui.widgets.draw import ASCII_FRAME

        out = super().render()
        if getattr(self.app, "ascii_plots", False) and isinstance(out, Text):
            out.plain = out.plain.translate(ASCII_FRAME)  # one character for one: the colours stay put
        return out


def draw_gob(plt, gob: dict, labels: list[str], ascii_only: bool) -> None:
    """Every run's good-or-better@K (and random's) on `plt`, a cleared plotext figure."""
    ks = gob["ks"]
    drawn = False
    in_plot = len(labels) <= 4  # more runs: the legend above names them (a plot legend of 9 hides the plot)
    for i, (lab, rates) in enumerate(zip(labels, gob.get("rates", []))):
        pts = [(k, r) for k, r in zip(ks, rates) if is_num(r)]
        if pts:
            plt.plot(
                [p[0] for p in pts],
                [p[1] for p in pts],
                label=lab if in_plot else None,
                color=RUN_COLOURS[i % len(RUN_COLOURS)],
                marker=run_marker(i, True) if ascii_only else "braille",
            )
            drawn = True
    rnd = [(k, r) for k, r in zip(ks, gob.get("random", [])) if is_num(r)]
    if drawn and rnd:
        plt.plot(
            [p[0] for p in rnd],
            [p[1] for p in rnd],
            label="random" if in_plot else None,
            color=RANDOM_COLOUR,
            marker="." if ascii_only else "dot",
        )
    if drawn:
        plt.title("good-or-better@K (test)")
        plt.xlabel("K")
        plt.xticks(ks)
    else:
        plt.title("good-or-better@K: no evaluated run yet")
