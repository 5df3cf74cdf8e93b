"""Compare 2-4 runs: loss and good-or-better@K curves overlaid, the config differences, the
headline metrics with their deltas against run A, and — on an explicit key only (`P`, after
a yes/no question) — the paired McNemar + Holm test, which looks at the test windows and so
is recorded in every paired run's manifest (a test touch).

Everything is read through core.service (runs, compare, series) in thread workers.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.css.query import NoMatches
from textual.screen import Screen
from textual.widgets import Footer, Header, Static, TabbedContent, TabPane
from textual_plotext import PlotextPlot

from core.errors import InputError
from synapse_tui.formatting import k_ranges, num
from synapse_tui.screens.run.glyphs import ascii_renderable
from synapse_tui.theme import STATUS_STYLE
from synapse_tui.widgets.dialogs import YesNo

MAX_RUNS = 4  # the most runs the screen has colours and columns for (compare_view refuses more)
REFRESH_SECONDS = 2.0  # while a compared run is still queued or running
# One colour per run (A, B, C, D), the same in the legend, the tables and the plots.
RUN_COLOURS = [(86, 156, 214), (230, 145, 56), (106, 190, 90), (200, 100, 200)]
RANDOM_COLOUR = (128, 128, 128)

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


def read_comparison(runs_dir: Path, run_ids: list[str]) -> dict:
    """Everything the screen shows but the paired test (core.service.compare.compare_view)."""
    from core.service.compare import compare_view

    return compare_view(run_ids, runs_dir, most=MAX_RUNS)


def paired_test(runs_dir: Path, run_ids: list[str]) -> list[dict]:
    """The paired McNemar + Holm test of A's primary against each other's (records test touches)."""
    from core.service.compare import paired_view

    return paired_view(run_ids, runs_dir)


class CompareScreen(Screen):
    """2-4 runs side by side; the paired test only on `P`, after a yes."""

    HELP_TITLE = "Compare"
    CSS_PATH = "compare.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        # P, not p (the run screen's Parts tab): a key no other screen uses; it asks first.
        Binding("P", "paired", "Paired test (asks; records a test touch)", key_display="P"),
        Binding("T", "toggle_train", "Show/hide the train loss", key_display="T"),
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

    # ------------------------------------------------------------------ layout
    def compose(self) -> ComposeResult:
        yield Header()
        yield Static(self._out(Text("reading the runs…", style="dim")), id="legend")
        with TabbedContent(id="tabs", initial="curves"):
            with TabPane("Curves", id="curves"):
                with Horizontal(id="plots"):
                    yield ComparePlot(id="loss-plot")
                    yield ComparePlot(id="gob-plot")
            with TabPane("Metrics", id="metrics"):
                with VerticalScroll(classes="pane"):
                    yield Static(id="metrics-table")
            with TabPane("Config diff", id="config"):
                with VerticalScroll(classes="pane"):
                    yield Static(id="config-table")
            with TabPane("Paired test", id="paired"):
                with VerticalScroll(classes="pane"):
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
        self.query_one("#legend", Static).update(self._out(self._legend(view)))
        self._plot_loss()
        self._plot_gob()
        self.query_one("#metrics-table", Static).update(self._out(self._metrics(view)))
        self.query_one("#config-table", Static).update(self._out(self._config(view)))
        self._show_paired()

    # ------------------------------------------------------------------ pieces
    def _colour(self, i: int) -> str:
        return _rich(RUN_COLOURS[i % len(RUN_COLOURS)])

    def _legend(self, view: dict) -> Text:
        out = Text()
        for i, (lab, run_id, row) in enumerate(zip(view["labels"], view["ids"], view["rows"])):
            if i:
                out.append("\n")
            out.append(f" {lab} ", style=f"bold black on {self._colour(i)}")
            out.append(f" {run_id} ")
            status = row.get("status") or "?"
            out.append(status, style=STATUS_STYLE.get(status, ""))
            out.append(f" · {row.get('model') or '?'}", style="dim")
            if row.get("primary") and row.get("primary") != row.get("model"):
                out.append(f" ({row['primary']})", style="dim")
        return out

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
        from core.service.series import downsample_minmax, nice_ticks, tick_labels

        widget = self.query_one("#loss-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        view = self.view or {}
        drawn = False
        buckets = max(20, widget.size.width)
        for i, (lab, s) in enumerate(zip(view.get("labels", []), view.get("loss", []))):
            for key, suffix in (("val", ""), ("train", " train")):
                if key == "train" and not self.show_train:
                    continue
                pts = [(e, v) for e, v in zip(s["epoch"], s[key]) if not math.isnan(v)]
                if not pts:
                    continue
                xs, ys = downsample_minmax([p[0] for p in pts], [p[1] for p in pts], buckets)
                plt.plot(
                    xs,
                    ys,
                    label=f"{lab}{suffix}",
                    color=RUN_COLOURS[i % len(RUN_COLOURS)],
                    marker=self._dot() if key == "train" else self._marker(),
                )
                drawn = True
        if drawn:
            plt.title("val loss by epoch" + (" (+ train)" if self.show_train else ""))
            plt.xlabel("epoch")
            epochs = [e for s in view.get("loss", []) for e in s["epoch"]]
            # epochs are whole numbers: integer ticks, as many as the width has room for
            ticks = nice_ticks(min(epochs), max(epochs), most=max(2, widget.size.width // 10), integer=True)
            if ticks:
                plt.xticks(ticks, tick_labels(ticks))
        else:
            plt.title("loss: no epochs (baselines runs do not train)")
        widget.refresh()

    def _plot_gob(self) -> None:
        widget = self.query_one("#gob-plot", PlotextPlot)
        plt = widget.plt
        plt.clear_data()
        plt.clear_figure()
        gob = (self.view or {}).get("gob") or {"ks": []}
        ks = gob["ks"]
        drawn = False
        for i, (lab, rates) in enumerate(zip(self.view["labels"] if self.view else [], gob.get("rates", []))):
            pts = [(k, r) for k, r in zip(ks, rates) if _is_num(r)]
            if pts:
                plt.plot(
                    [p[0] for p in pts],
                    [p[1] for p in pts],
                    label=lab,
                    color=RUN_COLOURS[i % len(RUN_COLOURS)],
                    marker=self._marker(),
                )
                drawn = True
        rnd = [(k, r) for k, r in zip(ks, gob.get("random", [])) if _is_num(r)]
        if drawn and rnd:
            plt.plot([p[0] for p in rnd], [p[1] for p in rnd], label="random", color=RANDOM_COLOUR, marker=self._dot())
        if drawn:
            plt.title("good-or-better@K (test)")
            plt.xlabel("K")
            plt.xticks(ks)
        else:
            plt.title("good-or-better@K: no evaluated run yet")
        widget.refresh()

    def _metrics(self, view: dict) -> Group:
        labels, rows = view["labels"], view["rows"]
        table = Table(box=None, padding=(0, 1), header_style="bold", pad_edge=False, expand=False)
        table.add_column("", no_wrap=True, min_width=max(len(r[0]) for r in (*SUMMARY_ROWS, *CONTEXT_ROWS)))
        for i, lab in enumerate(labels):
            title = lab if i == 0 else f"{lab}  Δ vs A"
            table.add_column(Text(title, style=f"bold {self._colour(i)}"), justify="right", no_wrap=True)
        for label, key in CONTEXT_ROWS:
            cells = []
            for row in rows:
                v = row.get(key)
                style = STATUS_STYLE.get(v, "") if key == "status" else ""
                cells.append(Text(str(v) if v is not None else "–", style=style))
            table.add_row(Text(label, style="dim"), *cells)
        for label, key, digits, better in SUMMARY_ROWS:
            table.add_row(label, *self._delta_cells(rows, key, digits, better))
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

    def _config(self, view: dict) -> Table | Text:
        diff = view["diff"]
        if not diff:
            return Text("The resolved configs are identical.", style="dim")
        table = Table(
            box=None,
            padding=(0, 1),
            header_style="bold",
            pad_edge=False,
            title_justify="left",
            title=f"{len(diff)} key{'s differ' if len(diff) != 1 else ' differs'} (resolved configs)",
            title_style="dim",
        )
        table.add_column("key", no_wrap=True)
        for i, lab in enumerate(view["labels"]):
            table.add_column(Text(lab, style=f"bold {self._colour(i)}"), overflow="fold")
        for key, vals in diff.items():
            table.add_row(Text(key), *[Text(_value(v), style="dim" if v is None else "") for v in vals])
        return table

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
        if self.view is not None:
            self._plot_loss()

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab

    def action_back(self) -> None:
        if self.app.screen is self:
            self.dismiss(None)

    def on_resize(self) -> None:
        if self.view is not None:
            self.call_after_refresh(self._plot_loss)


__all__ = ["CompareScreen", "paired_test", "read_comparison"]
