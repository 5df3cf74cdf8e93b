"""`synapse runs group KEY`: the runs grouped by a field or a hyperparameter, with a metric's
best, mean and median per group (core.service.grouping), best group first.

Registered in synapse_tui/cli.py as a command of `runs_app`.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from core.runs import runs_root
from core.service import runs as service
from synapse_tui.cliutil import JsonOpt, RunsDirOpt, console, print_json, tell, user_errors
from synapse_tui.formatting import cell, num


def _value(v) -> str:
    if v is None:
        return "(not set)"
    return v if isinstance(v, str) else json.dumps(v)


@user_errors
def group_cmd(
    key: Annotated[
        str,
        typer.Argument(
            help="A field (model, calibration, device...) or a config key (train.lr, model.hidden).",
            show_default=False,
        ),
    ],
    metric: Annotated[
        str,
        typer.Option("--metric", "-m", help="The number to summarise per group: auc, ece_after, val_brier, ..."),
    ] = "auc",
    where: Annotated[
        str | None,
        typer.Option("--where", "-w", help="Only the runs this filter keeps, e.g. 'status=succeeded and model=gru'."),
    ] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Group runs by a field or a hyperparameter and summarise a metric per group.

    synapse runs group model.hidden --metric auc --where 'model=gru'

    Groups are ordered best first (higher is better for auc, brier_skill, best_good_or_better; lower for ece_after, val_brier, best_val_loss). Runs without the key are the group "(not set)".

    Choose on validation metrics (val_brier, best_val_loss): test metrics are for reading, not for choosing.
    """
    from core.service.grouping import group_runs

    root = runs_root(runs_dir)
    rows = service.list_runs(root, where=where)
    keys = [f["name"] for f in service.config_fields(root)]
    out = group_runs(rows, key, metric, config_keys=keys)
    if as_json:
        print_json(out)
        return
    if not rows:
        tell(f"no runs{' match' if where else ''} in {root}", "", "", stderr=True)
        return
    t = Table(
        title=f"runs by {out['key']} · {out['metric']} ({out['direction']} is better)",
        title_justify="left",
        header_style="bold",
        box=None,
        padding=(0, 1),
    )
    # Numbers keep their width; a long value or run id is cut with an ellipsis on a narrow terminal.
    t.add_column(out["key"], no_wrap=True, overflow="ellipsis", min_width=min(len(out["key"]), 24), max_width=40)
    for col in ("runs", f"best {out['metric']}", "mean", "median"):
        t.add_column(col, justify="right", no_wrap=True, min_width=max(len(col), 7))
    t.add_column("best run", no_wrap=True, overflow="ellipsis", min_width=12)
    for i, g in enumerate(out["groups"]):
        t.add_row(
            cell(_value(g["value"])),
            f"{g['with_metric']}/{g['runs']}" if g["with_metric"] != g["runs"] else str(g["runs"]),
            num(g["best"], 5),
            num(g["mean"], 5),
            num(g["median"], 5),
            cell(g["best_run"] or "–"),
            style="bold" if i == 0 and g["best"] is not None else "",
        )
    console.print(t)
