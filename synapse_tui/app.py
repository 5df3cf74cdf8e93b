"""`synapse-tui`: the Textual dashboard."""
from __future__ import annotations

import argparse
from pathlib import Path

from textual.app import App

from core.runs import runs_root
from synapse_tui.screens.runs import RunsScreen


class SynapseApp(App):
    """Runs and experiments at a glance; reads only run directories and the index."""

    TITLE = "Synapse"
    CSS_PATH = "app.tcss"
    BINDINGS = [("q", "quit", "Quit")]

    def __init__(self, runs_dir: Path | None = None) -> None:
        super().__init__()
        self.runs_dir = runs_root(runs_dir)

    def on_mount(self) -> None:
        self.sub_title = str(self.runs_dir)
        self.push_screen(RunsScreen(self.runs_dir))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="synapse-tui", description="Synapse terminal dashboard.")
    parser.add_argument("--runs-dir", type=Path, default=None, help="Runs directory (default: $SYNAPSE_RUNS_DIR or ./runs).")
    args = parser.parse_args(argv)
    SynapseApp(args.runs_dir).run()


if __name__ == "__main__":
    main()
