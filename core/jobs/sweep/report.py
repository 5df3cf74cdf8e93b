"""Sweep reports (core.jobs.sweep): sweep_report.json / .md, a row per run and a winner.

The report has a row per run (label, model, status, key metrics from its report.json
summary, its readiness verdict against its config's `targets`, reused from report.json)
and a WINNER chosen on validation only: the lowest `models[primary].val.brier` of
report.json among succeeded runs. The test window plays no part in the choice.
"""

from __future__ import annotations

import json
import math
from datetime import datetime, UTC
from typing import Any

from core.fsutil import atomic_write_text
from core.jobs.sweep.layout import SweepDir, all_done, sweep_status
from core.runs import RunDir, format_ts

WINNER_METRIC = "val_brier"
WINNER_SOURCE = "report.json models[primary].val.brier (validation window; lower is better)"


def _report_of(run: RunDir) -> dict | None:
    try:
        return json.loads((run.path / "report.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _num(x: Any) -> float | None:
    return float(x) if isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) else None


# --------------------------------------------------------------------------- report


def _val_window(run: RunDir) -> Any:
    try:
        man = json.loads((run.path / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    splits = man.get("splits") or []
    last = splits[-1] if splits else {}
    return ((man.get("data") or {}).get("sha256"), json.dumps(last.get("val", last), sort_keys=True, default=str))


def report_rows(sweep: SweepDir, status_rows: list[dict] | None = None) -> list[dict]:
    """A row per run; `status_rows` is `sweep_status(sweep)` when the caller has read it already."""
    rows = []
    status = {r["run_id"]: r for r in (sweep_status(sweep) if status_rows is None else status_rows)}
    for entry, run in sweep.runs():
        st = status[run.run_id]
        row = {
            "label": entry.get("label"),
            "run_id": run.run_id,
            "path": str(run.path),
            "config": entry.get("config"),
            "overrides": entry.get("overrides", []),
            "job": entry.get("job"),
            "model": entry.get("model"),
            "status": st["status"],
            "error": st["error"],
            "primary": None,
            "reference": None,
            "metrics": {},
            "verdict": None,
        }
        rep = _report_of(run) if st["status"] == "succeeded" else None
        if rep is not None and rep.get("primary") is not None:
            primary = rep["primary"]
            s = rep.get("summary") or {}
            val = ((rep.get("models") or {}).get(primary) or {}).get("val") or {}
            row["primary"], row["reference"] = primary, rep.get("reference")
            row["metrics"] = {
                "val_brier": _num(val.get("brier")),
                "brier_skill": _num(s.get("brier_skill")),
                "ece_after": _num(s.get("ece_after")),
                "ece_before": _num(s.get("ece_before")),
                "auc": _num(s.get("auc")),
                "best_good_or_better": _num(s.get("best_good_or_better")),
                "best_k": s.get("best_k"),
                "lift_capture": _num(s.get("lift_capture")),
                "beats_reference": s.get("beats_reference"),
                "beats_at": s.get("beats_at"),
                "calibration": s.get("calibration"),
            }
            v = rep.get("verdict")
            if v:
                row["verdict"] = {
                    "status": v.get("status"),
                    "failed": list(v.get("failed") or []),
                    "criteria": v.get("criteria") or [],
                }
        rows.append(row)
    return rows


def choose_winner(rows: list[dict]) -> dict | None:
    """Lowest validation Brier among succeeded runs (ties: the earlier run)."""
    best = None
    for i, r in enumerate(rows):
        v = r["metrics"].get(WINNER_METRIC) if r["status"] == "succeeded" else None
        if v is None:
            continue
        if best is None or v < best[0]:
            best = (v, i)
    if best is None:
        return None
    r = rows[best[1]]
    return {
        "label": r["label"],
        "run_id": r["run_id"],
        "metric": WINNER_METRIC,
        "source": WINNER_SOURCE,
        "value": best[0],
        "primary": r["primary"],
        "verdict": (r["verdict"] or {}).get("status"),
    }


def build_report(sweep: SweepDir) -> dict:
    meta = sweep.read()
    rows = report_rows(sweep)
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    windows = {w for (_, run) in sweep.runs() if (w := _val_window(run)) is not None}
    notes = []
    if len(windows) > 1:
        notes.append(
            "the runs were validated on different data or validation windows: their validation "
            "Brier scores are not like for like, so the winner is only indicative"
        )
    if not all_done(rows):
        notes.append("incomplete: some runs are still queued or running")
    return {
        "sweep_id": sweep.sweep_id,
        "created": meta.get("created"),
        "reported": format_ts(datetime.now(UTC)),
        "runs_root": str(sweep.root),
        "configs": meta.get("configs"),
        "grid": meta.get("grid"),
        "overrides": meta.get("overrides"),
        "data": meta.get("data"),
        "parallel": meta.get("parallel"),
        "complete": all_done(rows),
        "counts": counts,
        "approved": sum(1 for r in rows if (r["verdict"] or {}).get("status") == "APPROVED"),
        "winner": choose_winner(rows),
        "winner_rule": f"lowest {WINNER_SOURCE} among succeeded runs; the test window plays no part in the choice",
        "notes": notes,
        "runs": rows,
    }


def _f(x: Any, nd: int = 4) -> str:
    return "–" if x is None else (f"{x:.{nd}f}" if isinstance(x, float) else str(x))


def _criterion_note(c: dict) -> str:
    v = c.get("value")
    if isinstance(v, float):
        v = f"{v:.4g}"
    elif isinstance(v, list):
        v = "none" if not v else ",".join(map(str, v))
    return f"{c.get('name')} ({c.get('rule')}: {v})"


def verdict_text(row: dict) -> str:
    v = row.get("verdict")
    if v is None:
        return "–" if row["status"] == "succeeded" else f"not judged ({row['status']})"
    return v["status"] + (f" ({', '.join(v['failed'])})" if v["failed"] else "")


def render_markdown(report: dict) -> str:
    w = report["winner"]
    lines = [
        f"# Sweep {report['sweep_id']}",
        "",
        f"Created {report['created']}; {len(report['runs'])} runs, parallel {report['parallel']}; "
        f"runs root `{report['runs_root']}`.",
        f"Configs: {', '.join(f'`{c}`' for c in report['configs'] or [])}"
        + (f"; grid: {', '.join(f'`{g}`' for g in report['grid'])}" if report["grid"] else "")
        + (f"; overrides: {', '.join(f'`{o}`' for o in report['overrides'])}" if report["overrides"] else "")
        + (f"; data: `{report['data']}`" if report.get("data") else "")
        + ".",
        "",
        "| # | label | model | primary | status | verdict | val Brier | test Brier skill | test ECE | test AUC "
        "| best good+ @K | lift capture |",
        "|---|---|---|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, r in enumerate(report["runs"], 1):
        m = r["metrics"]
        win = " **(winner)**" if w and w["run_id"] == r["run_id"] else ""
        good = "–" if m.get("best_good_or_better") is None else f"{m['best_good_or_better']:.3f} @{m.get('best_k')}"
        lines.append(
            f"| {i} | {r['label']}{win} | {r['model']} | {r['primary'] or '–'} | {r['status']} | {verdict_text(r)} "
            f"| {_f(m.get('val_brier'), 5)} | {_f(m.get('brier_skill'))} | {_f(m.get('ece_after'), 3)} "
            f"| {_f(m.get('auc'), 3)} | {good} | {_f(m.get('lift_capture'), 2)} |"
        )
    lines += [""]
    if w:
        lines.append(
            f"**Winner: {w['label']}** (run `{w['run_id']}`, primary {w['primary']}, verdict "
            f"{w['verdict']}) — validation Brier {w['value']:.5f}."
        )
    else:
        lines.append("**Winner: none** — no run succeeded.")
    lines += [f"Chosen by the {report['winner_rule']}. Test columns are for information only.", ""]
    for n in report["notes"]:
        lines.append(f"> Note: {n}")
    if report["notes"]:
        lines.append("")
    lines += [
        "## Readiness verdicts",
        "",
        "Each run is judged against its own config's `targets` on the test window (from its report.json).",
        "",
    ]
    for r in report["runs"]:
        v = r["verdict"]
        if v is None:
            why = f": {r['error']}" if r.get("error") else ""
            lines.append(f"- **{r['label']}**: not judged — run {r['status']}{why}")
            continue
        crit = {c.get("name"): c for c in v["criteria"]}
        text = (
            "APPROVED"
            if v["status"] == "APPROVED"
            else "FAILED — failing: " + "; ".join(_criterion_note(crit.get(n, {"name": n})) for n in v["failed"])
        )
        lines.append(f"- **{r['label']}** (`{r['run_id']}`): {text}")
    lines += ["", "## Runs", ""]
    for r in report["runs"]:
        ov = f" with `{' '.join(r['overrides'])}`" if r["overrides"] else ""
        lines.append(f"- {r['label']}: `{r['config']}`{ov} -> `{r['path']}`")
    return "\n".join(lines) + "\n"


def write_report(sweep: SweepDir) -> dict:
    """Write sweep_report.json and sweep_report.md into the sweep directory; returns the report."""
    report = build_report(sweep)
    atomic_write_text(sweep.report_json, json.dumps(report, indent=2, default=str) + "\n")
    atomic_write_text(sweep.report_md, render_markdown(report))
    return report
