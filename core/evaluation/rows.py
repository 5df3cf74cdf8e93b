"""A :func:`core.evaluation.metrics.evaluate` result as long rows for metrics.csv.

`rows` flattens one evaluate() dict to rows {split, model, metric, k, value} (k None
unless the metric is per pool size; per-K lists are aligned with ``result["ks"]``).
"""

from __future__ import annotations

from collections.abc import Mapping


_SCALARS = (
    "auc_macro",
    "pr_auc_macro",
    "brier",
    "brier_reference",
    "brier_skill",
    "ece",
    "classwise_ece",
    "parts_scored",
    "n_days",
    "events_per_day",
)


def rows(result: Mapping, split: str, model: str) -> list[dict]:
    """Flatten an evaluate() result to long rows {split, model, metric, k, value}.

    k is None for metrics that are not per pool size. Metric names: the scalars
    auc_macro, pr_auc_macro, brier, brier_reference, brier_skill, ece, classwise_ece,
    parts_scored, n_days, events_per_day, lift_capture (good tier), oracle_brier; per
    part auc_part_<id>, ap_part_<id> (1-based id); per K mean_hits and, for each tier T,
    T_or_better, T_or_better_ci_low, T_or_better_ci_high, T_or_better_count, T_exact,
    random_T_or_better, and when present raw_T_or_better (+ _ci_low/_ci_high),
    oracle_T_or_better (+ _ci_low/_ci_high) and lift_capture_T (no k).
    """
    out: list[dict] = []

    def add(metric, value, k=None):
        out.append({"split": split, "model": model, "metric": metric, "k": k, "value": value})

    for name in _SCALARS:
        add(name, result.get(name))
    for i, v in enumerate(result.get("auc_per_part") or [], start=1):
        add(f"auc_part_{i}", v)
    for i, v in enumerate(result.get("ap_per_part") or [], start=1):
        add(f"ap_part_{i}", v)
    ks = result["ks"]
    for j, k in enumerate(ks):
        add("mean_hits", result["mean_hits"][j], k)

    def add_tiers(block, prefix, extra=True):
        for name, t in block.items():
            stem = f"{prefix}{name}_or_better"
            for j, k in enumerate(ks):
                add(stem, t["rate"][j], k)
                add(stem + "_ci_low", t["ci_low"][j], k)
                add(stem + "_ci_high", t["ci_high"][j], k)
                if extra:
                    add(stem + "_count", t["count"][j], k)
                    add(f"{prefix}{name}_exact", t["exact_rate"][j], k)
                    add(f"random_{name}_or_better", t["random"][j], k)

    add_tiers(result["tier_rates"], "")
    if result.get("raw_tier_rates"):
        add_tiers(result["raw_tier_rates"], "raw_", extra=False)
    if result.get("oracle"):
        add_tiers(result["oracle"]["tier_rates"], "oracle_", extra=False)
        add("lift_capture", result.get("lift_capture"))
        add("oracle_brier", result["oracle"].get("brier"))
        for name, v in result["oracle"]["lift_capture"].items():
            add(f"lift_capture_{name}", v)
    return out
