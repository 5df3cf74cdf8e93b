"""Compare 2-8 runs: any per-epoch metric (`m` picks it: val loss, val AUC, learning rate,
epoch seconds, ...) by epoch or by wall clock (`w`) and good-or-better@K overlaid, the
config differences, the headline metrics with their deltas against run A (both tables
scroll sideways when 8 runs do not fit), and — on an explicit key only (`P`, after a
yes/no question) — the paired McNemar + Holm test, which looks at the test windows and so
is recorded in every paired run's manifest (a test touch).

Everything is read through core.service (runs, compare, series) in thread workers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from rich.console import Group
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, ScrollableContainer, Vertical
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.errors import InputError
from synapse_tui.formatting import k_ranges, num
from synapse_tui.screens.run.glyphs import ascii_renderable
from synapse_tui.theme import STATUS_STYLE
from synapse_tui.widgets.dialogs import YesNo
from synapse_tui.widgets.draw_metric import MAX_RUNS, RUN_COLOURS, run_marker
from synapse_tui.widgets.metric_picker import MetricPicker
from synapse_tui.widgets.metric_plot import MetricPlot

# MAX_RUNS (8): the most runs the screen has colours for (compare_view refuses more).
REFRESH_SECONDS = 2.0  # while a compared run is still queued or running
RANDOM_COLOUR = (128, 128, 128)
SMOOTHING_STEPS = (0.0, 0.3, 0.6, 0.8, 0.9, 0.95, 0.99)  # as the run screen's [ and ]
CELL_MAX = 24  # a config-diff cell folds past this many columns (8 runs still fit side by side)

# (label, row key, digits, better: +1 higher, -1 lower, 0 not a number)
SUMMARY_ROWS = (
    ("AUC", "auc", 4, 1),
    ("Brier skill", "brier_skill", 4, 1),
    ("ECE after", "ece_after", 4, -1),
    ("best good+", "best_good_or_better", 3, 1),
    ("lift capture", "lift_capture", 3, 1),
    ("verdict", "verdict", None, 0),
)
CONTEXT_ROWS = (("model", "model"), ("primary", "primary"), ("calibration", "calibration"), ("status", "status"))


class ComparePlot(PlotextPlot):
    """A plotext plot whose frame and markers read in ASCII when the app draws with ASCII."""

    def render(self):
        from synapse_tui.widgets.draw import ASCII_FRAME

        out = super().render()
        if getattr(self.app, "ascii_plots", False) and isinstance(out, Text):
            out.plain = out.plain.translate(ASCII_FRAME)  # one character for one: the colours stay put
        return out


def _rich(rgb: tuple[int, int, int]) -> str:
    return "rgb({},{},{})".format(*rgb)


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _value(v) -> str:
    """A config value as it reads in YAML's flow style: strings bare, lists in brackets."""
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {_value(x)}" for k, x in v.items()) + "}"
    return json.dumps(v, default=str)


def _short_id(run_id: str) -> str:
    """A run id without its creation time (20261207-231441-logistic-334c -> logistic-334c):
    what tells runs apart when two share a legend line."""
    return re.sub(r"^\d{8}-\d{6}-", "", run_id)


def read_comparison(runs_dir: Path, run_ids: list[str]) -> dict:
    """Everything the screen shows but the paired test (core.service.compare.compare_view)."""
    from core.service.compare import compare_view

    return compare_view(run_ids, runs_dir, most=MAX_RUNS)


def paired_test(runs_dir: Path, run_ids: list[str]) -> list[dict]:
    """The paired McNemar + Holm test of A's primary against each other's (records test touches)."""
    from core.service.compare import paired_view

    return paired_view(run_ids, runs_dir)


class TablePane(ScrollableContainer):
    """A tab's scrolling pane whose arrows move a column's width sideways (8 runs' columns are
    wider than 80 columns), not Textual's one cell."""

    BINDINGS = [
        Binding("left", "sideways(-1)", "Scroll left", show=False),
        Binding("right", "sideways(1)", "Scroll right", show=False),
    ]

    def action_sideways(self, direction: int) -> None:
        self.scroll_relative(x=direction * 16, animate=False)


class CompareScreen(Screen):
    """2-8 runs side by side; the paired test only on `P`, after a yes."""

    HELP_TITLE = "Compare"
    CSS_PATH = "compare.tcss"
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),  # first: the footer always shows it
        Binding("escape", "back", "Back", key_display="esc"),
        # P, not p (the run screen's Parts tab): a key no other screen uses; it asks first, as
        # the test touches the test windows and is recorded in each paired run's manifest.
        Binding("P", "paired", "Paired test (asks)", key_display="P"),
        # m and w mean the same on every screen with a metric plot: pick the metric, epoch/wall clock x.
        Binding("m", "pick_metric", "Metric", tooltip="Plot another per-epoch metric (a list of those the runs have)"),
        Binding("w", "toggle_x", "Epoch/wall", tooltip="x axis: epoch or wall clock (time since the first epoch)"),
        Binding("M", "next_metric", "Next metric", key_display="M", show=False),
        Binding("E", "export_plot", "Export the curves (SVG and PNG)", key_display="E", show=False),
        Binding("T", "toggle_train", "Train loss", key_display="T", tooltip="Show/hide the train loss (dotted)"),
        Binding("left_square_bracket", "smooth(-1)", "Less smoothing", key_display="[", show=False),
        Binding("right_square_bracket", "smooth(1)", "More smoothing", key_display="]", show=False),
        Binding("L", "log_y", "Curves: log/linear y", key_display="L", show=False),
        Binding("r", "refresh", "Refresh", show=False),
        Binding("1", "tab('curves')", "Curves tab", show=False),
        Binding("2", "tab('metrics')", "Metrics tab", show=False),
        Binding("3", "tab('config')", "Config diff tab", show=False),
        Binding("4", "tab('paired')", "Paired test tab", show=False),
    ]

    def __init__(self, runs_dir: Path, run_ids: list[str]) -> None:
        super().__init__()
        self.runs_dir = Path(runs_dir)
        self.run_ids = list(run_ids)
        self.view: dict | None = None
        self.tests: list[dict] | None = None
        self.paired_error: str | None = None
        self.paired_running = False
        self.show_train = False
        self.compact = False  # set from the width: two runs a legend line when 8 do not fit one a line

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._out(Text("reading the runs…", style="dim")), id="legend")
        with TabbedContent(id="tabs", initial="curves"):
            with TabPane("Curves", id="curves"):
                with Vertical(id="curves-box"):
                    yield Static(id="curves-note")
                    with Horizontal(id="plots"):
                        # any per-epoch metric (val loss first); the id is the one tests have always known
                        plot = MetricPlot(id="loss-plot")
                        plot.show_labels = False  # the legend above names the runs in their colours
                        plot.empty_text = "reading the runs…"
                        yield plot
                        yield ComparePlot(id="gob-plot")
            with TabPane("Metrics", id="metrics"):
                with TablePane(classes="pane"):
                    yield Static(id="metrics-table")
            with TabPane("Config diff", id="config"):
                with TablePane(classes="pane"):
                    yield Static(id="config-table")
            with TabPane("Paired test", id="paired"):
                with TablePane(classes="pane"):
                    yield Static(id="paired-view")
        yield Footer()

    def on_mount(self) -> None:
        self.sub_title = f"compare {len(self.run_ids)} runs"
        self._show_paired()
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self._refresh_if_active)

    # ------------------------------------------------------------------ reading
    def action_refresh(self) -> None:
        self.load()

    def _refresh_if_active(self) -> None:
        if self.view is not None and self.view["active"]:
            self.load()

    @work(thread=True, exclusive=True, group="compare-read")
    def load(self) -> None:
        try:
            view = read_comparison(self.runs_dir, self.run_ids)
        except InputError as exc:
            self.app.call_from_thread(self._show_error, str(exc))
            return
        self.app.call_from_thread(self._show, view)

    def _show_error(self, message: str) -> None:
        try:
            self.query_one("#legend", Static).update(self._out(Text(f"cannot compare: {message}", style="bold red")))
        except NoMatches:
            pass

    def _show(self, view: dict) -> None:
        if not self.is_attached:
            return
        self.view = view
        self.compact = len(view["ids"]) > 4 and self.size.width >= 2 * 36
        self.query_one("#legend", Static).update(self._out(self._legend(view)))
        plot = self.query_one("#loss-plot", MetricPlot)
        metrics = view.get("metrics") or []
        if plot.metric not in metrics and metrics:
            plot.metric = metrics[0]
        plot.runs = [{"label": lab, "table": t} for lab, t in zip(view["labels"], view.get("tables") or [])]
        self._plot_loss()
        self._plot_gob()
        self._fit(self.query_one("#metrics-table", Static), self._metrics(view))
        self._fit(self.query_one("#config-table", Static), self._config(view))
        self._show_paired()

    def _fit(self, box: Static, renderable) -> None:
        """Show `renderable` at its natural width (at least the pane's), so a table of 8 runs
        keeps every column whole and its pane scrolls sideways instead of squeezing it."""
        options = self.app.console.options.update(max_width=1000)
        width = Measurement.get(self.app.console, options, renderable).maximum
        box.styles.width = max(width, 10)
        box.update(self._out(renderable))

    # ------------------------------------------------------------------ pieces
    def _colour(self, i: int) -> str:
        return _rich(RUN_COLOURS[i % len(RUN_COLOURS)])

    def _legend(self, view: dict) -> Text | Table:
        """One line a run (A-H in their colours, the id, status, model); with more than four
        runs on a screen wide enough, two runs a line, so eight take four lines."""
        cells = []
        for i, (lab, run_id, row) in enumerate(zip(view["labels"], view["ids"], view["rows"])):
            out = Text(no_wrap=True, overflow="ellipsis")
            out.append(f" {lab} ", style=f"bold black on {self._colour(i)}")
            if self.ascii_only:
                out.append(f" {run_marker(i, True)}", style=self._colour(i))  # the run's marker in the plots
            out.append(f" {_short_id(run_id) if self.compact else run_id} ")
            status = row.get("status") or "?"
            out.append(status, style=STATUS_STYLE.get(status, ""))
            out.append(f" · {row.get('model') or '?'}", style="dim")
            if row.get("primary") and row.get("primary") != row.get("model"):
                out.append(f" ({row['primary']})", style="dim")
            cells.append(out)
        if not self.compact:
            return Text("\n").join(cells)
        grid = Table.grid(padding=(0, 2), expand=True)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        for j in range(0, len(cells), 2):
            grid.add_row(*cells[j : j + 2], *([Text("")] if j + 1 >= len(cells) else []))
        return grid

    @property
    def ascii_only(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _out(self, renderable):
        """What a Static shows: as it is, or in ASCII when the app draws with ASCII."""
        return ascii_renderable(renderable, self.ascii_only)

    def _marker(self) -> str:
        return "*" if self.ascii_only else "braille"

    def _dot(self) -> str:
        return "." if self.ascii_only else "dot"

    def _plot_loss(self) -> None:
        """The metric plot's partner curve (T: train loss dotted beside val loss) follows the metric."""
        plot = self.query_one("#loss-plot", MetricPlot)
        plot.also = MetricPlot.partner(plot.metric) if self.show_train else None
        self._curves_note()

    def on_metric_plot_drawn(self, event: MetricPlot.Drawn) -> None:
        event.stop()
        self._curves_note()

    def _curves_note(self) -> None:
        """One line above the plots: why a run has no curve, else the keys that change the plot."""
        try:
            plot = self.query_one("#loss-plot", MetricPlot)
            note = self.query_one("#curves-note", Static)
        except NoMatches:
            return
        view = self.view or {}
        tables = dict(zip(view.get("labels") or [], view.get("tables") or []))
        missing = plot.drawn.get("missing") or []
        untrained = [lab for lab in missing if not (tables.get(lab) or {}).get("epoch")]
        lacking = [lab for lab in missing if lab not in untrained]
        out = Text()
        if untrained:
            out.append(f"{', '.join(untrained)}: no epochs", style="yellow")
            if all((r.get("job") == "baselines") for r, lab in zip(view.get("rows") or [], tables) if lab in untrained):
                out.append(" (baselines runs do not train)", style="dim")
        if lacking:
            out.append("  " if out else "")
            out.append(f"{', '.join(lacking)}: no {plot.metric}", style="yellow")
        if plot.drawn.get("no_wall"):
            out.append("  " if out else "")
            out.append(f"{', '.join(plot.drawn['no_wall'])}: no epoch times", style="yellow")
        if not out:
            out.append("m metric · w epoch/wall clock · T train · [ ] smoothing · L log y", style="dim")
        note.update(self._out(out))

    def _plot_gob(self) -> None:
        widget = self.query_one("#gob-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        gob = (self.view or {}).get("gob") or {"ks": []}
        ks = gob["ks"]
        drawn = False
        labels = self.view["labels"] if self.view else []
        in_plot = len(labels) <= 4  # more runs: the legend above names them (a plot legend of 9 hides the plot)
        for i, (lab, rates) in enumerate(zip(labels, gob.get("rates", []))):
            pts = [(k, r) for k, r in zip(ks, rates) if _is_num(r)]
            if pts:
                plt.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    label=lab if in_plot else None,
                    color=RUN_COLOURS[i % len(RUN_COLOURS)],
                    marker=run_marker(i, True) if self.ascii_only else self._marker(),
                )
                drawn = True
        rnd = [(k, r) for k, r in zip(ks, gob.get("random", [])) if _is_num(r)]
        if drawn and rnd:
            plt.plot(
                [p[0] for p in rnd],
                [p[1] for p in rnd],
                label="random" if in_plot else None,
                color=RANDOM_COLOUR,
                marker=self._dot(),
            )
        if drawn:
            plt.title("good-or-better@K (test)")
            plt.xlabel("K")
            plt.xticks(ks)
        else:
            plt.title("good-or-better@K: no evaluated run yet")
        widget.refresh()

    def _pane_width(self) -> int:
        """The columns a tab's table has: the screen less the pane's padding and scrollbar."""
        return max(20, (self.size.width or 80) - 3)

    def _blocks(self, n: int, build) -> Group:
        """`build(run indices)` (a table of those runs) for all n runs, or, when that is wider
        than the pane, for as many runs a block as fit, the blocks one under the other: every
        block keeps its row labels, so 8 runs read at 80 columns without scrolling sideways."""
        width = self._pane_width()
        options = self.app.console.options.update(max_width=1000)
        for k in range(n, 0, -1):
            blocks = [build(list(range(i, min(n, i + k)))) for i in range(0, n, k)]
            if k == 1 or all(Measurement.get(self.app.console, options, b).maximum <= width for b in blocks):
                parts: list = []
                for j, block in enumerate(blocks):
                    parts += [Text(""), block] if j else [block]
                return Group(*parts)
        return Group()

    def _metrics(self, view: dict) -> Group:
        labels, rows = view["labels"], view["rows"]
        deltas = {key: self._delta_cells(rows, key, digits, better) for _, key, digits, better in SUMMARY_ROWS}

        def build(idx: list[int]) -> Table:
            table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False, expand=False)
            table.add_column("", no_wrap=True, min_width=max(len(r[0]) for r in (*SUMMARY_ROWS, *CONTEXT_ROWS)))
            for i in idx:
                title = labels[i] if i == 0 else f"{labels[i]}  Δ vs A"
                table.add_column(Text(title, style=f"bold {self._colour(i)}"), justify="right", no_wrap=True)
            for label, key in CONTEXT_ROWS:
                cells = []
                for i in idx:
                    v = rows[i].get(key)
                    style = STATUS_STYLE.get(v, "") if key == "status" else ""
                    cells.append(Text(str(v) if v is not None else "–", style=style))
                table.add_row(Text(label, style="dim"), *cells)
            for label, key, _, _ in SUMMARY_ROWS:
                table.add_row(label, *[deltas[key][i] for i in idx])
            return table

        table = self._blocks(len(labels), build)
        windows = view["windows"]
        if windows and all(w == windows[0] for w in windows) and windows[0] is not None:
            where = Text(f"All on the same test window: {self._window_text(windows[0])}.", style="dim")
        else:
            where = Text("Test windows differ (the paired test will refuse those pairs):", style="yellow")
            for lab, w in zip(labels, windows):
                where.append(f"\n  {lab}: {self._window_text(w)}", style="yellow")
        note = Text("Δ: each run minus A; green is better, red worse (ECE: lower is better).", style="dim")
        return Group(table, Text(""), where, note)

    def _delta_cells(self, rows: list[dict], key: str, digits: int | None, better: int) -> list[Text]:
        a = rows[0].get(key)
        out = []
        for i, row in enumerate(rows):
            v = row.get(key)
            if digits is None:
                style = "green" if v == "APPROVED" else ("red" if v else "dim")
                out.append(Text(str(v) if v else "–", style=style))
                continue
            cell = Text(num(v, digits) if _is_num(v) else "–")
            if key == "best_good_or_better" and _is_num(v) and row.get("best_k") is not None:
                cell.append(f"@{row['best_k']}", style="dim")
            if i and _is_num(v) and _is_num(a):
                d = v - a
                good = d * better
                shown = num(d, digits, signed=True)
                if float(shown) == 0:
                    good = 0  # a difference too small to show is no difference
                cell.append(f" {shown}", style="green" if good > 0 else ("red" if good < 0 else "dim"))
            elif i:
                cell.append(" " * (digits + 4))
            out.append(cell)
        return out

    @staticmethod
    def _window_text(w) -> str:
        return "– (not evaluated)" if w is None else f"{w[0]}..{w[1]} ({w[2]} days)"

    def _config(self, view: dict) -> Group | Text:
        diff = view["diff"]
        if not diff:
            return Text("The resolved configs are identical.", style="dim")
        labels = view["labels"]

        def build(idx: list[int]) -> Table:
            table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
            table.add_column("key", no_wrap=True)
            for i in idx:
                table.add_column(Text(labels[i], style=f"bold {self._colour(i)}"), overflow="fold", max_width=CELL_MAX)
            for key, vals in diff.items():
                table.add_row(Text(key), *[Text(_value(vals[i]), style="dim" if vals[i] is None else "") for i in idx])
            return table

        title = Text(f"{len(diff)} key{'s differ' if len(diff) != 1 else ' differs'} (resolved configs)", style="dim")
        return Group(title, self._blocks(len(labels), build))

    # ------------------------------------------------------------------ the paired test
    def action_paired(self) -> None:
        """Asks first: the test looks at the test windows, and that is recorded in the manifests."""
        if self.paired_running:
            return
        ids = (self.view or {}).get("ids") or self.run_ids
        self.app.push_screen(
            YesNo(
                "Run the paired test?\n"
                "It looks at the test window: the test window will be touched, and this is recorded as a "
                f"test touch in each run's manifest (test_touches of {', '.join(ids)})."
            ),
            self._paired_answered,
        )

    def _paired_answered(self, yes: bool | None) -> None:
        if yes:
            self._start_paired()

    def _start_paired(self) -> None:
        if self.paired_running or not self.is_attached:
            return
        self.paired_running = True
        self.paired_error = None
        self.query_one("#tabs", TabbedContent).active = "paired"
        self._show_paired()
        self.run_paired()

    @work(thread=True, exclusive=True, group="compare-paired")
    def run_paired(self) -> None:
        try:
            tests = paired_test(self.runs_dir, self.run_ids)
        except InputError as exc:
            # the service speaks to the CLI too: its --no-paired hint means nothing here
            message = re.sub(r"\s*\((or )?pass --no-paired[^)]*\)", "", str(exc))
            self.app.call_from_thread(self._paired_done, None, message)
            return
        self.app.call_from_thread(self._paired_done, tests, None)

    def _paired_done(self, tests: list[dict] | None, error: str | None) -> None:
        self.paired_running = False
        self.tests, self.paired_error = tests, error
        if not self.is_attached:
            return
        self._show_paired()
        if tests is not None:
            n = sum("skipped" not in t for t in tests)
            self.notify(f"paired test done; recorded as a test touch in {n + 1 if n else 0} manifests", timeout=4)
            self.load()  # the touches show in the runs' rows

    def _show_paired(self) -> None:
        try:
            box = self.query_one("#paired-view", Static)
        except NoMatches:
            return
        parts: list = []
        if self.paired_running:
            parts.append(Text("running the paired test…", style="dim"))
        elif self.paired_error:
            parts.append(Text("✗ refused: ", style="bold red") + Text(self.paired_error, style="red"))
        elif self.tests is None:
            parts.append(self._paired_intro())
        if self.tests:
            labels, ids = (self.view or {}).get("labels", []), (self.view or {}).get("ids", [])
            for t in self.tests:
                parts += [self._paired_table(t, labels, ids), Text("")]
            parts.append(
                Text(
                    "Recorded in each paired run's manifest (test_touches). P runs it again (another touch).",
                    style="dim",
                )
            )
        box.update(self._out(Group(*parts)))

    def _paired_intro(self) -> Text:
        out = Text()
        out.append("Press P", style="bold")
        out.append(
            " for the paired test: A's primary against each other run's on the same test days, an exact "
            "McNemar test per K on the good-or-better indicator, Holm-adjusted across K.\n\n"
        )
        out.append(
            "It looks at the test window, so it is recorded as a test touch in every paired run's manifest.",
            style="yellow",
        )
        windows = (self.view or {}).get("windows") or []
        if windows and windows[0] is not None and any(w != windows[0] for w in windows[1:]):
            out.append("\n\nThe test windows differ: the test will refuse to pair those runs.", style="red")
        missing = [
            (lab, m) for lab, m in zip((self.view or {}).get("labels", []), (self.view or {}).get("missing", [])) if m
        ]
        for lab, m in missing:
            out.append(f"\n{lab}: {m}", style="dim")
        return out

    def _paired_table(self, t: dict, labels: list[str], ids: list[str]):
        lb = labels[ids.index(t["run"])] if t["run"] in ids else "?"
        i_b = labels.index(lb) if lb in labels else 1
        la = labels[0] if labels else "A"
        if "skipped" in t:
            return Text(f"{la} vs {lb}: skipped — {t['skipped']}", style="yellow")
        head = Text()
        head.append(f"{la}", style=f"bold {self._colour(0)}")
        head.append(f" ({t['a']}) vs ")
        head.append(f"{lb}", style=f"bold {self._colour(i_b)}")
        head.append(f" ({t['b']}) on {t['window']}")
        table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False)
        for col in ("K", la, lb, f"{la} only", f"{lb} only", "p Holm", ""):
            table.add_column(col, justify="right" if col else "left", no_wrap=True)
        for j, k in enumerate(t["ks"]):
            mark, style = "–", "dim"
            if k in t["beats_at"]:
                mark, style = f"{la} better", "green"
            elif k in t["worse_at"]:
                mark, style = f"{lb} better", "red"
            table.add_row(
                str(k),
                num(t["model_rate"][j]),
                num(t["base_rate"][j]),
                str(t["model_only"][j]),
                str(t["base_only"][j]),
                f"{t['p_holm'][j]:.2g}",
                Text(mark, style=style),
            )
        if t["beats_at"]:
            verdict = Text(f"{la} beats {lb} at K {k_ranges(t['beats_at'])} (Holm p < {t['alpha']})", style="green")
        elif t["worse_at"]:
            verdict = Text(f"{lb} beats {la} at K {k_ranges(t['worse_at'])} (Holm p < {t['alpha']})", style="red")
        else:
            verdict = Text(f"no significant difference at any K (Holm p ≥ {t['alpha']})", style="dim")
        return Group(head, table, verdict)

    # ------------------------------------------------------------------ keys
    def action_toggle_train(self) -> None:
        self.show_train = not self.show_train
        self._plot_loss()

    def _plot(self) -> MetricPlot:
        self.query_one("#tabs", TabbedContent).active = "curves"  # a plot key shows the plot
        return self.query_one("#loss-plot", MetricPlot)

    def action_pick_metric(self) -> None:
        plot = self._plot()
        metrics = plot.metrics()
        if not metrics:
            self.notify("no run has per-epoch metrics yet (baselines runs do not train)", timeout=4)
            return
        self.app.push_screen(MetricPicker(metrics, current=plot.metric), self._picked)

    def _picked(self, metric: str | None) -> None:
        if metric and self.is_attached:
            self._set_metric(metric)

    def _set_metric(self, metric: str) -> None:
        plot = self.query_one("#loss-plot", MetricPlot)
        plot.metric = metric
        self._plot_loss()  # the partner curve follows the metric

    def action_next_metric(self) -> None:
        plot = self._plot()
        if plot.metrics():
            self._set_metric(plot.next_metric())

    def action_toggle_x(self) -> None:
        self._plot().toggle_x()

    def action_export_plot(self) -> None:
        """The curves as drawn (the metric, the x axis, every run) to SVG and PNG files, in a worker."""
        plot = self._plot()
        self.export_plot(plot.metric, plot.x_mode)

    @work(thread=True, group="compare-export", exit_on_error=False)
    def export_plot(self, what: str, x: str) -> None:
        from core.service.plot_export import default_export_path, export_plot
        from core.service.runs import open_runs

        try:
            rds = open_runs(self.run_ids, self.runs_dir)
            name = "compare-" + "-".join(rd.run_id[-4:] for rd in rds)
            paths = [
                export_plot(rds, what, default_export_path(name, what, suffix), x=x) for suffix in (".svg", ".png")
            ]
        except InputError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="error", timeout=8, markup=False)
            return
        except Exception as exc:  # noqa: BLE001 - a notification, never a traceback
            self.app.call_from_thread(self.notify, f"export failed: {exc}", severity="error", markup=False)
            return
        self.app.call_from_thread(
            self.notify, "wrote " + " and ".join(str(p) for p in paths), title="plot exported", timeout=8, markup=False
        )

    def action_smooth(self, step: int) -> None:
        plot = self._plot()
        i = min(range(len(SMOOTHING_STEPS)), key=lambda j: abs(SMOOTHING_STEPS[j] - plot.smoothing))
        plot.smoothing = SMOOTHING_STEPS[max(0, min(len(SMOOTHING_STEPS) - 1, i + step))]

    def action_log_y(self) -> None:
        plot = self._plot()
        plot.log_y = not plot.log_y

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        if tab != "curves":  # arrows scroll the table (sideways too, when 8 runs are wider than the screen)
            pane = self.query_one(f"#{tab} .pane", TablePane)
            self.call_after_refresh(pane.focus)

    def action_back(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def on_resize(self) -> None:
        if self.view is not None:
            self._fit(self.query_one("#metrics-table", Static), self._metrics(self.view))
            self._fit(self.query_one("#config-table", Static), self._config(self.view))
            compact = len(self.view["ids"]) > 4 and self.size.width >= 2 * 36
            if compact != self.compact:
                self.compact = compact
                self.query_one("#legend", Static).update(self._out(self._legend(self.view)))


__all__ = ["CompareScreen", "paired_test", "read_comparison"]
