"""Sweeps: several configs (times a grid) through the supervisor's queue, one report.

grid    parse `-g key=a,b` axes and expand configs x grid into named, validated combos
layout  the sweep directory (`<runs root>/sweeps/<sweep-id>/sweep.json`) and its status
run     start a sweep, keep its supervisor running, wait for it
report  sweep_report.json / .md: a verdict per run and a validation-chosen winner
"""

from core.jobs.sweep.grid import expand, expand_combos, parse_grid
from core.jobs.sweep.layout import SWEEPS_DIR, SweepDir, all_done, list_sweeps, sweep_status
from core.jobs.sweep.report import choose_winner, verdict_text, write_report
from core.jobs.sweep.run import ensure_running, start_sweep, wait

__all__ = [
    "SWEEPS_DIR",
    "SweepDir",
    "all_done",
    "choose_winner",
    "ensure_running",
    "expand",
    "expand_combos",
    "list_sweeps",
    "parse_grid",
    "start_sweep",
    "sweep_status",
    "verdict_text",
    "wait",
    "write_report",
]
