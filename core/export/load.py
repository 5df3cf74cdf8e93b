"""Constants, loading a run's scorer and its data for the checks, and small helpers
(onnxruntime sessions, tensors to numpy) shared by the other `core.export` modules."""

from __future__ import annotations

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
MAX_LATENCY_CONTEXT = 512  # budget: single-day scoring reads at most 512 days
LATENCY_BUDGET_MS = 2.0  # budget: p99 of one single-day call


# --------------------------------------------------------------------------- loading


def _run(run_dir: RunDir | str | Path) -> RunDir:
    return run_dir if isinstance(run_dir, RunDir) else RunDir(Path(run_dir))


def load_scorer(run_dir: RunDir | str | Path) -> tuple[nn.Module, dict]:
    """(scorer in eval mode on CPU, checkpoint dict) from a run's `model_checkpoint.pt`.

    The checkpoint is read with ``weights_only=True`` and ``map_location="cpu"``, so one
    written on CUDA loads here too; a damaged or crafted one is refused with a message
    (`core.models.checkpoint`), and weights of other names or shapes than the model's are
    refused naming the tensor. The scorer is rebuilt from the checkpoint's resolved
    config (not the run's config.yaml, which a user may have edited)."""
    from pydantic import ValidationError

    from core.config import Config
    from core.config.fields import PARTS_MAX
    from core.models import build_scorer
    from core.models.checkpoint import check_state, read_checkpoint

    run = _run(run_dir)
    path = run.model_checkpoint
    if not path.is_file():
        raise InputError("no model_checkpoint.pt: only a finished `synapse train` run can be exported", path=path)
    ck = read_checkpoint(path)
    if not isinstance(ck, dict):
        raise InputError(f"not a Synapse checkpoint (it holds a {type(ck).__name__}, not a mapping)", path=path)
    missing = [k for k in ("model_state", "config", "parts") if k not in ck]
    if missing:
        raise InputError(f"checkpoint lacks {', '.join(missing)}", path=path)
    try:
        cfg = Config.model_validate(ck["config"])
    except ValidationError as exc:
        raise InputError(f"the checkpoint's config no longer validates: {exc}", path=path) from None
    kind = cfg.model.kind
    if kind not in EXPORTABLE:
        raise InputError(
            f"model kind {kind!r} cannot be exported to ONNX; exportable: {', '.join(EXPORTABLE)}", path=path
        )
    parts = ck["parts"]
    if isinstance(parts, bool) or not isinstance(parts, int) or not 2 <= parts <= PARTS_MAX:
        raise InputError(
            f"the checkpoint's parts {str(parts)[:40]!r} is not a number of parts (2..{PARTS_MAX})", path=path
        )
    scorer = build_scorer(cfg.model, parts)
    check_state(scorer, ck["model_state"], path)
    scorer.load_state_dict(ck["model_state"])
    scorer.eval()
    return scorer, ck


# --------------------------------------------------------------------------- data for the checks


def load_inputs(run: RunDir, scorer: nn.Module, cfg, data: str | Path | None):
    """(inputs of the whole sequence, test window (start, stop), data info)."""
    from core.data import load_for_config, UNSORTED_HINT_RUN, resolve_data_path, resolve_run_data
    from core.data.splits import splits_from_config

    raw = data if data is not None else cfg.data.path
    if raw is None:
        raise InputError("the run's config names no data file; pass data=FILE for the parity check")
    man = run.read_json("manifest.json", default=None)
    path = resolve_data_path(raw) if data is not None or not man else resolve_run_data(man, raw)
    if not path.exists():
        raise InputError("data file not found (needed for the parity check; pass data=FILE)", path=path)
    # The run's own data path is the run directory's word, not the user's: no content in errors.
    ds = load_for_config(
        path,
        cfg.data,
        echo=data is not None,
        unsorted_hint=UNSORTED_HINT_RUN,
    )
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


def ort_session(path: Path | bytes, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.log_severity_level = 3  # errors only
    return ort.InferenceSession(path if isinstance(path, bytes) else str(path), so, providers=["CPUExecutionProvider"])


def _np(t: torch.Tensor) -> np.ndarray:
    return np.ascontiguousarray(t.detach().cpu().numpy())
