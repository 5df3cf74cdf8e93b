"""ONNX export of a trained run's scorer, with a parity check and a latency measurement.

`export_onnx(run_dir)` rebuilds the scorer from the run's `model_checkpoint.pt`, exports it
with the dynamo exporter (``torch.onnx.export(..., dynamo=True)``, opset 18), writes
`model.onnx` atomically into the run directory (an ``artifact`` event records it), then

- checks **parity**: onnxruntime against the PyTorch scorer on the run's test window, at a
  sequence length *other* than the one traced (the dynamo export can bake the trace length
  into shape metadata, DESIGN.md 6), max |diff| of the logits <= 1e-5;
- times **single-day scoring with a bounded context** (DESIGN.md 11): one feature row
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
0 = Monday). Single-day scoring of a stateful model feeds one day, x (1, 1, P), with the
previous call's state, and keeps the new state for the next day. The logits are the
model's raw output (what `Scorer.score` returns); a softmax head's probabilities and the
run's calibrator are applied outside the graph (`core.models.base.head_logits`, the
checkpoint's ``calibrator``). The graph's ``metadata_props`` name the kind, head, events,
parts and context.

The parity check reads the run's data file (``data.path`` of its config, or ``data=``) and
compares model outputs only, never labels, so it is not an evaluation on the test window
and is not recorded in the manifest's ``test_touches``.
"""
from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from core.errors import InputError
from core.runs import RunDir

OPSET = 18
ONNX_FILE = "model.onnx"
STEP_ONNX_FILE = "model_step.onnx"  # transformer runs: the KV-cached one-day step
REPORT_FILE = "onnx_report.json"
TOLERANCE = 1e-5
EXPORTABLE = ("logistic", "hawkes", "gru", "lstm", "transformer")
LATENCY_CALLS = 300
LATENCY_WARMUP = 20
MAX_LATENCY_CONTEXT = 512  # DESIGN.md 11: single-day scoring reads at most 512 days
LATENCY_BUDGET_MS = 2.0  # DESIGN.md 11: p99 of one single-day call


# --------------------------------------------------------------------------- loading

def _run(run_dir: RunDir | str | Path) -> RunDir:
    return run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))


def load_scorer(run_dir: RunDir | str | Path) -> tuple[nn.Module, dict]:
    """(scorer in eval mode on CPU, checkpoint dict) from a run's `model_checkpoint.pt`.

    The checkpoint is read with ``weights_only=True`` and ``map_location="cpu"``, so one
    written on CUDA loads here too. The scorer is rebuilt from the checkpoint's resolved
    config (not the run's config.yaml, which a user may have edited)."""
    from pydantic import ValidationError

    from core.config import Config
    from core.models import build_scorer

    run = _run(run_dir)
    path = run.model_checkpoint
    if not path.is_file():
        raise InputError("no model_checkpoint.pt: only a finished `synapse train` run can be exported", path=path)
    try:
        ck = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # unpickling errors come in many types
        raise InputError(f"cannot read the checkpoint: {exc}", path=path) from None
    missing = [k for k in ("model_state", "config", "parts") if k not in ck]
    if missing:
        raise InputError(f"checkpoint lacks {', '.join(missing)}", path=path)
    try:
        cfg = Config.model_validate(ck["config"])
    except ValidationError as exc:
        raise InputError(f"the checkpoint's config no longer validates: {exc}", path=path) from None
    kind = cfg.model.kind
    if kind not in EXPORTABLE:
        raise InputError(f"model kind {kind!r} cannot be exported to ONNX; exportable: {', '.join(EXPORTABLE)}",
                         path=path)
    scorer = build_scorer(cfg.model, int(ck["parts"]))
    scorer.load_state_dict(ck["model_state"])
    scorer.eval()
    return scorer, ck


# --------------------------------------------------------------------------- export adapters

class RowsExport(nn.Module):
    """x (B, F) -> logits (B, P): logistic and hawkes (`forward` already is the graph)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer(x)


class SequenceExport(nn.Module):
    """x (B, L, P), wd (B, L) -> logits (B, L, P): transformer, window-mode GRU/LSTM (zero
    initial state); drops the scorer's second output (None / the final state)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        if self.scorer.regime == "windows" and hasattr(self.scorer, "init_state") and hasattr(self.scorer, "rnn"):
            # An explicit zero state: with state=None torch.export specialises the time dim.
            h0 = x.new_zeros(self.scorer.layers, x.shape[0], self.scorer.hidden)
            return self.scorer(x, wd, (h0, torch.zeros_like(h0)) if self.scorer.kind == "lstm" else h0)[0]
        return self.scorer(x, wd)[0]


class GRUStepExport(nn.Module):
    """x (B, L, P), wd (B, L), h0 (layers, B, H) -> (logits (B, L, P), h1)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor, wd: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, h1 = self.scorer(x, wd, h0)
        return logits, h1


class LSTMStepExport(nn.Module):
    """x, wd, h0, c0 -> (logits, h1, c1); the LSTM's (h, c) tuple as two flat tensors."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor, wd: torch.Tensor, h0: torch.Tensor,
                c0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, (h1, c1) = self.scorer(x, wd, (h0, c0))
        return logits, h1, c1


class TransformerStepExport(nn.Module):
    """One new day of the causal Transformer with a KV cache (the daily serving step).

    Inputs: x_new (1, 1, P) float32, wd_new (1, 1) int64, pos (1,) int64 = the new day's
    index within its window (= n, the cached positions), k_cache and v_cache
    (layers, 1, heads, n, head_dim) float32, n >= 0 (keys after RoPE). Outputs: logits
    (1, P) of the new day, k_new and v_new (layers, 1, heads, 1, head_dim) to append to the
    caches. Uses the scorer's own submodules and weights; with the caches of x[s..t-1]
    computed in the window starting at s, the logits equal the last output of
    ``scorer(x[s..t], wd[s..t])``, i.e. ``scorer.score(inputs, t, t + 1)`` when
    ``s = scorer.window_start(t)`` (see `transformer_cache`). RoPE rotates q and k at
    ``pos``; ALiBi adds -slope * (pos - j) for the cached key j (and 0 for the new one)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        if not _is_transformer(scorer):
            raise InputError(f"TransformerStepExport needs a TransformerScorer, got {type(scorer).__name__}")
        self.scorer = scorer

    def forward(self, x_new: torch.Tensor, wd_new: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor,
                v_cache: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch.nn.functional as F

        from core.models.transformer import _rotate_half

        s = self.scorer
        H, D = s.heads, s.d_model
        hd = D // H
        h = s.inp(x_new)  # (1, 1, D)
        if s.weekday is not None:
            h = h + s.weekday(wd_new).to(h.dtype)
        rope = alibi = None
        if s.positions == "rope":
            ang = pos.to(torch.float32)[:, None] * s.inv_freq[None, :]  # (1, hd/2)
            ang = torch.cat([ang, ang], dim=-1)
            rope = ang.cos(), ang.sin()  # (1, hd): broadcast over (1, H, 1, hd)
        else:
            # keys at window positions 0..n (the new one last): distance pos - j
            j = torch.arange(k_cache.shape[3] + 1, device=x_new.device)
            dist = (pos[:, None] - j[None, :]).to(h.dtype)  # (1, n + 1)
            alibi = (-s.slopes.to(h.dtype)[:, None] * dist)[None, :, None, :]  # (1, H, 1, n + 1)
        ks, vs = [], []
        for i, blk in enumerate(s.blocks):
            q, k, v = blk.qkv(blk.ln1(h)).view(1, 1, 3, H, hd).permute(2, 0, 3, 1, 4)  # (1, H, 1, hd)
            if rope is not None:
                cos, sin = rope
                q = q * cos + _rotate_half(q) * sin
                k = k * cos + _rotate_half(k) * sin
            ks.append(k)
            vs.append(v)
            K = torch.cat([k_cache[i], k], dim=2)
            V = torch.cat([v_cache[i], v], dim=2)
            # the new (last) position attends to every cached one: no causal mask needed
            a = F.scaled_dot_product_attention(q, K, V, attn_mask=alibi)
            h = h + blk.proj(a.transpose(1, 2).reshape(1, 1, D))
            h = h + blk.mlp(blk.ln2(h))
        logits = s.out(s.ln_f(h)).reshape(1, s.parts)
        return logits, torch.stack(ks), torch.stack(vs)


def transformer_cache(scorer: nn.Module, x: torch.Tensor, wd: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(k_cache, v_cache), each (layers, 1, heads, n, head_dim) float32, of the window
    x (n, P), wd (n,) — the keys (after RoPE) and values the scorer's own forward computes
    over that window (PyTorch "prefill", read off its qkv projections). Feed them to
    `TransformerStepExport` / model_step.onnx to score the day after the window. For day t
    of `score`, the window is x[window_start(t)..t-1] (empty at t = 0); a new window starts
    at the first day of each block (`window_start` changes), so a server rebuilds the cache
    there and appends k_new / v_new on the other days."""
    layers, H = len(scorer.blocks), scorer.heads
    hd = scorer.d_model // H
    n = int(x.shape[0])
    if n == 0:
        z = np.zeros((layers, 1, H, 0, hd), np.float32)
        return z, z.copy()
    captured: list[torch.Tensor] = []
    hooks = [blk.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out.detach()))
             for blk in scorer.blocks]
    try:
        with torch.no_grad():
            scorer(x[None], wd[None])
    finally:
        for hk in hooks:
            hk.remove()
    ks, vs = [], []
    if scorer.positions == "rope":
        cos, sin = scorer._rope(n, x.device)
    from core.models.transformer import _rotate_half

    for out in captured:
        _, k, v = out.view(1, n, 3, H, hd).permute(2, 0, 3, 1, 4)  # (1, H, n, hd)
        if scorer.positions == "rope":
            k = k * cos.to(k.dtype) + _rotate_half(k) * sin.to(k.dtype)
        ks.append(k)
        vs.append(v)
    return _np(torch.stack(ks).float()), _np(torch.stack(vs).float())


def transformer_step_inputs(scorer: nn.Module, inputs, t: int) -> dict[str, np.ndarray]:
    """The model_step.onnx feed that scores day t exactly as ``scorer.score(inputs, t, t + 1)``:
    the caches of x[window_start(t)..t-1] (`transformer_cache`) and day t's x, wd, pos."""
    s = scorer.window_start(t)
    k, v = transformer_cache(scorer, inputs.x[s:t], inputs.wd[s:t])
    return {"x_new": _np(inputs.x[t:t + 1][None]), "wd_new": _np(inputs.wd[t:t + 1][None]),
            "pos": np.array([t - s], np.int64), "k_cache": k, "v_cache": v}


def _step_example(scorer: nn.Module, n: int) -> tuple:
    layers, H = len(scorer.blocks), scorer.heads
    hd = scorer.d_model // H
    kv = torch.zeros(layers, 1, H, n, hd)
    return (torch.zeros(1, 1, scorer.parts), torch.zeros(1, 1, dtype=torch.int64),
            torch.tensor([n], dtype=torch.int64), kv, kv.clone())


STEP_INPUTS = ["x_new", "wd_new", "pos", "k_cache", "v_cache"]
STEP_OUTPUTS = ["logits", "k_new", "v_new"]


def step_onnx_bytes(scorer: nn.Module, ck: dict) -> tuple[bytes, dict]:
    """Export `TransformerStepExport(scorer)` (dynamo, opset 18, n dynamic) and return
    (serialised ModelProto, info)."""
    import onnx
    from torch.export import Dim

    if not _is_transformer(scorer):
        raise InputError(f"a KV-cached step graph exists for the transformer only, not {type(scorer).__name__}")
    module = TransformerStepExport(scorer).eval()
    n_dim = Dim("n", min=0, max=max(2, scorer.context - 1))
    ds = {"x_new": None, "wd_new": None, "pos": None, "k_cache": {3: n_dim}, "v_cache": {3: n_dim}}
    caught: list[str] = []
    t0 = time.perf_counter()
    try:
        with _quiet_exporter(caught), torch.no_grad():
            program = torch.onnx.export(module, _step_example(scorer, 5), None, dynamo=True, opset_version=OPSET,
                                        dynamic_shapes=ds, input_names=STEP_INPUTS, output_names=STEP_OUTPUTS,
                                        verbose=False, optimize=True)
    except Exception as exc:
        raise RuntimeError(f"the ONNX export of the transformer's KV-cached step failed: {exc}") from exc
    model = program.model_proto
    _check_dynamic(model, {"k_cache": {3: n_dim}, "v_cache": {3: n_dim}}, ["k_cache", "v_cache"])
    layers, H = len(scorer.blocks), scorer.heads
    hd = scorer.d_model // H
    for out in model.graph.output:
        _set_shape(out, [1, scorer.parts] if out.name == "logits" else [layers, 1, H, 1, hd])
    del model.graph.value_info[:]
    _metadata(model, scorer, ck, "transformer-step", 5)
    entry = model.metadata_props.add()
    entry.key, entry.value = "synapse.step", (
        f"one day: x_new (1, 1, P), wd_new (1, 1), pos (1,) = index of the day in its window = n; "
        f"k_cache/v_cache ({layers}, 1, {H}, n, {hd}) of the window's earlier days -> logits (1, P), "
        f"k_new/v_new ({layers}, 1, {H}, 1, {hd}) to append; rebuild the caches when window_start changes")
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    return data, {"inputs": STEP_INPUTS, "outputs": STEP_OUTPUTS, "warnings": caught,
                  "seconds": time.perf_counter() - t0}


def step_parity_days(scorer: nn.Module, t1: int) -> list[int]:
    """Days checked for the step graph: day 0 (empty cache), the last day before the first
    block, the first and last day of the first block and of the block holding t1 - 1, and t1 - 1."""
    C, S = scorer.context, scorer.stride
    last = t1 - 1
    days = {0, C - 1, C, C + S - 1, last}
    if last >= C:
        first = C + ((last - C) // S) * S
        days |= {first, first + 1}
    return sorted(d for d in days if 0 <= d <= last)


def check_step_parity(sess, scorer: nn.Module, inputs, days: list[int]) -> dict:
    """Max |ORT step - scorer.score(inputs, t, t + 1)| over `days`."""
    diffs = []
    for t in days:
        got = sess.run(["logits"], transformer_step_inputs(scorer, inputs, t))[0]
        ref = _np(scorer.score(inputs, t, t + 1))
        diffs.append(float(np.abs(got - ref).max()))
    return {"max_abs_diff": max(diffs), "days": days, "per_day": diffs,
            "method": "model_step.onnx with the cache of x[window_start(t)..t-1] (PyTorch prefill) "
                      "vs Scorer.score(inputs, t, t + 1)"}


def step_call(sess, scorer: nn.Module, inputs, t1: int, cached: int | None = None):
    """(onnxruntime step callable, torch step callable, description): day t1 - 1 with a cache
    of ``cached`` positions (default min(context, 512) - 1, the longest a day reads)."""
    n = min(scorer.context, MAX_LATENCY_CONTEXT) - 1 if cached is None else int(cached)
    n = max(0, min(n, t1 - 1))
    t = t1 - 1
    k, v = transformer_cache(scorer, inputs.x[t - n:t], inputs.wd[t - n:t])
    feed = {"x_new": _np(inputs.x[t:t1][None]), "wd_new": _np(inputs.wd[t:t1][None]),
            "pos": np.array([n], np.int64), "k_cache": k, "v_cache": v}
    module = TransformerStepExport(scorer).eval()
    targs = tuple(torch.from_numpy(feed[name]) for name in STEP_INPUTS)
    what = (f"one day x (1, 1, {scorer.parts}) + KV cache of {n} days ({len(scorer.blocks)}, 1, {scorer.heads}, "
            f"{n}, {scorer.d_model // scorer.heads}) x 2")
    return (lambda: sess.run(None, feed)), (lambda: module(*targs)), what


def _layout(scorer: nn.Module) -> str:
    """rows | stateful-gru | stateful-lstm | windows."""
    if scorer.regime == "rows":
        return "rows"
    if scorer.regime == "stateful":
        return f"stateful-{scorer.kind}"
    return "windows"


def _adapter(scorer: nn.Module, export_length: int) -> tuple[nn.Module, tuple, dict, list[str], list[str]]:
    """(module, example args, dynamic_shapes, input names, output names)."""
    from torch.export import Dim

    layout = _layout(scorer)
    P = scorer.parts
    batch = Dim("batch")
    if layout == "rows":
        F = _row_features(scorer)
        args = (torch.zeros(export_length, F),)
        return RowsExport(scorer), args, {"x": {0: batch}}, ["x"], ["logits"]
    B = 2  # sizes 0 and 1 would be specialised by torch.export
    x = torch.zeros(B, export_length, P)
    wd = torch.zeros(B, export_length, dtype=torch.int64)
    if layout == "windows":
        # The transformer reads at most `context` days (its graph takes any length, but
        # positions beyond the trained window are out of distribution); an RNN any.
        max_time = scorer.context if _is_transformer(scorer) else None
        time_dim = Dim("time", min=1, max=max_time) if max_time else Dim("time", min=1)
        return (SequenceExport(scorer), (x, wd), {"x": {0: batch, 1: time_dim}, "wd": {0: batch, 1: time_dim}},
                ["x", "wd"], ["logits"])
    time_dim = Dim("time", min=1)
    h0 = torch.zeros(scorer.layers, B, scorer.hidden)
    ds = {"x": {0: batch, 1: time_dim}, "wd": {0: batch, 1: time_dim}, "h0": {1: batch}}
    if layout == "stateful-gru":
        return GRUStepExport(scorer), (x, wd, h0), ds, ["x", "wd", "h0"], ["logits", "h1"]
    ds["c0"] = {1: batch}
    return (LSTMStepExport(scorer), (x, wd, h0, torch.zeros_like(h0)), ds, ["x", "wd", "h0", "c0"],
            ["logits", "h1", "c1"])


def _is_transformer(scorer: nn.Module) -> bool:
    from core.models.transformer import TransformerScorer

    return isinstance(scorer, TransformerScorer)


def _row_features(scorer: nn.Module) -> int:
    """F, the width of a rows scorer's `prepare` features."""
    if hasattr(scorer, "n_features"):  # logistic
        return int(scorer.n_features)
    if hasattr(scorer, "decays"):  # hawkes: P traces per decay
        return int(scorer.parts * len(scorer.decays))
    raise InputError(f"{type(scorer).__name__}: unknown feature width; exportable: {', '.join(EXPORTABLE)}")


def effective_export_length(scorer: nn.Module, export_length: int) -> int:
    """The trace length actually used: >= 2 (torch.export specialises sizes 0 and 1) and,
    for the transformer, at most its context."""
    n = max(2, int(export_length))
    if _is_transformer(scorer):
        n = min(n, scorer.context)
    return n


# --------------------------------------------------------------------------- the ONNX graph

@contextlib.contextmanager
def _quiet_exporter(caught: list[str]):
    """Collect the exporter's warnings and console chatter instead of printing them."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._export", "onnxscript")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    out = io.StringIO()
    try:
        with warnings.catch_warnings(record=True) as recorded, contextlib.redirect_stdout(out):
            warnings.simplefilter("always")
            yield
        for w in recorded:
            text = f"{w.category.__name__}: {' '.join(str(w.message).split())}"[:300]
            if text not in caught:
                caught.append(text)
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _set_shape(value, dims: list[str | int]) -> None:
    shape = value.type.tensor_type.shape
    shape.ClearField("dim")
    for d in dims:
        dim = shape.dim.add()
        if isinstance(d, str):
            dim.dim_param = d
        else:
            dim.dim_value = int(d)


def _fix_shapes(model, scorer: nn.Module, layout: str) -> None:
    """State the outputs' dynamic dims (the dynamo exporter can bake the trace length into
    them, e.g. logits (batch, 64, P)) and drop intermediate shape annotations, which can
    carry the same baked sizes; onnxruntime infers those again."""
    x = next(i for i in model.graph.input if i.name == "x")
    xdims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    batch = xdims[0] or "batch"
    P = scorer.parts
    for out in model.graph.output:
        if out.name == "logits":
            _set_shape(out, [batch, P] if layout == "rows" else [batch, xdims[1] or "time", P])
        else:  # h1 / c1
            _set_shape(out, [scorer.layers, batch, scorer.hidden])
    del model.graph.value_info[:]


def _metadata(model, scorer: nn.Module, ck: dict, layout: str, export_length: int) -> None:
    props = {
        "synapse.kind": str(ck["config"]["model"]["kind"]), "synapse.layout": layout,
        "synapse.head": scorer.head, "synapse.parts": str(scorer.parts), "synapse.events": str(ck.get("events", "")),
        "synapse.export_length": str(export_length),
        "synapse.outputs": "raw logits: apply the head (sigmoid / min(1, events*softmax)) and the run's calibrator",
    }
    if layout != "rows":
        props["synapse.inputs"] = "x[t] = Y[t-1] multi-hot (float32), wd[t] = weekday of day t (0 = Monday, int64)"
    if layout == "windows":
        props["synapse.context"] = str(scorer.context)
    if layout.startswith("stateful"):
        props["synapse.state"] = f"(layers={scorer.layers}, batch, hidden={scorer.hidden}); zeros at day 0"
    for k, v in props.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v


def _clear_rnn_dispatch_cache() -> None:
    """Forget which kernel aten.gru / aten.lstm dispatched to last time.

    For a dynamic time dim the ONNX exporter swaps in while-loop decompositions of the RNN
    ops by assigning ``op.py_kernels`` directly (torch.export._patches), which skips
    clearing the op's dispatch cache. A cache entry left by an earlier export or forward in
    the same process then sends the trace to the unrolled decomposition, which fixes the
    time dim, and the exporter silently "refines" the dynamic shape to the trace length
    (seen on torch 2.13: a second GRU export in one process came out with time = 64)."""
    for name in ("gru", "lstm", "rnn_tanh", "rnn_relu"):
        packet = getattr(torch.ops.aten, name, None)
        for overload in ("input", "data"):
            op = getattr(packet, overload, None) if packet is not None else None
            cache = getattr(op, "_dispatch_cache", None)
            if isinstance(cache, dict):
                cache.clear()


def _check_dynamic(model, dynamic_shapes: dict, names: list[str]) -> None:
    """Every dim asked to be dynamic must be symbolic in the graph's inputs."""
    by_name = {i.name: i for i in model.graph.input}
    for name in names:  # the adapters' argument names are the graph's input names
        dims = by_name[name].type.tensor_type.shape.dim
        for axis in dynamic_shapes.get(name, {}):
            if not dims[axis].dim_param:
                raise RuntimeError(
                    f"the exporter fixed dim {axis} of input {name!r} to {dims[axis].dim_value} instead of keeping "
                    "it dynamic (torch.onnx falls back to static shapes when its dynamic trace fails)")


def onnx_bytes(scorer: nn.Module, ck: dict, export_length: int = 64) -> tuple[bytes, dict]:
    """Export `scorer` (eval mode) and return (serialised ModelProto, info: layout, names,
    effective export length, exporter warnings, seconds)."""
    layout = _layout(scorer)
    n = effective_export_length(scorer, export_length)
    module, args, dynamic_shapes, in_names, out_names = _adapter(scorer, n)
    module.eval()
    caught: list[str] = []
    t0 = time.perf_counter()
    _clear_rnn_dispatch_cache()
    try:
        with _quiet_exporter(caught), torch.no_grad():
            program = torch.onnx.export(module, args, None, dynamo=True, opset_version=OPSET,
                                        dynamic_shapes=dynamic_shapes, input_names=in_names,
                                        output_names=out_names, verbose=False, optimize=True)
    except Exception as exc:
        raise RuntimeError(f"the ONNX export of {type(scorer).__name__} ({layout}) failed: {exc}") from exc
    finally:
        _clear_rnn_dispatch_cache()  # leave no while-loop kernel cached for later traces
    model = program.model_proto
    _check_dynamic(model, dynamic_shapes, in_names)
    _fix_shapes(model, scorer, layout)
    _metadata(model, scorer, ck, layout, n)
    import onnx

    onnx.checker.check_model(model)
    data = model.SerializeToString()
    info = {"layout": layout, "inputs": in_names, "outputs": out_names, "export_length": n,
            "warnings": caught, "seconds": time.perf_counter() - t0}
    return data, info


# --------------------------------------------------------------------------- data for the checks

_ROOT = Path(__file__).resolve().parents[1]


def _load_inputs(run: RunDir, scorer: nn.Module, cfg, data: str | Path | None):
    """(inputs of the whole sequence, test window (start, stop), data info)."""
    from core.data import load_dataset
    from core.data.splits import splits_from_config

    raw = data if data is not None else cfg.data.path
    if raw is None:
        raise InputError("the run's config names no data file; pass data=FILE for the parity check")
    path = Path(raw)
    if not path.exists() and not path.is_absolute() and (_ROOT / path).exists():
        path = _ROOT / path  # a run trained from the project root, exported from elsewhere
    if not path.exists():
        raise InputError("data file not found (needed for the parity check; pass data=FILE)", path=path)
    ds = load_dataset(path, parts=cfg.data.parts, events_per_day=cfg.data.events_per_day,
                      allow_unsorted=cfg.data.allow_unsorted)
    man = run.read_json("manifest.json", default=None)
    same = None
    if man and man.get("splits"):
        test = man["splits"][-1]["test"]
        window = (int(test["start"]), int(test["stop"]))
        same = man.get("data", {}).get("sha256") == ds.sha256
    else:
        window = splits_from_config(cfg.split, ds.T, ds.dates)[-1].test
    if window[1] > ds.T:
        raise InputError(f"the run's test window ends at row {window[1]} but the data has {ds.T} rows", path=path)
    inputs = scorer.prepare(ds.Y, ds.dates)
    return inputs, window, {"path": str(path), "sha256": ds.sha256, "same_as_run": same}


def _session(path: Path | bytes, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only
    return ort.InferenceSession(path if isinstance(path, bytes) else str(path), so,
                                providers=["CPUExecutionProvider"])


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())


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
        return {"max_abs_diff": float(np.abs(got - _np(ref)).max()), "days": [a, t1],
                "method": f"the last {length} test rows in one call (batch {length})"}
    if layout == "windows":
        a = t1 - length
        with torch.no_grad():
            ref, _ = scorer(inputs.x[a:t1][None], inputs.wd[a:t1][None])
        got = sess.run(["logits"], {"x": _np(inputs.x[a:t1][None]), "wd": _np(inputs.wd[a:t1][None])})[0]
        return {"max_abs_diff": float(np.abs(got - _np(ref)).max()), "days": [a, t1],
                "method": f"one window of {length} days ending at the last test day, every position"}
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
            out.append(logits[0, max(t0 - s, 0):])
    got = np.concatenate(out, axis=0)
    ref = _np(scorer.score(inputs, t0, t1))
    return {"max_abs_diff": float(np.abs(got - ref).max()), "days": [t0, t1], "state": state,
            "method": f"onnxruntime alone from day 0 (zero state) through the test window in blocks of "
                      f"{length} days carrying the state, vs Scorer.score on the test window"}


# --------------------------------------------------------------------------- latency

def _percentiles(times: list[float]) -> dict:
    ms = np.asarray(times) * 1e3
    return {"p50": float(np.percentile(ms, 50)), "p99": float(np.percentile(ms, 99)),
            "mean": float(ms.mean()), "calls": len(times)}


def single_day_call(sess, scorer: nn.Module, inputs, t1: int, state: list | None = None):
    """(callable scoring day t1 - 1 once with onnxruntime, torch callable doing the same,
    description) — the DESIGN.md 11 single-day call with a bounded context."""
    layout = _layout(scorer)
    if layout == "rows":
        x = inputs.x[t1 - 1:t1]
        feed = {"x": _np(x)}
        return (lambda: sess.run(None, feed)), (lambda: scorer(x)), f"one feature row x (1, {x.shape[1]})"
    if layout == "windows":
        L = min(scorer.context, MAX_LATENCY_CONTEXT, t1)
        x, wd = inputs.x[t1 - L:t1][None], inputs.wd[t1 - L:t1][None]
        feed = {"x": _np(x), "wd": _np(wd)}
        return (lambda: sess.run(None, feed)), (lambda: scorer(x, wd)), f"the last {L} days, x (1, {L}, {scorer.parts})"
    names = [i.name for i in sess.get_inputs()][2:]
    if state is None:
        state = [np.zeros((scorer.layers, 1, scorer.hidden), np.float32) for _ in names]
    x, wd = inputs.x[t1 - 1:t1][None], inputs.wd[t1 - 1:t1][None]
    feed = {"x": _np(x), "wd": _np(wd), **dict(zip(names, state))}

    def ort_step():
        out = sess.run(None, feed)
        feed.update(zip(names, out[1:]))  # carry the state to the next day
        return out[0]

    tstate = [torch.from_numpy(s.copy()) for s in state]
    tstate = tstate[0] if len(tstate) == 1 else tuple(tstate)

    def torch_step():
        return scorer(x, wd, tstate)

    return ort_step, torch_step, f"one day x (1, 1, {scorer.parts}) + state ({scorer.layers}, 1, {scorer.hidden})"


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

def export_onnx(run_dir: RunDir | str | Path, out: str | Path | None = None, *, export_length: int = 64,
                parity_length: int | None = None, data: str | Path | None = None,
                latency_calls: int = LATENCY_CALLS, threads: int = 1) -> dict:
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
    inputs, test, data_info = _load_inputs(run, scorer, cfg, data)
    length = int(parity_length or default_parity_length(scorer, n, test))
    if length == n:
        raise InputError(f"parity_length must differ from the export length ({n}): the export can bake "
                         "the traced length into shapes, so parity there proves little")
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
        step_recorded = (step_path.name if step_path.resolve().parent == run.path.resolve()
                         else str(step_path.resolve()))
        with run.event_writer() as ev:
            ev.artifact(step_recorded, opset=OPSET, bytes=len(step_bytes))

    sess = _session(path, threads)
    parity = check_parity(sess, scorer, inputs, test, length)
    state = parity.pop("state", None)
    ort_call, torch_call, what = single_day_call(sess, scorer, inputs, test[1], state)
    latency, torch_latency = _time_pair(ort_call, torch_call, latency_calls, threads)
    latency.update(intra_op_threads=threads, input=what)
    step_report: dict = {}
    if step_path is not None:
        step_sess = _session(step_path, threads)
        step_parity = check_step_parity(step_sess, scorer, inputs, step_parity_days(scorer, test[1]))
        s_call, s_torch, s_what = step_call(step_sess, scorer, inputs, test[1])
        s_lat, s_torch_lat = _time_pair(s_call, s_torch, latency_calls, threads)
        s_lat.update(intra_op_threads=threads, input=s_what)
        # DESIGN.md 11's single-day call is now the cached step; the full window is kept for reference
        step_report = {"latency_full_window_ms": latency, "torch_latency_full_window_ms": torch_latency,
                       "step_path": str(step_path), "step_parity": step_parity,
                       "step_max_abs_diff": step_parity["max_abs_diff"],
                       "step_parity_ok": bool(step_parity["max_abs_diff"] <= TOLERANCE),
                       "step_inputs": step_info["inputs"], "step_outputs": step_info["outputs"],
                       "step_bytes": len(step_bytes), "step_sha256": hashlib.sha256(step_bytes).hexdigest(),
                       "step_export_seconds": round(step_info["seconds"], 3)}
        latency, torch_latency = s_lat, s_torch_lat
        info["warnings"] = info["warnings"] + [w for w in step_info["warnings"] if w not in info["warnings"]]

    import onnxruntime

    diff = parity["max_abs_diff"]
    report = {
        "path": str(path), "kind": kind, "layout": info["layout"], "export_length": n,
        "parity_length": length, "max_abs_diff": diff, "parity_ok": bool(diff <= TOLERANCE),
        "tolerance": TOLERANCE, "parity": parity, "latency_ms": latency, "torch_latency_ms": torch_latency,
        "latency_budget_ms": {"p99": LATENCY_BUDGET_MS}, "latency_ok": bool(latency["p99"] <= LATENCY_BUDGET_MS),
        "opset": OPSET, "inputs": info["inputs"], "outputs": info["outputs"],
        "bytes": len(data_bytes), "sha256": hashlib.sha256(data_bytes).hexdigest(),
        "export_seconds": round(info["seconds"], 3), "data": data_info,
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
            ev.log("warning", f"ONNX step parity failed: max |diff| {step_report['step_max_abs_diff']:.3g} > "
                              f"{TOLERANCE:g} ({step_report['step_parity']['method']})")
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
    sess = _session(run.model_onnx)
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
        logits, *state = sess.run(None, {"x": _np(inputs.x[s:e][None]), "wd": _np(inputs.wd[s:e][None]),
                                         **dict(zip(names, state))})
    return logits[0, -1]
