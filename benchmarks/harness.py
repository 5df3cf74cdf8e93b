"""A tiny timing harness: named cases, repeated, printed as a table with ratios.

A case times `fn` and, optionally, a `reference` doing comparable work (a bare library
call, a slower known-good implementation) and a `budget_s` from docs/ARCHITECTURE.md ("Budgets"); the table
shows median and p95 and both ratios, so numbers read the same on any machine.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from collections.abc import Callable


@dataclass
class Case:
    name: str
    fn: Callable[[], object]
    budget_s: float | None = None
    reference: Callable[[], object] | None = None
    reference_name: str = ""
    repeat: int = 7
    setup: Callable[[], object] | None = None
    note: str = ""
    # For what cannot be timed from outside one call (key presses inside a running app):
    # returns the measured seconds itself; fn is then unused.
    measure: Callable[[], list[float]] | None = None


@dataclass
class Result:
    name: str
    times: list[float]
    ref_times: list[float] = field(default_factory=list)
    budget_s: float | None = None
    reference_name: str = ""
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.times)

    @property
    def p95(self) -> float:
        ordered = sorted(self.times)
        return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]

    @property
    def vs_budget(self) -> float | None:
        return None if self.budget_s is None else self.median / self.budget_s

    @property
    def vs_reference(self) -> float | None:
        return statistics.median(self.times) / statistics.median(self.ref_times) if self.ref_times else None

    def as_dict(self) -> dict:
        return {
            "case": self.name,
            "median_s": self.median,
            "p95_s": self.p95,
            "runs": len(self.times),
            "budget_s": self.budget_s,
            "vs_budget": self.vs_budget,
            "reference": self.reference_name or None,
            "reference_median_s": statistics.median(self.ref_times) if self.ref_times else None,
            "vs_reference": self.vs_reference,
            "note": self.note,
        }


def _time(fn: Callable[[], object], repeat: int) -> list[float]:
    fn()  # warm-up: imports, caches, page cache
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def _time_once(fn: Callable[[], object]) -> list[float]:
    t0 = time.perf_counter()
    fn()
    return [time.perf_counter() - t0]


def run_case(case: Case) -> Result:
    if case.setup is not None:
        case.setup()
    if case.measure is not None:
        return Result(case.name, case.measure(), [], case.budget_s, "", case.note)
    if case.reference is None:
        return Result(case.name, _time(case.fn, case.repeat), [], case.budget_s, "", case.note)
    # Interleaved, so a busy neighbour slows both sides alike and the ratio stays honest.
    case.fn(), case.reference()
    times, ref = [], []
    for _ in range(case.repeat):
        times += _time_once(case.fn)
        ref += _time_once(case.reference)
    return Result(case.name, times, ref, case.budget_s, case.reference_name, case.note)


def _fmt_s(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x * 1e3:.1f} ms" if x < 1 else f"{x:.2f} s"


def format_table(results: list[Result]) -> str:
    header = ["case", "median", "p95", "budget", "x budget", "reference", "ref median", "x ref"]
    rows = [header]
    for r in results:
        rows.append(
            [
                r.name,
                _fmt_s(r.median),
                _fmt_s(r.p95),
                _fmt_s(r.budget_s),
                "-" if r.vs_budget is None else f"{r.vs_budget:.2f}",
                r.reference_name or "-",
                _fmt_s(statistics.median(r.ref_times)) if r.ref_times else "-",
                "-" if r.vs_reference is None else f"{r.vs_reference:.2f}",
            ]
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def run_and_print(cases: dict) -> int:
    """Entry point for a benchmark module run on its own: time its cases, print the table."""
    results = [run_case(make()) for make in cases.values()]
    print(format_table(results))
    for r in results:
        if r.note:
            print(f"{r.name}: {r.note}")
    return 0
