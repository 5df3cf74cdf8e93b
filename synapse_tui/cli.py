"""`synapse`: the headless command line.

Everything heavy (numpy, pandas, torch, the engine) is imported inside the commands, so
`synapse --help` stays fast and never imports torch.

This module is the entry point (`app`, `main`): it builds the root Typer app and registers
the commands, which live in synapse_tui/commands/ (data + config in data.py; baselines, train,
demo, cancel, resume, eval in jobs.py; predict + export in predict.py; sweep; runs).
The registration order below is the order `synapse --help` lists them in.
"""

from __future__ import annotations

from typing import Annotated

import typer

from synapse_tui.cliutil import console
from synapse_tui.commands.data import config_app, data_app
from synapse_tui.commands.jobs import baselines_cmd, cancel_cmd, demo_cmd, eval_cmd, resume_cmd, train_cmd
from synapse_tui.commands.predict import export_app, predict_cmd
from synapse_tui.commands.remote import remote_app
from synapse_tui.commands.rules import rules_app
from synapse_tui.commands.runs import runs_app
from synapse_tui.commands.plot_export import plot_cmd
from synapse_tui.commands.runs_group import group_cmd
from synapse_tui.commands.sweep import sweep_app

app = typer.Typer(
    name="synapse",
    help=(
        "Calibrated per-part scorers for daily multi-hot event sequences.\n\n"
        "Start with [bold]synapse demo[/bold] (baselines, a logistic model and a GRU on the bundled "
        "sample, in about 15 s), then [bold]synapse train -c configs/gru.yaml --data YOUR.csv[/bold] "
        "and [bold]synapse predict RUN[/bold]. Runs live in ./runs (or --runs-dir / $SYNAPSE_RUNS_DIR)."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
app.add_typer(export_app, name="export")
app.add_typer(sweep_app, name="sweep")
runs_app.command("group")(group_cmd)
runs_app.command("plot")(plot_cmd)
app.add_typer(runs_app, name="runs")
app.add_typer(remote_app, name="remote")
app.add_typer(rules_app, name="rules")

# Top-level commands, in the order `synapse --help` lists them.
app.command("baselines")(baselines_cmd)
app.command("train")(train_cmd)
app.command("demo")(demo_cmd)
app.command("cancel")(cancel_cmd)
app.command("resume")(resume_cmd)
app.command("predict")(predict_cmd)
app.command("eval")(eval_cmd)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"synapse {version('synapse')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool | None, typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    """Global options; the commands do the work."""


def main() -> None:
    app()


if __name__ == "__main__":
    main()
