"""Time the hot paths: `python -m benchmarks.run [CASE ...] [--json]`.

Ratios: "x budget" is median / the budget in docs/ARCHITECTURE.md ("Budgets") (below 1 is within budget);
"x ref" is median / a reference doing comparable work on the same machine.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

from benchmarks.harness import Case, format_table, run_case

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "parts_daily.csv"


def _synapse_cmd() -> list[str]:
    exe = shutil.which("synapse")
    return [exe] if exe else [sys.executable, "-m", "synapse_tui.cli"]


def case_cli_help() -> Case:
    cmd = _synapse_cmd() + ["--help"]
    bare = [sys.executable, "-c", "pass"]
    return Case(
        "synapse --help",
        lambda: subprocess.run(cmd, capture_output=True, check=True),
        budget_s=0.5,
        reference=lambda: subprocess.run(bare, capture_output=True, check=True),
        reference_name="bare python start",
        repeat=7,
    )


def case_load_sample() -> Case:
    import pandas as pd

    from core.data import load_dataset

    return Case(
        "load+validate 11,000-day sample",
        lambda: load_dataset(SAMPLE, parts=39, events_per_day=5),
        budget_s=0.1,
        reference=lambda: pd.read_csv(SAMPLE),
        reference_name="pandas.read_csv only",
        repeat=15,
    )


def case_baselines_run() -> Case:
    import tempfile

    from core.config import load_config
    from core.train.run import run_baselines

    cfg = load_config(ROOT / "configs" / "baselines.yaml", data=str(SAMPLE))
    root = Path(tempfile.mkdtemp(prefix="synapse-bench-"))
    return Case(
        "synapse baselines on the sample (6 scorers, all artifacts)", lambda: run_baselines(cfg, root), repeat=3
    )


def _lazy(module: str, name: str):
    def make() -> Case:
        import importlib

        return getattr(importlib.import_module(module), name)()

    return make


CASES = {
    "cli_help": case_cli_help,
    "load_sample": case_load_sample,
    "evaluate": _lazy("benchmarks.bench_metrics", "case_evaluate"),
    "baselines_run": case_baselines_run,
    "train_loop": _lazy("benchmarks.bench_training", "case_train_loop_vs_bare"),
    "gru_validate": _lazy("benchmarks.bench_training", "case_gru_validate"),
    "gru_fit": _lazy("benchmarks.bench_training", "case_gru_fit"),
    "hawkes_fit": _lazy("benchmarks.bench_hawkes", "case_hawkes_fit"),
    "onnx_gru_step": _lazy("benchmarks.bench_onnx", "case_onnx_gru_step"),
    "onnx_transformer": _lazy("benchmarks.bench_onnx", "case_onnx_transformer_context"),
    "onnx_transformer_step": _lazy("benchmarks.bench_onnx", "case_onnx_transformer_step"),
    "demo": _lazy("benchmarks.bench_training", "case_demo"),
    "tui_first_screen": _lazy("benchmarks.bench_tui", "case_first_screen"),
    "tui_keypress": _lazy("benchmarks.bench_tui", "case_keypress"),
    "tui_sort_filter": _lazy("benchmarks.bench_tui", "case_sort_filter"),
    "tui_run_screen_10k": _lazy("benchmarks.bench_tui", "case_run_screen"),
    "tui_run_tabs": _lazy("benchmarks.bench_tui", "case_run_tabs"),
    "rules_mine": _lazy("benchmarks.bench_rules", "case_rules_mine"),
}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", help=f"cases to run (default: all): {', '.join(CASES)}")
    parser.add_argument("--json", action="store_true", help="print JSON rows instead of a table")
    args = parser.parse_args(argv)
    unknown = [c for c in args.cases if c not in CASES]
    if unknown:
        parser.error(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(CASES)}")
    results = []
    for name in args.cases or list(CASES):
        print(f"running {name} ...", file=sys.stderr, flush=True)
        results.append(run_case(CASES[name]()))
    if args.json:
        print(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        print(format_table(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
