"""ONNX export (core/export/): dynamo export at opset 18, parity with PyTorch at a length
other than the traced one, single-day scoring that carries the recurrent state, the
artifact event and report, and checkpoints that load on CPU whatever device wrote them."""

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from cuda_tags import save_tagged_cuda
from helpers import ROOT

from core.config import load_config
from core.data import load_dataset
from core.errors import InputError
from core.export import (
    EXPORTABLE,
    ONNX_FILE,
    OPSET,
    REPORT_FILE,
    STEP_ONNX_FILE,
    TOLERANCE,
    TransformerStepExport,
    export_onnx,
    load_scorer,
    onnx_bytes,
    step_onnx_bytes,
    transformer_cache,
    transformer_step_inputs,
)
from core.runs import RunDir, read_events
from core.train.run import run_train

pytestmark = pytest.mark.slow  # tracing ONNX exports takes seconds each
EXPORT_LENGTH = 8  # short: tracing a GRU/LSTM takes time in proportion to the length
TINY = {
    "logistic": ["train.batch_size=64", "train.steps_per_epoch=3"],
    "gru": ["model.hidden=16", "model.chunks=4", "model.tbptt=32"],
    "lstm": ["model.hidden=16", "model.chunks=4", "model.tbptt=32"],
    "transformer": [
        "model.d_model=16",
        "model.heads=2",
        "model.layers=1",
        "model.context=48",
        "train.steps_per_epoch=2",
        "train.batch_size=4",
    ],
    "hawkes": [],  # rows, like logistic: maximum likelihood in one pass
}
SPLIT = ["split.test_days=120", "split.val_days=120", "split.min_train_days=100"]


@pytest.fixture(scope="module")
def planted(synthetic_csv) -> Path:
    return synthetic_csv("planted", days=600, seed=3)


def _train(kind: str, data: Path, root: Path, *extra: str) -> RunDir:
    cfg = load_config(
        ROOT / "configs" / f"{kind}.yaml",
        overrides=[*TINY[kind], *SPLIT, "train.epochs=1", "train.device=cpu", *extra],
        data=str(data),
    )
    return run_train(cfg, root)


@pytest.fixture(scope="module")
def runs(planted, tmp_path_factory) -> dict[str, RunDir]:
    root = tmp_path_factory.mktemp("runs")
    return {kind: _train(kind, planted, root) for kind in TINY}


@pytest.fixture(scope="module")
def reports(runs) -> dict[str, dict]:
    return {kind: export_onnx(run, export_length=EXPORT_LENGTH, latency_calls=200) for kind, run in runs.items()}


@pytest.mark.parametrize("kind", list(TINY))
def test_export_passes_parity_at_another_length(kind, runs, reports):
    rep, run = reports[kind], runs[kind]
    assert rep["kind"] == kind and rep["opset"] == OPSET == 18
    assert rep["export_length"] == EXPORT_LENGTH
    assert rep["parity_length"] != rep["export_length"]
    assert rep["parity_ok"] and rep["max_abs_diff"] <= TOLERANCE, rep["parity"]
    assert rep["latency_ms"]["calls"] >= 200 and 0 < rep["latency_ms"]["p50"] <= rep["latency_ms"]["p99"]
    assert Path(rep["path"]) == run.model_onnx
    # the graph is valid, opset 18, its batch (and time) dims symbolic
    model = onnx.load(run.model_onnx)
    onnx.checker.check_model(model, full_check=True)
    assert {o.domain: o.version for o in model.opset_import}[""] == 18
    x = next(i for i in model.graph.input if i.name == "x")
    dims = [d.dim_param or d.dim_value for d in x.type.tensor_type.shape.dim]
    assert isinstance(dims[0], str) and (kind in ("logistic", "hawkes") or isinstance(dims[1], str)), dims
    for out in model.graph.output:  # no output dim left at the traced length
        assert EXPORT_LENGTH not in [d.dim_value for d in out.type.tensor_type.shape.dim], out
    # recorded: an artifact event and the report
    artifacts = [e for e in read_events(run.events_jsonl) if e["type"] == "artifact"]
    assert any(e["path"] == ONNX_FILE for e in artifacts)
    assert run.read_json(REPORT_FILE)["max_abs_diff"] == rep["max_abs_diff"]
    assert not list(run.path.glob(".*.tmp"))  # atomic writes leave no temp files


def test_parity_windows_are_the_documented_ones(runs, reports):
    test = runs["gru"].read_json("manifest.json")["splits"][-1]["test"]
    t0, t1 = test["start"], test["stop"]
    assert reports["gru"]["parity"]["days"] == [t0, t1] == reports["lstm"]["parity"]["days"]
    assert reports["gru"]["parity_length"] == 2 * EXPORT_LENGTH + 1
    assert reports["transformer"]["parity"]["days"] == [t1 - 48, t1]  # one context-long window
    assert reports["logistic"]["parity"]["days"] == [t0, t1]  # every test row
    assert reports["transformer"]["latency_full_window_ms"]["input"].startswith("the last 48 days")
    assert reports["transformer"]["latency_ms"]["input"].startswith(
        "one day x (1, 1, 390) + KV cache of 47 days"
    )  # 39 parts x 10 skip groups


def test_transformer_report_times_the_cached_step(runs, reports):
    rep, run = reports["transformer"], runs["transformer"]
    assert Path(rep["step_path"]) == run.path / STEP_ONNX_FILE and (run.path / STEP_ONNX_FILE).is_file()
    assert rep["step_parity_ok"] and rep["step_max_abs_diff"] <= TOLERANCE, rep["step_parity"]
    assert {0, 47, 48, 71}.issubset(rep["step_parity"]["days"])  # empty cache, before/first/last of block 0
    assert rep["latency_ok"] == (rep["latency_ms"]["p99"] <= rep["latency_budget_ms"]["p99"])
    full = rep["latency_full_window_ms"]
    assert full["calls"] >= 200 and 0 < full["p50"] <= full["p99"]
    artifacts = [e["path"] for e in read_events(run.events_jsonl) if e["type"] == "artifact"]
    assert STEP_ONNX_FILE in artifacts
    for kind in ("gru", "logistic"):
        assert "latency_full_window_ms" not in reports[kind] and not (runs[kind].path / STEP_ONNX_FILE).exists()
    model = onnx.load(run.path / STEP_ONNX_FILE)
    onnx.checker.check_model(model, full_check=True)
    k = next(i for i in model.graph.input if i.name == "k_cache")
    assert [d.dim_param or d.dim_value for d in k.type.tensor_type.shape.dim] == [1, 1, 2, "n", 8]


def test_transformer_step_matches_score_day_by_day(runs, planted):
    """model_step.onnx with the PyTorch-built cache of x[window_start(t)..t-1] gives
    scorer.score(inputs, t, t + 1) for days across blocks (context 48, stride 24): day 0
    (empty cache), the last day before the first block, the first/second/last day of
    blocks, and the last day of the data."""
    scorer, _ = load_scorer(runs["transformer"])
    assert scorer.context == 48 and scorer.stride == 24
    ds = load_dataset(planted, parts=39, events_per_day=5)
    inputs = scorer.prepare(ds.Y, ds.dates)
    sess = ort.InferenceSession(str(runs["transformer"].path / STEP_ONNX_FILE), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == ["x_new", "wd_new", "pos", "k_cache", "v_cache"]
    T = len(inputs)
    days = [0, 1, 23, 47, 48, 49, 71, 72, 95, 96, 300, 311, T - 1]
    for t in days:
        got = sess.run(["logits"], transformer_step_inputs(scorer, inputs, t))[0]
        ref = scorer.score(inputs, t, t + 1).numpy()
        assert got.shape == (1, 39) and np.abs(got - ref).max() <= TOLERANCE, t
    # Within a block the caches carry: start from the block's first day with the window's
    # cache, append k_new / v_new each day, and every day of the block matches.
    a = 48 + 24 * 3  # first day of block 3
    s = scorer.window_start(a)
    assert all(scorer.window_start(t) == s for t in range(a, a + 24))
    feed = transformer_step_inputs(scorer, inputs, a)
    for t in range(a, a + 24):
        logits, k_new, v_new = sess.run(None, feed)
        assert np.abs(logits - scorer.score(inputs, t, t + 1).numpy()).max() <= TOLERANCE, t
        feed = {
            "x_new": inputs.x[t + 1 : t + 2][None].numpy(),
            "wd_new": inputs.wd[t + 1 : t + 2][None].numpy(),
            "pos": np.array([t + 1 - s], np.int64),
            "k_cache": np.concatenate([feed["k_cache"], k_new], axis=3),
            "v_cache": np.concatenate([feed["v_cache"], v_new], axis=3),
        }
    # the appended cache is the prefill's
    k_ref, v_ref = transformer_cache(scorer, inputs.x[s : a + 24], inputs.wd[s : a + 24])
    assert np.abs(feed["k_cache"] - k_ref).max() <= TOLERANCE and np.abs(feed["v_cache"] - v_ref).max() <= TOLERANCE


def test_transformer_step_alibi():
    """ALiBi positions: the step (distances pos - j) matches the full causal forward."""
    from core.models.transformer import TransformerScorer

    torch.manual_seed(0)
    scorer = TransformerScorer(39, d_model=16, heads=2, layers=2, context=32, positions="alibi").eval()
    data, info = step_onnx_bytes(scorer, {"config": {"model": {"kind": "transformer"}}})
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = (torch.rand(20, 39) < 0.13).float()
    wd = torch.randint(0, 7, (20,))
    with torch.no_grad():
        ref, _ = scorer(x[None], wd[None])
    for n in (0, 1, 7, 19):
        k, v = transformer_cache(scorer, x[:n], wd[:n])
        feed = {
            "x_new": x[n : n + 1][None].numpy(),
            "wd_new": wd[n : n + 1][None].numpy(),
            "pos": np.array([n], np.int64),
            "k_cache": k,
            "v_cache": v,
        }
        got = sess.run(["logits"], feed)[0]
        with torch.no_grad():
            tgot = TransformerStepExport(scorer)(*(torch.from_numpy(feed[i]) for i in info["inputs"]))[0]
        assert np.abs(got - ref[0, n].numpy()).max() <= TOLERANCE, n
        assert np.abs(tgot.numpy() - ref[0, n].numpy()).max() <= TOLERANCE, n


@pytest.mark.parametrize("kind", ["gru", "lstm"])
def test_single_day_scoring_carries_the_state(kind, runs, planted):
    """Day by day from a zero state, one (1, 1, P) call each, feeding the state back:
    the same logits as the PyTorch scorer over the whole prefix."""
    scorer, _ = load_scorer(runs[kind])
    ds = load_dataset(planted, parts=39, events_per_day=5)
    inputs = scorer.prepare(ds.Y, ds.dates)
    sess = ort.InferenceSession(str(runs[kind].model_onnx), providers=["CPUExecutionProvider"])
    names = [i.name for i in sess.get_inputs()]
    assert names == (["x", "wd", "h0"] if kind == "gru" else ["x", "wd", "h0", "c0"])
    state = [np.zeros((scorer.layers, 1, scorer.hidden), np.float32) for _ in names[2:]]
    days = 40
    got = []
    for t in range(days):
        out = sess.run(
            None,
            {
                "x": inputs.x[t : t + 1][None].numpy(),
                "wd": inputs.wd[t : t + 1][None].numpy(),
                **dict(zip(names[2:], state)),
            },
        )
        got.append(out[0][0, 0])
        state = out[1:]
    ref = scorer.score(inputs, 0, days).numpy()
    assert np.abs(np.stack(got) - ref).max() <= TOLERANCE


def test_dynamic_batch(runs, planted):
    """Three windows side by side in one call, as PyTorch gives them."""
    scorer, _ = load_scorer(runs["transformer"])
    sess = ort.InferenceSession(str(runs["transformer"].model_onnx), providers=["CPUExecutionProvider"])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 30, scorer.input_width, generator=g)
    wd = torch.randint(0, 7, (3, 30), generator=g)
    with torch.no_grad():
        ref, _ = scorer(x, wd)
    got = sess.run(None, {"x": x.numpy(), "wd": wd.numpy()})[0]
    assert got.shape == (3, 30, 39) and np.abs(got - ref.numpy()).max() <= TOLERANCE


@pytest.mark.parametrize("variant", ["lstm-window", "transformer-alibi"])
def test_other_variants_export_with_dynamic_time(variant):
    """Window-mode RNN (an explicit zero state keeps time dynamic) and ALiBi positions."""
    from core.models.rnn import RNNScorer
    from core.models.transformer import TransformerScorer

    torch.manual_seed(0)
    scorer = (
        RNNScorer(39, "lstm", hidden=8, mode="window", window=20)
        if variant == "lstm-window"
        else TransformerScorer(39, d_model=16, heads=2, layers=1, context=32, positions="alibi")
    ).eval()
    data, info = onnx_bytes(scorer, {"config": {"model": {"kind": variant}}}, 4)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = (torch.rand(2, 13, 39) < 0.13).float()
    wd = torch.randint(0, 7, (2, 13))
    with torch.no_grad():
        ref, _ = scorer(x, wd)
    got = sess.run(None, {"x": x.numpy(), "wd": wd.numpy()})[0]
    assert info["inputs"] == ["x", "wd"] and np.abs(got - ref.numpy()).max() <= TOLERANCE


def test_checkpoint_written_on_cuda_loads_on_cpu(runs, tmp_path):
    """The checkpoint loads with weights_only=True; one whose tensors are tagged cuda:0
    (as a GPU run writes them) still loads here through map_location="cpu"."""
    run = runs["logistic"]
    ck = torch.load(run.model_checkpoint, weights_only=True, map_location="cpu")
    fake = RunDir(tmp_path / "20260101-000000-gpu-0000")
    fake.path.mkdir()
    save_tagged_cuda(ck, fake.model_checkpoint)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            torch.load(fake.model_checkpoint, weights_only=True)
    scorer, ck2 = load_scorer(fake)
    assert not scorer.training and ck2["kind"] == "logistic"
    assert all(p.device.type == "cpu" for p in scorer.parameters())
    assert torch.equal(scorer.linear.weight, ck["model_state"]["linear.weight"])


def test_exporting_a_second_rnn_in_one_process_keeps_time_dynamic():
    """torch.onnx's while-loop RNN decomposition is bypassed by a stale dispatch cache when
    the same RNN op is exported twice in a row in one process, which silently fixed time to
    the traced length (core.export clears that cache around every export)."""
    from core.models.rnn import RNNScorer

    for _ in range(2):
        data, _ = onnx_bytes(RNNScorer(39, "gru", hidden=4).eval(), {"config": {"model": {"kind": "gru"}}}, 2)
        x = next(i for i in onnx.load_from_string(data).graph.input if i.name == "x")
        assert x.type.tensor_type.shape.dim[1].dim_param, "time was fixed"


def test_errors_are_input_errors(runs, tmp_path):
    with pytest.raises(InputError, match="model_checkpoint.pt"):
        export_onnx(tmp_path)
    with pytest.raises(InputError, match="parity_length"):
        export_onnx(runs["logistic"], export_length=EXPORT_LENGTH, parity_length=EXPORT_LENGTH)
    with pytest.raises(InputError, match="data file not found"):
        export_onnx(runs["logistic"], data=tmp_path / "missing.csv")
    ck = torch.load(runs["logistic"].model_checkpoint, weights_only=True, map_location="cpu")
    ck["config"]["model"] = {"kind": "uniform"}
    baseline = RunDir(tmp_path / "20260101-000000-uniform-0000")
    baseline.path.mkdir()
    torch.save(ck, baseline.model_checkpoint)
    with pytest.raises(InputError, match="exportable: logistic, hawkes, gru, lstm, transformer"):
        load_scorer(baseline)
    assert set(TINY) == set(EXPORTABLE)


def test_hawkes_with_a_yearly_term_exports_its_wider_rows():
    """The yearly sin/cos columns travel in x like the weekday's: parity with forward."""
    from core.models.hawkes import HawkesScorer

    torch.manual_seed(0)
    scorer = HawkesScorer(39, decays=[1.0, 7.0], yearly=2).eval()
    with torch.no_grad():
        for w in scorer.parameters():
            w.normal_()
    data, info = onnx_bytes(scorer, {"config": {"model": {"kind": "hawkes"}}}, 4)
    sess = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    x = torch.rand(9, scorer.n_features)
    with torch.no_grad():
        ref = scorer(x)
    got = sess.run(None, {"x": x.numpy()})[0]
    assert x.shape[1] == 39 * 2 + 7 + 4 and np.abs(got - ref.numpy()).max() <= TOLERANCE
