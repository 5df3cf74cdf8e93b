"""One honest evaluation of a set of scorers on one forward-chaining split.

Every scorer hands over its logits for the validation and test windows. For each one a
calibrator is fitted on validation only, every metric is computed on validation and test,
the best baseline is chosen on validation (never test), and the primary model is compared
with its reference on test by the paired McNemar + Holm test (docs/ARCHITECTURE.md, "Metrics"). The verdict
against the config's `targets` follows.

Nothing here reads a file or knows about run directories: arrays in, a JSON-ready dict
(plus the arrays for predictions.npz) out.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from core.evaluation import metrics
from core.evaluation.calibration import fit_calibrator

UNIFORM = "uniform"


@dataclass
class Scored:
    """One scorer's logits over the validation and test windows: (Tv, P) and (Tt, P)."""

    name: str
    kind: str
    role: str  # "baseline" | "model"
    logits_val: np.ndarray
    logits_test: np.ndarray


@dataclass
class Windows:
    """Labels of one split; truth (true probabilities) when the data came with a truth file."""

    base_rate: np.ndarray  # (P,) per-part rate over the training window
    y_val: np.ndarray  # (Tv, P) bool
    y_test: np.ndarray  # (Tt, P) bool
    dates_val: np.ndarray
    dates_test: np.ndarray
    truth_val: np.ndarray | None = None
    truth_test: np.ndarray | None = None


@dataclass
class Outcome:
    report: dict  # JSON-ready
    arrays: dict[str, np.ndarray] = field(default_factory=dict)  # for predictions.npz
    calibrators: dict[str, dict] = field(default_factory=dict)  # name -> Calibrator.state()


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -40.0, 40.0)))


def informative(truth: np.ndarray) -> bool:
    """Whether true probabilities differ between parts on some day (T, P)."""
    return bool(np.any(np.ptp(truth, axis=1) > 1e-12))


def _mean_good_rate(block: dict, good_tier: str) -> float:
    rates = block[good_tier]["rate"]
    return float(np.mean(rates))


def evaluate_scorers(scored: list[Scored], win: Windows, cfg) -> Outcome:
    """Calibrate on validation, evaluate on validation and test, choose, compare, judge.

    cfg: a `core.config.Config` (uses `calibration`, `eval`, `targets`).
    """
    ev = cfg.eval
    tiers = dict(ev.tiers)
    ks = list(ev.k)
    common = dict(ks=ks, tiers=tiers, good_tier=ev.good_tier, bins=ev.ece_bins, base_rate=win.base_rate)
    models: dict[str, dict] = {}
    arrays: dict[str, np.ndarray] = {
        "dates_val": win.dates_val,
        "dates_test": win.dates_test,
        "y_val": win.y_val,
        "y_test": win.y_test,
        "base_rate": win.base_rate,
    }
    calibrators: dict[str, dict] = {}
    indicators: dict[str, np.ndarray] = {}

    for s in scored:
        # The uniform scorer is the no-information reference: calibrating it per part would
        # turn it into a frequency model, so it stays as it is.
        method = "none" if s.kind == UNIFORM else cfg.calibration.method
        cal, cal_report = fit_calibrator(
            s.logits_val,
            win.y_val,
            method=method,
            per_part=cfg.calibration.per_part,
            holdout_fraction=cfg.calibration.holdout_fraction,
        )
        raw_val, raw_test = sigmoid(s.logits_val), sigmoid(s.logits_test)
        p_val, p_test = cal.transform(s.logits_val), cal.transform(s.logits_test)
        block = {"kind": s.kind, "role": s.role, "calibration": cal_report}
        for split, y, p, raw, truth in (
            ("val", win.y_val, p_val, raw_val, win.truth_val),
            ("test", win.y_test, p_test, raw_test, win.truth_test),
        ):
            res = metrics.evaluate(y, p, p_raw=raw, truth=truth, **common)
            if truth is not None and not informative(truth):
                # A constant truth (the uniform control) ranks by part id like the uniform
                # scorer: (model - random) / (oracle - random) would be noise, not lift.
                res["lift_capture"] = None
                res["oracle"]["lift_capture"] = {t: None for t in res["oracle"]["lift_capture"]}
            res["ece_raw"] = metrics.ece(y, raw, ev.ece_bins)
            res["classwise_ece_raw"] = metrics.classwise_ece(y, raw, ev.ece_bins)
            res["brier_skill_raw"] = metrics.brier_skill(y, raw, win.base_rate)
            res["reliability_raw"] = metrics.jsonable(metrics.reliability(y, raw, ev.ece_bins))
            block[split] = res
        models[s.name] = block
        indicators[s.name] = metrics.day_indicators(win.y_test, p_test, ks, tiers, ev.good_tier)
        calibrators[s.name] = cal.state()
        for split, arr in (("val", s.logits_val), ("test", s.logits_test)):
            arrays[f"{s.name}__logits_{split}"] = np.asarray(arr, dtype=np.float64)  # eval re-fits from these exactly
        for key, arr in (("raw_val", raw_val), ("raw_test", raw_test), ("prob_val", p_val), ("prob_test", p_test)):
            arrays[f"{s.name}__{key}"] = arr.astype(np.float32)

    baselines = [s.name for s in scored if s.role == "baseline"]
    learned = [s.name for s in scored if s.role == "model"]
    # Chosen on validation by the raw ranking, which no in-sample calibrator has touched.
    selection = {n: _mean_good_rate(models[n]["val"]["raw_tier_rates"], ev.good_tier) for n in baselines}
    best_baseline = max(baselines, key=lambda n: (selection[n], n != UNIFORM)) if baselines else None
    if learned:
        val_score = {n: _mean_good_rate(models[n]["val"]["raw_tier_rates"], ev.good_tier) for n in learned}
        primary = max(learned, key=lambda n: val_score[n])
        reference = best_baseline
    else:
        primary = best_baseline
        reference = UNIFORM if UNIFORM in models else None
    comparison = None
    if primary is not None and reference is not None and primary != reference:
        comparison = metrics.jsonable(metrics.compare(indicators[primary], indicators[reference], ks))
    versus_uniform = {}
    if UNIFORM in models:
        for n in models:
            if n != UNIFORM:
                versus_uniform[n] = metrics.jsonable(metrics.compare(indicators[n], indicators[UNIFORM], ks))

    report = {
        "ks": ks,
        "tiers": tiers,
        "good_tier": ev.good_tier,
        "models": models,
        "selection": {"by": f"validation mean {ev.good_tier}-or-better over K, raw ranking", "scores": selection},
        "best_baseline": best_baseline,
        "primary": primary,
        "reference": reference,
        "comparison": comparison,
        "versus_uniform": versus_uniform,
    }
    report["verdict"] = verdict(report, cfg.targets) if primary is not None else None
    report["summary"] = summary(report)
    return Outcome(report, arrays, calibrators)


def verdict(report: dict, targets) -> dict:
    """APPROVED when every target holds on the test window, else FAILED naming what failed."""
    test = report["models"][report["primary"]]["test"]
    criteria = [
        {
            "name": "ece",
            "rule": f"ECE after calibration <= {targets.ece_max}",
            "value": test["ece"],
            "ok": test["ece"] is not None and test["ece"] <= targets.ece_max,
        },
        {
            "name": "brier_skill",
            "rule": f"Brier skill > {targets.brier_skill_min}",
            "value": test["brier_skill"],
            "ok": test["brier_skill"] is not None and test["brier_skill"] > targets.brier_skill_min,
        },
    ]
    if targets.beat_baseline:
        comp = report["comparison"]
        if report["reference"] is None:
            rule, value = "beats a reference", "no reference scorer in this run"
        elif report["primary"] == report["reference"]:
            rule = f"beats {report['reference']} (McNemar, Holm-adjusted p < 0.05 at some K)"
            value = f"no baseline did better than {report['reference']} on validation"
        else:
            rule = f"beats {report['reference']} (McNemar, Holm-adjusted p < 0.05 at some K)"
            value = comp["beats_at"]
        criteria.append({"name": "beats_reference", "rule": rule, "value": value, "ok": bool(comp and comp["beats"])})
    failed = [c["name"] for c in criteria if not c["ok"]]
    return {"status": "APPROVED" if not failed else "FAILED", "failed": failed, "criteria": criteria}


def summary(report: dict) -> dict:
    """The handful of numbers the run index, the TUI table and `runs ls` show."""
    primary = report["primary"]
    if primary is None:
        return {}
    m = report["models"][primary]
    test, val = m["test"], m["val"]
    good = test["good_or_better"]
    rates = good["rate"]
    best_i = int(np.nanargmax(rates)) if rates else 0
    comp = report["comparison"] or {}
    return {
        "primary": primary,
        "reference": report["reference"],
        "best_baseline": report["best_baseline"],
        "calibration": m["calibration"].get("name"),
        "val_brier": val["brier"],
        "auc": test["auc_macro"],
        "pr_auc": test["pr_auc_macro"],
        "brier_skill": test["brier_skill"],
        "ece_before": test["ece_raw"],
        "ece_after": test["ece"],
        "classwise_ece": test["classwise_ece"],
        "best_good_or_better": rates[best_i] if rates else None,
        "best_k": report["ks"][best_i] if rates else None,
        "lift_capture": test.get("lift_capture"),
        "beats_reference": bool(comp.get("beats")),
        "beats_at": comp.get("beats_at", []),
        "verdict": (report.get("verdict") or {}).get("status"),
    }
