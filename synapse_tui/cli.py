"""`synapse`: the headless command line.

Everything heavy (numpy, pandas, torch, the engine) is imported inside the commands, so
`synapse --help` stays fast and never imports torch.
"""
from __future__ import annotations

import json
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from core.errors import InputError
from synapse_tui.commands.runs import runs_app
from synapse_tui.commands.sweep import sweep_app
from synapse_tui.cliutil import (
    EXIT_FAILED, EXIT_USAGE, ConfigOpt, DataOpt, DetachOpt, JsonOpt, OverrideOpt, RunsDirOpt, console,
    k_ranges, load_cfg, open_run, parse_ks, print_json, progress, say, tell, user_errors,
)

app = typer.Typer(
    name="synapse",
    help=(
        "Calibrated per-part scorers for daily multi-hot event sequences.\n\n"
        "Start with [bold]synapse demo[/bold] (baselines, a logistic model and a GRU on the bundled "
        "sample, in about 40 s), then [bold]synapse train -c configs/gru.yaml --data YOUR.csv[/bold] "
        "and [bold]synapse predict RUN[/bold]. Runs live in ./runs (or --runs-dir / $SYNAPSE_RUNS_DIR)."
    ),
    no_args_is_help=True,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_show_locals=False,
)
data_app = typer.Typer(help="Generate, validate and describe data files.", no_args_is_help=True)
config_app = typer.Typer(help="Inspect configs: resolve defaults and overrides, validate.", no_args_is_help=True)
app.add_typer(data_app, name="data")
app.add_typer(config_app, name="config")
export_app = typer.Typer(help="Export a trained model.", no_args_is_help=True)
app.add_typer(export_app, name="export")
app.add_typer(sweep_app, name="sweep")
app.add_typer(runs_app, name="runs")


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import version

        console.print(f"synapse {version('synapse')}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        Optional[bool], typer.Option("--version", callback=_version_callback, is_eager=True, help="Show the version.")
    ] = None,
) -> None:
    pass


# --------------------------------------------------------------------------- data


class DataKind(str, Enum):
    planted = "planted"
    uniform = "uniform"


PartsOpt = Annotated[
    Optional[int], typer.Option("--parts", "-P", min=1, help="Number of parts P (ids 1..P). Default: inferred.")
]
PerDayOpt = Annotated[
    Optional[int], typer.Option("--events-per-day", "-K", min=1, help="Require exactly this many events every day.")
]
UnsortedOpt = Annotated[
    bool, typer.Option("--allow-unsorted", help="Sort rows by date (with a warning) instead of refusing.")
]
FileArg = Annotated[Path, typer.Argument(help="A draws or multihot CSV (or Parquet) file.", show_default=False)]


@data_app.command("generate")
@user_errors
def data_generate(
    out: Annotated[Path, typer.Option("--out", "-o", help="CSV file to write; the truth goes to <name>.truth.npz.")],
    kind: Annotated[DataKind, typer.Option(help="planted: a known process to learn; uniform: the leakage control.")] = DataKind.planted,
    days: Annotated[int, typer.Option(min=1, help="Number of consecutive days.")] = 11_000,
    parts: Annotated[int, typer.Option("--parts", min=2, help="Number of parts P.")] = 39,
    per_day: Annotated[int, typer.Option("--per-day", min=1, help="Distinct parts per day K.")] = 5,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    start: Annotated[str, typer.Option(help="First date, YYYY-MM-DD.")] = "1995-01-02",
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Generate a seeded synthetic data set and its exact per-day truth probabilities.

    Each day is drawn by conditional Bernoulli sampling, so [bold]<name>.truth.npz[/bold] holds every
    day's exact inclusion probabilities. Example:

        synapse data generate --kind planted --days 3000 --seed 7 --out my.csv
    """
    import numpy as np

    from core.data import synthetic

    if per_day >= parts:
        raise InputError(f"--per-day {per_day} must be smaller than --parts {parts}")
    truth_path = synthetic.truth_path(out)
    existing = [p for p in (out, truth_path) if p.exists()]
    if existing and not force:
        raise InputError(f"{existing[0]} exists; pass --force to overwrite")
    syn = synthetic.generate(kind.value, days=days, parts=parts, per_day=per_day, seed=seed, start=start)
    if syn.dates[-1] > np.datetime64("9999-12-31"):
        raise InputError(f"--start {start} with --days {days} runs past 9999-12-31")
    try:
        paths = synthetic.write(out, syn)
    except OSError as exc:
        raise InputError(f"cannot write: {exc.strerror or exc}", path=exc.filename or out) from None
    summary = {
        "kind": kind.value, "days": days, "parts": parts, "per_day": per_day, "seed": seed,
        "first_date": str(syn.dates[0]), "last_date": str(syn.dates[-1]), "files": [str(p) for p in paths],
    }
    if as_json:
        print_json(summary)
    else:
        console.print(
            f"wrote {days} {kind.value} days ({syn.dates[0]} .. {syn.dates[-1]}), P={parts}, K={per_day}, seed={seed}:"
        )
        for p in paths:
            say(f"  {p}")


@data_app.command("validate")
@user_errors
def data_validate(
    file: FileArg,
    parts: PartsOpt = None,
    events_per_day: PerDayOpt = None,
    allow_unsorted: UnsortedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Check a data file; print what is wrong (file:line: problem) and exit 2, or a one-line OK."""
    from core.data import load_dataset

    ds = load_dataset(file, parts=parts, events_per_day=events_per_day, allow_unsorted=allow_unsorted)
    if as_json:
        print_json({"ok": True, "path": str(file), "format": ds.fmt, "T": ds.T, "P": ds.P, "warnings": list(ds.warnings)})
        return
    for w in ds.warnings:
        tell(w, "warning:", "yellow")
    say(f"OK {file}: {ds.fmt}, {ds.T} days x {ds.P} parts, {ds.dates[0]} .. {ds.dates[-1]}")


@data_app.command("describe")
@user_errors
def data_describe(
    file: FileArg,
    parts: PartsOpt = None,
    events_per_day: PerDayOpt = None,
    allow_unsorted: UnsortedOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Summarise a data file: size, date range, gaps, per-part frequency, events per day."""
    from core.data import describe, load_dataset

    ds = load_dataset(file, parts=parts, events_per_day=events_per_day, allow_unsorted=allow_unsorted)
    info = describe(ds)
    if as_json:
        print_json(info)
        return
    for w in ds.warnings:
        tell(w, "warning:", "yellow")
    _print_description(info)


def _print_description(info: dict) -> None:
    gaps = info["gaps"]
    head = Table.grid(padding=(0, 2))
    head.add_row("file", str(info["path"]))
    head.add_row("format", str(info["format"]))
    head.add_row("days (T)", f"{info['T']:,}")
    head.add_row("parts (P)", str(info["P"]))
    head.add_row("dates", f"{info['start']} .. {info['end']} ({info['span_days']:,} calendar days)")
    head.add_row("gaps", f"{gaps['count']} ({gaps['missing_days']} missing days)")
    head.add_row("events/day", ", ".join(f"{k}: {v:,} days" for k, v in info["events_per_day_histogram"].items()))
    head.add_row("sha256", info["sha256"][:16] + "…")
    console.print(head)

    freq = info["per_part_frequency"]
    rates = [f["rate"] for f in freq]
    lo, hi = min(rates), max(rates)
    table = Table(title="per-part frequency", title_justify="left", box=None, pad_edge=False, padding=(0, 1))
    cols = max(1, min(3, console.width // 32))
    for _ in range(cols):
        table.add_column("part", justify="right")
        table.add_column("days", justify="right")
        table.add_column("rate", justify="right")
        table.add_column("", width=8, no_wrap=True)
    rows = (len(freq) + cols - 1) // cols
    for r in range(rows):
        cells: list[str] = []
        for c in range(cols):
            i = c * rows + r
            if i < len(freq):
                f = freq[i]
                width = 0 if hi == lo else round(8 * (f["rate"] - lo) / (hi - lo))
                cells += [str(f["part"]), f"{f['count']:,}", f"{f['rate']:.3f}", "█" * width]
            else:
                cells += ["", "", "", ""]
        table.add_row(*cells)
    console.print(table)


# --------------------------------------------------------------------------- config


@config_app.command("show")
@user_errors
def config_show(
    config: ConfigOpt = None,
    override: OverrideOpt = None,
    data: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the resolved config: every default filled in, overrides applied, validated."""
    from core.config import config_hash, dump_yaml, load_config

    cfg = load_config(config, overrides=override or (), data=None if data is None else str(data))
    if as_json:
        print_json({"hash": config_hash(cfg), "config": cfg.model_dump(mode="json")})
    else:
        sys.stdout.write(f"# config hash {config_hash(cfg)}\n" + dump_yaml(cfg))


@config_app.command("validate")
@user_errors
def config_validate(
    configs: Annotated[list[Path], typer.Argument(help="One or more YAML configs.", show_default=False)],
) -> None:
    """Validate configs; exit 2 naming file, line and key on the first problem."""
    from core.config import config_hash, load_config

    for path in configs:
        cfg = load_config(path)
        say(f"OK {path}: model {cfg.model.kind}, hash {config_hash(cfg)}")


# --------------------------------------------------------------------------- runs

def _print_outcome(report: dict, run_path: Path) -> None:
    from core.report import _f

    s = report["summary"]
    table = Table(title=f"test window · primary [b]{report['primary']}[/b] · reference {report['reference']}",
                  title_justify="left", box=None, pad_edge=False, header_style="bold")
    for col in ("model", "calibration", "AUC", "B.skill", "ECE raw→cal", f"best {report['good_tier']}+", "beats uniform"):
        table.add_column(col, justify="left" if col in ("model", "calibration", "vs uniform") else "right")
    vu = report.get("versus_uniform") or {}
    for name, m in report["models"].items():
        t = m["test"]
        rates = t["good_or_better"]["rate"]
        j = max(range(len(rates)), key=lambda i: rates[i])
        comp = vu.get(name)
        versus = "–" if comp is None else (f"K {k_ranges(comp['beats_at'])}" if comp["beats"] else "no")
        style = "bold" if name == report["primary"] else ""
        table.add_row(name, str(m["calibration"].get("name")), _f(t["auc_macro"], 3), _f(t["brier_skill"], 4),
                      f"{_f(t['ece_raw'], 3)}→{_f(t['ece'], 3)}", f"{_f(rates[j], 3)} @{report['ks'][j]}", versus,
                      style=style)
    console.print(table)
    v = report.get("verdict")
    if v:
        color = "green" if v["status"] == "APPROVED" else "red"
        console.print(f"verdict: [{color}]{v['status']}[/{color}]"
                      + (f" (failing: {', '.join(v['failed'])})" if v["failed"] else ""))
        for c in v["criteria"]:
            value = _f(c["value"]) if isinstance(c["value"], float) else c["value"]
            note = "" if c["ok"] or value is None else f" — {value}"
            console.print(f"  {'✓' if c['ok'] else '✗'} {c['rule']}{note}", highlight=False, markup=False)
    if s.get("lift_capture") is not None:
        console.print(f"lift capture (vs oracle): {_f(s['lift_capture'], 2)}")
    say(f"run directory: {run_path}")


@app.command("baselines")
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
    cfg = load_cfg(config or "baselines", override, data)
    _run_job(cfg, "baselines", runs_dir, detach, as_json)


@app.command("train")
@user_errors
def train_cmd(
    config: Annotated[Path, typer.Option("--config", "-c", help="A learned-model config: configs/logistic.yaml, gru, lstm, transformer, hawkes.")],
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
    """
    cfg = load_cfg(config, override, data)
    _run_job(cfg, "train", runs_dir, detach, as_json)


DEMO_MODELS = ("logistic", "gru")


@app.command("demo")
@user_errors
def demo_cmd(
    data: Annotated[Path, typer.Option("--data", help="Data file to learn.")] = Path("sample_data/parts_daily.csv"),
    runs_dir: RunsDirOpt = None,
    tui: Annotated[bool, typer.Option("--tui/--no-tui", help="Open the dashboard afterwards (only on a terminal).")] = True,
    as_json: JsonOpt = False,
) -> None:
    """Every baseline, a logistic model and a GRU on the sample: trained, calibrated, judged.

    Calibration and every choice use the validation window; the test window is touched once.

    One run directory per learned model (each holds all baselines, so each is self-contained).
    """
    import time

    from core.pipeline import create_run, last_report
    from core.runs import runs_root

    root = runs_root(runs_dir)
    t0 = time.monotonic()
    results = []
    for kind in DEMO_MODELS:
        run = create_run(load_cfg(kind, None, data), root, "train")
        _follow_worker(run)
        results.append((run, last_report(run)))
    seconds = time.monotonic() - t0
    if as_json:
        print_json({"seconds": seconds, "runs": [
            {"run_id": r.run_id, "path": str(r.path), "summary": rep["summary"], "verdict": rep["verdict"]}
            for r, rep in results]})
        return
    _print_outcome(results[-1][1], results[-1][0].path)
    table = Table(title=f"demo: {len(results)} runs in {seconds:.0f} s", title_justify="left", box=None,
                  header_style="bold")
    for col in ("model", "verdict", "B.skill", "ECE", "best good+", "beats", "lift"):
        table.add_column(col)
    from core.report import _f

    for run, rep in results:
        s = rep["summary"]
        beats = f"{rep['reference']} K{k_ranges(s['beats_at'])}" if s["beats_reference"] else f"not {rep['reference']}"
        table.add_row(s["primary"], s["verdict"], _f(s["brier_skill"], 4), _f(s["ece_after"], 3),
                      f"{_f(s['best_good_or_better'], 3)} @{s['best_k']}", beats, _f(s["lift_capture"], 2))
    console.print(table)
    for run, _ in results:
        say(f"  {run.path}")
    if tui and sys.stdout.isatty() and sys.stdin.isatty():
        from synapse_tui.app import SynapseApp

        SynapseApp(root).run()


def _follow_worker(run, resume: bool = False) -> None:
    """Run the job in a worker process, echoing its progress; Ctrl-C asks it to stop cleanly."""
    import signal

    from core.jobs.launch import start_foreground

    proc = start_foreground(run, resume=resume)
    interrupted = False
    while True:
        try:
            for line in proc.stdout:
                tell(line.rstrip(), "…", "dim")
            break
        except KeyboardInterrupt:
            if interrupted:
                proc.kill()
                break
            interrupted = True
            tell("stopping after this epoch (Ctrl-C again to kill)", "…", "yellow")
            proc.send_signal(signal.SIGTERM)
    rc = proc.wait()
    if rc == 2:
        raise typer.Exit(EXIT_USAGE)
    if rc != 0:
        what = "cancelled" if rc == 3 else "failed"
        tell(f"run {run.run_id} {what}; see {run.path / 'training_log.md'}"
             + (f" — `synapse resume {run.run_id}` continues it" if rc == 3 else ""), "run " + what + ":", "bold red")
        raise typer.Exit(EXIT_FAILED)


def _run_job(cfg, job: str, runs_dir, detach: bool, as_json: bool) -> None:
    from core.jobs.launch import start_detached
    from core.pipeline import create_run
    from core.runs import runs_root

    run = create_run(cfg, runs_root(runs_dir), job)
    if detach:
        pid = start_detached(run)
        if as_json:
            print_json({"run_id": run.run_id, "path": str(run.path), "pid": pid})
        else:
            say(run.run_id)
        return
    _follow_worker(run)
    _finish(run, as_json)


@app.command("cancel")
@user_errors
def cancel_cmd(
    run: Annotated[str, typer.Argument(help="Run id (unique prefix) or directory.", show_default=False)],
    runs_dir: RunsDirOpt = None,
) -> None:
    """Ask a running run to stop: it saves last.pt and ends `cancelled` (resumable)."""
    from core.jobs.launch import cancel

    rd = open_run(run, runs_dir)
    st = cancel(rd)
    say(f"{rd.run_id}: {'cancelled' if st.status == 'queued' else 'SIGTERM sent; it stops after its current epoch'}")


@app.command("resume")
@user_errors
def resume_cmd(
    run: Annotated[str, typer.Argument(help="Run id (unique prefix) or directory.", show_default=False)],
    runs_dir: RunsDirOpt = None,
    detach: DetachOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue a lost, cancelled or failed run from last.pt, as a new attempt in the same directory."""
    from core.jobs.launch import check_resumable, start_detached

    rd = open_run(run, runs_dir)
    st = check_resumable(rd)
    if detach:
        pid = start_detached(rd, resume=True)
        print_json({"run_id": rd.run_id, "pid": pid, "attempt": st.attempt + 1}) if as_json else say(rd.run_id)
        return
    _follow_worker(rd, resume=True)
    _finish(rd, as_json)


def _parse_target(text: str | None):
    if text is None:
        return None
    name, sep, level = text.partition(":")
    name = name.strip().removesuffix("-or-better")
    try:
        value = float(level)
    except ValueError:
        value = -1.0
    if not sep or not 0 < value < 1:
        raise InputError(f"--target {text}: expected TIER:LEVEL, e.g. good-or-better:0.6")
    return name, value


@app.command("predict")
@user_errors
def predict_cmd(
    run: Annotated[str, typer.Argument(help="A succeeded run (id prefix or directory).", show_default=False)],
    data: Annotated[Optional[Path], typer.Option("--data", help="Data with the newest days (default: the run's file).")] = None,
    date: Annotated[Optional[str], typer.Option("--date", help="Score this day from the days before it (default: the day after the data).")] = None,
    k: Annotated[Optional[str], typer.Option("-k", help="Pool sizes, e.g. 18..30 (default: the run's eval.k).")] = None,
    target: Annotated[Optional[str], typer.Option("--target", help="Suggest the smallest K reaching it, e.g. good-or-better:0.6.")] = None,
    backtest: Annotated[bool, typer.Option("--backtest", help="Also check pool probabilities against the run's test window.")] = False,
    onnx: Annotated[bool, typer.Option("--onnx", help="Score with the run's exported model.onnx (onnxruntime) instead of PyTorch.")] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tomorrow's calibrated probability for every part, and how big a pool to keep.

    For each K the pool is the top-K parts; its hit distribution is exact under the
    conditional Bernoulli model fitted to the calibrated probabilities.

        synapse predict <run> --target good-or-better:0.6 --backtest
    """
    from core.predict import pool_backtest, predict

    rd = open_run(run, runs_dir)
    ks = None if k is None else json.loads(parse_ks(k))
    bt = pool_backtest(rd, ks) if backtest else None
    result = predict(rd, data=data, date=date, ks=ks, target=_parse_target(target), onnx=onnx)
    if as_json:
        print_json({**result, "backtest": bt})
        return
    _print_prediction(result, bt)


def _print_prediction(res: dict, bt: dict | None) -> None:
    from core.report import _f

    say(f"{res['model']} ({res['run_id']}) · scores {res['date']} from {res['history_rows']:,} days "
        f"up to {res['history_last_date']}" + (f" ({res['new_days_since_run']} newer than the run)" if res["new_days_since_run"] else ""))
    probs = res["probabilities"]
    grid = Table(title="calibrated probability per part, ranked", title_justify="left", box=None, padding=(0, 1))
    cols = 4
    for _ in range(cols):
        grid.add_column("#", justify="right", style="dim")
        grid.add_column("part", justify="right")
        grid.add_column("p", justify="right")
    per = (len(probs) + cols - 1) // cols
    for r in range(per):
        cells = []
        for c in range(cols):
            i = c * per + r
            cells += ([str(i + 1), str(probs[i]["part"]), f"{probs[i]['p']:.3f}"] if i < len(probs) else ["", "", ""])
        grid.add_row(*cells)
    console.print(grid)
    table = res["pools"]
    tiers = list(table["tiers"])
    pt = Table(title="top-K pools: expected hits, P(tier or better)", title_justify="left", box=None,
               header_style="bold")
    pt.add_column("K", justify="right")
    pt.add_column("E hits", justify="right")
    for t in tiers:
        pt.add_column(f"{t}+", justify="right")
    pt.add_column(f"random {table.get('good_tier', 'good')}+" if False else "random good+", justify="right")
    sug = res.get("suggestion") or {}
    for pool in table["pools"]:
        style = "bold green" if sug.get("k") == pool["k"] else ""
        pt.add_row(str(pool["k"]), f"{pool['expected_hits']:.2f}", *[f"{pool['or_better'][t]:.3f}" for t in tiers],
                   f"{pool['random_or_better'].get('good', float('nan')):.3f}", style=style)
    console.print(pt)
    if sug:
        say(f"smallest K with P({sug['tier']} or better) >= {sug['target']}: "
            + (str(sug["k"]) if sug["k"] is not None else "none in range"))
    say(res["caveat"])
    if bt:
        pooled = bt["pooled"]
        say(f"pool backtest on {bt['n_days']} test days: said {pooled['pred_rate']:.3f}, happened "
            f"{pooled['real_rate']:.3f} [{pooled['real_ci_low']:.3f}, {pooled['real_ci_high']:.3f}], "
            f"pool ECE {_f(pooled['ece'], 3)} (pool_calibration.png)")
        rel = Table(title="predicted vs realised P(good-or-better), all K pooled", title_justify="left", box=None)
        for col in ("predicted", "day x K", "realised", "95% interval"):
            rel.add_column(col, justify="right")
        r = pooled["reliability"]
        for j, n in enumerate(r["count"]):
            if n:
                rel.add_row(f"{r['mean_pred'][j]:.2f}", str(n), f"{r['mean_real'][j]:.2f}",
                            f"[{r['ci_low'][j]:.2f}, {r['ci_high'][j]:.2f}]")
        console.print(rel, markup=False)


@export_app.command("onnx")
@user_errors
def export_onnx_cmd(
    run: Annotated[str, typer.Argument(help="A succeeded training run (id prefix or directory).", show_default=False)],
    out: Annotated[Optional[Path], typer.Option("--out", help="Where to write (default: RUN/model.onnx).")] = None,
    export_length: Annotated[int, typer.Option(min=2, help="Sequence length traced at export (time stays dynamic).")] = 64,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write model.onnx (dynamo exporter, opset 18, dynamic batch and time), check parity with
    PyTorch on the test window at another length, and time single-day scoring."""
    from core.export import export_onnx

    rd = open_run(run, runs_dir)
    progress(f"exporting {rd.run_id} (this traces the model; GRU/LSTM take ~10 s)")
    rep = export_onnx(rd, out, export_length=export_length)
    if as_json:
        print_json(rep)
        return
    ok = "[green]ok[/green]" if rep["parity_ok"] else "[red]FAILED[/red]"
    console.print(f"wrote {rep['path']} ({rep['kind']}, opset {rep['opset']})", markup=False)
    console.print(f"parity at length {rep['parity_length']}: max |ORT - PyTorch| = {rep['max_abs_diff']:.2e} {ok}")
    lat = rep["latency_ms"]
    budget = "within" if rep.get("latency_ok") else "over"
    console.print(f"single-day scoring: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms ({budget} the 2 ms p99 budget)")
    if rep.get("step_path"):
        full = rep["latency_full_window_ms"]
        console.print(f"  (transformer: the KV-cached step in {Path(rep['step_path']).name}, parity "
                      f"{rep['step_max_abs_diff']:.1e}; a full-window call takes p50 {full['p50']:.2f} ms)", markup=False)


def _finish(run, as_json: bool) -> None:
    from core.pipeline import last_report

    report = last_report(run)
    if as_json:
        print_json({"run_id": run.run_id, "path": str(run.path), "summary": report["summary"],
                    "verdict": report["verdict"]})
    else:
        _print_outcome(report, run.path)


@app.command("eval")
@user_errors
def eval_cmd(
    run: Annotated[str, typer.Argument(help="Run id (a unique prefix is enough) or run directory.", show_default=False)],
    calibration: Annotated[
        Optional[str], typer.Option("--calibration", help="auto | none | platt | isotonic | temperature")
    ] = None,
    per_part: Annotated[Optional[bool], typer.Option("--per-part/--global", help="Calibrate per part or globally.")] = None,
    k: Annotated[Optional[str], typer.Option("-k", help="Pool sizes, e.g. 20..27 or 18,20,22.")] = None,
    override: OverrideOpt = None,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Re-evaluate a finished run (another calibration method, other K); records the test touch."""
    from core.config import load_config
    from core.pipeline import reevaluate

    rd = open_run(run, runs_dir)
    extra = list(override or ())
    if calibration is not None:
        extra.append(f"calibration.method={calibration}")
    if per_part is not None:
        extra.append(f"calibration.per_part={'true' if per_part else 'false'}")
    if k is not None:
        extra.append(f"eval.k={parse_ks(k)}")
    cfg = load_config(rd.config_yaml, overrides=extra)
    result = reevaluate(rd, cfg, progress=progress)
    if as_json:
        print_json({"run_id": rd.run_id, "eval_id": result["eval_id"], "summary": result["report"]["summary"],
                    "verdict": result["report"]["verdict"], "test_touches": result["test_touches"]})
    else:
        _print_outcome(result["report"], rd.path)
        console.print(f"test window touched {result['test_touches']} time(s) (recorded in manifest.json)")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
