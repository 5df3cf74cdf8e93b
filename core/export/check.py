"""Parity and latency checks of an exported graph, the entry point `export_onnx` and
single-day serving from model.onnx (`score_day_onnx`)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import InputError
from core.export.adapters import _is_transformer, _layout, effective_export_length
from core.export.load import (
    LATENCY_BUDGET_MS,
    LATENCY_CALLS,
    LATENCY_WARMUP,
    MAX_LATENCY_CONTEXT,
    ONNX_FILE,
    OPSET,
    REPORT_FILE,
    TOLERANCE,
    load_inputs,
    _np,
    _run,
    ort_session,
    load_scorer,
)
from core.export.onnx_graph import onnx_bytes
from core.export.step import check_step_parity, step_call, step_onnx_bytes, step_parity_days
from core.runs import RunDir

# --------------------------------------------------------------------------- parity


def default_parity_length(scorer: nn.Module, export_length: int, test: tuple[int, int]) -> int:
    """Rows: the test rows; stateful: blocks of 2 x export_length + 1 days; windows: the
    model's context (minus one when that is the export length)."""
    layout = _layout(scorer)
    if layout == "rows":
        n = test[1] - test[0]
        return n - 1 if n == export_length and n > 1 else n
    if layout == "windows":
        n = min(scorer.context, test[1])
        return n - 1 if n == export_length else n
    return 2 * export_length + 1


def check_parity(sess, scorer: nn.Module, inputs, test: tuple[int, int], length: int) -> dict:
    """Max |ORT - PyTorch| of the logits on the test window (see `export_onnx`)."""
    layout = _layout(scorer)
    t0, t1 = test
    if layout == "rows":
        a = t1 - length
        ref = scorer.score(inputs, a, t1)
        got = sess.run(["logits"], {"x": _np(inputs.x[a:t1])})[0]
        return {
            "max_abs_diff": float(np.abs(got - _np(ref)).max()),
            "days": [a, t1],
            "method": f"the last {length} test rows in one call (batch {length})",
        }
    if layout == "windows":
        a = t1 - length
        with torch.no_grad():
            ref, _ = scorer(inputs.x[a:t1][None], inputs.wd[a:t1][None])
        got = sess.run(["logits"], {"x": _np(inputs.x[a:t1][None]), "wd": _np(inputs.wd[a:t1][None])})[0]
        return {
            "max_abs_diff": float(np.abs(got - _np(ref)).max()),
            "days": [a, t1],
            "method": f"one window of {length} days ending at the last test day, every position",
        }
    # stateful: ORT alone from day 0 (zero state), blocks of `length` days, state carried;
    # compared on the test window with `Scorer.score` (PyTorch from day 0, its own blocks).
    names = [i.name for i in sess.get_inputs()]
    state = [np.zeros((scorer.layers, 1, scorer.hidden), np.float32) for _ in names[2:]]
    out = []
    for s in range(0, t1, length):
        e = min(s + length, t1)
        feed = {"x": _np(inputs.x[s:e][None]), "wd": _np(inputs.wd[s:e][None])}
        feed.update(zip(names[2:], state))
        logits, *state = sess.run(None, feed)
        if e > t0:
            out.append(logits[0, max(t0 - s, 0) :])
    got = np.concatenate(out, axis=0)
    ref = _np(scorer.score(inputs, t0, t1))
    return {
        "max_abs_diff": float(np.abs(got - ref).max()),
        "days": [t0, t1],
        "state": state,
        "method": f"onnxruntime alone from day 0 (zero state) through the test window in blocks of "
        f"{length} days carrying the state, vs Scorer.score on the test window",
    }


# --------------------------------------------------------------------------- latency


def _percentiles(times: list[float]) -> dict:
    ms = np.asarray(times) * 1e3
    return {
        "p50": float(np.percentile(ms, 50)),
        "p99": float(np.percentile(ms, 99)),
        "mean": float(ms.mean()),
        "calls": len(times),
    }


def single_day_call(sess, scorer: nn.Module, inputs, t1: int, state: list | None = None):
    """(callable scoring day t1 - 1 once with onnxruntime, torch callable doing the same,
    description) — the budgeted single-day call with a bounded context."""
    layout = _layout(scorer)
    if layout == "rows":
        x = inputs.x[t1 - 1 : t1]
        feed = {"x": _np(x)}
        return (lambda: sess.run(None, feed)), (lambda: scorer(x)), f"one feature row x (1, {x.shape[1]})"
    if layout == "windows":
        L = min(scorer.context, MAX_LATENCY_CONTEXT, t1)
        x, wd = inputs.x[t1 - L : t1][None], inputs.wd[t1 - L : t1][None]
        feed = {"x": _np(x), "wd": _np(wd)}
        return (
            (lambda: sess.run(None, feed)),
            (lambda: scorer(x, wd)),
            f"the last {L} days, x (1, {L}, {scorer.input_width})",
        )
    names = [i.name for i in sess.get_inputs()][2:]
    if state is None:
        state = [np.zeros((scorer.layers, 1, scorer.hidden), np.float32) for _ in names]
    x, wd = inputs.x[t1 - 1 : t1][None], inputs.wd[t1 - 1 : t1][None]
    feed = {"x": _np(x), "wd": _np(wd), **dict(zip(names, state))}

    def ort_step():
        out = sess.run(None, feed)
        feed.update(zip(names, out[1:]))  # carry the state to the next day
        return out[0]

    tstate = [torch.from_numpy(s.copy()) for s in state]
    tstate = tstate[0] if len(tstate) == 1 else tuple(tstate)

    def torch_step():
        return scorer(x, wd, tstate)

    return ort_step, torch_step, f"one day x (1, 1, {scorer.input_width}) + state ({scorer.layers}, 1, {scorer.hidden})"


def _time_pair(ort_call, torch_call, calls: int, threads: int) -> tuple[dict, dict]:
    """(onnxruntime timing, PyTorch timing on as many threads) of the same call."""
    latency = time_calls(ort_call, calls)
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(max(1, threads))  # the PyTorch reference on as many threads
    try:
        with torch.no_grad():
            torch_latency = time_calls(torch_call, calls)
        torch_latency["threads"] = torch.get_num_threads()
    finally:
        torch.set_num_threads(torch_threads)
    return latency, torch_latency


def time_calls(fn, calls: int = LATENCY_CALLS, warmup: int = LATENCY_WARMUP) -> dict:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return _percentiles(times)


# --------------------------------------------------------------------------- the entry point


def export_onnx(
    run_dir: RunDir | str | Path,
    out: str | Path | None = None,
    *,
    export_length: int = 64,
    parity_length: int | None = None,
    data: str | Path | None = None,
    latency_calls: int = LATENCY_CALLS,
    threads: int = 1,
) -> dict:
    """Export a run's model to ONNX, check parity and time single-day scoring.

    Args:
        run_dir: a finished `synapse train` run (its `model_checkpoint.pt`).
        out: where to write the graph; default `<run>/model.onnx`.
        export_length: the sequence length (rows: the batch) traced; at least 2, and at
            most the context for a transformer. Tracing a GRU/LSTM takes time in proportion
            (torch steps the recurrence while tracing: ~8-12 s at 64 here, ~2 s at 8).
        parity_length: the length checked (see `default_parity_length`); never the export
            length.
        data: the data file, when the run's ``data.path`` does not resolve from here.
        latency_calls: timed calls (after 20 warm-up calls).
        threads: onnxruntime intra-op threads for the checks and the timing.
    Returns:
        the report written to `<run>/onnx_report.json`: path, kind, export_length,
        parity_length, max_abs_diff, parity_ok (<= 1e-5), latency_ms {p50, p99, ...},
        latency_ok (p99 <= 2 ms), torch_latency_ms (the same call in PyTorch), opset, and
        details. A failed parity check is reported (parity_ok false, a warning event), not
        raised; model.onnx is written either way. Transformer runs also write
        `model_step.onnx` next to the graph (an artifact event) and report step_path,
        step_parity / step_max_abs_diff / step_parity_ok (the cached step vs
        `Scorer.score`, day by day, see `step_parity_days`); their latency_ms, latency_ok and
        torch_latency_ms are the cached step's (a cache of min(context, 512) - 1 days), and
        latency_full_window_ms / torch_latency_full_window_ms the full-window call's.
    """
    run = _run(run_dir)
    scorer, ck = load_scorer(run)
    from core.config import Config

    cfg = Config.model_validate(ck["config"])
    kind = cfg.model.kind
    layout = _layout(scorer)
    n = effective_export_length(scorer, export_length)
    # Everything the checks need is validated before anything is written.
    inputs, test, data_info = load_inputs(run, scorer, cfg, data)
    length = int(parity_length or default_parity_length(scorer, n, test))
    if length == n:
        raise InputError(
            f"parity_length must differ from the export length ({n}): the export can bake "
            "the traced length into shapes, so parity there proves little"
        )
    if length < 1 or (layout != "rows" and not layout.startswith("stateful") and length > scorer.context):
        raise InputError(f"parity_length {length} must be between 1 and the model's context ({scorer.context})")
    if not layout.startswith("stateful") and length > test[1]:
        raise InputError(f"parity_length {length} is longer than the data up to the test window's end ({test[1]})")

    data_bytes, info = onnx_bytes(scorer, ck, n)
    from core.fsutil import atomic_write_bytes

    if out is None:
        path = run.write_bytes(ONNX_FILE, data_bytes)
        recorded = ONNX_FILE
    else:
        path = Path(out)
        path.parent.mkdir(parents=True, exist_ok=True)  # --out may name a new folder; atomic writes make none
        atomic_write_bytes(path, data_bytes)
        recorded = path.name if path.resolve().parent == run.path.resolve() else str(path.resolve())
    with run.event_writer() as ev:
        ev.artifact(recorded, opset=OPSET, bytes=len(data_bytes))

    step_path = step_bytes = step_info = None
    if _is_transformer(scorer):  # the KV-cached one-day step, next to model.onnx
        step_bytes, step_info = step_onnx_bytes(scorer, ck)
        step_path = path.with_name(path.stem + "_step" + path.suffix)  # model.onnx -> model_step.onnx
        if out is None:
            run.write_bytes(step_path.name, step_bytes)
        else:
            atomic_write_bytes(step_path, step_bytes)
        step_recorded = step_path.name if step_path.resolve().parent == run.path.resolve() else str(step_path.resolve())
        with run.event_writer() as ev:
            ev.artifact(step_recorded, opset=OPSET, bytes=len(step_bytes))

    sess = ort_session(path, threads)
    parity = check_parity(sess, scorer, inputs, test, length)
    state = parity.pop("state", None)
    ort_call, torch_call, what = single_day_call(sess, scorer, inputs, test[1], state)
    latency, torch_latency = _time_pair(ort_call, torch_call, latency_calls, threads)
    latency.update(intra_op_threads=threads, input=what)
    step_report: dict = {}
    if step_path is not None:
        step_sess = ort_session(step_path, threads)
        step_parity = check_step_parity(step_sess, scorer, inputs, step_parity_days(scorer, test[1]))
        s_call, s_torch, s_what = step_call(step_sess, scorer, inputs, test[1])
        s_lat, s_torch_lat = _time_pair(s_call, s_torch, latency_calls, threads)
        s_lat.update(intra_op_threads=threads, input=s_what)
        # The budgeted single-day call is now the cached step; the full window is kept for reference
        step_report = {
            "latency_full_window_ms": latency,
            "torch_latency_full_window_ms": torch_latency,
            "step_path": str(step_path),
            "step_parity": step_parity,
            "step_max_abs_diff": step_parity["max_abs_diff"],
            "step_parity_ok": bool(step_parity["max_abs_diff"] <= TOLERANCE),
            "step_inputs": step_info["inputs"],
            "step_outputs": step_info["outputs"],
            "step_bytes": len(step_bytes),
            "step_sha256": hashlib.sha256(step_bytes).hexdigest(),
            "step_export_seconds": round(step_info["seconds"], 3),
        }
        latency, torch_latency = s_lat, s_torch_lat
        info["warnings"] = info["warnings"] + [w for w in step_info["warnings"] if w not in info["warnings"]]

    import onnxruntime

    diff = parity["max_abs_diff"]
    report = {
        "path": str(path),
        "kind": kind,
        "layout": info["layout"],
        "export_length": n,
        "parity_length": length,
        "max_abs_diff": diff,
        "parity_ok": bool(diff <= TOLERANCE),
        "tolerance": TOLERANCE,
        "parity": parity,
        "latency_ms": latency,
        "torch_latency_ms": torch_latency,
        "latency_budget_ms": {"p99": LATENCY_BUDGET_MS},
        "latency_ok": bool(latency["p99"] <= LATENCY_BUDGET_MS),
        "opset": OPSET,
        "inputs": info["inputs"],
        "outputs": info["outputs"],
        "bytes": len(data_bytes),
        "sha256": hashlib.sha256(data_bytes).hexdigest(),
        "export_seconds": round(info["seconds"], 3),
        "data": data_info,
        "versions": {"torch": torch.__version__, "onnxruntime": onnxruntime.__version__},
        "exporter_warnings": info["warnings"],
        **step_report,
    }
    run.write_json(REPORT_FILE, report)
    if not report["parity_ok"]:
        with run.event_writer() as ev:
            ev.log("warning", f"ONNX parity failed: max |diff| {diff:.3g} > {TOLERANCE:g} ({parity['method']})")
    if step_report and not step_report["step_parity_ok"]:
        with run.event_writer() as ev:
            ev.log(
                "warning",
                f"ONNX step parity failed: max |diff| {step_report['step_max_abs_diff']:.3g} > "
                f"{TOLERANCE:g} ({step_report['step_parity']['method']})",
            )
    return report


# --------------------------------------------------------------------------- serving


def score_day_onnx(run_dir: RunDir | str | Path, scorer: nn.Module, inputs, day: int) -> np.ndarray:
    """(P,) logits of row `day` from the run's model.onnx with onnxruntime (`predict --onnx`).

    Rows: that day's feature row. Windows: the last `context` inputs up to the day. Stateful:
    onnxruntime from day 0, carrying the state, in blocks of 512 days.
    """
    run = _run(run_dir)
    if not run.model_onnx.exists():
        raise InputError(f"run {run.run_id} has no model.onnx: run `synapse export onnx {run.run_id}` first")
    sess = ort_session(run.model_onnx)
    layout = _layout(scorer)
    t1 = day + 1
    if layout == "rows":
        return sess.run(["logits"], {"x": _np(inputs.x[day:t1])})[0][0]
    if layout == "windows":
        a = max(0, t1 - scorer.context)
        return sess.run(["logits"], {"x": _np(inputs.x[a:t1][None]), "wd": _np(inputs.wd[a:t1][None])})[0][0, -1]
    names = [i.name for i in sess.get_inputs()][2:]
    state = [np.zeros((scorer.layers, 1, scorer.hidden), np.float32) for _ in names]
    for s in range(0, t1, 512):
        e = min(s + 512, t1)
        logits, *state = sess.run(
            None, {"x": _np(inputs.x[s:e][None]), "wd": _np(inputs.wd[s:e][None]), **dict(zip(names, state))}
        )
    return logits[0, -1]
