"""`synapse runs plot RUN [RUN...] --what loss --out loss.svg`: a run's plot as an SVG or PNG
file (`core.service.plot_export`; matplotlib is imported only when the command runs).

Registered on the `runs` group in synapse_tui/commands/runs.py:
`runs_app.command("plot")(plot_cmd)`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from synapse_tui.cliutil import JsonOpt, RunsDirOpt, print_json, say, user_errors


@user_errors
def plot_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Run ids (unique prefixes are enough) or run directories; up to 8 overlay.", show_default=False
        ),
    ],
    what: Annotated[
        str,
        typer.Option(
            "--what",
            "-w",
            help="loss, tiers (good-or-better@K against the baselines), reliability (before/after calibration), "
            "or any per-epoch metric: val_auc, lr, seconds, val_loss, ...",
        ),
    ] = "loss",
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="The file to write; .svg or .png. Default: synapse-plots/<run>-<what>.svg.",
            show_default=False,
        ),
    ] = None,
    x: Annotated[
        str, typer.Option("--x", help="x axis of loss and metric plots: epoch or wall (time since the run started).")
    ] = "epoch",
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Draw a run's plot into an SVG or PNG file (several runs overlay).

    synapse runs plot 20261207 --what val_auc --out auc.png
    synapse runs plot RUN_A RUN_B --what loss --x wall --out loss.svg
    """
    from core.service.plot_export import default_export_path, export_plot
    from core.service.runs import open_runs

    rds = open_runs(runs, runs_dir)
    target = out if out is not None else default_export_path(rds[0].run_id if rds else "run", what, ".svg")
    written = export_plot(rds, what, target, x=x)
    if as_json:
        print_json({"path": str(written), "what": what, "x": x, "runs": [rd.run_id for rd in rds]})
    else:
        say(f"wrote {written}")
