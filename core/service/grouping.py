"""Runs grouped by a field or a hyperparameter: `synapse runs group model.hidden --metric auc`.

One group per distinct value of the key among the runs given (index rows from
`core.service.runs.list_runs`, already filtered); each group says how many runs it holds,
how many have the metric, and the metric's best, mean and median, with the best run's id.
A metric's direction (higher or lower is better) comes from METRIC_DIRECTION; the groups
are ordered best first. Runs without the key form the group `None` ("not set"), last.

Pure: rows in, groups out; the test window is not read here (the metrics are the index's).
"""

from __future__ import annotations

import difflib
import math
from collections.abc import Iterable, Mapping
from statistics import median
from typing import Any

from core.errors import InputError
from core.query.fields import resolve_field, value_of

# +1: higher is better; -1: lower is better.
METRIC_DIRECTION = {
    "auc": 1,
    "pr_auc": 1,
    "brier_skill": 1,
    "best_good_or_better": 1,
    "lift_capture": 1,
    "ece_after": -1,
    "ece_before": -1,
    "val_brier": -1,
    "best_val_loss": -1,
    "duration_s": -1,
}


def _number(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    return float(v) if math.isfinite(v) else None


def _hashable(v: Any) -> Any:
    """A config value as a group key: lists become tuples (a YAML list of layers, say)."""
    if isinstance(v, list):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((k, _hashable(x)) for k, x in v.items()))
    return v


def group_runs(
    rows: Iterable[Mapping[str, Any]],
    key: str,
    metric: str = "auc",
    *,
    config_keys: Iterable[str] | None = None,
) -> dict[str, Any]:
    """{"key", "metric", "direction", "groups": [{"value", "runs", "with_metric", "best", "best_run",
    "mean", "median", "run_ids"}]}: the runs grouped by `key`'s value, best group first.

    `key` and `metric` are field names or aliases (`model`, `hidden`…) or dotted config keys
    (`train.lr`); an unknown one is an InputError with a did-you-mean."""
    known = None if config_keys is None else list(config_keys)
    kfield = resolve_field(key, label="group key", config_keys=known)
    if known is not None and "." in kfield.name and kfield.name not in known:
        # A filter may name a key no run has (it matches nothing); a grouping by it is a typo.
        close = difflib.get_close_matches(kfield.name, known, n=3, cutoff=0.6)
        hint = f"; did you mean {' or '.join(close)}?" if close else " (keys: `synapse runs fields`)"
        raise InputError(f"no run has the config key {kfield.name!r}{hint}")
    mfield = resolve_field(metric, label="--metric", config_keys=config_keys)
    if mfield.type not in ("number", "duration", "config"):
        raise InputError(f"--metric {metric!r} is a {mfield.type} field: give a number, e.g. auc, ece_after, val_brier")
    direction = METRIC_DIRECTION.get(mfield.name, 1)
    buckets: dict[Any, dict[str, Any]] = {}
    for row in rows:
        value = _hashable(value_of(row, kfield.name))
        g = buckets.setdefault(value, {"value": value, "run_ids": [], "metrics": []})
        g["run_ids"].append(row.get("run_id"))
        m = _number(value_of(row, mfield.name))
        if m is not None:
            g["metrics"].append((m, row.get("run_id")))
    groups = []
    for g in buckets.values():
        ms = g.pop("metrics")
        vals = [m for m, _ in ms]
        best = (max if direction > 0 else min)(ms, key=lambda t: t[0]) if ms else None
        groups.append(
            {
                "value": list(g["value"]) if isinstance(g["value"], tuple) else g["value"],
                "runs": len(g["run_ids"]),
                "with_metric": len(vals),
                "best": None if best is None else best[0],
                "best_run": None if best is None else best[1],
                "mean": sum(vals) / len(vals) if vals else None,
                "median": median(vals) if vals else None,
                "run_ids": g["run_ids"],
            }
        )

    def order(g: dict) -> tuple:
        missing_value = g["value"] is None
        best = g["best"]
        return (missing_value, best is None, -(best or 0.0) * direction, str(g["value"]))

    groups.sort(key=order)
    return {
        "key": kfield.name,
        "metric": mfield.name,
        "direction": "higher" if direction > 0 else "lower",
        "groups": groups,
    }
