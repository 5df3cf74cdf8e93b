"""`synapse sweep`: several configs (times a grid) through the supervisor's queue.

    synapse sweep -c configs/gru.yaml -c configs/lstm.yaml -g model.hidden=64,128 --parallel 2
    synapse sweep status 2025          # (a prefix of) the sweep id; no id = the latest sweep
    synapse sweep show 2025 [--json]   # its runs by swept key, the winner, each key's importance

Registered in synapse_tui/cli.py with `app.add_typer(sweep_app, name="sweep")`.
Heavy modules are imported inside the commands (`synapse --help` stays fast).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.runs import TERMINAL_STATUSES
from synapse_tui.cliutil import (
    EXIT_FAILED,
    DataOpt,
    JsonOpt,
    OverrideOpt,
    RunsDirOpt,
    console,
    err_console,
    print_json,
    say,
    tell,
    user_errors,
)
from synapse_tui.formatting import cell
from synapse_tui.theme import STATUS_STYLE

EXIT_INTERRUPTED = 130

sweep_app = typer.Typer(
    help=(
        "Run several configs (times a grid) through the supervisor's queue; write sweep_report.json/.md "
        "with a readiness verdict per run and the winner on validation.\n\n"
        "  synapse sweep -c configs/gru.yaml -c configs/lstm.yaml -g model.hidden=64,128 --parallel 2\n\n"
        "  synapse sweep status [SWEEP]\n\n"
        "  synapse sweep show [SWEEP] [--json]"
    ),
    invoke_without_command=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

ConfigsOpt = Annotated[
    list[Path] | None,
    typer.Option("--config", "-c", help="A YAML config (repeatable; a bare name means configs/NAME.yaml)."),
]
GridOpt = Annotated[
    list[str] | None,
    typer.Option("--grid", "-g", help="KEY=V1,V2,...: one axis of the grid (repeatable); values parse like -o."),
]
ParallelOpt = Annotated[
    int | None,
    typer.Option("--parallel", "-p", min=1, help="Runs at a time (default: cores // 2). Each gets cores / N threads."),
]
NoWaitOpt = Annotated[
    bool,
    typer.Option("--no-wait", help="Do not wait: print the sweep id (or the table, for status) and return."),
]


# --------------------------------------------------------------------------- rendering


def _status_cell(row: dict) -> str:
    s = row["status"]
    if s == "running" and row.get("epoch") is not None:
        total = f"/{row['epochs']}" if row.get("epochs") else ""
        s += f" ep {row['epoch']}{total}"
    if row.get("attempt", 0) > 1:
        s += f" (attempt {row['attempt']})"
    return s


def progress_table(sweep_id: str, rows: list[dict], elapsed: float | None = None) -> Table:
    done = sum(r["status"] in TERMINAL_STATUSES for r in rows)
    title = f"sweep {sweep_id} · {done}/{len(rows)} done" + ("" if elapsed is None else f" · {elapsed:.0f} s")
    t = Table(title=title, title_justify="left", box=None, header_style="bold", pad_edge=False)
    for col in ("label", "model", "run", "status"):
        t.add_column(col)
    for r in rows:
        t.add_row(
            cell(r["label"]),
            cell(r["model"] or ""),
            cell(r["run_id"]),
            cell(_status_cell(r)),
            style=STATUS_STYLE.get(r["status"], ""),
        )
    return t


def report_table(report: dict) -> Table:
    """One row per run; `model` is the run's primary scorer (for a baselines run, the best baseline)."""
    w = report.get("winner") or {}
    t = Table(
        title=f"sweep {report['sweep_id']}",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
        padding=(0, 1),
    )
    t.add_column("label", overflow="fold")
    t.add_column("model", overflow="fold")
    t.add_column("status", no_wrap=True)
    t.add_column("verdict", no_wrap=True)
    for col in ("val Brier", "B.skill", "ECE", "good+@K"):  # AUC and more: sweep_report.md
        t.add_column(col, justify="right", no_wrap=True)

    def f(x, nd=4):
        return "–" if x is None else f"{x:.{nd}f}"

    for r in report["runs"]:
        m = r["metrics"]
        good = "–" if m.get("best_good_or_better") is None else f"{m['best_good_or_better']:.3f}@{m.get('best_k')}"
        won = w.get("run_id") == r["run_id"]
        # names and verdicts come from the runs' reports (a remote host may have written one)
        t.add_row(
            cell(r["label"] + (" *" if won else "")),
            cell(r["primary"] or r["model"] or ""),
            cell(r["status"]),
            cell((r["verdict"] or {}).get("status", "–")),
            f(m.get("val_brier"), 5),
            f(m.get("brier_skill")),
            f(m.get("ece_after"), 3),
            good,
            style="bold" if won else "",
        )
    return t


def _resume_hint(rows: list[dict], runs_dir: Path | None) -> None:
    """Lost runs (their worker died) are not picked up by anything: say how to continue each."""
    lost = [r["run_id"] for r in rows if r.get("status") == "lost"]
    if not lost:
        return
    where = "" if runs_dir is None else f" --runs-dir {runs_dir}"
    tell(
        f"{len(lost)} run{'s' if len(lost) > 1 else ''} lost (the worker died): continue "
        f"{'each' if len(lost) > 1 else 'it'} from its last epoch with "
        + "; ".join(f"`synapse resume {rid}{where}`" for rid in lost),
        "hint:",
        "yellow",
    )


def _print_wide(renderable) -> None:
    # Piped output has no terminal width (rich assumes 80): do not squeeze the columns.
    if console.is_terminal:
        console.print(renderable)
    else:
        from rich.console import Console

        Console(file=sys.stdout, width=max(console.width, 160), no_color=True, highlight=False).print(renderable)


def _print_report(report: dict, sweep) -> None:
    from core.service.sweeps import verdict_text

    _print_wide(report_table(report))
    for r in report["runs"]:
        if r["status"] != "succeeded" or (r["verdict"] or {}).get("failed"):
            say(f"  {r['label']}: {verdict_text(r)}" + (f" — {r['error']}" if r.get("error") else ""))
    w = report.get("winner")
    if w:
        say(
            f"winner: {w['label']} ({w['run_id']}), lowest validation Brier {w['value']:.5f} "
            f"(report.json models[primary].val.brier); verdict {w['verdict']}"
        )
    else:
        say("winner: none (no run succeeded)")
    for n in report.get("notes", []):
        tell(n, "note:", "yellow")
    say(f"report: {sweep.report_md}")


class _Live:
    """A live-updating table on a terminal, else one plain line per change on stderr."""

    def __init__(self, sweep_id: str, enabled: bool):
        self.sweep_id = sweep_id
        self.rows: list[dict] = []
        self.prev: dict[str, tuple] = {}
        self.t0 = time.monotonic()
        self.live = None
        self.enabled = enabled
        self.fancy = enabled and err_console.is_terminal

    def __rich__(self):
        return progress_table(self.sweep_id, self.rows, time.monotonic() - self.t0)

    def __enter__(self):
        if self.fancy:
            from rich.live import Live

            self.live = Live(self, console=err_console, refresh_per_second=2, transient=False)
            self.live.__enter__()
        return self

    def __exit__(self, *exc):
        if self.live is not None:
            self.live.__exit__(*exc)

    def update(self, rows: list[dict]) -> None:
        self.rows = rows
        if not self.enabled or self.fancy:
            return
        for r in rows:
            key = (r["status"], r["attempt"], r["epoch"])
            if self.prev.get(r["run_id"]) != key:
                self.prev[r["run_id"]] = key
                err = f" — {r['error']}" if r.get("error") and r["status"] != "succeeded" else ""
                tell(f"{r['label']} ({r['run_id']}): {_status_cell(r)}{err}", "…", "dim")


def _wait_and_report(sweep, as_json: bool, runs_dir: Path | None = None) -> None:
    from core.service import sweeps

    try:
        with _Live(sweep.sweep_id, enabled=not as_json) as live:
            done = sweeps.wait_and_report(sweep, on_change=live.update, poll=0.5)
    except KeyboardInterrupt:
        tell(
            f"the runs keep going under the supervisor; `synapse sweep status {sweep.sweep_id}` picks them up",
            "interrupted:",
            "yellow",
        )
        raise typer.Exit(EXIT_INTERRUPTED) from None
    rows, report = done["rows"], done["report"]
    if as_json:
        print_json(report)
    else:
        _print_report(report, sweep)
        _resume_hint(rows, runs_dir)
    if any(r["status"] != "succeeded" for r in rows):
        raise typer.Exit(EXIT_FAILED)


# --------------------------------------------------------------------------- commands


@user_errors
def sweep_command(
    config: ConfigsOpt = None,
    grid: GridOpt = None,
    override: OverrideOpt = None,
    data: DataOpt = None,
    parallel: ParallelOpt = None,
    runs_dir: RunsDirOpt = None,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Start a sweep: one queued run per config x grid combo, run by the supervisor N at a time.

    Every combo is validated first (nothing is created if one is bad). Ctrl-C stops watching,
    not the runs: `synapse sweep status SWEEP` picks them up again.
    """
    from core.service import sweeps

    sweep = sweeps.start(config or [], grid or [], override or [], parallel, data=data, runs_dir=runs_dir)
    rows = sweeps.state(sweep)["rows"]
    if no_wait:
        if as_json:
            print_json({"sweep_id": sweep.sweep_id, "path": str(sweep.path), "runs": rows})
        else:
            say(sweep.sweep_id)
        return
    if not as_json:
        tell(
            f"sweep {sweep.sweep_id}: {len(rows)} runs, parallel {sweep.read()['parallel']} "
            f"(supervisor log: {sweep.root / 'supervisor.log'})",
            "…",
            "dim",
        )
    _wait_and_report(sweep, as_json, runs_dir)


@user_errors
def sweep_status_command(
    ctx: typer.Context,
    sweep_ref: Annotated[
        str | None,
        typer.Argument(metavar="SWEEP", help="Sweep id, a unique prefix, or its directory (default: the latest)."),
    ] = None,
    runs_dir: RunsDirOpt = None,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Pick a sweep up again: wait for its runs (or --no-wait: print the table), then write its report.

    A supervisor is restarted if runs are still queued; the report is (re)written once every
    run is done.
    """
    from core.service import sweeps

    parent = (ctx.obj or {}) if isinstance(ctx.obj, dict) else {}  # `synapse sweep --runs-dir D status`
    runs_dir = runs_dir if runs_dir is not None else parent.get("runs_dir")
    as_json = as_json or bool(parent.get("as_json"))
    no_wait = no_wait or bool(parent.get("no_wait"))
    sweep = sweeps.open_sweep(sweep_ref, runs_dir)
    if not no_wait:
        _wait_and_report(sweep, as_json, runs_dir)
        return
    now = sweeps.state(sweep)
    rows, report = now["rows"], now["report"]
    if as_json:
        print_json(report if report is not None else {"sweep_id": sweep.sweep_id, "complete": False, "runs": rows})
        return
    if report is not None:
        _print_report(report, sweep)
    else:
        _print_wide(progress_table(sweep.sweep_id, rows))
    _resume_hint(rows, runs_dir)


@sweep_app.callback()
def _sweep_main(
    ctx: typer.Context,
    config: ConfigsOpt = None,
    grid: GridOpt = None,
    override: OverrideOpt = None,
    data: DataOpt = None,
    parallel: ParallelOpt = None,
    runs_dir: RunsDirOpt = None,
    no_wait: NoWaitOpt = False,
    as_json: JsonOpt = False,
) -> None:
    if ctx.invoked_subcommand is not None:
        if config or grid or override or data is not None or parallel is not None:
            raise typer.BadParameter(
                f"-c/-g/-o/--data/--parallel start a sweep; `{ctx.invoked_subcommand}` does not take them"
            )
        ctx.obj = {"runs_dir": runs_dir, "no_wait": no_wait, "as_json": as_json}
        return
    sweep_command(
        config=config,
        grid=grid,
        override=override,
        data=data,
        parallel=parallel,
        runs_dir=runs_dir,
        no_wait=no_wait,
        as_json=as_json,
    )


def show_tables(view: dict) -> tuple[Table, Table]:
    """(the runs by swept key, the importance of each key) of a sweep view (core.service.sweeps.view)."""
    from synapse_tui.screens.sweeps.glyphs import fmt, value_text

    keys = [k["key"] for k in view["keys"]]
    w = view.get("winner") or {}
    runs = Table(
        title=f"sweep {view['sweep_id']} · {view['name']} · {view['done']}/{view['total']} done",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    runs.add_column("")
    runs.add_column("#", justify="right")
    for k in keys:
        runs.add_column(k, no_wrap=True)
    runs.add_column("status", no_wrap=True)
    runs.add_column(view["metric_label"], justify="right", no_wrap=True)
    runs.add_column("test AUC", justify="right", no_wrap=True)
    runs.add_column("verdict", no_wrap=True)
    runs.add_column("label", overflow="fold")
    for i, r in enumerate(view["runs"], 1):
        won = r["run_id"] == w.get("run_id")
        auc = r["test"].get("auc")
        runs.add_row(
            "*" if won else "",
            str(i),
            *[cell(value_text(r["values"].get(k))) for k in keys],
            cell(r["status"]),
            fmt(r["val"]),
            "–" if auc is None else f"{auc:.3f}",
            cell(r["verdict"] or "–"),
            cell(r["label"]),
            style="bold" if won else "",
        )
    imp = Table(
        title=f"importance of each swept key on {view['metric_label']} (validation only)",
        title_justify="left",
        box=None,
        header_style="bold",
        pad_edge=False,
    )
    for col, just in (
        ("key", "left"),
        ("values", "right"),
        ("runs", "right"),
        ("eta²", "right"),
        ("chance", "right"),
        ("p", "right"),
        ("min p", "right"),
        ("rho", "right"),
        ("", "left"),
    ):
        imp.add_column(col, justify=just, no_wrap=True)  # type: ignore[arg-type]
    for m in view["importance"]:

        def f(x, spec=".3f"):
            if x is None:
                return "–"
            return format(x, ".4f" if spec == ".3f" and 0 < x < 0.01 else spec)  # p = 0.0005, not 0.000

        if m["significant"]:
            verdict = "significant"
        elif m["why"]:
            verdict = m["why"]
        elif m["p_floor"] is not None and m["p_floor"] >= view["alpha"]:
            verdict = "not significant: too few runs to tell"
        else:
            verdict = "not significant"
        imp.add_row(
            cell(m["key"]),
            str(m["levels"]),
            str(m["n"]),
            f(m["eta2"]),
            f(m["chance"], ".2f"),
            f(m["p_value"]),
            f(m["p_floor"]),
            f(m["rho"], "+.2f"),
            cell(verdict),
            style="bold" if m["significant"] else "",
        )
    return runs, imp


@user_errors
def sweep_show_command(
    ctx: typer.Context,
    sweep_ref: Annotated[
        str | None,
        typer.Argument(metavar="SWEEP", help="Sweep id, a unique prefix, or its directory (default: the latest)."),
    ] = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a sweep as it stands: its runs by swept key, the winner (on validation only) and how much
    of the validation metric each swept key explains (eta squared, permutation p-value, Spearman rho).

    Reads only: starts nothing, writes nothing. --json prints the whole view (every run's key values
    and metrics, and per key its (value, metric) points and importance) for scripts.
    """
    from core.service import sweeps

    parent = (ctx.obj or {}) if isinstance(ctx.obj, dict) else {}
    runs_dir = runs_dir if runs_dir is not None else parent.get("runs_dir")
    as_json = as_json or bool(parent.get("as_json"))
    view = sweeps.view(sweep_ref, runs_dir)
    if as_json:
        print_json(view)
        return
    runs, imp = show_tables(view)
    _print_wide(runs)
    say("")
    _print_wide(imp)
    say(
        f"eta²: the share of the {view['metric_label']} variance explained by grouping on the key; chance: its mean "
        f"for a key that does nothing; p: permutation test (significant < {view['alpha']:g}); min p: the smallest "
        "p these runs allow; rho: Spearman, numeric keys"
    )
    w = view.get("winner")
    if w:
        say(
            f"winner: {w['label']} ({w['run_id']}), lowest {view['metric_label']} {w['value']:.5f} on "
            f"validation (report.json models[primary].val.brier); verdict {w['verdict']}"
        )
    else:
        say("winner: none yet (no run has succeeded)")
    for r in view["runs"]:
        if r["status"] != "succeeded" or r["verdict_failed"]:
            say(f"  {r['label']}: {r['verdict_text']}" + (f" — {r['error']}" if r.get("error") else ""))
    for n in view["notes"]:
        tell(n, "note:", "yellow")


sweep_app.command("status")(sweep_status_command)
sweep_app.command("show")(sweep_show_command)


if __name__ == "__main__":  # python -m synapse_tui.commands.sweep ...; `synapse sweep` is the usual way
    sweep_app(prog_name="synapse sweep")
