"""The compare screen's reads, both through core.service.compare (called in thread workers)."""

from __future__ import annotations

from pathlib import Path

from synapse_tui.widgets.draw_metric import MAX_RUNS


def read_comparison(runs_dir: Path, run_ids: list[str]) -> dict:
    """Everything the screen shows but the paired test (core.service.compare.compare_view)."""
    from core.service.compare import compare_view

    return compare_view(run_ids, runs_dir, most=MAX_RUNS)


def paired_test(runs_dir: Path, run_ids: list[str]) -> list[dict]:
    """The paired McNemar + Holm test of A's primary against each other's (records test touches)."""
    from core.service.compare import paired_view

    return paired_view(run_ids, runs_dir)
