"""`synapse runs show RUN --plot`: the loss curves (or, with `--metric`, any per-epoch
metric by epoch or wall clock) and the tier rates on plain stdout.

The same drawing as the dashboard's plots (synapse_tui.widgets.draw over the curves of
core.service.series), with the `plotext` module itself as the canvas, sized to the
terminal. plotext and the run's report are imported inside `print_plots` only, so
importing the commands stays light (`synapse --help` never loads them).
"""

from __future__ import annotations

import shutil
import sys

from core.service.series import nice_ticks, tick_labels
from synapse_tui.widgets.draw import ASCII_FRAME

# Box-drawing and marker glyphs as ASCII, for a stdout that is not UTF-8.
_ASCII_FRAME = {**ASCII_FRAME, **str.maketrans({"→": "->", "…": "..."})}


def stdout_is_utf8(stream=None) -> bool:
    enc = getattr(stream or sys.stdout, "encoding", None) or ""
    return "utf" in enc.lower()


def plot_size(columns: int | None = None, lines: int | None = None) -> tuple[int, int]:
    """(width, height) of one plot: the terminal's width, a third of its height (12..24 rows)."""
    term = shutil.get_terminal_size((100, 36))
    width = max(40, min(columns or term.columns, 240))
    height = max(12, min(24, (lines or term.lines) // 3))
    return width, height


def render_plots(
    view: dict,
    *,
    width: int,
    height: int,
    ascii_only: bool,
    color: bool,
    metric: str | None = None,
    x: str = "epoch",
) -> list[str]:
    """The loss and tier plots of a `core.service.runs.run_view` as text blocks (titles included).

    `metric` (a key of the run's epoch events: val_auc, lr, seconds, ...) draws that metric
    instead of the loss, against `x` ("epoch" or "wall": seconds since the first epoch
    began); a metric the run did not record is an InputError naming those it did."""
    import plotext as plt

    from core.errors import InputError
    from core.service.series import X_MODES, epoch_table, loss_series, metric_label, metric_series
    from synapse_tui.widgets.draw import draw_loss, draw_tiers
    from synapse_tui.widgets.draw_metric import draw_metric

    blocks = []
    good = ((view.get("config") or {}).get("eval") or {}).get("good_tier") or "good"
    drawings = []
    baselines = view.get("run", {}).get("job") == "baselines"
    if metric is not None or x != "epoch":  # one per-epoch metric, by epoch or wall clock
        if x not in X_MODES:
            raise InputError(f"--x must be one of {', '.join(X_MODES)}, got {x!r}")
        chosen = metric or "val_loss"
        table = epoch_table(view.get("epochs") or [])
        metric_series(table, chosen, x)  # a metric the run did not record: the InputError naming those it did
        if table["epoch"]:
            runs = [{"label": metric_label(chosen), "table": table}]
            drawings.append(
                lambda: draw_metric(
                    plt,
                    runs,
                    chosen,
                    x,
                    width=width - 10,
                    height=height,
                    ascii_only=ascii_only,
                    labels=False,
                    mono=not color,
                    best=True,
                )
            )
        else:
            blocks.append(f"{chosen}: no epochs " + ("(a baselines run does not train)" if baselines else "yet"))
    else:
        series = loss_series(view.get("epochs") or [])
        if series["epoch"]:
            drawings.append(
                lambda: draw_loss(plt, series, width=width - 10, ascii_only=ascii_only, labels=False, mono=not color)
            )
        else:
            blocks.append("loss: no epochs (a baselines run does not train)" if baselines else "loss: no epochs yet")
    if view.get("tiers") and (view["tiers"].get("tiers") or {}):
        drawings.append(
            lambda: draw_tiers(
                plt,
                view["tiers"],
                good,
                beats_tier=good,
                width=width - 10,
                ascii_only=ascii_only,
                labels=False,
                mono=not color,
            )
        )
    else:
        blocks.append("tier rates: the run has not been evaluated yet")
    for draw in drawings:
        drawn = draw()
        _compact_y_ticks(plt, drawn, height)
        plt.plotsize(width, height)
        if not color:
            plt.theme("clear")
        text = plt.build()
        if not color:
            text = plt.uncolorize(text)
        legend = _wrap([f"{sym} {label}" for sym, label, _ in drawn.get("legend") or []], width - 2)
        blocks.append(text.rstrip("\n") + "".join("\n  " + line for line in legend))
    out = []
    for b in blocks:
        out.append(b.translate(_ASCII_FRAME) if ascii_only else b)
    return out


def _compact_y_ticks(plt, drawn: dict, height: int) -> None:
    """Round y ticks with short labels (0.37, 0.375, 2.1e-05), a few for the plot's height,
    so that every label prints whole however narrow the terminal (plotext's own take as
    many digits as the range needs). A log axis keeps plotext's."""
    if drawn.get("log_y"):
        return
    ys = [y for _, line in (drawn.get("lines") or {}).values() for y in line]
    if not ys:
        return
    lo, hi = min(ys), max(ys)
    if hi - lo < 1e-6 * max(1.0, abs(hi)):  # a flat line: draw_loss pads the axis the same way
        pad = max(abs(hi) * 0.01, 1e-6)
        lo, hi = lo - pad, hi + pad
    ticks = nice_ticks(lo, hi, most=max(3, min(7, height // 2)))
    if len(ticks) >= 2:
        plt.yticks(ticks, tick_labels(ticks))


def _wrap(items: list[str], width: int) -> list[str]:
    lines: list[str] = []
    for item in items:
        if lines and len(lines[-1]) + 2 + len(item) <= width:
            lines[-1] += "  " + item
        else:
            lines.append(item)
    return lines


def print_plots(
    view: dict, *, color: bool | None = None, stream=None, metric: str | None = None, x: str = "epoch"
) -> None:
    """Print the loss curves (or `metric` against `x`, see `render_plots`) and the tier rates
    of a run (`run_view`) to stdout."""
    stream = stream or sys.stdout
    ascii_only = not stdout_is_utf8(stream)
    if color is None:
        color = stream.isatty() if hasattr(stream, "isatty") else False
    width, height = plot_size()
    blocks = render_plots(view, width=width, height=height, ascii_only=ascii_only, color=color, metric=metric, x=x)
    for block in blocks:
        text = block if not ascii_only else block.encode("ascii", "replace").decode("ascii")
        stream.write("\n" + text + "\n")
    stream.flush()


__all__ = ["plot_size", "print_plots", "render_plots", "stdout_is_utf8"]
