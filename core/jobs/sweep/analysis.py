"""How a sweep's metric depends on each swept key (core.jobs.sweep): the sweep as a view.

    view = sweep_view(sweep)   # runs with their key values, status, metrics, verdict, winner,
                               # and per swept key: the (value, metric) points and its importance

Importance is judged on the VALIDATION metric the winner is chosen on (`WINNER_METRIC`,
report.json `models[primary].val.brier`, lower is better); the test window chooses nothing.
For each key, over the succeeded runs that have the metric:

- eta squared: the fraction of the metric's variance explained by grouping the runs on the
  key's value (between-group sum of squares / total sum of squares). It is biased upwards on
  few runs: with k values on n runs, a key that does nothing explains (k-1)/(n-1) on average
  (`chance`), so it is always shown beside that.
- a permutation p-value: how often shuffling the metric over the runs gives an eta squared at
  least the observed one. Exact (every distinct labelling counted) when the runs can be
  labelled in at most `PERMUTATIONS` ways; else (1 + hits) / (1 + PERMUTATIONS) over random
  shufflings (numpy, fixed seed: the same sweep gives the same answer). A key is
  `significant` when p < `ALPHA`. On a small grid the attainable p has a floor (six runs in
  three pairs: 90 labellings, 6 of them the same grouping, so p >= 1/15): such a key is
  never called significant, however large its eta squared.
- Spearman's rho (scipy.stats.spearmanr) of the metric against the key's value, for keys
  whose values are all numbers, with its p-value.

The math (`eta_squared`, `permutation_p`, `key_importance`) is pure and takes plain lists;
`sweep_view` reads the sweep's directories (sweep.json, each run's events and report.json).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from core.jobs.sweep.grid import parse_grid
from core.jobs.sweep.layout import SweepDir, all_done, sweep_status
from core.jobs.sweep.report import WINNER_METRIC, WINNER_SOURCE, _val_window, choose_winner, report_rows, verdict_text
from core.runs import TERMINAL_STATUSES

PERMUTATIONS = 2000
ALPHA = 0.05
SEED = 20
MIN_RUNS = 3  # fewer runs with the metric: no importance at all
METRIC_LABEL = "val Brier"
CONFIG_KEY = "config"  # the pseudo-key of a sweep over several configs
TEST_METRICS = ("auc", "brier_skill", "ece_after")  # shown, never used to choose or judge
ACTIVE_STATUSES = ("queued", "running")


# --------------------------------------------------------------------------- the math


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _groups(labels: Sequence[Any]) -> np.ndarray:
    """(n,) group index per item, groups numbered by first appearance."""
    seen: dict[str, int] = {}
    return np.array([seen.setdefault(_group_key(x), len(seen)) for x in labels], dtype=np.int64)


def _group_key(x: Any) -> str:
    return json.dumps(x, sort_keys=True, default=str)


def _eta2_many(y: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """eta squared of each row of y (P, n) grouped by `groups` (n,)."""
    n = y.shape[-1]
    k = int(groups.max()) + 1
    onehot = np.zeros((n, k))
    onehot[np.arange(n), groups] = 1.0
    counts = onehot.sum(axis=0)
    sums = y @ onehot  # (P, k)
    total = y.sum(axis=-1)
    ss_between = (sums**2 / counts).sum(axis=-1) - total**2 / n
    ss_total = (y**2).sum(axis=-1) - total**2 / n
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(ss_total > 1e-300, ss_between / ss_total, np.nan)
    return np.clip(out, 0.0, 1.0)


def eta_squared(labels: Sequence[Any], metric: Sequence[float]) -> float | None:
    """The fraction of `metric`'s variance explained by grouping on `labels`; None when the
    metric does not vary or there is one group."""
    y = np.asarray(metric, dtype=float)
    g = _groups(labels)
    if len(y) < 2 or g.max() < 1:
        return None
    v = float(_eta2_many(y[None, :], g)[0])
    return None if math.isnan(v) else v


def _distinct_labellings(groups: np.ndarray) -> int:
    """How many distinct ways the runs can be labelled with these group sizes: n! / prod(size!)."""
    out = math.factorial(len(groups))
    for c in np.bincount(groups):
        out //= math.factorial(int(c))
    return out


def p_floor(labels: Sequence[Any], *, permutations: int = PERMUTATIONS) -> float:
    """The smallest p-value `permutation_p` can give for these group sizes: exact, the share of
    labellings that make the same grouping (groups of equal size can swap), else 1 / (1 + permutations)."""
    g = _groups(labels)
    total = _distinct_labellings(g)
    if total > permutations:
        return 1 / (1 + permutations)
    same = 1
    for m in np.bincount(np.bincount(g)):
        same *= math.factorial(int(m))
    return same / total


def _all_labellings(groups: np.ndarray) -> np.ndarray:
    """(L, n) every distinct arrangement of the group labels over n runs (a multiset's permutations)."""
    counts = [int(c) for c in np.bincount(groups)]
    n = len(groups)
    out: list[list[int]] = []
    cur: list[int] = []

    def rec() -> None:
        if len(cur) == n:
            out.append(cur.copy())
            return
        for g, c in enumerate(counts):
            if c:
                counts[g] -= 1
                cur.append(g)
                rec()
                cur.pop()
                counts[g] += 1

    rec()
    return np.array(out, dtype=np.int64)


def _eta2_labellings(y: np.ndarray, labellings: np.ndarray) -> np.ndarray:
    """eta squared of y (n,) under each row of labellings (L, n)."""
    n = len(y)
    k = int(labellings.max()) + 1
    onehot = np.zeros((len(labellings), n, k))
    np.put_along_axis(onehot, labellings[:, :, None], 1.0, axis=2)
    counts = onehot.sum(axis=1)  # (L, k), the same sizes in every row
    sums = np.einsum("n,lnk->lk", y, onehot)
    total = y.sum()
    ss_between = (sums**2 / counts).sum(axis=1) - total**2 / n
    ss_total = float((y**2).sum() - total**2 / n)
    return np.clip(ss_between / ss_total, 0.0, 1.0) if ss_total > 1e-300 else np.full(len(labellings), np.nan)


def permutation_p(
    labels: Sequence[Any], metric: Sequence[float], *, permutations: int = PERMUTATIONS, seed: int = SEED
) -> float | None:
    """P(eta squared >= the observed one) when the metric is shuffled over the runs.

    Exact (the share of every distinct labelling, the observed one included) when there are at
    most `permutations` of them; else (1 + hits) / (1 + permutations) over random shufflings
    drawn with numpy's generator seeded with `seed`."""
    y = np.asarray(metric, dtype=float)
    g = _groups(labels)
    observed = eta_squared(labels, metric)
    if observed is None:
        return None
    if _distinct_labellings(g) <= permutations:
        null = _eta2_labellings(y, _all_labellings(g))
        return float(np.mean(null >= observed - 1e-12))
    rng = np.random.default_rng(seed)
    shuffled = np.argsort(rng.random((permutations, len(y))), axis=1)
    null = _eta2_many(y[shuffled], g)
    hits = int(np.sum(null >= observed - 1e-12))
    return (1 + hits) / (1 + permutations)


def key_importance(
    values: Sequence[Any],
    metric: Sequence[float],
    *,
    numeric: bool,
    permutations: int = PERMUTATIONS,
    seed: int = SEED,
) -> dict[str, Any]:
    """How much of `metric` a key explains: {n, levels, eta2, chance, p_value, p_floor, significant, rho,
    rho_p, why}. `p_floor` is the smallest p these runs can give: at or above ALPHA, nothing can be significant.
    `values[i]` is the key's value in the run whose metric is `metric[i]`."""
    n = len(values)
    levels = len({_group_key(v) for v in values})
    out: dict[str, Any] = {
        "n": n,
        "levels": levels,
        "eta2": None,
        "chance": None,
        "p_value": None,
        "p_floor": None,
        "significant": False,
        "rho": None,
        "rho_p": None,
        "why": None,
    }
    if n < MIN_RUNS:
        out["why"] = f"{n} run{'s' if n != 1 else ''} with a {METRIC_LABEL} (needs {MIN_RUNS})"
        return out
    if levels < 2:
        out["why"] = "one value among the runs with a metric"
        return out
    out["chance"] = (levels - 1) / (n - 1)
    eta = eta_squared(values, metric)
    if eta is None:
        out["why"] = f"the {METRIC_LABEL} does not vary"
        return out
    out["eta2"] = eta
    out["p_value"] = permutation_p(values, metric, permutations=permutations, seed=seed)
    out["p_floor"] = p_floor(values, permutations=permutations)
    out["significant"] = out["p_value"] is not None and out["p_value"] < ALPHA
    if numeric and levels >= 2:
        from scipy.stats import spearmanr

        res = spearmanr(np.asarray(values, dtype=float), np.asarray(metric, dtype=float))
        rho, p = float(res.statistic), float(res.pvalue)
        if math.isfinite(rho):
            out["rho"], out["rho_p"] = rho, (p if math.isfinite(p) else None)
    return out


# --------------------------------------------------------------------------- reading a sweep


def _parse_value(text: str) -> Any:
    """A grid value's text as the config reads it: YAML, then a number where YAML 1.1 leaves
    one a string (`1e-3`; pydantic makes it a float)."""
    from core.config import load_yaml

    try:
        v = load_yaml(text, "-g") if text.strip() else None
    except Exception:  # noqa: BLE001 — a value that read once reads again; else keep its text
        v = text
    if isinstance(v, str):
        try:
            f = float(v)
        except ValueError:
            return v
        return int(f) if f.is_integer() and "." not in v and "e" not in v.lower() else f
    return v


_MISSING = object()


def _resolved(config: Any, key: str) -> Any:
    node = config
    for part in key.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return _MISSING
    return node


def _run_config(run_dir: Path) -> Any:
    from core.config import load_yaml

    try:
        return load_yaml((run_dir / "config.yaml").read_text(encoding="utf-8"), str(run_dir / "config.yaml"))
    except Exception:  # noqa: BLE001 — a run without a readable config: the grid's text instead
        return None


def _values_of(entry: dict, keys: list[str], run_dir: Path) -> dict[str, Any]:
    """{key: value} of a sweep run: each grid key as the run's resolved config.yaml holds it (so
    `1e-3` is the number 0.001), else as the grid gave it; None for an axis its config ignored."""
    given = {}
    for ov in entry.get("overrides") or []:
        k, _, v = str(ov).partition("=")
        given[k.strip()] = v
    config = _run_config(run_dir) if given else None
    out: dict[str, Any] = {}
    for k in keys:
        if k == CONFIG_KEY:
            out[k] = Path(str(entry.get("config") or "?")).stem
        elif k not in given:
            out[k] = None
        else:
            v = _resolved(config, k)
            out[k] = _parse_value(given[k]) if v is _MISSING else v
    return out


def _swept(meta: dict) -> list[str]:
    """The swept keys: the grid's, after a `config` pseudo-key when the sweep has several configs."""
    keys = [a.key for a in parse_grid(meta.get("grid") or [])]
    configs = meta.get("configs") or []
    if len({str(c) for c in configs}) > 1:
        keys.insert(0, CONFIG_KEY)
    return keys


def name_of(meta: dict) -> str:
    """A sweep's short name: its configs' stems and its grid's keys, `gru+lstm: hidden x lr`."""
    configs = "+".join(dict.fromkeys(Path(str(c)).stem for c in meta.get("configs") or [])) or "?"
    keys = [k.split(".")[-1] for k in _swept({**meta, "configs": []})]
    return configs + (": " + " x ".join(keys) if keys else "")


def sweep_view(sweep: SweepDir, *, permutations: int = PERMUTATIONS) -> dict[str, Any]:
    """Everything a front end shows of one sweep (read from its directories, nothing written).

    {sweep_id, name, created, path, report (sweep_report.json path or None), metric, metric_source,
     lower_is_better, complete, active, done, total, counts, keys: [{key, numeric, values}],
     runs: [{run_id, label, status, epoch, epochs, error, values: {key: value}, val, test: {...},
             verdict, verdict_failed, verdict_text, winner}],
     winner (report.choose_winner's dict or None), importance: [{key, numeric, points, ...key_importance}],
     verdict_lines: [str], notes: [str]}"""
    meta = sweep.read()
    keys = _swept(meta)
    status = sweep_status(sweep)
    rows = report_rows(sweep, status)
    by_id = {r["run_id"]: r for r in status}
    entries = {e.get("run_id"): e for e in meta.get("runs") or []}
    winner = choose_winner(rows)
    runs = []
    for r in rows:
        st = by_id.get(r["run_id"], {})
        m = r["metrics"]
        verdict = r["verdict"] or {}
        runs.append(
            {
                "run_id": r["run_id"],
                "label": r["label"],
                "model": r["primary"] or r["model"],
                "status": r["status"],
                "epoch": st.get("epoch"),
                "epochs": st.get("epochs"),
                "error": r["error"],
                "values": _values_of(entries.get(r["run_id"], {}), keys, Path(r["path"])),
                "val": m.get(WINNER_METRIC) if r["status"] == "succeeded" else None,
                "test": {k: m.get(k) for k in TEST_METRICS},
                "verdict": verdict.get("status"),
                "verdict_failed": list(verdict.get("failed") or []),
                "verdict_text": verdict_text(r),
                "winner": winner is not None and winner["run_id"] == r["run_id"],
            }
        )
    key_rows = []
    importance = []
    for k in keys:
        vals = [run["values"][k] for run in runs if run["values"][k] is not None]
        numeric = bool(vals) and all(_is_num(v) for v in vals)
        distinct = list({_group_key(v): v for v in vals}.values())
        if numeric:
            distinct.sort()
        key_rows.append({"key": k, "numeric": numeric, "values": distinct})
        pts = [
            (run["values"][k], run["val"], run["run_id"])
            for run in runs
            if run["values"][k] is not None and run["val"] is not None
        ]
        imp = key_importance([p[0] for p in pts], [p[1] for p in pts], numeric=numeric, permutations=permutations)
        importance.append(
            {
                "key": k,
                "numeric": numeric,
                "points": [{"value": v, "metric": y, "run_id": rid} for v, y, rid in pts],
                **imp,
            }
        )
    counts: dict[str, int] = {}
    for r in runs:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    done = sum(1 for r in runs if r["status"] in TERMINAL_STATUSES or r["status"] == "missing")
    complete = all_done(status)
    notes = []
    windows = {w for (_, run) in sweep.runs() if (w := _val_window(run)) is not None}
    if len(windows) > 1:
        notes.append(
            "the runs were validated on different data or validation windows: their validation "
            "Brier scores are not like for like, so the winner and the importance are only indicative"
        )
    if not complete:
        notes.append("incomplete: some runs are still queued or running")
    lines = [f"{r['label']}: {r['verdict_text']}" + (f" — {r['error']}" if r["error"] else "") for r in runs]
    return {
        "sweep_id": sweep.sweep_id,
        "name": name_of(meta),
        "created": meta.get("created"),
        "path": str(sweep.path),
        "report": str(sweep.report_json) if sweep.report_json.is_file() else None,
        "metric": WINNER_METRIC,
        "metric_label": METRIC_LABEL,
        "metric_source": WINNER_SOURCE,
        "lower_is_better": True,
        "alpha": ALPHA,
        "permutations": permutations,
        "complete": complete,
        "active": any(r["status"] in ACTIVE_STATUSES for r in runs),
        "done": done,
        "total": len(runs),
        "counts": counts,
        "keys": key_rows,
        "runs": runs,
        "winner": winner,
        "importance": importance,
        "verdict_lines": lines,
        "notes": notes,
    }


def sweep_summary(sweep: SweepDir) -> dict[str, Any]:
    """One line of the list of sweeps: {sweep_id, name, created, done, total, active, complete,
    best (the winner's val metric), winner (label), winner_run_id, error}."""
    try:
        meta = sweep.read()
    except Exception as exc:  # noqa: BLE001 — one unreadable sweep must not hide the others
        return {
            "sweep_id": sweep.sweep_id,
            "name": "?",
            "created": None,
            "done": 0,
            "total": 0,
            "active": False,
            "complete": False,
            "best": None,
            "winner": None,
            "winner_run_id": None,
            "error": str(exc),
        }
    status = sweep_status(sweep)
    rows = report_rows(sweep, status)
    winner = choose_winner(rows)
    return {
        "sweep_id": sweep.sweep_id,
        "name": name_of(meta),
        "created": meta.get("created"),
        "done": sum(1 for r in status if r["status"] in TERMINAL_STATUSES or r["status"] == "missing"),
        "total": len(status),
        "active": any(r["status"] in ACTIVE_STATUSES for r in status),
        "complete": all_done(status),
        "best": None if winner is None else winner["value"],
        "winner": None if winner is None else winner["label"],
        "winner_run_id": None if winner is None else winner["run_id"],
        "error": None,
    }
