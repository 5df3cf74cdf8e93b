"""The CUDA paths of the neural scorers, checked and timed in one command.

    python -m benchmarks.gpu_check --out DIR                 # on a CUDA machine
    python -m benchmarks.gpu_check --device cpu --tiny       # the same code on CPU (tests run this)

What it checks (docs/ARCHITECTURE.md, "Models" and "Budgets"):

1. environment: torch, the device, bf16 support.
2. attention: one forward + backward of the ``transformer_h200`` model under bf16 autocast
   with scaled_dot_product_attention restricted to the FLASH_ATTENTION backend, so it fails
   loudly if the model's q/k/v do not reach the flash kernel (fp32 leaking into RoPE, say);
   timed against fp32 with the default backends: ms a step, days a second, peak memory.
3. training: ``transformer_h200`` (shortened by --epochs / --steps) and ``gru`` with
   ``train.device`` set to the device, through the real pipeline: run directory, epochs,
   seconds an epoch, the verdict.
4. a CUDA checkpoint on the CPU: in a child process with CUDA hidden, each run's
   model_checkpoint.pt loads (weights_only) and scores the test window; the largest
   |p_cpu - p_device| against the run's predictions.npz; and tomorrow is predicted.

Writes gpu_check.json and gpu_check.md to --out (small: fit for a device run's $OUT);
the runs themselves go to --runs-dir (default: a temporary folder), since a 19M-parameter
last.pt is too large to bring back. Exit 1 if a check fails, 0 otherwise.

On a device machine, whose image has torch but not pydantic, carry the wheels made by
``benchmarks/gpu_wheels.sh`` and install them first (see that script).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "parts_daily.csv"
CPU_TOLERANCE = 1e-4  # |p_cpu - p_device|: fp32 scoring on both, kernels differ in summation order

# --tiny: the same configs shrunk so the whole check runs in seconds on CPU.
TINY = {
    "transformer_h200": [
        "model.d_model=16",
        "model.heads=2",
        "model.layers=1",
        "model.context=32",
        "train.batch_size=4",
    ],
    "gru": ["model.hidden=8", "model.chunks=4", "model.tbptt=32"],
}


def environment(device: torch.device) -> dict:
    env = {"torch": torch.__version__, "device": str(device), "cuda_available": torch.cuda.is_available()}
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        env.update(
            name=props.name,
            memory_gib=round(props.total_memory / 2**30, 1),
            capability=f"{props.major}.{props.minor}",
            bf16=torch.cuda.is_bf16_supported(),
            cuda=torch.version.cuda,
        )
    return env


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step_timing(model, x, wd, device: torch.device, *, bf16: bool, flash_only: bool, repeat: int) -> dict:
    """Median ms of forward + backward over `repeat` steps (after one warm-up)."""
    from contextlib import nullcontext

    from torch.nn.attention import SDPBackend, sdpa_kernel

    def kernel():  # a fresh context manager each step: sdpa_kernel's cannot be re-entered
        return sdpa_kernel([SDPBackend.FLASH_ATTENTION]) if flash_only else nullcontext()

    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(repeat + 1):
        _sync(device)
        t0 = time.perf_counter()
        with kernel(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits, _ = model(x, wd)
        logits.float().mean().backward()
        _sync(device)
        if i:
            times.append(time.perf_counter() - t0)
        model.zero_grad(set_to_none=True)
    ms = 1000 * float(np.median(times))
    out = {"ms_per_step": round(ms, 3), "days_per_s": round(x.shape[0] * x.shape[1] / (ms / 1000))}
    if device.type == "cuda":
        out["peak_memory_gib"] = round(torch.cuda.max_memory_allocated(device) / 2**30, 2)
    return out


def attention_check(device: torch.device, *, tiny: bool, batch: int, repeat: int) -> dict:
    """The h200 model's training step: bf16 + flash only (CUDA) against fp32 default kernels."""
    from core.config import load_config
    from core.models import build_scorer

    cfg = load_config(
        "transformer_h200", overrides=[*(TINY["transformer_h200"] if tiny else []), f"train.device={device.type}"]
    )
    torch.manual_seed(0)
    model = build_scorer(cfg.model, 39).to(device).train()
    L = cfg.model.context
    # The input rows as `prepare` lays them out: multi-hot first, then (with the shipped
    # skip path) each part's own features, whose values in [0, 1] the step does not care about.
    x = (torch.rand(batch, L, model.input_width, device=device) < 5 / 39).float()
    wd = torch.randint(0, 7, (batch, L), device=device)
    out = {
        "d_model": cfg.model.d_model,
        "layers": cfg.model.layers,
        "heads": cfg.model.heads,
        "context": L,
        "batch": batch,
        "parameters": sum(p.numel() for p in model.parameters()),
        "fp32": _step_timing(model, x, wd, device, bf16=False, flash_only=False, repeat=repeat),
    }
    try:  # CPU has a flash kernel too (it also takes masks; CUDA's takes none, so ALiBi would be refused there)
        out["bf16_flash"] = _step_timing(model, x, wd, device, bf16=True, flash_only=True, repeat=repeat)
        out["flash_ok"] = True
    except RuntimeError as exc:  # "No available kernel": q/k/v did not qualify for flash
        out["flash_ok"], out["flash_error"] = False, str(exc).splitlines()[0]
    out["bf16_speedup"] = (
        round(out["fp32"]["ms_per_step"] / out["bf16_flash"]["ms_per_step"], 2) if out["flash_ok"] else None
    )
    return out


def train_check(
    name: str,
    device: torch.device,
    runs_dir: Path,
    *,
    data: Path,
    tiny: bool,
    epochs: int,
    steps: int | None,
    extra: list[str],
) -> dict:
    """Train config `name` on the device through the real pipeline; the run's headline numbers."""
    from core.config import load_config
    from core.train.run import run_train

    overrides = [*(TINY.get(name, []) if tiny else []), *extra, f"train.device={device.type}", f"train.epochs={epochs}"]
    if steps:
        overrides.append(f"train.steps_per_epoch={steps}")
    cfg = load_config(name, overrides=overrides, data=str(data))
    t0 = time.perf_counter()
    run = run_train(cfg, runs_dir, progress=lambda line: print(f"  [{name}] {line}", flush=True))
    wall = time.perf_counter() - t0
    epochs_seen = [e for e in run.read_events() if e.get("type") == "epoch"]
    report = json.loads((run.path / "report.json").read_text())
    summary = report.get("summary") or {}
    return {
        "config": name,
        "run": str(run.path),
        "wall_s": round(wall, 1),
        "device_in_manifest": json.loads((run.path / "manifest.json").read_text()).get("device"),
        "epochs": len(epochs_seen),
        "train_s_per_epoch": round(float(np.median([e.get("train_seconds", e["seconds"]) for e in epochs_seen])), 3)
        if epochs_seen
        else None,
        "verdict": summary.get("verdict"),
        "lift_capture": summary.get("lift_capture"),
        "auc": summary.get("auc"),
        "ece_after": summary.get("ece_after"),
        "beats_reference": summary.get("beats_reference"),
    }


def cpu_score(run_path: str) -> dict:
    """In this (CUDA-hidden) process: load the run's checkpoint on CPU, score its test window,
    compare with the probabilities the device wrote, and predict tomorrow."""
    from core.export import load_inputs, load_scorer
    from core.models.base import head_logits
    from core.service.predict import predict
    from core.runs import RunDir

    run = RunDir(Path(run_path))
    scorer, ck = load_scorer(run)
    inputs, (t0, t1), _ = load_inputs(run, scorer, _cfg_of(ck), None)
    with torch.no_grad():
        z = head_logits(scorer.score(inputs, t0, t1).float(), scorer.head, inputs.events).numpy()
    with np.load(run.predictions_npz, allow_pickle=False) as npz:
        written = npz[f"{ck['kind']}__logits_test"]
    diff = float(np.abs(_sigmoid(z) - _sigmoid(written)).max())
    tomorrow = predict(run)
    return {
        "cuda_visible": torch.cuda.is_available(),
        "max_abs_prob_diff": diff,
        "ok": diff <= CPU_TOLERANCE,
        "predicted_day": str(tomorrow.get("date")),
    }


def _cfg_of(ck: dict):
    from core.config import Config

    return Config.model_validate(ck["config"])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


def cpu_load_check(run_path: str) -> dict:
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.gpu_check", "--cpu-score", run_path],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        check=False,
    )
    if r.returncode != 0:
        return {"ok": False, "error": (r.stderr or r.stdout).strip().splitlines()[-1:]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def markdown(result: dict) -> str:
    env, att = result["environment"], result["attention"]
    lines = [
        "# GPU check",
        "",
        f"`python -m benchmarks.gpu_check {' '.join(result['argv'])}`",
        "",
        "| environment | |",
        "| --- | --- |",
    ]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    lines += [
        "",
        f"Attention step, transformer_h200 model (d_model {att['d_model']}, {att['layers']} layers, "
        f"context {att['context']}, batch {att['batch']}, {att['parameters']:,} parameters):",
        "",
        "| precision / kernel | ms a step | days a second | peak GiB |",
        "| --- | --- | --- | --- |",
    ]
    for key in ("fp32", "bf16_flash"):
        if key in att:
            t = att[key]
            lines.append(f"| {key} | {t['ms_per_step']} | {t['days_per_s']:,} | {t.get('peak_memory_gib', '-')} |")
    if att.get("flash_error"):
        lines.append(f"\nflash attention refused: {att['flash_error']}")
    lines += [
        "",
        "| config | epochs | train s/epoch | wall s | verdict | lift capture | AUC | ECE | "
        "CPU reload max abs diff | CPU predict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for t in result["training"]:
        c = t.get("cpu_load", {})
        lines.append(
            f"| {t['config']} | {t['epochs']} | {t['train_s_per_epoch']} | {t['wall_s']} | {t['verdict']} | "
            f"{_fmt(t['lift_capture'])} | {_fmt(t['auc'])} | {_fmt(t['ece_after'])} | "
            f"{_fmt(c.get('max_abs_prob_diff'), '.2e')} | {c.get('predicted_day', c.get('error'))} |"
        )
    lines += ["", f"all checks passed: {result['ok']}", ""]
    return "\n".join(lines)


def _fmt(v, spec: str = ".3f") -> str:
    return "-" if v is None else format(v, spec)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks.gpu_check",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    ap.add_argument("--out", type=Path, default=Path("gpu_check_out"), help="where gpu_check.json/.md go")
    ap.add_argument("--runs-dir", type=Path, default=None, help="where the runs go (default: a temp folder)")
    ap.add_argument("--data", type=Path, default=SAMPLE)
    ap.add_argument("--tiny", action="store_true", help="shrunk configs (CPU test of this script)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs for the transformer_h200 run")
    ap.add_argument("--steps", type=int, default=None, help="steps an epoch for transformer_h200 (default: config)")
    ap.add_argument("--batch", type=int, default=16, help="windows in the attention timing batch")
    ap.add_argument("--repeat", type=int, default=10)
    ap.add_argument("-o", "--override", action="append", default=[], help="dotted override for both runs")
    ap.add_argument("--cpu-score", metavar="RUN", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.cpu_score:
        print(json.dumps(cpu_score(args.cpu_score)))
        return 0
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but torch sees no CUDA device (use --device cpu)", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    result: dict = {"argv": argv if argv is not None else sys.argv[1:], "environment": environment(device)}
    print(f"environment: {result['environment']}", flush=True)
    result["attention"] = attention_check(device, tiny=args.tiny, batch=args.batch, repeat=args.repeat)
    print(f"attention: {result['attention']}", flush=True)
    runs_dir = args.runs_dir or Path(tempfile.mkdtemp(prefix="synapse-gpu-check-"))
    result["training"] = []
    for name, epochs, steps in (("transformer_h200", args.epochs, args.steps), ("gru", 200, None)):
        t = train_check(
            name,
            device,
            runs_dir,
            data=args.data,
            tiny=args.tiny,
            epochs=epochs if not args.tiny else 2,
            steps=steps if not args.tiny else 2,
            extra=args.override,
        )
        t["cpu_load"] = cpu_load_check(t["run"])
        t["ok"] = bool(t["cpu_load"].get("ok")) and t["device_in_manifest"].startswith(device.type)
        print(f"training: {t}", flush=True)
        result["training"].append(t)
    result["ok"] = bool(result["attention"]["flash_ok"] and all(t["ok"] for t in result["training"]))
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gpu_check.json").write_text(json.dumps(result, indent=2, default=str) + "\n")
    (args.out / "gpu_check.md").write_text(markdown(result))
    print(markdown(result))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
