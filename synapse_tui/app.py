"""`synapse-tui`: the Textual dashboard.

Screens (one module each in synapse_tui/screens/): runs (home), run, compare, launch,
help. Every screen reads run directories and the index through core.service, and does its
reading in workers, never on the event loop. Torch is never imported at start-up.
"""

from __future__ import annotations

import argparse
import gc
import os
from collections.abc import Mapping
from functools import partial
from typing import ClassVar
from pathlib import Path

from rich.style import Style as RichStyle
from textual.app import App
from textual.binding import Binding
from textual.content import Content
from textual.css.stylesheet import Stylesheet
from textual.renderables.bar import Bar
from textual.screen import Screen
from textual.timer import Timer
from textual.scrollbar import ScrollBar, ScrollBarRender
from textual.widgets import Header
from textual.widgets._tabs import Underline

from core.runs import runs_root
from synapse_tui.commands_palette import ScreenCommands
from synapse_tui.formatting import ASCII_GLYPHS
from synapse_tui.screens.runs.columns import BY_KEY
from synapse_tui.screens.runs.screen import filter_error
from synapse_tui import state as ui_state
from synapse_tui.screens.runs import RunsScreen


SAVE_DELAY_S = 0.5  # remembered state is written after this long without a change (and on quit)

# Terminals that cannot draw box and braille symbols whatever the locale says.
ASCII_TERMS = ("linux", "vt100", "vt102", "vt220", "dumb")


# What PEP 538's locale coercion sets LC_CTYPE to (Python/pylifecycle.c, _TARGET_LOCALES).
_COERCED = ("C.UTF-8", "C.utf8", "UTF-8")


def ascii_wanted(environ: Mapping[str, str] | None = None) -> bool:
    """Whether to draw with ASCII only: the locale the user set (the first of LC_ALL, LC_CTYPE,
    LANG that is set and not empty) is unset, C or POSIX, or names a codeset other than
    UTF-8, or TERM is a console that has no such glyphs (linux, vt100, dumb).

    Python's own stdout encoding says nothing here: under LANG=C it is UTF-8 anyway (PEP 538
    coerces the C locale to C.UTF-8, PEP 540 turns on UTF-8 mode), while the terminal on the
    other side of an SSH session may well show no UTF-8."""
    env = os.environ if environ is None else environ
    term = (env.get("TERM") or "").lower()
    if term in ASCII_TERMS or term.startswith("vt1"):
        return True
    if env.get("LC_CTYPE") in _COERCED and not env.get("LC_ALL") and env.get("LANG", "") in ("", "C", "POSIX"):
        # PEP 538: on seeing the C locale, Python itself set LC_CTYPE to one of these in our own
        # environment before any of our code ran; the locale the user set is the C locale.
        # (A user who set exactly that LC_CTYPE with no LANG gets --unicode.)
        return True
    name = next((env[k] for k in ("LC_ALL", "LC_CTYPE", "LANG") if env.get(k)), "")
    if name in ("", "C", "POSIX"):
        return True
    codeset = name.split("@", 1)[0].partition(".")[2].lower().replace("-", "").replace("_", "")
    return codeset != "utf8"


# Border kinds drawn with nothing or spaces; every other kind is drawn with box or block
# symbols and becomes Textual's "ascii" border (+, -, |) in ASCII mode.
_PLAIN_EDGES = ("", "none", "hidden", "blank", "ascii")
_EDGES = tuple(f"{box}_{side}" for box in ("border", "outline") for side in ("top", "right", "bottom", "left"))


def _ascii_rules(rules: list) -> list:
    """`rules` (parsed RuleSets) with every border and outline edge drawn in ASCII, its colour kept."""
    for rule in rules:
        for key in _EDGES:
            edge = rule.styles.get_rule(key)
            if isinstance(edge, tuple) and edge and edge[0] not in _PLAIN_EDGES:
                rule.styles.set_rule(key, ("ascii", *edge[1:]))
    return rules


class AsciiStylesheet(Stylesheet):
    """The app's stylesheet in ASCII mode: every rule's borders (ours and the built-in widgets'
    DEFAULT_CSS: Input's tall border, the footer's key separator, ...) drawn with ASCII, so
    no widget needs an ASCII twin of its CSS. A theme change re-parses through here too."""

    def _parse_rules(self, *args, **kwargs):
        return _ascii_rules(super()._parse_rules(*args, **kwargs))

    def reparse(self) -> None:
        super().reparse()
        _ascii_rules(self._rules)

    def copy(self) -> AsciiStylesheet:
        stylesheet = AsciiStylesheet(variables=self._variables.copy())
        stylesheet.source = self.source.copy()
        return stylesheet


class AsciiBar(Bar):
    """The tab underline in ASCII: the active tab's part told apart by its colour."""

    HALF_BAR_LEFT = "-"
    BAR = "-"
    HALF_BAR_RIGHT = "-"


class AsciiScrollBarRender(ScrollBarRender):
    """Scrollbars without the eighth-block glyphs at the thumb's ends (whole cells instead)."""

    VERTICAL_BARS: ClassVar[list[str]] = [" "] * 8
    HORIZONTAL_BARS: ClassVar[list[str]] = [" "] * 8


class _ScrollBarRenderer:
    """`ScrollBar.renderer` that picks AsciiScrollBarRender in an app drawing with ASCII and
    Textual's own renderer elsewhere (a scrollbar's own `renderer` still wins). Scrollbars are
    made when first needed, after any screen hook has run, so the choice is made as they draw."""

    def __init__(self, default: type[ScrollBarRender]) -> None:
        self.default = default

    def __get__(self, bar: ScrollBar | None, owner: type | None = None) -> type[ScrollBarRender]:
        if bar is not None:
            try:
                if getattr(bar.app, "ascii_plots", False) is True:
                    return AsciiScrollBarRender
            except Exception:  # noqa: BLE001 — no app (not mounted): the default
                pass
        return self.default


def _install_ascii_scrollbars() -> None:
    if not isinstance(ScrollBar.__dict__.get("renderer"), _ScrollBarRenderer):
        ScrollBar.renderer = _ScrollBarRenderer(ScrollBar.renderer)  # type: ignore[assignment]


class SynapseApp(App):
    """Runs and experiments at a glance; reads only run directories and the index."""

    TITLE = "Synapse"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
        Binding("W", "sweeps", "Sweeps: every sweep, its runs, winner and key importance", key_display="W", show=False),
    ]

    def __init__(self, runs_dir: Path | None = None, *, ascii_plots: bool | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_root(runs_dir)
        self.ascii_plots = ascii_wanted() if ascii_plots is None else ascii_plots
        if self.ascii_plots:
            self.stylesheet = AsciiStylesheet(variables=self.get_css_variables())
            self.add_class("-ascii")
            _install_ascii_scrollbars()
        self.demo = None  # the in-dashboard demo once started (synapse_tui/screens/runs/demo.py)
        # Remembered across sessions (synapse_tui/state.py): written after SAVE_DELAY_S of quiet, and on quit.
        self.state_path = ui_state.state_path()
        self.ui_state: dict = {}
        self._state_problem: str | None = None
        self._state_dirty = False
        self._save_timer: Timer | None = None
        try:
            self.ui_state = ui_state.load(self.state_path, set(BY_KEY), filter_error)
        except ui_state.StateError as exc:
            self._state_problem = f"ignored {self.state_path}: {exc}"

    def on_mount(self) -> None:
        self.sub_title = str(self.runs_dir)
        if self.ascii_plots:
            self.screen_change_signal.subscribe(self, self._ascii_screen)
        theme = self.ui_state.get("theme")
        if theme is not None and theme in self.available_themes:
            self.theme = theme
        self.theme_changed_signal.subscribe(self, lambda theme: self.remember("theme", theme.name))
        if self._state_problem:
            self.notify(self._state_problem, severity="warning", timeout=8)
        self.push_screen(RunsScreen(self.runs_dir))
        # Everything alive once the first screen is up (Textual, rich, the engine's modules) is
        # never garbage: moved out of the collector's sight, a full collection walks only what
        # came after, and stops pausing frames for 0.2 s (measured by benchmarks tui_run_tabs).
        self.call_after_refresh(gc.freeze)

    # -- remembered state (synapse_tui/state.py)
    def remember(self, key: str, value: object) -> None:
        """Keep `value` as the state's `key` ("theme", "runs"); saved once it has been quiet a moment."""
        if self.ui_state.get(key) == value:
            return
        self.ui_state[key] = value
        self._state_dirty = True
        if self._save_timer is not None:
            self._save_timer.stop()
        self._save_timer = self.set_timer(SAVE_DELAY_S, self.save_state)

    def save_state(self) -> None:
        if not self._state_dirty:
            return
        self._state_dirty = False
        try:
            ui_state.save(self.state_path, self.ui_state)
        except OSError as exc:
            self.notify(f"could not save {self.state_path}: {exc.strerror or exc}", severity="warning")

    def exit(self, *args, **kwargs) -> None:
        if self._save_timer is not None:
            self._save_timer.stop()
        self.save_state()
        super().exit(*args, **kwargs)

    # -- ASCII mode: what CSS cannot reach (borders are AsciiStylesheet's)
    def format_title(self, title: str, sub_title: str) -> Content:
        if not self.ascii_plots:
            return super().format_title(title, sub_title)
        if not sub_title:
            return Content(title.translate(ASCII_GLYPHS))
        title, sub_title = title.translate(ASCII_GLYPHS), sub_title.translate(ASCII_GLYPHS)
        return Content.assemble(Content(title), (" - ", "dim"), Content(sub_title).stylize("dim"))

    def _ascii_screen(self, screen: Screen) -> None:
        """Give a screen's header an ASCII icon and its tab underlines an ASCII bar; again after
        its first refresh (when it has composed)."""

        def apply() -> None:
            for header in screen.query(Header):
                header.icon = "o"
            for underline in screen.query(Underline):
                if not getattr(underline, "_ascii", False):
                    underline._ascii = True  # type: ignore[attr-defined]
                    underline.render = partial(_ascii_underline, underline)  # type: ignore[method-assign]
                    underline.refresh()

        apply()
        screen.call_after_refresh(apply)

    # -- navigation: the screens above the runs screen are imported when first opened
    def open_run(self, run_id: str) -> None:
        from synapse_tui.screens.run import RunScreen

        self.push_screen(RunScreen(self.runs_dir, run_id))

    def open_compare(self, run_ids: list[str]) -> None:
        from synapse_tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.runs_dir, run_ids))

    def open_launch(self, config_path: Path | None = None, clone_of: str | None = None) -> None:
        """Launch, empty or with a config file loaded (`clone_of`: the run whose config it is)."""
        from synapse_tui.screens.launch import LaunchScreen

        self.push_screen(LaunchScreen(self.runs_dir, config_path=config_path, clone_of=clone_of))

    def open_sweep(self, sweep_id: str) -> None:
        from synapse_tui.screens.sweeps import SweepScreen

        self.push_screen(SweepScreen(self.runs_dir, sweep_id))

    def action_sweeps(self) -> None:
        from synapse_tui.screens.sweeps import SweepsScreen

        if not isinstance(self.screen, SweepsScreen):
            self.push_screen(SweepsScreen(self.runs_dir))

    def action_help(self) -> None:
        from synapse_tui.screens.help import HelpScreen

        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    async def action_quit(self) -> None:
        """Quit; while the demo's runs are still active, ask first (they carry on without us)."""
        from synapse_tui.widgets.dialogs import YesNo

        n = self.demo.active() if self.demo is not None else 0
        if not n:
            self.exit()
            return
        if isinstance(self.screen, YesNo):
            return
        runs = f"{n} demo run{'s are' if n != 1 else ' is'}"
        self.push_screen(
            YesNo(f"{runs} still running; they carry on after you quit — quit?"),
            lambda yes: self.exit() if yes else None,
        )

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.theme == "textual-dark" else "textual-dark"


def _ascii_underline(underline: Underline) -> AsciiBar:
    """Underline.render with the ASCII bar (the same range and styles)."""
    style = underline.get_component_rich_style("underline--bar")
    return AsciiBar(
        highlight_range=underline._highlight_range,
        highlight_style=RichStyle.from_color(style.color),
        background_style=RichStyle.from_color(style.bgcolor),
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="synapse-tui", description="Synapse terminal dashboard.")
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="Runs directory (default: $SYNAPSE_RUNS_DIR or ./runs)."
    )
    glyphs = parser.add_mutually_exclusive_group()
    glyphs.add_argument(
        "--ascii",
        dest="ascii_plots",
        action="store_const",
        const=True,
        help="Draw with ASCII only (the default where the locale is not UTF-8 or TERM is linux, vt100 or dumb).",
    )
    glyphs.add_argument(
        "--unicode",
        dest="ascii_plots",
        action="store_const",
        const=False,
        help="Draw with Unicode box and braille symbols whatever the locale says.",
    )
    args = parser.parse_args(argv)
    SynapseApp(args.runs_dir, ascii_plots=args.ascii_plots).run()


if __name__ == "__main__":
    main()
