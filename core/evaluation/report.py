"""Run artifacts from an evaluation report: metrics.csv, the two PNGs and training_log.md.

Everything is written atomically. Plots use matplotlib's Agg backend (no display needed),
imported lazily so that importing this module stays cheap.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from collections.abc import Iterable

import numpy as np

from core.evaluation import metrics
from core.fsutil import atomic_open, atomic_write_bytes, atomic_write_text

METRIC_COLUMNS = ("eval_id", "fold", "split", "model", "metric", "k", "value")


# --------------------------------------------------------------------------- metrics.csv


def metric_rows(report: dict, *, fold: int, eval_id: str) -> list[dict]:
    """Long-format rows for every (split, model, metric, k), plus the paired test per K."""
    out = []
    for name, block in report["models"].items():
        for split in ("val", "test"):
            for row in metrics.rows(block[split], split, name):
                out.append({"eval_id": eval_id, "fold": fold, **row})
            for metric in ("ece_raw", "classwise_ece_raw", "brier_skill_raw"):
                out.append(
                    {
                        "eval_id": eval_id,
                        "fold": fold,
                        "split": split,
                        "model": name,
                        "metric": metric,
                        "k": None,
                        "value": block[split][metric],
                    }
                )
    comparisons = dict(report.get("versus_uniform") or {})
    if report.get("comparison") and report.get("reference"):
        comparisons[report["primary"]] = report["comparison"]
    for name, comp in comparisons.items():
        ref = report["reference"] if name == report["primary"] and report["comparison"] is comp else "uniform"
        label = f"{name}_vs_{ref}"
        for j, k in enumerate(comp["ks"]):
            for metric in ("p_value", "p_holm"):
                out.append(
                    {
                        "eval_id": eval_id,
                        "fold": fold,
                        "split": "test",
                        "model": label,
                        "metric": f"mcnemar_{metric}",
                        "k": k,
                        "value": comp[metric][j],
                    }
                )
        out.append(
            {
                "eval_id": eval_id,
                "fold": fold,
                "split": "test",
                "model": label,
                "metric": "beats",
                "k": None,
                "value": int(comp["beats"]),
            }
        )
    return out


def _fmt(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float):
        return "" if np.isnan(v) else repr(v)
    return str(v)


def write_metrics_csv(path: Path, rows: Iterable[dict]) -> None:
    with atomic_open(path, "w") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(METRIC_COLUMNS)
        for r in rows:
            w.writerow([_fmt(r.get(c)) for c in METRIC_COLUMNS])


def read_metrics_csv(path: Path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


# --------------------------------------------------------------------------- plots


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    atomic_write_bytes(path, buf.getvalue())


def _arr(x) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in x], dtype=float)


def quantile_reliability(y: np.ndarray, p: np.ndarray, bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """Mean predicted vs observed frequency in `bins` equal-mass bins of p: a finer view than
    the equal-width ECE bins when every probability sits in a narrow range. y, p (T, P)."""
    order = np.argsort(p, axis=None, kind="stable")
    chunks = np.array_split(order, bins)
    yf, pf = y.ravel().astype(float), p.ravel()
    return np.array([pf[c].mean() for c in chunks]), np.array([yf[c].mean() for c in chunks])


def plot_reliability(report: dict, arrays: dict, path: Path, split: str = "test") -> None:
    """Reliability of the primary model before and after calibration, with how many
    (day, part) pairs sit at each predicted probability."""
    plt = _pyplot()
    name = report["primary"]
    block = report["models"][name][split]
    y = np.asarray(arrays[f"y_{split}"], dtype=bool)
    raw = np.asarray(arrays[f"{name}__raw_{split}"], dtype=float)
    cal = np.asarray(arrays[f"{name}__prob_{split}"], dtype=float)
    bins = report["models"][name][split]["bins"]
    fig, (ax, axn) = plt.subplots(
        2, 1, figsize=(6.4, 6.8), sharex=True, gridspec_kw={"height_ratios": [3, 1.1], "hspace": 0.08}
    )
    lo = float(min(raw.min(), cal.min(), y.mean()))
    hi = float(max(np.quantile(raw, 0.999), np.quantile(cal, 0.999)))
    pad = 0.08 * (hi - lo) + 1e-3
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle="--", linewidth=1, label="perfectly calibrated")
    method = report["models"][name]["calibration"].get("name")
    for probs, label, style in (
        (raw, f"before (raw scores): ECE {block['ece_raw']:.3f}", dict(color="#d62728", marker="o", mfc="white")),
        (cal, f"after ({method}): ECE {block['ece']:.3f}", dict(color="#1f77b4", marker="o")),
    ):
        mp, my = quantile_reliability(y, probs)
        ax.plot(mp, my, linewidth=1.5, markersize=4, label=label, **style)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_ylabel("observed frequency of the event")
    ax.set_title(
        f"Reliability of {name} on the {split} window ({block['n_days']} days x {block['n_parts']} parts)\n"
        f"points: 20 equal-mass bins; ECE uses {bins} equal-width bins",
        fontsize=9.5,
    )
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    edges = np.linspace(lo, hi, 41)
    axn.hist(raw.ravel(), bins=edges, color="#d62728", alpha=0.45, label="before")
    axn.hist(cal.ravel(), bins=edges, color="#1f77b4", alpha=0.45, label="after")
    axn.set_ylabel("(day, part)\npairs", fontsize=8)
    axn.set_xlabel("predicted probability")
    axn.legend(fontsize=7, loc="upper right")
    axn.grid(alpha=0.3)
    _save(fig, path)
    plt.close(fig)


def plot_tier_rates(report: dict, path: Path, split: str = "test") -> None:
    """good-or-better@K: model, reference baseline, random and (when known) oracle, with intervals."""
    plt = _pyplot()
    ks = np.asarray(report["ks"])
    good = report["good_tier"]
    min_hits = report["tiers"][good]
    primary, reference = report["primary"], report["reference"]
    fig, ax = plt.subplots(figsize=(7.2, 4.6))

    def line(name, label, color, marker, offset):
        g = report["models"][name][split]["good_or_better"]
        r, lo, hi = _arr(g["rate"]), _arr(g["ci_low"]), _arr(g["ci_high"])
        ax.errorbar(
            ks + offset,
            r,
            yerr=[r - lo, hi - r],
            color=color,
            marker=marker,
            capsize=3,
            linewidth=1.6,
            markersize=5,
            label=label,
        )

    test = report["models"][primary][split]
    if test.get("oracle"):
        o = test["oracle"]["tier_rates"][good]
        ax.plot(ks, _arr(o["rate"]), color="0.2", linewidth=1.2, label="oracle (true probabilities)")
    ax.plot(
        ks,
        _arr(test["good_or_better"]["random"]),
        color="0.5",
        linestyle=":",
        linewidth=1.6,
        label="random pool (hypergeometric)",
    )
    if reference is not None and reference != primary:
        line(reference, f"{reference} (reference)", "#ff7f0e", "s", -0.08)
    line(primary, f"{primary}", "#1f77b4", "o", 0.08)
    comp = report.get("comparison")
    verdict = ""
    if comp:
        verdict = (
            f"beats {reference} at K={','.join(map(str, comp['beats_at']))} (Holm p<0.05)"
            if comp["beats"]
            else f"does not beat {reference} at any K (Holm p<0.05)"
        )
    ax.set_title(
        f"Share of {split} days whose top-K pool holds >= {min_hits} of the day's events\n{primary}: {verdict}"
        if verdict
        else f"Share of {split} days whose top-K pool holds >= {min_hits} of the day's events",
        fontsize=10,
    )
    ax.set_xlabel("pool size K (parts kept)")
    ax.set_ylabel(f"{good}-or-better rate (95% Wilson interval)")
    ax.set_xticks(ks)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    _save(fig, path)
    plt.close(fig)


# --------------------------------------------------------------------------- training_log.md


def fmt(v, digits=4) -> str:
    """A number as the reports print it: `digits` decimals, "–" for a missing or NaN value."""
    if v is None:
        return "–"
    if isinstance(v, float):
        return "–" if np.isnan(v) else f"{v:.{digits}f}"
    return str(v)


def model_table(report: dict, split: str = "test") -> str:
    ks = report["ks"]
    good = report["good_tier"]
    head = [
        "model",
        "calibration",
        "AUC",
        "PR-AUC",
        "Brier skill",
        "ECE raw→cal",
        "classwise ECE",
        f"{good}+@{ks[0]}",
        f"{good}+@{ks[-1]}",
        "lift",
    ]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, m in report["models"].items():
        t = m[split]
        g = t["good_or_better"]["rate"]
        mark = (
            " **(primary)**" if name == report["primary"] else (" (reference)" if name == report["reference"] else "")
        )
        lines.append(
            "| "
            + " | ".join(
                [
                    name + mark,
                    str(m["calibration"].get("name")),
                    fmt(t["auc_macro"]),
                    fmt(t["pr_auc_macro"]),
                    fmt(t["brier_skill"]),
                    f"{fmt(t['ece_raw'], 3)}→{fmt(t['ece'], 3)}",
                    fmt(t["classwise_ece"], 3),
                    fmt(g[0], 3),
                    fmt(g[-1], 3),
                    fmt(t.get("lift_capture"), 2),
                ]
            )
            + " |"
        )
    return "\n".join(lines)


def tier_table(report: dict, split: str = "test") -> str:
    ks = report["ks"]
    primary, ref = report["primary"], report["reference"]
    t = report["models"][primary][split]
    g = t["good_or_better"]
    cols = ["K", primary]
    if ref and ref != primary:
        cols.append(ref)
    cols += ["random"]
    if t.get("oracle"):
        cols.append("oracle")
    comp = report.get("comparison")
    if comp:
        cols.append("Holm p")
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for j, k in enumerate(ks):
        row = [str(k), f"{fmt(g['rate'][j], 3)} [{fmt(g['ci_low'][j], 3)}, {fmt(g['ci_high'][j], 3)}]"]
        if ref and ref != primary:
            row.append(fmt(report["models"][ref][split]["good_or_better"]["rate"][j], 3))
        row.append(fmt(g["random"][j], 3))
        if t.get("oracle"):
            row.append(fmt(t["oracle"]["tier_rates"][report["good_tier"]]["rate"][j], 3))
        if comp:
            row.append(fmt(comp["p_holm"][j], 4))
        lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines)


def training_log(
    *,
    run_id: str,
    config_yaml: str,
    manifest: dict,
    report: dict,
    folds: list[dict] | None = None,
    epochs: list[dict] | None = None,
    error: str | None = None,
) -> str:
    """The human summary of a run: what ran on what data, the numbers, the verdict."""
    data = manifest.get("data", {})
    touches = manifest.get("test_touches", [])
    split = (manifest.get("splits") or [{}])[-1]
    parts = [f"# Run {run_id}", ""]
    if error:
        parts += ["## FAILED", "", "```", error.rstrip(), "```", ""]
    verdict = report.get("verdict") if report else None
    if verdict:
        line = f"**Verdict: {verdict['status']}**"
        if verdict["failed"]:
            line += " — failing: " + ", ".join(verdict["failed"])
        parts += [line, ""]
        for c in verdict["criteria"]:
            parts.append(
                f"- [{'x' if c['ok'] else ' '}] {c['rule']} (value: {fmt(c['value']) if not isinstance(c['value'], list) else c['value']})"
            )
        parts.append("")
    parts += [
        "## Data",
        "",
        f"- file: `{data.get('path')}` ({data.get('rows')} days x {data.get('parts')} parts, "
        f"{data.get('first_date')} .. {data.get('last_date')})",
        f"- sha256: `{data.get('sha256')}`",
        f"- truth file: {'yes — oracle and lift capture reported' if data.get('truth') else 'no'}",
    ]
    if split:
        parts.append(
            "- split (forward chaining): "
            + ", ".join(
                f"{p} {split[p]['first_date']}..{split[p]['last_date']} ({split[p]['n']} days)"
                for p in ("train", "val", "test")
                if p in split
            )
        )
    parts += [f"- test window touched **{len(touches)}** time(s):"]
    for t in touches:
        parts.append(f"  - {t.get('ts')}: {t.get('what')}")
    parts.append("")
    if epochs:
        parts += ["## Training", "", "| epoch | train loss | val loss | seconds |", "|---|---|---|---|"]
        for e in epochs:
            parts.append(
                f"| {e.get('epoch')} | {fmt(e.get('train_loss'))} | {fmt(e.get('val_loss'))} | {fmt(e.get('seconds'), 2)} |"
            )
        parts.append("")
    if report and report.get("primary"):
        sel = report["selection"]
        parts += [
            "## Models on the test window",
            "",
            f"Primary: **{report['primary']}**; reference: **{report['reference']}**; best baseline "
            f"(chosen on validation by {sel['by']}): **{report['best_baseline']}**.",
            "",
            model_table(report, "test"),
            "",
            f"## {report['good_tier']}-or-better@K on the test window (95% Wilson intervals)",
            "",
            tier_table(report, "test"),
            "",
            "## Validation window",
            "",
            model_table(report, "val"),
            "",
        ]
        vu = report.get("versus_uniform") or {}
        if vu:
            parts += ["## Versus uniform (test, McNemar + Holm)", ""]
            for name, comp in vu.items():
                parts.append(
                    f"- {name}: "
                    + (f"beats uniform at K={comp['beats_at']}" if comp["beats"] else "does not beat uniform")
                )
            parts.append("")
    if folds:
        parts += [
            "## Rolling-origin folds",
            "",
            "| fold | test window | primary | ECE | Brier skill | best good+ | verdict |",
            "|---|---|---|---|---|---|---|",
        ]
        for f in folds:
            s = f["summary"]
            parts.append(
                f"| {f['fold']} | {f['test_window']} | {s.get('primary')} | {fmt(s.get('ece_after'), 3)} | "
                f"{fmt(s.get('brier_skill'))} | {fmt(s.get('best_good_or_better'), 3)} | {s.get('verdict')} |"
            )
        parts.append("")
    parts += ["## Config", "", "```yaml", config_yaml.rstrip(), "```", ""]
    return "\n".join(parts)


def write_training_log(path: Path, text: str) -> None:
    atomic_write_text(path, text)
