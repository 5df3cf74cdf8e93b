"""The dynamo ONNX export of a scorer (`onnx_bytes`) and the fix-ups of its graph: quieted
exporter, stated output shapes, metadata, the RNN dispatch-cache workaround, and the check
that dynamic dims stayed dynamic."""

from __future__ import annotations

import contextlib
import io
import logging
import time
import warnings

import torch
from torch import nn

from core.export.adapters import _adapter, _layout, effective_export_length
from core.export.load import OPSET


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
        "synapse.kind": str(ck["config"]["model"]["kind"]),
        "synapse.layout": layout,
        "synapse.head": scorer.head,
        "synapse.parts": str(scorer.parts),
        "synapse.events": str(ck.get("events", "")),
        "synapse.export_length": str(export_length),
        "synapse.outputs": "raw logits: apply the head (sigmoid / min(1, events*softmax) / kofp inclusion probabilities) and the run's calibrator",
    }
    if layout != "rows":
        props["synapse.inputs"] = "x[t] = Y[t-1] multi-hot (float32), wd[t] = weekday of day t (0 = Monday, int64)"
        if scorer.input_width != scorer.parts:
            props["synapse.inputs"] += (
                f"; x[t] continues with each part's own causal features (skip path, "
                f"{scorer.input_width} columns in all; see core/models/skip.py)"
            )
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
                    "it dynamic (torch.onnx falls back to static shapes when its dynamic trace fails)"
                )


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
            program = torch.onnx.export(
                module,
                args,
                None,
                dynamo=True,
                opset_version=OPSET,
                dynamic_shapes=dynamic_shapes,
                input_names=in_names,
                output_names=out_names,
                verbose=False,
                optimize=True,
            )
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
    info = {
        "layout": layout,
        "inputs": in_names,
        "outputs": out_names,
        "export_length": n,
        "warnings": caught,
        "seconds": time.perf_counter() - t0,
    }
    return data, info
