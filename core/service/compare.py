"""Comparing runs: config differences, metrics side by side, and the paired test on the same days.

`compare_runs` is what `synapse runs compare` shows, and `compare_view` (built on it) what
the dashboard's compare screen shows; `paired_view` is the screen's paired test. The paired
McNemar + Holm test of the first run's primary against each other's looks at the test
windows, so it is recorded in every paired run's manifest (`test_touches`).
"""

from __future__ import annotations

import json
import os

from core.errors import InputError
from core.runs import RunDir, record_test_touch
from core.runs.status import ACTIVE_STATUSES
from core.service.runs import open_runs, read_report, run_detail, run_row

# --------------------------------------------------------------------------- config differences


MISSING = object()


def config_diff(configs: list[dict | None]) -> dict[str, list]:
    """Dotted keys whose values differ between the configs: {key: [value per config]}.

    A config that could not be read (None) shows MISSING everywhere and differs from nothing:
    an unreadable config.yaml is not a run whose every key changed."""
    from core.config import flatten_config  # pydantic and yaml: only when configs are compared

    flats = [flatten_config(c) if c is not None else None for c in configs]
    known = [f for f in flats if f is not None]
    keys = sorted(set().union(*known)) if known else []
    out = {}
    for k in keys:
        vals = [MISSING if f is None else f.get(k, MISSING) for f in flats]
        seen = [f.get(k, MISSING) for f in known]
        if any(
            json.dumps(v, sort_keys=True, default=str) != json.dumps(seen[0], sort_keys=True, default=str)
            or (v is MISSING) != (seen[0] is MISSING)
            for v in seen[1:]
        ):
            out[k] = vals
    return out


# --------------------------------------------------------------------------- gathering and the paired test


def gather(rds: list[RunDir], root: str | os.PathLike) -> dict:
    """Everything compare shows, read from the run directories."""
    from core.store import read_yaml

    rows = [run_row(rd, root) for rd in rds]
    reports = [read_report(rd) for rd in rds]
    cfgs = [read_yaml(rd.config_yaml) for rd in rds]
    labels = [chr(ord("A") + i) if i < 26 else f"R{i}" for i in range(len(rds))]
    return {
        "rds": rds,
        "ids": [rd.run_id for rd in rds],
        "labels": labels,
        "rows": rows,
        "reports": reports,
        # None: no readable config.yaml (config_diff then compares the others only)
        "cfgs": [cfg if isinstance(cfg, dict) else None for cfg in cfgs],
        "preds": [_load_predictions(rd, rep) for rd, rep in zip(rds, reports)],
    }


def _load_predictions(rd, report: dict | None) -> dict:
    """{'p', 'y', 'dates', 'primary'} of a run's test window, or {'missing': reason}."""
    import numpy as np

    if not rd.predictions_npz.exists():
        return {"missing": "no predictions.npz (the run has not been evaluated)"}
    try:
        with np.load(rd.predictions_npz, allow_pickle=False) as z:
            primary = str(z["primary"]) if "primary" in z.files else ""
            primary = primary or (report or {}).get("primary") or ""
            key = f"{primary}__prob_test"
            if not primary or key not in z.files:
                return {"missing": f"predictions.npz has no {key!r}"}
            return {
                "p": z[key].astype(np.float64),
                "y": z["y_test"].astype(bool),
                "dates": z["dates_test"].astype("datetime64[D]"),
                "primary": primary,
            }
    except (OSError, ValueError, KeyError) as exc:
        return {"missing": f"predictions.npz unreadable: {exc}"}


def paired_tests(c: dict) -> list[dict]:
    """The first run's primary against each other's on the same test days; refuses different windows."""
    import numpy as np

    ids, labels, preds, rows = c["ids"], c["labels"], c["preds"], c["rows"]
    a = preds[0]
    if "missing" in a:
        raise InputError(f"{ids[0]}: {a['missing']}; nothing to test the others against (or pass --no-paired)")
    for i, b in enumerate(preds[1:], start=1):
        if "missing" in b:
            continue
        if not np.array_equal(a["dates"], b["dates"]):
            raise InputError(
                f"cannot pair {ids[0]} with {ids[i]}: their test windows differ — {labels[0]} tests "
                f"{_window(a)}, {labels[i]} tests {_window(b)}; the paired test needs the same days "
                "(pass --no-paired to compare without it)"
            )
        if a["y"].shape != b["y"].shape or not np.array_equal(a["y"], b["y"]):
            raise InputError(
                f"cannot pair {ids[0]} with {ids[i]}: same test days but different outcomes (data "
                f"{str(rows[0].get('data_sha256'))[:12]} vs {str(rows[i].get('data_sha256'))[:12]}); "
                "the paired test needs the same data"
            )
    rep0 = c["reports"][0] or {}
    ks = [int(k) for k in (rep0.get("ks") or range(20, 28))]
    tiers, good_tier = rep0.get("tiers"), rep0.get("good_tier", "good")
    tests = []
    for i, b in enumerate(preds[1:], start=1):
        if "missing" in b:
            tests.append({"run": ids[i], "skipped": b["missing"]})
        else:
            tests.append(
                {
                    "run": ids[i],
                    "a": a["primary"],
                    "b": b["primary"],
                    "window": _window(a),
                    **_paired(a, b, ks, tiers, good_tier),
                }
            )
    return tests


def _paired(a: dict, b: dict, ks: list[int], tiers: dict | None, good_tier: str) -> dict:
    from core.evaluation.metrics import compare, day_indicators  # numpy: only when a test runs

    ia = day_indicators(a["y"], a["p"], ks, tiers, good_tier)
    ib = day_indicators(b["y"], b["p"], ks, tiers, good_tier)
    return compare(ia, ib, ks)


def _window(pred: dict) -> str:
    d = pred["dates"]
    return f"{d[0]}..{d[-1]} ({len(d)} days)" if len(d) else "(empty)"


def record_touches(c: dict) -> None:
    """The paired test looked at each paired run's test window: record it in their manifests."""
    done = [t["run"] for t in c["tests"] if "skipped" not in t]
    first = c["rds"][0]
    what = "runs compare: paired McNemar+Holm of good-or-better@K, {} vs {}"
    record_test_touch(first, what.format(first.run_id, ", ".join(done)), missing_ok=True)
    for rd in c["rds"][1:]:
        if rd.run_id in done:
            record_test_touch(rd, what.format(rd.run_id, first.run_id), missing_ok=True)


# --------------------------------------------------------------------------- summaries


def good_per_k(reports: list[dict | None]) -> dict:
    """Union of Ks over the runs; each run's primary test rate per K (None where not evaluated)."""
    per_run = []
    ks_all: set[int] = set()
    random: dict[int, float] = {}
    for rep in reports:
        m = {}
        if rep and rep.get("primary") in (rep.get("models") or {}):
            g = rep["models"][rep["primary"]]["test"]["good_or_better"]
            for k, rate, rnd in zip(rep["ks"], g["rate"], g.get("random") or [None] * len(rep["ks"])):
                m[int(k)] = rate
                if rnd is not None:
                    random.setdefault(int(k), rnd)
        per_run.append(m)
        ks_all |= set(m)
    ks = sorted(ks_all)
    return {"ks": ks, "rates": [[m.get(k) for k in ks] for m in per_run], "random": [random.get(k) for k in ks]}


_JSON_SUMMARY = (
    "model",
    "job",
    "status",
    "primary",
    "reference",
    "calibration",
    "auc",
    "pr_auc",
    "brier_skill",
    "ece_before",
    "ece_after",
    "classwise_ece",
    "best_good_or_better",
    "best_k",
    "lift_capture",
    "beats_reference",
    "beats_at",
    "verdict",
    "best_val_loss",
    "epochs",
    "duration_s",
    "test_touches",
)


def plain_config_diff(configs: list[dict | None]) -> dict[str, list]:
    """`config_diff` with None for a key a config lacks (or an unreadable config): plain data."""
    return {k: [None if v is MISSING else v for v in vals] for k, vals in config_diff(configs).items()}


def window_of(pred: dict) -> tuple[str, str, int] | None:
    """(first day, last day, days) of a run's test predictions; None when it has none."""
    d = pred.get("dates")
    return None if d is None or not len(d) else (str(d[0]), str(d[-1]), int(len(d)))


def compare_json(c: dict) -> dict:
    gob = good_per_k(c["reports"])
    return {
        "runs": [{"label": lab, "run_id": i, "path": r["path"]} for lab, i, r in zip(c["labels"], c["ids"], c["rows"])],
        "config_diff": plain_config_diff(c["cfgs"]),
        "summary": {i: {k: row.get(k) for k in _JSON_SUMMARY} for i, row in zip(c["ids"], c["rows"])},
        "good_or_better": {"ks": gob["ks"], "rates": dict(zip(c["ids"], gob["rates"])), "random": gob["random"]},
        "paired": c["tests"],
    }


def compare_runs(rds: list[RunDir], root: str | os.PathLike, *, paired: bool = True) -> dict:
    """Gather two or more runs and, with `paired`, test the first's primary against each other's.

    Refuses (InputError) a run given twice, and a pairing whose test windows or outcomes
    differ, before anything is recorded. The result holds the run dirs (`rds`), ids,
    labels (A, B, ...), index rows, reports, configs, test predictions and `tests`.
    """
    if len(rds) < 2:
        raise InputError("compare needs at least two runs")
    ids = [rd.run_id for rd in rds]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise InputError(f"run {sorted(dup)[0]} is given twice")
    c = gather(rds, root)
    c["tests"] = paired_tests(c) if paired else []
    if any("skipped" not in t for t in c["tests"]):
        record_touches(c)
    return c


# --------------------------------------------------------------------------- the dashboard's compare screen


def compare_view(refs: list[str], runs_dir: str | os.PathLike, *, most: int | None = None) -> dict:
    """Everything the dashboard's compare screen shows but the paired test (which touches the
    test windows: `paired_view`, on an explicit key only), read through `compare_runs`.

    `refs`: ids, unique prefixes or directories, each run once; `most`: the most runs the
    caller can show (InputError otherwise). Returns plain data: `ids`, `labels` (A, B, ...),
    index `rows`, test `windows` ((first, last, days) or None per run), `missing` (why a run
    has no test predictions, or None), `diff` (config differences, None where a key is
    absent), `gob` (`good_per_k`), `loss` (each run's loss series), `tables` (each run's
    `epoch_table`: every per-epoch metric by epoch and wall clock, a resumed run's latest
    attempt), `metrics` (the per-epoch metrics any run recorded, loss first) and `active`
    (a run is still queued or running, so the view is worth reading again).
    """
    from core.service.series import epoch_table, loss_series, union_metrics

    rds = open_runs(refs, runs_dir)
    if most is not None and not 2 <= len(rds) <= most:
        raise InputError(f"compare needs 2 to {most} different runs, got {len(rds)}")
    c = compare_runs(rds, runs_dir, paired=False)
    details = [run_detail(rd, row) for rd, row in zip(rds, c["rows"])]
    tables = [epoch_table(d["epochs"]) for d in details]
    return {
        "ids": c["ids"],
        "labels": c["labels"],
        "rows": c["rows"],
        "windows": [window_of(pred) for pred in c["preds"]],
        "missing": [pred.get("missing") for pred in c["preds"]],
        "diff": plain_config_diff(c["cfgs"]),
        "gob": good_per_k(c["reports"]),
        "loss": [loss_series(d["epochs"]) for d in details],
        "tables": tables,
        "metrics": union_metrics(tables),
        "active": any(row.get("status") in ACTIVE_STATUSES for row in c["rows"]),
    }


def paired_view(refs: list[str], runs_dir: str | os.PathLike) -> list[dict]:
    """The paired McNemar + Holm test of the first run's primary against each other's, as the
    compare screen shows it (`compare_runs(..., paired=True)["tests"]`; records test touches)."""
    return compare_runs(open_runs(refs, runs_dir), runs_dir, paired=True)["tests"]
