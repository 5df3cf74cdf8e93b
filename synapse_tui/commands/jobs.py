"""`synapse baselines|train|demo|cancel|resume|eval`: create, run and judge runs.

The commands are plain functions here; synapse_tui/cli.py registers them on the root app
(`app.command("baselines")(baselines_cmd)`, ...) so `synapse --help` keeps its order.
What they do is core.service.jobs (a job runs in a worker process); this module parses,
echoes the workers' progress and prints the outcome.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.service import jobs as service
from core.service.runs import open_run
from synapse_tui.cliutil import (
    EXIT_FAILED,
    EXIT_USAGE,
    ConfigOpt,
    DataOpt,
    DetachOpt,
    JsonOpt,
    OverrideOpt,
    RunsDirOpt,
    console,
    k_ranges,
    print_json,
    progress,
    say,
    tell,
    user_errors,
)
from synapse_tui.commands.remote import remote_errors
from synapse_tui.formatting import cell, clean, esc


def _print_outcome(report: dict, run_path: Path) -> None:
    from core.evaluation.report import fmt as _f

    s = report["summary"]
    # Names and values come from report.json, which a remote host may have written: cleaned, never markup.
    table = Table(
        title=f"test window · primary [b]{esc(report['primary'])}[/b] · reference {esc(report['reference'])}",
        title_justify="left",
        box=None,
        pad_edge=False,
        header_style="bold",
    )
    for col in (
        "model",
        "calibration",
        "AUC",
        "B.skill",
        "ECE raw→cal",
        f"best {report['good_tier']}+",
        "beats uniform",
    ):
        table.add_column(col, justify="left" if col in ("model", "calibration", "vs uniform") else "right")
    vu = report.get("versus_uniform") or {}
    for name, m in report["models"].items():
        t = m["test"]
        rates = t["good_or_better"]["rate"]
        j = max(range(len(rates)), key=lambda i: rates[i])
        comp = vu.get(name)
        versus = "–" if comp is None else (f"K {k_ranges(comp['beats_at'])}" if comp["beats"] else "no")
        style = "bold" if name == report["primary"] else ""
        table.add_row(
            cell(name),
            cell(m["calibration"].get("name")),
            _f(t["auc_macro"], 3),
            _f(t["brier_skill"], 4),
            f"{_f(t['ece_raw'], 3)}→{_f(t['ece'], 3)}",
            f"{_f(rates[j], 3)} @{report['ks'][j]}",
            versus,
            style=style,
        )
    console.print(table)
    v = report.get("verdict")
    if v:
        color = "green" if v["status"] == "APPROVED" else "red"
        console.print(
            f"verdict: [{color}]{esc(v['status'])}[/{color}]"
            + (f" (failing: {esc(', '.join(map(str, v['failed'])))})" if v["failed"] else "")
        )
        for c in v["criteria"]:
            value = _f(c["value"]) if isinstance(c["value"], float) else c["value"]
            note = "" if c["ok"] or value is None else f" — {value}"
            console.print(clean(f"  {'✓' if c['ok'] else '✗'} {c['rule']}{note}"), highlight=False, markup=False)
    if s.get("lift_capture") is not None:
        console.print(f"lift capture (vs oracle): {_f(s['lift_capture'], 2)}")
    say(f"run directory: {run_path}")


@user_errors
def baselines_cmd(
    config: ConfigOpt = None,
    data: DataOpt = None,
    override: OverrideOpt = None,
    runs_dir: RunsDirOpt = None,
    detach: DetachOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Score every baseline on forward-chaining splits and write a complete run directory.

    The best baseline is chosen on validation; the test window is touched once and recorded.

        synapse baselines -c configs/baselines.yaml --data sample_data/parts_daily.csv
    """
    cfg = service.load_job_config(config or "baselines", override, data)
    _run_job(cfg, "baselines", runs_dir, detach, as_json)


@user_errors
def train_cmd(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="A learned-model config: configs/logistic.yaml, gru, lstm, transformer, hawkes; or an ensemble of finished runs (model.kind: ensemble).",
        ),
    ],
    data: DataOpt = None,
    override: OverrideOpt = None,
    runs_dir: RunsDirOpt = None,
    detach: DetachOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Train a learned scorer, calibrate it on validation and judge it against the best baseline.

    Early stopping, the best checkpoint and calibration all use the validation window only;
    the test window is evaluated once and the touch recorded.

        synapse train -c configs/gru.yaml --data sample_data/parts_daily.csv -o train.epochs=20

    An ensemble config (model.kind: ensemble, members: [RUN, RUN, ...]) combines finished runs
    on the same data and split, its weights fitted on the first part of validation.
    """
    cfg = service.load_job_config(config, override, data)
    _run_job(cfg, "ensemble" if cfg.model.kind == "ensemble" else "train", runs_dir, detach, as_json)


@user_errors
def demo_cmd(
    data: Annotated[Path, typer.Option("--data", help="Data file to learn.")] = Path("sample_data/parts_daily.csv"),
    runs_dir: RunsDirOpt = None,
    tui: Annotated[
        bool, typer.Option("--tui/--no-tui", help="Open the dashboard afterwards (only on a terminal).")
    ] = True,
    as_json: JsonOpt = False,
) -> None:
    """Every baseline, a logistic model and a GRU on the sample: trained, calibrated, judged.

    Calibration and every choice use the validation window; the test window is touched once.

    One run directory per learned model (each holds all baselines, so each is self-contained).
    """
    import time

    from core.runs import runs_root

    t0 = time.monotonic()
    runs = service.demo_runs(data, runs_dir)
    if service.runs_side_by_side():  # a core each: the demo takes as long as its slowest run
        _follow_workers(runs)
    else:
        for run in runs:
            _follow_worker(run)
    results = [(run, service.outcome(run)["report"]) for run in runs]
    seconds = time.monotonic() - t0
    if as_json:
        print_json(
            {
                "seconds": seconds,
                "runs": [
                    {"run_id": r.run_id, "path": str(r.path), "summary": rep["summary"], "verdict": rep["verdict"]}
                    for r, rep in results
                ],
            }
        )
        return
    _print_outcome(results[-1][1], results[-1][0].path)
    table = Table(
        title=f"demo: {len(results)} runs in {seconds:.0f} s", title_justify="left", box=None, header_style="bold"
    )
    for col in ("model", "verdict", "B.skill", "ECE", "best good+", "beats", "lift"):
        table.add_column(col)
    from core.evaluation.report import fmt as _f

    for _run, rep in results:
        s = rep["summary"]
        beats = f"{rep['reference']} K{k_ranges(s['beats_at'])}" if s["beats_reference"] else f"not {rep['reference']}"
        table.add_row(
            cell(s["primary"]),
            cell(s["verdict"]),
            _f(s["brier_skill"], 4),
            _f(s["ece_after"], 3),
            f"{_f(s['best_good_or_better'], 3)} @{s['best_k']}",
            cell(beats),
            _f(s["lift_capture"], 2),
        )
    console.print(table)
    for run, _ in results:
        say(f"  {run.path}")
    if tui and sys.stdout.isatty() and sys.stdin.isatty():
        from synapse_tui.app import SynapseApp

        SynapseApp(runs_root(runs_dir)).run()


def _follow_worker(run, resume: bool = False) -> None:
    """Run the job in a worker process, echoing its progress; Ctrl-C asks it to stop cleanly."""
    _follow_workers([run], resume=resume)


def _follow_workers(runs: list, resume: bool = False) -> None:
    """Run each job in its own worker process, side by side, echoing their progress (prefixed
    with the run's name when there are several); Ctrl-C asks them all to stop cleanly, a
    second Ctrl-C kills them."""
    import signal

    workers = service.Workers(runs, resume=resume)
    interrupts = []
    # A Ctrl-C is recorded, not raised: raised, it could land anywhere (in the middle of
    # printing a line) and end the CLI before the workers have stopped and said so.
    previous = signal.signal(signal.SIGINT, lambda signum, frame: interrupts.append(signum))
    try:
        handled = 0
        while True:
            if len(interrupts) > handled:
                handled = len(interrupts)
                if handled == 1:
                    tell("stopping after this epoch (Ctrl-C again to kill)", "…", "yellow")
                    workers.stop()
                else:
                    workers.kill()
                    break
            item = workers.next_line(timeout=0.2)
            if item is None:
                break
            i, line = item
            if line is not None:
                tell(line if len(runs) == 1 else f"[{runs[i].name}] {line}", "…", "dim")
    finally:
        signal.signal(signal.SIGINT, previous)
    codes = workers.wait()
    if service.EXIT_BAD_INPUT in codes:
        raise typer.Exit(EXIT_USAGE)
    for run, rc in zip(runs, codes):
        if rc != 0:
            what = "cancelled" if rc == service.EXIT_CANCELLED else "failed"
            tell(
                f"run {run.run_id} {what}; see {run.path / 'training_log.md'}"
                + (f" — `synapse resume {run.run_id}` continues it" if rc == service.EXIT_CANCELLED else ""),
                "run " + what + ":",
                "bold red",
            )
    if any(codes):
        raise typer.Exit(EXIT_FAILED)


def _run_job(cfg, job: str, runs_dir, detach: bool, as_json: bool) -> None:
    if detach:
        info = service.launch(cfg, job, runs_dir)
        if as_json:
            print_json({k: info[k] for k in ("run_id", "path", "pid")})
        else:
            say(info["run_id"])
        return
    run = service.create_job(cfg, job, runs_dir)
    _follow_worker(run)
    _finish(run, as_json)


@user_errors
@remote_errors  # a remote run's host unreachable: one line, not a traceback
def cancel_cmd(
    run: Annotated[str, typer.Argument(help="Run id (unique prefix) or directory.", show_default=False)],
    runs_dir: RunsDirOpt = None,
) -> None:
    """Ask a running run to stop: it saves last.pt and ends `cancelled` (resumable)."""
    result = service.cancel(open_run(run, runs_dir))
    say(f"{result['run_id']}: {result['message']}")


@user_errors
@remote_errors
def resume_cmd(
    run: Annotated[str, typer.Argument(help="Run id (unique prefix) or directory.", show_default=False)],
    runs_dir: RunsDirOpt = None,
    detach: DetachOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue a lost, cancelled or failed run from last.pt, as a new attempt in the same directory."""
    from core.service import remote

    rd = open_run(run, runs_dir)
    if detach or remote.is_remote(rd):  # a remote run resumes there; its follower brings it here
        info = service.resume_detached(rd)
        print_json(info) if as_json else say(rd.run_id)
        return
    service.check_resumable(rd)
    _follow_worker(rd, resume=True)
    _finish(rd, as_json)


def _finish(run, as_json: bool) -> None:
    result = service.outcome(run)
    if as_json:
        print_json({k: result[k] for k in ("run_id", "path", "summary", "verdict")})
    else:
        _print_outcome(result["report"], run.path)


@user_errors
def eval_cmd(
    run: Annotated[
        str, typer.Argument(help="Run id (a unique prefix is enough) or run directory.", show_default=False)
    ],
    calibration: Annotated[
        str | None, typer.Option("--calibration", help="auto | none | platt | isotonic | temperature")
    ] = None,
    per_part: Annotated[
        bool | None, typer.Option("--per-part/--global", help="Calibrate per part or globally.")
    ] = None,
    k: Annotated[str | None, typer.Option("-k", help="Pool sizes, e.g. 20..27 or 18,20,22.")] = None,
    override: OverrideOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-evaluate a finished run (another calibration method, other K); records the test touch."""
    rd = open_run(run, runs_dir)
    result = service.reevaluate(
        rd,
        calibration=calibration,
        per_part=per_part,
        ks=None if k is None else service.parse_ks(k),
        overrides=override or (),
        progress=progress,
    )
    if as_json:
        print_json(
            {
                "run_id": rd.run_id,
                "eval_id": result["eval_id"],
                "summary": result["report"]["summary"],
                "verdict": result["report"]["verdict"],
                "test_touches": result["test_touches"],
            }
        )
    else:
        _print_outcome(result["report"], rd.path)
        console.print(f"test window touched {result['test_touches']} time(s) (recorded in manifest.json)")
