"""Rule mining on the full 11,000-day, 39-part sample (budget 5 s, docs/ARCHITECTURE.md "Rules").

`mine` counts all 13,806 candidates (follow-within and inhibition over 4 windows for every
(p, q) pair, co-occurrence, long absence over 4 gaps, weekday and month) on the 9,000-day
training window, computes every one-sided exact p-value, controls the FDR, then replicates
the discoveries on the 1,000-day validation window. The reference is the counting alone
(`window_table` on the training window: cumulative sums and one matrix product per window),
so "x ref" shows what the exact p-values (scipy's hypergeometric tail) add.

Register in benchmarks/run.py's CASES: "rules_mine": _lazy("benchmarks.bench_rules", "case_rules_mine").
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.harness import Case

SAMPLE = Path(__file__).resolve().parents[1] / "sample_data" / "parts_daily.csv"


def case_rules_mine() -> Case:
    from core.data import load_dataset
    from core.data.splits import make_splits
    from core.rules import RulesSettings, mine, window_table

    ds = load_dataset(SAMPLE, parts=39, events_per_day=5)
    split = make_splits(ds.T)[-1]
    settings = RulesSettings()
    return Case(
        "rules mine on the 11,000-day sample (13,806 candidates)",
        lambda: mine(ds.Y, ds.dates, split, settings),
        budget_s=5.0,
        reference=lambda: window_table(ds.Y, ds.dates, *split.train, settings),
        reference_name="candidate counts only (training window)",
        repeat=5,
        note="exact hypergeometric p-values for every candidate dominate",
    )


if __name__ == "__main__":
    from benchmarks.harness import format_table, run_case

    print(format_table([run_case(case_rules_mine())]))
