"""`synapse runs ls|show|compare|rm|reindex|fields|tag|note|archive|unarchive|touches`:
look at the runs under the runs dir, tag, note, archive and delete them.

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
    help="List, inspect, compare, tag, archive and remove runs (the run directories under --runs-dir).",
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
    tag: Annotated[
        list[str] | None,
        typer.Option("--tag", "-t", help="Only runs with this tag (repeatable: every one); short for --where tag=X."),
    ] = None,
    archived: Annotated[
        bool, typer.Option("--archived", help="Only the archived runs (`synapse runs archive`).")
    ] = False,
    show_all: Annotated[bool, typer.Option("--all", "-a", help="Archived runs too.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV (every field, values in full).")] = False,
) -> None:
    """List runs, newest first, with their live status and headline metrics.

    Archived runs are left out unless --archived (only them) or --all.

    synapse runs ls --where 'ece<0.05 and model=gru' --sort=-good --limit 10

    synapse runs ls --tag baseline-v2 --all
    """
    if archived and show_all:
        raise InputError("--archived and --all: give one (--archived lists only the archived runs, --all every run)")
    root = runs_root(runs_dir)
    rows = service.list_runs(
        root,
        where=where,
        status=status,
        model=model,
        sort=sort,
        ascending=asc,
        limit=limit,
        archived=None if show_all else archived,
        tags=tag,
    )
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
        filtered = any(x is not None for x in (status, model, where, tag)) or archived
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
    metric: Annotated[
        str | None,
        typer.Option(
            "--metric",
            help="With --plot: draw this per-epoch metric (val_auc, lr, seconds, train_seconds, ...) "
            "instead of the loss.",
        ),
    ] = None,
    x_axis: Annotated[
        str, typer.Option("--x", help="With --plot: the x axis, epoch or wall (seconds since the first epoch began).")
    ] = "epoch",
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: summary, metric tables, training, test touches and artifact paths.

    With --follow, print each new epoch as it is logged and stop when the run finishes
    (exit 1 if it failed, was cancelled or was lost); with --json, one JSON event a line.
    With --plot, the loss curves and good-or-better@K against the baseline, random and the
    oracle are drawn after the tables (ignored with --json); --metric val_auc draws that
    per-epoch metric instead of the loss, --x wall against the wall clock.
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
                _plots(rd, runs_dir, metric, x_axis)
        if final not in ("succeeded",):
            raise typer.Exit(EXIT_FAILED)
        return
    d = service.run_detail(rd, row)
    if as_json:
        print_json(d)
    else:
        _print_show(d)
        if plot:
            _plots(rd, runs_dir, metric, x_axis)


def _plots(rd, runs_dir, metric: str | None = None, x: str = "epoch") -> None:
    from synapse_tui.commands.plots import print_plots

    print_plots(
        service.run_view(rd, runs_root(runs_dir)),
        color=console.is_terminal and not console.no_color,
        metric=metric,
        x=x,
    )


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

    Running or queued runs are refused: `synapse cancel RUN` first. Each run's test touches
    (its looks at the test window) are kept first in <runs-dir>/test_touches.jsonl, so
    `synapse runs touches` still lists them; to keep a run out of sight but whole, archive it.
    """
    rds = service.open_runs(runs, runs_dir)
    statuses = service.check_deletable(rds)
    if not yes:
        for rd in rds:
            say(f"  {rd.run_id}  {statuses[rd.run_id]}  {rd.path}")
        say("  (their test touches are kept in test_touches.jsonl: `synapse runs touches`)")
        if not typer.confirm(f"Delete {len(rds)} run director{'y' if len(rds) == 1 else 'ies'}?", default=False):
            tell("nothing deleted", "", "", stderr=True)
            raise typer.Exit(EXIT_FAILED)
    root = runs_root(runs_dir)
    removed, kept = [], []
    for rd in rds:
        out = service.delete_run(rd, root)
        removed.append(rd.run_id)
        kept.append(out)
        if not as_json:
            n = out["touches"]
            say(
                f"deleted {rd.run_id}"
                + (f" ({n} test touch{'es' if n != 1 else ''} kept in {out['ledger']})" if n else "")
            )
    if as_json:
        print_json({"removed": removed, "touches_kept": {k["run_id"]: k["touches"] for k in kept}})


# --------------------------------------------------------------------------- tags, note, archive

RunsArg = Annotated[list[str], typer.Argument(help="Runs (unique id prefixes or directories).", show_default=False)]


def _print_annotations(items: list[dict]) -> None:
    from synapse_tui.commands.runs_view import annotations_table

    console.print(annotations_table(items))


@runs_app.command("tag")
@user_errors
def tag_cmd(
    runs: RunsArg,
    add: Annotated[
        list[str] | None,
        typer.Option("--add", "-a", help="Add these tags (repeatable or comma list)."),
    ] = None,
    remove: Annotated[
        list[str] | None,
        typer.Option("--remove", "-r", help="Remove these tags (repeatable or comma list)."),
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove every tag (then --add adds).")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tag runs, or show their tags (without --add / --remove / --clear).

    A tag is 1-32 characters of a-z 0-9 _ . : - (lower-cased). Tags live in the run's
    own annotations.json (a running run can be tagged) and are a query field.

    synapse runs ls --where 'tag=baseline-v2'   (or --tag baseline-v2)

        synapse runs tag 20261122-0345 --add baseline-v2 --remove draft
    """
    rds = service.open_runs(runs, runs_dir)
    root = runs_root(runs_dir)
    if add or remove or clear:
        items = service.annotate(rds, root, add=add, remove=remove, tags=[] if clear else None)
    else:
        items = [service.read_annotations_of(rd) for rd in rds]
    if as_json:
        print_json(items)
    else:
        _print_annotations(items)


@runs_app.command("note")
@user_errors
def note_cmd(
    run: RunArg,
    text: Annotated[
        str | None, typer.Argument(help="The note (replaces the one there); none: show it.", show_default=False)
    ] = None,
    clear: Annotated[bool, typer.Option("--clear", help="Remove the note.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write a note on a run (what it was for, what you saw), or show it.

    At most 2000 characters; `note` is a query field: `--where 'note~leak'`.

        synapse runs note 20261122-0345 "lr too high: diverges after epoch 40"
    """
    if clear and text is not None:
        raise InputError("give a note or --clear, not both")
    rd = service.open_run(run, runs_dir)
    if clear or text is not None:
        item = service.annotate([rd], runs_root(runs_dir), note="" if clear else text)[0]
    else:
        item = service.read_annotations_of(rd)
    if as_json:
        print_json(item)
    elif clear or text is not None:
        say(f"{rd.run_id}: note " + ("cleared" if clear or not item["note"] else "saved"))
    else:
        say(item["note"] or f"{rd.run_id}: no note")


def _archive(runs: list[str], runs_dir, as_json: bool, archived: bool) -> None:
    rds = service.open_runs(runs, runs_dir)
    items = service.set_archived(rds, runs_root(runs_dir), archived)
    if as_json:
        print_json(items)
        return
    for it in items:
        if it["was"] == archived:
            say(f"{it['run_id']}: already {'archived' if archived else 'not archived'}")
        else:
            say(f"{'archived' if archived else 'unarchived'} {it['run_id']}")
    if archived:
        say("(out of the default listings: `synapse runs ls --archived` lists them, `synapse runs unarchive` restores)")


@runs_app.command("archive")
@user_errors
def archive_cmd(runs: RunsArg, runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Archive runs: out of `runs ls` and the dashboard's table, kept whole on disk.

    The run directory stays where it is (resume and remote mirrors still work); queued or
    running runs are refused. `synapse runs ls --archived` lists them, `unarchive` restores.
    """
    _archive(runs, runs_dir, as_json, True)


@runs_app.command("unarchive")
@user_errors
def unarchive_cmd(runs: RunsArg, runs_dir: RunsDirOpt = None, as_json: JsonOpt = False) -> None:
    """Bring archived runs back into the default listings."""
    _archive(runs, runs_dir, as_json, False)


@runs_app.command("touches")
@user_errors
def touches_cmd(
    run: Annotated[
        list[str] | None,
        typer.Option("--run", help="Only these run ids (or prefixes; deleted runs too)."),
    ] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Every look at the test window: the runs' own records and those of deleted runs.

    Each evaluation on the test window is recorded in its run's manifest (test_touches).

    `synapse runs rm` first keeps a deleted run's touches in <runs-dir>/test_touches.jsonl.

    Count them before you trust a test number: every look spends the window a little.
    """
    root = runs_root(runs_dir)
    items = service.touch_record(root)
    if run:
        items = [t for t in items if any(t["run_id"].startswith(p) for p in run)]
    if as_json:
        print_json(items)
        return
    if not items:
        tell(f"no test touches recorded in {root}", "", "", stderr=True)
        return
    from synapse_tui.commands.runs_view import touches_table

    console.print(touches_table(items))
    looks = [t for t in items if t.get("ts")]
    gone = sum(1 for t in looks if t["source"] == "deleted")
    runs_n = len({t["run_id"] for t in looks})
    say(
        f"{len(looks)} look{'s' if len(looks) != 1 else ''} at the test window by {runs_n} run"
        f"{'s' if runs_n != 1 else ''}" + (f" ({gone} by deleted runs, kept in the ledger)" if gone else "")
    )
    bad = [t for t in items if t.get("unreadable")]
    for t in bad:
        tell(f"{t['run_id']}: touches unreadable: {t['unreadable']}", "warning:", "yellow")


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
