"""`synapse runs ls|show|compare|rm|reindex|fields`: look at the runs under the runs dir.

Reads only run directories and their index (core.store), never a running engine.
Registered in synapse_tui/cli.py with `app.add_typer(runs_app, name="runs")`.
Heavy modules (numpy, core.evaluation.metrics) are imported inside the commands.

This module holds the Typer commands (and `show --follow`); what they print is in
runs_view (ls, fields, compare) and runs_show (show), what compare computes in runs_compare.
"""
from __future__ import annotations

import json
import time
from typing import Annotated, Optional

import typer
from rich.console import Console

from core.errors import InputError
from synapse_tui.cliutil import (
    EXIT_FAILED, JsonOpt, RunsDirOpt, console, open_run, print_json, say, tell, user_errors,
)
from synapse_tui.commands.runs_compare import (  # noqa: F401 — _MISSING and config_diff are imported from here
    _MISSING, _compare_json, _gather, _paired_tests, _record_touches, config_diff,
)
from synapse_tui.commands.runs_show import _epoch_line, _print_show, show_data
from synapse_tui.commands.runs_view import (
    PIPE_WIDTH, STATUS_STYLE, _num, _print_compare, fields_table, runs_table,
)

runs_app = typer.Typer(
    help="List, inspect, compare and remove runs (the run directories under --runs-dir).",
    no_args_is_help=True,
)

RunArg = Annotated[str, typer.Argument(help="Run id (a unique prefix is enough) or run directory.",
                                       show_default=False)]
FOLLOW_POLL_S = 0.5


def _root(runs_dir):
    from core.runs import runs_root

    return runs_root(runs_dir)


# --------------------------------------------------------------------------- ls


@runs_app.command("ls")
@user_errors
def ls_cmd(
    status: Annotated[Optional[list[str]], typer.Option(
        "--status", "-s", help="Only these statuses (repeatable or comma list): queued, running, succeeded, "
        "failed, cancelled, lost.")] = None,
    model: Annotated[Optional[list[str]], typer.Option(
        "--model", "-m", help="Only these model kinds (repeatable or comma list), e.g. gru,lstm.")] = None,
    where: Annotated[Optional[str], typer.Option(
        "--where", "-w", help="Filter, e.g. 'ece<0.05 and model=gru', 'status=running or status=queued', "
        "'brier_skill>0 and not beats', 'name~gru', 'age<1d'. Fields: `synapse runs fields`.")] = None,
    sort: Annotated[str, typer.Option(
        "--sort", help="Sort by a field (ece, good, k, created, ...); a leading '-' sorts descending: "
        "--sort=-good.")] = "-created",
    asc: Annotated[bool, typer.Option("--asc", help="Ascending order (oldest first by default sort).")] = False,
    limit: Annotated[Optional[int], typer.Option("--limit", "-n", min=1, help="Show at most N runs.")] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first, with their live status and headline metrics.

        synapse runs ls --where 'ece<0.05 and model=gru' --sort=-good --limit 10
    """
    from core.query import parse
    from core.store import Store

    query = None if where is None else parse(where, label="--where")
    descending = sort.startswith("-")
    field = sort[1:] if descending else sort
    if asc:
        descending = False
    root = _root(runs_dir)
    rows = Store(root).rows(query=query, status=status, model=model, sort=field, descending=descending,
                            limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        filtered = any(x is not None for x in (status, model, where))
        tell(f"no runs match in {root}" if filtered else
             f"no runs in {root} yet — start one with `synapse baselines` or `synapse train -c configs/gru.yaml`",
             "", "", stderr=True)
        return
    if console.is_terminal:
        console.print(runs_table(rows))
    else:  # piped into grep, less or a file: every column, however wide
        Console(width=PIPE_WIDTH, no_color=console.no_color).print(runs_table(rows, width=PIPE_WIDTH))


@runs_app.command("fields")
def fields_cmd(as_json: JsonOpt = False) -> None:
    """The fields `--where` and `--sort` understand, with their aliases."""
    from core.query import field_help

    items = field_help()
    if as_json:
        print_json(items)
        return
    console.print(fields_table(items))
    say("operators: = != < <= > >= ~ (contains) !~ ; combine with and, or, not and parentheses; "
        "text is case-insensitive, =gr* is a glob; durations take s/m/h/d/w; field=null finds missing values")


# --------------------------------------------------------------------------- show


@runs_app.command("show")
@user_errors
def show_cmd(
    run: RunArg,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Stream new epochs live until the run finishes.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """One run: summary, metric tables, training, test touches and artifact paths.

    With --follow, print each new epoch as it is logged and stop when the run finishes
    (exit 1 if it failed, was cancelled or was lost); with --json, one JSON event a line.
    """
    from core.store import Store, read_run

    rd = open_run(run, runs_dir)
    if follow:
        final = _follow(rd, as_json)
        if not as_json:
            console.print()
    in_root = rd.path.parent.resolve() == _root(runs_dir).resolve()
    row = Store(rd.path.parent).upsert(rd) if in_root else None
    if row is None:
        from core.store import public_row

        row = public_row(read_run(rd), rd.path.parent)
    if follow:
        if not as_json:
            _print_show(show_data(rd, row))
        if final not in ("succeeded",):
            raise typer.Exit(EXIT_FAILED)
        return
    d = show_data(rd, row)
    if as_json:
        print_json(d)
    else:
        _print_show(d)


def _follow(rd, as_json: bool) -> str:
    """Print events as they come; returns the final status."""
    from core.runs import status_of

    reader = rd.event_reader()
    last_status_check = 0.0
    finished: str | None = None
    if not as_json:
        say(f"following {rd.run_id} (Ctrl-C stops following; the run goes on)")
    try:
        while True:
            for e in reader.read_new():
                t = e.get("type")
                if t == "run_started":
                    finished = None  # a new attempt: what ended the previous one no longer counts
                elif t == "run_finished":
                    finished = e.get("status") or "failed"
                if as_json:
                    if t in ("epoch", "run_started", "run_finished", "calibrated", "evaluated", "log", "queued"):
                        print(json.dumps(e), flush=True)
                    continue
                if t == "epoch":
                    say(_epoch_line(e))
                elif t == "run_started":
                    say(f"attempt {e.get('attempt')} started on {e.get('host')} ({e.get('device')})")
                elif t == "calibrated":
                    say(f"calibrated {e.get('model', '')}: {e.get('method')}, ECE {_num(e.get('ece_before'))} → "
                        f"{_num(e.get('ece_after'))}")
                elif t == "log" and e.get("level") in ("warning", "error"):
                    msg = str(e.get("message", "")).strip().splitlines()
                    tell(msg[-1] if msg else "", f"{e.get('level')}:", "yellow", stderr=False)
                elif t == "run_finished":
                    tell(f"run {finished}" + (f": {e.get('error')}" if e.get("error") else ""), "■",
                         STATUS_STYLE.get(finished, ""), stderr=False)
            if finished is not None:
                return finished
            now = time.monotonic()
            if now - last_status_check >= 2.0:
                last_status_check = now
                st = status_of(rd)
                if st.status == "lost":
                    if as_json:
                        print(json.dumps({"type": "status", "status": "lost"}), flush=True)
                    else:
                        tell("run is lost: its worker is gone without finishing (`synapse resume` continues it)",
                             "■", "magenta", stderr=False)
                    return "lost"
                if st.done:  # finished while we read (a torn last line we have not seen yet)
                    return st.status
            time.sleep(FOLLOW_POLL_S)
    except KeyboardInterrupt:
        if not as_json:
            say("stopped following; the run goes on")
        raise typer.Exit(0) from None


# --------------------------------------------------------------------------- compare


@runs_app.command("compare")
@user_errors
def compare_cmd(
    runs: Annotated[list[str], typer.Argument(help="Two or more runs (unique id prefixes or directories); "
                                              "the first is compared with each of the others.", show_default=False)],
    paired: Annotated[bool, typer.Option("--paired/--no-paired", help="Run the paired McNemar + Holm test of the "
                                         "primaries on the shared test days (a test touch, recorded).")] = True,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Compare runs: config differences, metrics side by side, and a paired test on the same days.

    Shows the config keys whose values differ, the summary metrics side by side, good-or-better
    per K of each run, and the paired McNemar + Holm test of the first run's primary against each
    other run's on the SAME test days (refused when the test windows differ).

        synapse runs compare 20261122-0345 20261122-0351
    """
    if len(runs) < 2:
        raise InputError("compare needs at least two runs")
    rds = [open_run(r, runs_dir) for r in runs]
    ids = [rd.run_id for rd in rds]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"run {sorted(dup)[0]} is given twice")
    c = _gather(rds, _root(runs_dir))
    # The same-days check comes before any output: a refusal prints nothing else.
    c["tests"] = _paired_tests(c) if paired else []
    if any("skipped" not in t for t in c["tests"]):
        _record_touches(c)
    if as_json:
        print_json(_compare_json(c))
    else:
        _print_compare(c)


# --------------------------------------------------------------------------- rm, reindex


@runs_app.command("rm")
@user_errors
def rm_cmd(
    runs: Annotated[list[str], typer.Argument(help="Runs to delete (unique id prefixes or directories).",
                                              show_default=False)],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Delete run directories (asks first unless --yes).

    Running or queued runs are refused: `synapse cancel RUN` first.
    """
    import shutil

    from core.runs import status_of
    from core.store import Store

    rds = []
    for ref in runs:
        rd = open_run(ref, runs_dir)
        if rd.run_id not in {r.run_id for r in rds}:
            rds.append(rd)
    statuses = {rd.run_id: status_of(rd) for rd in rds}
    active = [rd for rd in rds if statuses[rd.run_id].active]
    if active:
        rd = active[0]
        raise InputError(f"run {rd.run_id} is {statuses[rd.run_id].status}: cancel it first "
                         f"(`synapse cancel {rd.run_id}`); nothing was deleted")
    if not yes:
        for rd in rds:
            say(f"  {rd.run_id}  {statuses[rd.run_id].status}  {rd.path}")
        if not typer.confirm(f"Delete {len(rds)} run director{'y' if len(rds) == 1 else 'ies'}?", default=False):
            tell("nothing deleted", "", "", stderr=True)
            raise typer.Exit(EXIT_FAILED)
    root = _root(runs_dir)
    store = Store(root)
    removed = []
    for rd in rds:
        # Out of every listing at once (a rename), then deleted at leisure.
        trash = rd.path.with_name(f".deleting-{rd.run_id}")
        try:
            rd.path.rename(trash)
        except OSError as exc:
            raise InputError(f"cannot delete: {exc.strerror or exc}", path=rd.path) from None
        shutil.rmtree(trash, ignore_errors=True)
        if rd.path.parent.resolve() == root.resolve():
            store.remove(rd.run_id)
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
    from core.store import Store

    root = _root(runs_dir)
    if not root.is_dir():
        raise InputError(f"no runs directory at {root}")
    store = Store(root)
    t0 = time.perf_counter()
    n = store.reindex()
    seconds = time.perf_counter() - t0
    where = "memory (the runs dir is not writable)" if store.in_memory else str(store.path)
    if as_json:
        print_json({"runs": n, "seconds": seconds, "index": where})
    else:
        say(f"indexed {n} run(s) in {seconds:.2f} s → {where}")


__all__ = ["runs_app", "runs_table", "config_diff"]
