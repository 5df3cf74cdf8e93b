"""`synapse-tui`: the Textual dashboard.

Screens (one module each in synapse_tui/screens/): runs (home), run, compare, launch,
help. Every screen reads run directories and the index through core.service, and does its
reading in workers, never on the event loop. Torch is never imported at start-up.
"""

from __future__ import annotations

import argparse
import locale
import sys
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from core.runs import runs_root
from synapse_tui.commands_palette import ScreenCommands
from synapse_tui.screens.runs import RunsScreen


def unicode_ok() -> bool:
    """Whether the terminal's encoding can show braille plots and box symbols (an SSH session
    with a C/POSIX locale often cannot: the plots then draw with ASCII)."""
    enc = (getattr(sys.stdout, "encoding", None) or locale.getpreferredencoding(False) or "").lower()
    return "utf" in enc


class SynapseApp(App):
    """Runs and experiments at a glance; reads only run directories and the index."""

    TITLE = "Synapse"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {ScreenCommands}
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+t", "toggle_theme", "Light/dark", show=False),
    ]

    def __init__(self, runs_dir: Path | None = None, *, ascii_plots: bool | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_root(runs_dir)
        self.ascii_plots = (not unicode_ok()) if ascii_plots is None else ascii_plots
        self.demo = None  # the in-dashboard demo once started (synapse_tui/screens/runs/demo.py)

    def on_mount(self) -> None:
        self.sub_title = str(self.runs_dir)
        self.push_screen(RunsScreen(self.runs_dir))

    # -- navigation: the screens above the runs screen are imported when first opened
    def open_run(self, run_id: str) -> None:
        from synapse_tui.screens.run import RunScreen

        self.push_screen(RunScreen(self.runs_dir, run_id))

    def open_compare(self, run_ids: list[str]) -> None:
        from synapse_tui.screens.compare import CompareScreen

        self.push_screen(CompareScreen(self.runs_dir, run_ids))

    def open_launch(self) -> None:
        from synapse_tui.screens.launch import LaunchScreen

        self.push_screen(LaunchScreen(self.runs_dir))

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="synapse-tui", description="Synapse terminal dashboard.")
    parser.add_argument(
        "--runs-dir", type=Path, default=None, help="Runs directory (default: $SYNAPSE_RUNS_DIR or ./runs)."
    )
    parser.add_argument("--ascii", action="store_true", help="Draw plots with ASCII (for terminals without UTF-8).")
    args = parser.parse_args(argv)
    SynapseApp(args.runs_dir, ascii_plots=True if args.ascii else None).run()


if __name__ == "__main__":
    main()
