"""`synapse runs ls|show|compare|rm|reindex|fields`: look at the runs under the runs dir.

Reads only run directories and their index (core.store), never a running engine.
Registered in synapse_tui/cli.py with `app.add_typer(runs_app, name="runs")`.
Heavy modules (numpy, core.evaluation.metrics) are imported inside the commands.

This module holds the Typer commands (and `show --follow`); what they print is in
runs_view (ls, fields, compare) and runs_show (show), what compare computes in runs_compare.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console

from core.errors import InputError
from core.runs import runs_root, status_of
from core.service import runs as service
from synapse_tui.cliutil import EXIT_FAILED, JsonOpt, RunsDirOpt, console, print_json, say, tell, user_errors
from synapse_tui.commands.runs_show import _epoch_line, _print_show
from synapse_tui.commands.runs_view import PIPE_WIDTH, _num, _print_compare, fields_table, runs_table
from synapse_tui.theme import STATUS_STYLE

runs_app = typer.Typer(
    help="List, inspect, compare and remove runs (the run directories under --runs-dir).",
    no_args_is_help=True,
)

RunArg = Annotated[str, typer.Argument(help="Run id (a unique prefix is enough) or run directory.", show_default=False)]
FOLLOW_POLL_S = service.FOLLOW_POLL_S


# --------------------------------------------------------------------------- ls


@runs_app.command("ls")
@user_errors
def ls_cmd(
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            "-s",
            help="Only these statuses (repeatable or comma list): queued, running, succeeded, failed, cancelled, lost.",
        ),
    ] = None,
    model: Annotated[
        list[str] | None,
        typer.Option("--model", "-m", help="Only these model kinds (repeatable or comma list), e.g. gru,lstm."),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            "-w",
            help="Filter, e.g. 'ece<0.05 and model=gru', 'status=running or status=queued', "
            "'brier_skill>0 and not beats', 'name~gru', 'age<1d', 'train.lr<0.01 and model.hidden=64' "
            "(a dotted name is a config key). Fields: `synapse runs fields`.",
        ),
    ] = None,
    sort: Annotated[
        str,
        typer.Option(
            "--sort",
            help="Sort by a field (ece, good, k, created, ...) or a config key (train.lr); "
            "a leading '-' sorts descending: --sort=-good.",
        ),
    ] = "-created",
    asc: Annotated[bool, typer.Option("--asc", help="Ascending order (oldest first by default sort).")] = False,
    limit: Annotated[int | None, typer.Option("--limit", "-n", min=1, help="Show at most N runs.")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (every field, values in full).")] = False,
) -> None:
    """List runs, newest first, with their live status and headline metrics.

    synapse runs ls --where 'ece<0.05 and model=gru' --sort=-good --limit 10
    """
    root = runs_root(runs_dir)
    rows = service.list_runs(root, where=where, status=status, model=model, sort=sort, ascending=asc, limit=limit)
    for path, why in service.skipped_dirs(root):
        tell(f"skipped {path}: {why}", "warning:", "yellow")
    if as_json:
        print_json(rows)
        return
    if as_csv:
        from synapse_tui.commands.runs_view import runs_csv

        typer.echo(runs_csv(rows), nl=False)
        return
    if not rows:
        filtered = any(x is not None for x in (status, model, where))
        tell(
            f"no runs match in {root}"
            if filtered
            else f"no runs in {root} yet — start one with `synapse baselines` or `synapse train -c configs/gru.yaml`",
            "",
            "",
            stderr=True,
        )
        return
    if console.is_terminal:
        console.print(runs_table(rows))
    else:  # piped into grep, less or a file: every column, however wide
        Console(width=PIPE_WIDTH, no_color=console.no_color).print(runs_table(rows, width=PIPE_WIDTH))


@runs_app.command("fields")
@user_errors
def fields_cmd(runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """The fields `--where` and `--sort` understand, with their aliases, then the config keys
    (`train.lr`, `model.hidden`, ...) the runs in the index have."""
    from core.query import field_help

    items = field_help() + service.config_fields(runs_root(runs_dir))
    if as_json:
        print_json(items)
        return
    console.print(fields_table(items))
    say(
        "operators: = != < <= > >= ~ (contains) !~ ; combine with and, or, not and parentheses; "
        "text is case-insensitive, =gr* is a glob; durations take s/m/h/d/w; field=null finds missing values; "
        "a dotted name is a config key (train.lr<0.01 and model.hidden=64)"
    )


# --------------------------------------------------------------------------- show


@runs_app.command("show")
@user_errors
def show_cmd(
    run: RunArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Stream new epochs live until the run finishes.")
    ] = False,
    plot: Annotated[
        bool,
        typer.Option(
            "--plot",
            help="Also draw the loss curves and the tier rates (plotext, "
            "sized to the terminal; ASCII when stdout is not UTF-8).",
        ),
    ] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: summary, metric tables, training, test touches and artifact paths.

    With --follow, print each new epoch as it is logged and stop when the run finishes
    (exit 1 if it failed, was cancelled or was lost); with --json, one JSON event a line.
    With --plot, the loss curves and good-or-better@K against the baseline, random and the
    oracle are drawn after the tables (ignored with --json).
    """
    rd = service.open_run(run, runs_dir)
    if follow:
        final = _follow(rd, as_json)
        if final == service.GONE:  # nothing left to show
            raise typer.Exit(EXIT_FAILED)
        if not as_json:
            console.print()
    row = service.run_row(rd, runs_root(runs_dir))
    if follow:
        if not as_json:
            _print_show(service.run_detail(rd, row))
            if plot:
                _plots(rd, runs_dir)
        if final not in ("succeeded",):
            raise typer.Exit(EXIT_FAILED)
        return
    d = service.run_detail(rd, row)
    if as_json:
        print_json(d)
    else:
        _print_show(d)
        if plot:
            _plots(rd, runs_dir)


def _plots(rd, runs_dir) -> None:
    from synapse_tui.commands.plots import print_plots

    print_plots(service.run_view(rd, runs_root(runs_dir)), color=console.is_terminal and not console.no_color)


def _follow(rd, as_json: bool) -> str:
    """Print events as they come; returns the final status."""
    if not as_json:
        say(f"following {rd.run_id} (Ctrl-C stops following; the run goes on)")
    last_type = None
    try:
        for item in service.follow_run(rd, poll_s=FOLLOW_POLL_S):
            if item.final is not None:
                if item.final == service.GONE:
                    if as_json:
                        print(json.dumps({"type": "status", "status": service.GONE}), flush=True)
                    else:
                        tell(
                            f"run directory {rd.path} is gone (deleted?); stopped following",
                            "■",
                            STATUS_STYLE["lost"],
                            stderr=False,
                        )
                elif item.final == "lost" and last_type != "run_finished":
                    if as_json:
                        print(json.dumps({"type": "status", "status": "lost"}), flush=True)
                    elif (st := status_of(rd)).damaged_log:
                        # It finished; only its last line is missing: resume would train again.
                        tell(f"run {st.error}", "■", STATUS_STYLE["lost"], stderr=False)
                    else:
                        tell(
                            "run is lost: its worker is gone without finishing (`synapse resume` continues it)",
                            "■",
                            STATUS_STYLE["lost"],
                            stderr=False,
                        )
                return item.final
            e = item.event
            last_type = t = e.get("type")
            if as_json:
                print(json.dumps(e), flush=True)
            elif t == "epoch":
                say(_epoch_line(e))
            elif t == "run_started":
                say(f"attempt {e.get('attempt')} started on {e.get('host')} ({e.get('device')})")
            elif t == "calibrated":
                say(
                    f"calibrated {e.get('model', '')}: {e.get('method')}, ECE {_num(e.get('ece_before'))} → "
                    f"{_num(e.get('ece_after'))}"
                )
            elif t == "log" and e.get("level") in ("warning", "error"):
                msg = str(e.get("message", "")).strip().splitlines()
                tell(msg[-1] if msg else "", f"{e.get('level')}:", "yellow", stderr=False)
            elif t == "run_finished":
                finished = e.get("status") or "failed"
                error = str(e.get("error") or "")
                # "cancelled after epoch 3; ..." says its status itself: not "run cancelled: cancelled after"
                text = (
                    f"run {error}"
                    if error.startswith(str(finished))
                    else f"run {finished}" + (f": {error}" if error else "")
                )
                tell(
                    text,
                    "■",
                    STATUS_STYLE.get(finished, ""),
                    stderr=False,
                )
    except KeyboardInterrupt:
        if not as_json:
            say("stopped following; the run goes on")
        raise typer.Exit(0) from None
    return "lost"  # not reached: follow_run always ends with a final status


# --------------------------------------------------------------------------- compare


@runs_app.command("compare")
@user_errors
def compare_cmd(
    runs: Annotated[
        list[str],
        typer.Argument(
            help="Two or more runs (unique id prefixes or directories); the first is compared with each of the others.",
            show_default=False,
        ),
    ],
    paired: Annotated[
        bool,
        typer.Option(
            "--paired/--no-paired",
            help="Run the paired McNemar + Holm test of the "
            "primaries on the shared test days (a test touch, recorded).",
        ),
    ] = True,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs: config differences, metrics side by side, and a paired test on the same days.

    Shows the config keys whose values differ, the summary metrics side by side, good-or-better
    per K of each run, and the paired McNemar + Holm test of the first run's primary against each
    other run's on the SAME test days (refused when the test windows differ).

        synapse runs compare 20261122-0345 20261122-0351
    """
    from core.service.compare import compare_json, compare_runs

    if len(runs) < 2:
        raise InputError("compare needs at least two runs")
    # The same-days check comes before any output: a refusal prints nothing else.
    c = compare_runs([service.open_run(r, runs_dir) for r in runs], runs_root(runs_dir), paired=paired)
    if as_json:
        print_json(compare_json(c))
    else:
        _print_compare(c)


# --------------------------------------------------------------------------- rm, reindex


@runs_app.command("rm")
@user_errors
def rm_cmd(
    runs: Annotated[
        list[str], typer.Argument(help="Runs to delete (unique id prefixes or directories).", show_default=False)
    ],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete run directories (asks first unless --yes).

    Running or queued runs are refused: `synapse cancel RUN` first.
    """
    rds = service.open_runs(runs, runs_dir)
    statuses = service.check_deletable(rds)
    if not yes:
        for rd in rds:
            say(f"  {rd.run_id}  {statuses[rd.run_id]}  {rd.path}")
        if not typer.confirm(f"Delete {len(rds)} run director{'y' if len(rds) == 1 else 'ies'}?", default=False):
            tell("nothing deleted", "", "", stderr=True)
            raise typer.Exit(EXIT_FAILED)
    root = runs_root(runs_dir)
    removed = []
    for rd in rds:
        service.delete_run(rd, root)
        removed.append(rd.run_id)
        if not as_json:
            say(f"deleted {rd.run_id}")
    if as_json:
        print_json({"removed": removed})


@runs_app.command("reindex")
@user_errors
def reindex_cmd(runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Rebuild the run index (runs/index.sqlite) from the run directories.

    The index is only a cache: it is also rebuilt on its own when missing or corrupt.
    """
    r = service.reindex(runs_root(runs_dir))
    if as_json:
        print_json(r)
    else:
        say(f"indexed {r['runs']} run(s) in {r['seconds']:.2f} s → {r['index']}")


__all__ = ["runs_app"]
