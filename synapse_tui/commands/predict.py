"""`synapse predict` and `synapse export onnx`: use a trained run.

`predict_cmd` is registered on the root app in synapse_tui/cli.py (`app.command("predict")`);
`export_app` is added there with `app.add_typer(export_app, name="export")`.
Heavy modules (torch, onnxruntime, the engine) are imported inside the commands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from core.service.jobs import parse_ks
from core.service.runs import open_run
from synapse_tui.cliutil import JsonOpt, RunsDirOpt, console, print_json, progress, say, user_errors
from synapse_tui.formatting import pool_table, probability_grid

export_app = typer.Typer(help="Export a trained model.", no_args_is_help=True)


@user_errors
def predict_cmd(
    run: Annotated[str, typer.Argument(help="A succeeded run (id prefix or directory).", show_default=False)],
    data: Annotated[
        Path | None, typer.Option("--data", help="Data with the newest days (default: the run's file).")
    ] = None,
    date: Annotated[
        str | None,
        typer.Option("--date", help="Score this day from the days before it (default: the day after the data)."),
    ] = None,
    k: Annotated[str | None, typer.Option("-k", help="Pool sizes, e.g. 18..30 (default: the run's eval.k).")] = None,
    target: Annotated[
        str | None, typer.Option("--target", help="Suggest the smallest K reaching it, e.g. good-or-better:0.6.")
    ] = None,
    backtest: Annotated[
        bool, typer.Option("--backtest", help="Also check pool probabilities against the run's test window.")
    ] = False,
    onnx: Annotated[
        bool, typer.Option("--onnx", help="Score with the run's exported model.onnx (onnxruntime) instead of PyTorch.")
    ] = False,
    allow_unsorted: Annotated[
        bool,
        typer.Option("--allow-unsorted", help="Sort the data's rows by date (with a warning) instead of refusing."),
    ] = False,
    runs_dir: RunsDirOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Tomorrow's calibrated probability for every part, and how big a pool to keep.

    For each K the pool is the top-K parts; its hit distribution is exact under the
    conditional Bernoulli model fitted to the calibrated probabilities.

        synapse predict <run> --target good-or-better:0.6 --backtest
    """
    from core.service.predict import parse_target, pool_backtest, predict

    rd = open_run(run, runs_dir)
    ks = None if k is None else parse_ks(k)
    bt = pool_backtest(rd, ks) if backtest else None
    result = predict(
        rd, data=data, date=date, ks=ks, target=parse_target(target), onnx=onnx, allow_unsorted=allow_unsorted
    )
    if as_json:
        print_json({**result, "backtest": bt})
        return
    _print_prediction(result, bt)


def _print_prediction(res: dict, bt: dict | None) -> None:
    from core.evaluation.report import fmt

    say(
        f"{res['model']} ({res['run_id']}) · scores {res['date']} from {res['history_rows']:,} days "
        f"up to {res['history_last_date']}"
        + (f" ({res['new_days_since_run']} newer than the run)" if res["new_days_since_run"] else "")
    )
    console.print(probability_grid(res["probabilities"], 4))
    sug = res.get("suggestion") or {}
    console.print(pool_table(res["pools"], sug.get("k")))
    if sug:
        say(
            f"smallest K with P({sug['tier']} or better) >= {sug['target']}: "
            + (str(sug["k"]) if sug["k"] is not None else "none in range")
        )
    say(res["caveat"])
    if bt:
        pooled = bt["pooled"]
        say(
            f"pool backtest on {bt['n_days']} test days: said {pooled['pred_rate']:.3f}, happened "
            f"{pooled['real_rate']:.3f} [{pooled['real_ci_low']:.3f}, {pooled['real_ci_high']:.3f}], "
            f"pool ECE {fmt(pooled['ece'], 3)} (pool_calibration.png)"
        )
        rel = Table(title="predicted vs realised P(good-or-better), all K pooled", title_justify="left", box=None)
        for col in ("predicted", "day x K", "realised", "95% interval"):
            rel.add_column(col, justify="right")
        r = pooled["reliability"]
        for j, n in enumerate(r["count"]):
            if n:
                rel.add_row(
                    f"{r['mean_pred'][j]:.2f}",
                    str(n),
                    f"{r['mean_real'][j]:.2f}",
                    f"[{r['ci_low'][j]:.2f}, {r['ci_high'][j]:.2f}]",
                )
        console.print(rel, markup=False)


@export_app.command("onnx")
@user_errors
def export_onnx_cmd(
    run: Annotated[str, typer.Argument(help="A succeeded training run (id prefix or directory).", show_default=False)],
    out: Annotated[Path | None, typer.Option("--out", help="Where to write (default: RUN/model.onnx).")] = None,
    export_length: Annotated[
        int, typer.Option(min=2, help="Sequence length traced at export (time stays dynamic).")
    ] = 64,
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
    console.print(
        f"single-day scoring: p50 {lat['p50']:.3f} ms, p99 {lat['p99']:.3f} ms ({budget} the 2 ms p99 budget)"
    )
    if rep.get("step_path"):
        full = rep["latency_full_window_ms"]
        console.print(
            f"  (transformer: the KV-cached step in {Path(rep['step_path']).name}, parity "
            f"{rep['step_max_abs_diff']:.1e}; a full-window call takes p50 {full['p50']:.2f} ms)",
            markup=False,
        )
