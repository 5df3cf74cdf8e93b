"""ONNX export of a trained run's scorer, with a parity check and a latency measurement.

`export_onnx(run_dir)` rebuilds the scorer from the run's `model_checkpoint.pt`, exports it
with the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, opset 18), writes
`model.onnx` atomically into the run directory (an ``artifact`` event records it), then

- checks **parity**: onnxruntime against the PyTorch scorer on the run's test window, at a
  sequence length *other* than the one traced (the dynamo export can bake the trace length
  into shape metadata), max |diff| of the logits <= 1e-5;
- times **single-day scoring with a bounded context** (docs/ARCHITECTURE.md, "Budgets"): one feature row
  (logistic, hawkes), one step with the recurrent state as an input (GRU/LSTM), one
  KV-cached step (transformer: `model_step.onnx`, below), or the last ``min(context, 512)``
  days in one call (window-mode GRU/LSTM; for the transformer this full-window call is
  still timed, as ``latency_full_window_ms``);

and writes the numbers to `onnx_report.json` in the run directory.

The graphs (inputs -> outputs; ``batch`` and ``time`` are dynamic):

=====================  ================================================  =========================
kind (regime)          inputs                                            outputs
=====================  ================================================  =========================
logistic, hawkes       x (batch, F) float32 features of `prepare`        logits (batch, P)
gru (stateful)         x (batch, time, P) float32, wd (batch, time)      logits (batch, time, P),
                       int64, h0 (layers, batch, hidden)                 h1
lstm (stateful)        x, wd, h0, c0                                     logits, h1, c1
transformer, gru/lstm  x (batch, time, P), wd (batch, time)              logits (batch, time, P)
(window mode)          (time <= context for the transformer)
=====================  ================================================  =========================

Transformer runs also get `model_step.onnx` (`TransformerStepExport`), the exact one-day
step with a KV cache: x_new (1, 1, P), wd_new (1, 1) int64, pos (1,) int64 (the day's index
in its window), k_cache / v_cache (layers, 1, heads, n, head_dim), n dynamic (0 allowed) ->
logits (1, P), k_new / v_new (layers, 1, heads, 1, head_dim). `score` reads day t through
the window x[window_start(t)..t], and window_start is constant within a block, so a server
builds the cache once per block (`transformer_cache`, a PyTorch prefill; or by feeding the
window's days through the step graph from an empty cache), then appends k_new / v_new each
day; the logits equal ``scorer.score(inputs, t, t + 1)`` (checked as ``step_parity``).

x and wd are what the scorer's `prepare` gives (x[t] = Y[t-1], wd[t] = weekday of day t,
0 = Monday); with a skip path (``model.skip: own``) x[t] continues with each part's own
causal features, G x P columns in all (`scorer.input_width`, core/models/skip.py), and P
above reads that width. Single-day scoring of a stateful model feeds one day, x (1, 1, P), with the
previous call's state, and keeps the new state for the next day. The logits are the
model's raw output (what `Scorer.score` returns); a softmax or kofp head's probabilities and the
run's calibrator are applied outside the graph (`core.models.base.head_logits`, the
checkpoint's ``calibrator``). The graph's ``metadata_props`` name the kind, head, events,
parts and context.

The parity check reads the run's data file (``data.path`` of its config, or ``data=``) and
compares model outputs only, never labels, so it is not an evaluation on the test window
and is not recorded in the manifest's ``test_touches``.

The package: `load` (constants, the run's scorer and data, sessions), `adapters` (the
modules torch.onnx traces, per layout), `onnx_graph` (`onnx_bytes` and the graph fix-ups),
`step` (the transformer's KV-cached step, `model_step.onnx`) and `check` (parity, latency,
`export_onnx`, `score_day_onnx`). Every name is importable from `core.export`.
"""

from __future__ import annotations

from core.export.check import export_onnx, score_day_onnx
from core.export.load import (
    EXPORTABLE,
    ONNX_FILE,
    OPSET,
    REPORT_FILE,
    STEP_ONNX_FILE,
    TOLERANCE,
    load_inputs,
    load_scorer,
    ort_session,
)
from core.export.onnx_graph import onnx_bytes
from core.export.step import (
    TransformerStepExport,
    step_call,
    step_onnx_bytes,
    transformer_cache,
    transformer_step_inputs,
)

__all__ = [
    "EXPORTABLE",
    "ONNX_FILE",
    "OPSET",
    "REPORT_FILE",
    "STEP_ONNX_FILE",
    "TOLERANCE",
    "TransformerStepExport",
    "export_onnx",
    "load_inputs",
    "load_scorer",
    "onnx_bytes",
    "ort_session",
    "score_day_onnx",
    "step_call",
    "step_onnx_bytes",
    "transformer_cache",
    "transformer_step_inputs",
]
