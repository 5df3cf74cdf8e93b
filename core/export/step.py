"""The transformer's KV-cached one-day step (`model_step.onnx`): the export module, the
PyTorch prefill of its caches, its export, parity check and timed call."""

from __future__ import annotations

import time

import numpy as np
import torch
from torch import nn

from core.errors import InputError
from core.export.adapters import _is_transformer
from core.export.load import MAX_LATENCY_CONTEXT, OPSET, _np
from core.export.onnx_graph import _check_dynamic, _metadata, _quiet_exporter, _set_shape


class TransformerStepExport(nn.Module):
    """One new day of the causal Transformer with a KV cache (the daily serving step).

    Inputs: x_new (1, 1, input_width) float32 (P, or G * P with a skip path), wd_new (1, 1) int64, pos (1,) int64 = the new day's
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

    def forward(
        self, x_new: torch.Tensor, wd_new: torch.Tensor, pos: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        import torch.nn.functional as F

        from core.models.transformer import rotate_half

        s = self.scorer
        H, D = s.heads, s.d_model
        hd = D // H
        h = s.inp(x_new[..., : s.parts])  # (1, 1, D)
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
                q = q * cos + rotate_half(q) * sin
                k = k * cos + rotate_half(k) * sin
            ks.append(k)
            vs.append(v)
            K = torch.cat([k_cache[i], k], dim=2)
            V = torch.cat([v_cache[i], v], dim=2)
            # the new (last) position attends to every cached one: no causal mask needed
            a = F.scaled_dot_product_attention(q, K, V, attn_mask=alibi)
            h = h + blk.proj(a.transpose(1, 2).reshape(1, 1, D))
            h = h + blk.mlp(blk.ln2(h))
        logits = s.out(s.ln_f(h))
        if s.skip is not None:
            logits = logits + s.skip(x_new, wd_new)
        logits = logits.reshape(1, s.parts)
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
    hooks = [blk.qkv.register_forward_hook(lambda _m, _i, out: captured.append(out.detach())) for blk in scorer.blocks]
    try:
        with torch.no_grad():
            scorer(x[None], wd[None])
    finally:
        for hk in hooks:
            hk.remove()
    ks, vs = [], []
    if scorer.positions == "rope":
        cos, sin = scorer._rope(n, x.device)
    from core.models.transformer import rotate_half

    for out in captured:
        _, k, v = out.view(1, n, 3, H, hd).permute(2, 0, 3, 1, 4)  # (1, H, n, hd)
        if scorer.positions == "rope":
            k = k * cos.to(k.dtype) + rotate_half(k) * sin.to(k.dtype)
        ks.append(k)
        vs.append(v)
    return _np(torch.stack(ks).float()), _np(torch.stack(vs).float())


def transformer_step_inputs(scorer: nn.Module, inputs, t: int) -> dict[str, np.ndarray]:
    """The model_step.onnx feed that scores day t exactly as ``scorer.score(inputs, t, t + 1)``:
    the caches of x[window_start(t)..t-1] (`transformer_cache`) and day t's x, wd, pos."""
    s = scorer.window_start(t)
    k, v = transformer_cache(scorer, inputs.x[s:t], inputs.wd[s:t])
    return {
        "x_new": _np(inputs.x[t : t + 1][None]),
        "wd_new": _np(inputs.wd[t : t + 1][None]),
        "pos": np.array([t - s], np.int64),
        "k_cache": k,
        "v_cache": v,
    }


def _step_example(scorer: nn.Module, n: int) -> tuple:
    layers, H = len(scorer.blocks), scorer.heads
    hd = scorer.d_model // H
    kv = torch.zeros(layers, 1, H, n, hd)
    return (
        torch.zeros(1, 1, scorer.input_width),
        torch.zeros(1, 1, dtype=torch.int64),
        torch.tensor([n], dtype=torch.int64),
        kv,
        kv.clone(),
    )


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
            program = torch.onnx.export(
                module,
                _step_example(scorer, 5),
                None,
                dynamo=True,
                opset_version=OPSET,
                dynamic_shapes=ds,
                input_names=STEP_INPUTS,
                output_names=STEP_OUTPUTS,
                verbose=False,
                optimize=True,
            )
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
    entry.key, entry.value = (
        "synapse.step",
        (
            f"one day: x_new (1, 1, P), wd_new (1, 1), pos (1,) = index of the day in its window = n; "
            f"k_cache/v_cache ({layers}, 1, {H}, n, {hd}) of the window's earlier days -> logits (1, P), "
            f"k_new/v_new ({layers}, 1, {H}, 1, {hd}) to append; rebuild the caches when window_start changes"
        ),
    )
    onnx.checker.check_model(model)
    data = model.SerializeToString()
    return data, {
        "inputs": STEP_INPUTS,
        "outputs": STEP_OUTPUTS,
        "warnings": caught,
        "seconds": time.perf_counter() - t0,
    }


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
    return {
        "max_abs_diff": max(diffs),
        "days": days,
        "per_day": diffs,
        "method": "model_step.onnx with the cache of x[window_start(t)..t-1] (PyTorch prefill) "
        "vs Scorer.score(inputs, t, t + 1)",
    }


def step_call(sess, scorer: nn.Module, inputs, t1: int, cached: int | None = None):
    """(onnxruntime step callable, torch step callable, description): day t1 - 1 with a cache
    of ``cached`` positions (default min(context, 512) - 1, the longest a day reads)."""
    n = min(scorer.context, MAX_LATENCY_CONTEXT) - 1 if cached is None else int(cached)
    n = max(0, min(n, t1 - 1))
    t = t1 - 1
    k, v = transformer_cache(scorer, inputs.x[t - n : t], inputs.wd[t - n : t])
    feed = {
        "x_new": _np(inputs.x[t:t1][None]),
        "wd_new": _np(inputs.wd[t:t1][None]),
        "pos": np.array([n], np.int64),
        "k_cache": k,
        "v_cache": v,
    }
    module = TransformerStepExport(scorer).eval()
    targs = tuple(torch.from_numpy(feed[name]) for name in STEP_INPUTS)
    what = (
        f"one day x (1, 1, {scorer.input_width}) + KV cache of {n} days ({len(scorer.blocks)}, 1, {scorer.heads}, "
        f"{n}, {scorer.d_model // scorer.heads}) x 2"
    )
    return (lambda: sess.run(None, feed)), (lambda: module(*targs)), what
