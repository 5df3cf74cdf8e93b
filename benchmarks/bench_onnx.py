"""ONNX single-day scoring with a bounded context (budget p99 < 2 ms, docs/ARCHITECTURE.md "Budgets").

`case_onnx_gru_step` times one onnxruntime call of the GRU exported by core.export at
configs/gru.yaml's sizes: one day, x (1, 1, 39), with the recurrent state as an input
and the new state fed back for the next call. The reference is the PyTorch scorer doing
the same step (`scorer(x, wd, state)` under no_grad).

`case_onnx_transformer_context` times the Transformer of configs/transformer.yaml scoring
the last min(context, 512) = 512 days in one call (x (1, 512, 39)), against the same
forward in PyTorch.

`case_onnx_transformer_step` times the Transformer's KV-cached one-day step
(model_step.onnx, `core.export.TransformerStepExport`): x (1, 1, 39) with the keys/values
of the previous context - 1 = 255 days as inputs (the longest cache a day of `score` reads),
at configs/transformer.yaml's sizes; `case_onnx_transformer_step_512` the same at context
512. Their reference is the full-window onnxruntime call they replace (x (1, context, 39)).

Both run on one thread (onnxruntime intra-op threads = 1, torch threads = 1 inside the
reference) with weights at their seeded initial values: the cost of a call does not depend
on the values. Each call is one repeat, so "p95" in the table is the p95 of single calls;
core.export.export_onnx reports p50/p99 of a trained run's calls in onnx_report.json.

    python -m benchmarks.bench_onnx
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import Case, run_and_print

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "parts_daily.csv"
BUDGET_S = 0.002


@contextlib.contextmanager
def _torch_threads(n: int):
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _exported(config: str, export_length: int, overrides: tuple[str, ...] = ()):
    """(scorer in eval mode, onnxruntime session on 1 thread, inputs of the sample)."""
    import torch

    from core.config import load_config
    from core.data import load_dataset
    from core.export import ort_session, onnx_bytes
    from core.models import build_scorer

    cfg = load_config(ROOT / "configs" / config, overrides=list(overrides), data=str(SAMPLE))
    torch.manual_seed(cfg.seed)
    scorer = build_scorer(cfg.model, cfg.data.parts).eval()
    data, _ = onnx_bytes(scorer, {"config": cfg.model_dump(mode="json"), "events": 5}, export_length)
    path = Path(tempfile.mkdtemp(prefix="synapse-bench-onnx-")) / "model.onnx"
    path.write_bytes(data)
    ds = load_dataset(SAMPLE, parts=cfg.data.parts, events_per_day=cfg.data.events_per_day)
    return scorer, ort_session(path, threads=1), scorer.prepare(ds.Y, ds.dates)


def case_onnx_gru_step() -> Case:
    import torch

    scorer, sess, inputs = _exported("gru.yaml", 16)
    T = len(inputs)
    x, wd = inputs.x[T - 1 : T][None], inputs.wd[T - 1 : T][None]
    h = np.zeros((scorer.layers, 1, scorer.hidden), np.float32)
    feed = {"x": x.numpy(), "wd": wd.numpy(), "h0": h}

    def ort_step() -> None:
        _, feed["h0"] = sess.run(None, feed)  # the state carries to the next day

    state = {"h": torch.from_numpy(h.copy())}

    def torch_step() -> None:
        with _torch_threads(1), torch.no_grad():
            _, state["h"] = scorer(x, wd, state["h"])

    return Case(
        f"onnx gru single day (1, 1, {scorer.input_width}) + state (1, 1, {scorer.hidden})",
        ort_step,
        budget_s=BUDGET_S,
        reference=torch_step,
        reference_name="PyTorch scorer, same step",
        repeat=300,
        note="onnxruntime 1 intra-op thread; torch 1 thread",
    )


def case_onnx_transformer_context() -> Case:
    import torch

    scorer, sess, inputs = _exported("transformer.yaml", 64)
    T = len(inputs)
    L = min(scorer.context, 512)
    x, wd = inputs.x[T - L : T][None], inputs.wd[T - L : T][None]
    feed = {"x": x.numpy(), "wd": wd.numpy()}

    def torch_call() -> None:
        with _torch_threads(1), torch.no_grad():
            scorer(x, wd)

    return Case(
        f"onnx transformer last {L} days (1, {L}, {scorer.input_width})",
        lambda: sess.run(None, feed),
        budget_s=BUDGET_S,
        reference=torch_call,
        reference_name="PyTorch scorer, same window",
        repeat=50,
        note="onnxruntime 1 intra-op thread; torch 1 thread",
    )


def case_onnx_transformer_step(context: int | None = None) -> Case:
    from core.export import ort_session, step_call, step_onnx_bytes

    overrides = (f"model.context={context}",) if context else ()
    scorer, full_sess, inputs = _exported("transformer.yaml", 64, overrides)
    data, _ = step_onnx_bytes(scorer, {"config": {"model": {"kind": "transformer"}}, "events": 5})
    sess = ort_session(data, threads=1)
    T = len(inputs)
    ort_step, _, what = step_call(sess, scorer, inputs, T)  # cache of min(context, 512) - 1 days
    L = min(scorer.context, 512, T)
    full = {"x": inputs.x[T - L : T][None].numpy(), "wd": inputs.wd[T - L : T][None].numpy()}
    return Case(
        f"onnx transformer KV-cached step, context {scorer.context}: {what}",
        ort_step,
        budget_s=BUDGET_S,
        reference=lambda: full_sess.run(None, full),
        reference_name=f"onnxruntime full window (1, {L}, {scorer.input_width})",
        repeat=300,
        note="onnxruntime 1 intra-op thread; exact (== Scorer.score, tests/test_export.py)",
    )


def case_onnx_transformer_step_512() -> Case:
    return case_onnx_transformer_step(512)


CASES = {
    "onnx_gru_step": case_onnx_gru_step,
    "onnx_transformer_context": case_onnx_transformer_context,
    "onnx_transformer_step": case_onnx_transformer_step,
    "onnx_transformer_step_512": case_onnx_transformer_step_512,
}


def main() -> int:
    return run_and_print(CASES)


if __name__ == "__main__":
    sys.exit(main())
