"""Compare 2-8 runs: any per-epoch metric (`m` picks it: val loss, val AUC, learning rate,
epoch seconds, ...) by epoch or by wall clock (`w`) and good-or-better@K overlaid, the
config differences, the headline metrics with their deltas against run A (both tables
scroll sideways when 8 runs do not fit), and — on an explicit key only (`P`, after a
yes/no question) — the paired McNemar + Holm test, which looks at the test windows and so
is recorded in every paired run's manifest (a test touch).

Everything is read through core.service (runs, compare, series) in thread workers.

reading      read_comparison, paired_test: the two reads through core.service.compare
tables       pure builders: the legend, the curves' note, metrics with deltas, config diff, paired test
plot         ComparePlot (ASCII-aware plotext) and draw_gob (good-or-better@K)
table_pane   TablePane: a tab's pane whose arrows scroll a column sideways
screen       CompareScreen: layout, workers, keys; its stylesheet is compare.tcss
"""

from synapse_tui.screens.compare.reading import paired_test, read_comparison
from synapse_tui.screens.compare.screen import CompareScreen
from synapse_tui.widgets.draw_metric import MAX_RUNS  # the most runs the screen has colours for

__all__ = ["MAX_RUNS", "CompareScreen", "paired_test", "read_comparison"]
