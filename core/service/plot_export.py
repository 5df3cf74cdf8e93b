"""A run's plots as SVG or PNG files: the loss curves, the tier rates against the baselines,
the reliability diagram, and any per-epoch metric the fit loop records (val_auc, lr,
seconds, ...), over epochs or wall-clock time, several runs overlaid.

Plain data in, a file out: `synapse runs plot` and the dashboard's export key call
`export_plot`. matplotlib (Agg backend) is imported inside it, so `synapse --help` and the
dashboard's first screen never load it. The figure is drawn in memory and written with
`core.fsutil.atomic_write_bytes`: a failure leaves the old file (or none), never half of one.
"""

from __future__ import annotations

import io
import math
import os
from datetime import datetime
from pathlib import Path
from typing import Any

from core.errors import InputError
from core.runs import RunDir
from core.service.runs import read_report, tier_curves
from core.service.series import loss_series, reliability_points, tier_names, tier_series

PLOTS = ("loss", "tiers", "reliability")
"""The named plots; any per-epoch metric name (`epoch_metrics`) is a plot too."""
FORMATS = {".svg": "svg", ".png": "png"}
MAX_RUNS = 8
X_AXES = ("epoch", "wall")
FIG_SIZE = (8.0, 4.8)  # inches; at DPI a PNG is 800 x 480 pixels
DPI = 100
EXPORT_DIR = "synapse-plots"
# Keys of an epoch event that are not metrics: the x axes and the fold.
_NOT_METRICS = {"epoch", "fold", "ts", "type"}
# Up to MAX_RUNS runs, one colour each (matplotlib's tab10 without its grey and olive).
_COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def default_export_path(run_id: str, what: str, suffix: str = ".svg") -> Path:
    """Where the dashboard writes a plot: `synapse-plots/<run>-<what><suffix>` under the
    working directory (relative, so a message can show it short)."""
    suffix = suffix if suffix.startswith(".") else f".{suffix}"
    safe = "".join(c if c.isalnum() or c in "._-@" else "_" for c in what) or "plot"
    return Path(EXPORT_DIR) / f"{run_id}-{safe}{suffix.lower()}"


def epoch_metrics(events: list[dict]) -> list[str]:
    """Every numeric key of the run's epoch events (booleans and the x axes excluded), in the
    order they first appear: train_loss, val_loss, lr, seconds, val_auc, ..."""
    seen: dict[str, None] = {}
    for e in events:
        if not isinstance(e, dict) or e.get("type") != "epoch":
            continue
        for key, value in e.items():
            if key not in _NOT_METRICS and key not in seen and _is_number(value):
                seen[key] = None
    return list(seen)


def plot_names(run_dirs: list[RunDir]) -> list[str]:
    """What `export_plot` can draw for these runs: the named plots, then their metrics."""
    names = list(PLOTS)
    for rd in run_dirs:
        names += [m for m in epoch_metrics(_events(rd)) if m not in names]
    return names


def export_plot(run_dirs: list[RunDir], what: str, out: str | os.PathLike, *, x: str = "epoch") -> Path:
    """Draw `what` for `run_dirs` (overlaid, at most MAX_RUNS) into `out`, SVG or PNG by its
    suffix, and return the path written.

    `what`: "loss" (train and validation loss per epoch, the best epoch marked), "tiers"
    (good-or-better@K of each run's primary against the best baseline, random and the
    oracle, from report.json), "reliability" (before and after calibration, report.json),
    or a per-epoch metric (`epoch_metrics`: val_auc, lr, seconds, ...). `x`: "epoch" or
    "wall" (time since the run started) for loss and metrics. The figure's title names the
    run ids and the window. Bad input (no runs, too many, an unknown plot, suffix or axis,
    a run without what the plot needs) raises InputError before anything is written; the
    parent folder is created.
    """
    out = Path(out)
    fmt = FORMATS.get(out.suffix.lower())
    if fmt is None:
        raise InputError(
            f"cannot tell the format of {out.name!r} from its suffix: use "
            + " or ".join(sorted(FORMATS))
            + " (e.g. loss.svg)"
        )
    if not run_dirs:
        raise InputError("no run to plot")
    if len(run_dirs) > MAX_RUNS:
        raise InputError(f"at most {MAX_RUNS} runs overlay in one plot, got {len(run_dirs)}")
    ids = [rd.run_id for rd in run_dirs]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        raise InputError(f"run {dup[0]} is given twice")
    if x not in X_AXES:
        raise InputError(f"unknown x axis {x!r}: use " + " or ".join(X_AXES))
    events = {rd.run_id: _events(rd) for rd in run_dirs} if what not in ("tiers", "reliability") else {}
    if what not in PLOTS:
        metrics = {m for evs in events.values() for m in epoch_metrics(evs)}
        if what not in metrics:
            import difflib

            known = list(PLOTS) + [m for m in plot_names(run_dirs) if m not in PLOTS]
            close = difflib.get_close_matches(what, known, n=1)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(f"unknown plot {what!r}{hint}: known are " + ", ".join(known))

    plt = _pyplot()
    # Text as <text> elements (searchable, selectable), stable ids: the same runs give the same file.
    with plt.rc_context({"svg.fonttype": "none", "svg.hashsalt": "synapse"}):
        fig, ax = plt.subplots(figsize=FIG_SIZE, dpi=DPI)
        try:
            if what == "loss":
                window = _draw_epochs(ax, run_dirs, events, "loss", x)
            elif what == "tiers":
                window = _draw_tiers(ax, run_dirs)
            elif what == "reliability":
                window = _draw_reliability(ax, run_dirs)
            else:
                window = _draw_epochs(ax, run_dirs, events, what, x)
            fig.suptitle(_title(ids, what, window), fontsize=9)
            ax.grid(alpha=0.3)
            fig.tight_layout()
            buf = io.BytesIO()
            # No date or software stamp in the file.
            meta: dict[str, Any] = {"Date": None} if fmt == "svg" else {"Software": None}
            fig.savefig(buf, format=fmt, dpi=DPI, metadata=meta)
        finally:
            plt.close(fig)
    from core.fsutil import atomic_write_bytes, os_reason

    try:
        if out.parent != Path(""):
            out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(out, buf.getvalue())
    except OSError as exc:
        raise InputError(f"cannot write {out}: {os_reason(exc)}") from None
    return out


# --------------------------------------------------------------------------- drawing


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _draw_epochs(ax, run_dirs: list[RunDir], events: dict[str, list[dict]], what: str, x: str) -> str:
    """Loss (train dashed, validation solid, best epoch starred) or one metric per run."""
    drawn = 0
    many = len(run_dirs) > 1
    windows = []
    scale, unit = _wall_unit(run_dirs, events) if x == "wall" else (1.0, "")
    for i, rd in enumerate(run_dirs):
        colour = _COLOURS[i % len(_COLOURS)]
        rows = _last_fold_epochs(events[rd.run_id])
        xs = _xs(rows, events[rd.run_id], x, scale)
        label = rd.run_id if many else None
        windows.append(_window(rd, "val"))
        if what == "loss":
            s = loss_series(rows)
            if not s["epoch"]:
                continue
            ax.plot(xs, s["train"], color=colour, linestyle="--", linewidth=1.2, label=_join(label, "train"))
            ax.plot(xs, s["val"], color=colour, linewidth=1.6, label=_join(label, "validation"))
            best = s["best_epoch"]
            if best in s["epoch"]:
                j = s["epoch"].index(best)
                ax.plot(
                    [xs[j]], [s["val"][j]], marker="*", markersize=12, color=colour, linestyle="none",
                    label=_join(label, f"best epoch {best}"),
                )  # fmt: skip
            drawn += 1
        else:
            ys = [_num(e.get(what)) for e in rows]
            if all(math.isnan(v) for v in ys):
                continue
            ax.plot(xs, ys, color=colour, linewidth=1.6, marker="o" if len(xs) <= 30 else None, markersize=3,
                    label=label or what)  # fmt: skip
            drawn += 1
    if not drawn:
        which = "epochs" if what == "loss" else f"epoch with {what}"
        raise InputError(
            f"{_runs_text(run_dirs)} {'have' if many else 'has'} no {which} to plot"
            + (" (a baselines run does not train)" if what == "loss" else "")
        )
    ax.set_xlabel("epoch" if x == "epoch" else f"wall-clock time since the run started ({unit})")
    ax.set_ylabel("loss (binary cross-entropy)" if what == "loss" else what)
    ax.legend(fontsize=7, loc="best")
    return _windows_text("validation", windows)


def _draw_tiers(ax, run_dirs: list[RunDir]) -> str:
    """The good-or-better@K rate of each run's primary (95% interval shaded for one run), the
    first run's best baseline, random pool and oracle."""
    windows = []
    drawn = 0
    good = None
    for i, rd in enumerate(run_dirs):
        report = _report(rd, "tiers")
        curves = tier_curves(report)
        good = good or report.get("good_tier")
        names = tier_names(curves, good if isinstance(good, str) else "good")
        if not names:
            continue
        s = tier_series(curves, names[0])
        ks = s["ks"]
        colour = _COLOURS[i % len(_COLOURS)]
        if s["model"] is None:
            continue
        label = f"{rd.run_id}: {s['primary']}" if len(run_dirs) > 1 else str(s["primary"])
        ax.plot(ks, s["model"], color=colour, marker="o", markersize=4, linewidth=1.6, label=label)
        if len(run_dirs) == 1 and s["ci_low"] and s["ci_high"]:
            ax.fill_between(ks, s["ci_low"], s["ci_high"], color=colour, alpha=0.15, label="95% interval")
        if i == 0:
            if s["baseline"]:
                ax.plot(ks, s["baseline"], color="#7f7f7f", marker="s", markersize=3, linewidth=1.2,
                        label=f"{s['baseline_name']} (best baseline)")  # fmt: skip
            if s["random"]:
                ax.plot(ks, s["random"], color="0.5", linestyle=":", linewidth=1.4, label="random pool")
            if s["oracle"]:
                ax.plot(ks, s["oracle"], color="0.15", linewidth=1.0, label="oracle (true probabilities)")
        windows.append(_window(rd, "test"))
        drawn += 1
    if not drawn:
        raise InputError(f"{_runs_text(run_dirs)}: report.json holds no tier rates of a primary model")
    ax.set_xlabel("pool size K (parts kept)")
    ax.set_ylabel(f"{good or 'good'}-or-better rate")
    ax.legend(fontsize=7, loc="best")
    return _windows_text("test", windows)


def _draw_reliability(ax, run_dirs: list[RunDir]) -> str:
    """Observed frequency against mean predicted probability per bin: before (open markers)
    and after calibration, the diagonal for perfect calibration."""
    windows = []
    drawn = 0
    lo, hi = 1.0, 0.0
    for i, rd in enumerate(run_dirs):
        report = _report(rd, "reliability")
        primary = report.get("primary")
        test = (((report.get("models") or {}).get(primary) or {}).get("test")) or {}
        colour = _COLOURS[i % len(_COLOURS)]
        prefix = f"{rd.run_id}: " if len(run_dirs) > 1 else ""
        for key, what, style in (
            ("reliability_raw", "before calibration", {"mfc": "white", "linestyle": "--"}),
            ("reliability", "after calibration", {}),
        ):
            pts = reliability_points(test.get(key) if isinstance(test.get(key), dict) else None)
            if not pts["p"]:
                continue
            ece = test.get("ece_raw" if key == "reliability_raw" else "ece")
            label = f"{prefix}{what}" + (f": ECE {ece:.4f}" if _is_number(ece) else "")
            ax.plot(pts["p"], pts["y"], color=colour, marker="o", markersize=4, linewidth=1.3, label=label,
                    **style)  # fmt: skip
            lo, hi = min(lo, *pts["p"], *pts["y"]), max(hi, *pts["p"], *pts["y"])
            drawn += 1
        windows.append(_window(rd, "test"))
    if not drawn:
        raise InputError(f"{_runs_text(run_dirs)}: report.json holds no reliability bins of a primary model")
    pad = 0.05 * (hi - lo) + 1e-3
    lo, hi = max(0.0, lo - pad), min(1.0, hi + pad)
    ax.plot([lo, hi], [lo, hi], color="0.6", linestyle=":", linewidth=1, label="perfectly calibrated")
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_xlabel("predicted probability (mean of the bin)")
    ax.set_ylabel("observed frequency of the event")
    ax.legend(fontsize=7, loc="upper left")
    return _windows_text("test", windows)


# --------------------------------------------------------------------------- reading


def _events(rd: RunDir) -> list[dict]:
    try:
        return rd.read_events()
    except OSError:
        return []


def _report(rd: RunDir, what: str) -> dict:
    report = read_report(rd)
    if not report:
        raise InputError(
            f"run {rd.run_id} has no readable report.json: nothing to draw {what} from (not evaluated yet?)"
        )
    return report


def _last_fold_epochs(events: list[dict]) -> list[dict]:
    """The epoch events of the last fold (as `loss_series` keeps them), the last of each epoch
    number where a resumed attempt wrote one again."""
    epochs = [e for e in events if isinstance(e, dict) and e.get("type") == "epoch"]
    last_fold = epochs[-1].get("fold") if epochs else None
    by_epoch: dict[int, dict] = {}
    for e in epochs:
        if e.get("fold") == last_fold and _is_number(e.get("epoch")):
            by_epoch[int(e["epoch"])] = e
    return [by_epoch[k] for k in sorted(by_epoch)]


def _xs(rows: list[dict], events: list[dict], x: str, scale: float) -> list[float]:
    if x == "epoch":
        return [float(e["epoch"]) for e in rows]
    start = _start_time(events)
    out = []
    for e in rows:
        t = _ts(e.get("ts"))
        out.append((t - start) / scale if start is not None and t is not None else math.nan)
    return out


def _start_time(events: list[dict]) -> float | None:
    """When the run first started (its first run_started event, else its first event)."""
    for e in events:
        if isinstance(e, dict) and e.get("type") == "run_started" and _ts(e.get("ts")) is not None:
            return _ts(e.get("ts"))
    for e in events:
        if isinstance(e, dict) and _ts(e.get("ts")) is not None:
            return _ts(e.get("ts"))
    return None


def _wall_unit(run_dirs: list[RunDir], events: dict[str, list[dict]]) -> tuple[float, str]:
    """Seconds, minutes or hours, by the longest run's span."""
    span = 0.0
    for rd in run_dirs:
        evs = events[rd.run_id]
        start = _start_time(evs)
        stamps = [_ts(e.get("ts")) for e in _last_fold_epochs(evs)]
        ends = [t for t in stamps if t is not None]
        if start is not None and ends:
            span = max(span, max(ends) - start)
    if span >= 3 * 3600:
        return 3600.0, "h"
    if span >= 300:
        return 60.0, "min"
    return 1.0, "s"


def _ts(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def _window(rd: RunDir, split: str) -> str | None:
    """The run's last fold's `split` window from its manifest: "2022-05-20..2025-02-12"."""
    fields, _problems = rd.read_manifest_fields()  # never raises
    splits = fields.get("splits")
    if not isinstance(splits, list) or not splits or not isinstance(splits[-1], dict):
        return None
    block = splits[-1].get(split)
    if not isinstance(block, dict) or not block.get("first_date"):
        return None
    n = block.get("n")
    return f"{block.get('first_date')}..{block.get('last_date')}" + (f" ({n} days)" if isinstance(n, int) else "")


def _windows_text(split: str, windows: list[str | None]) -> str:
    known = [w for w in windows if w]
    if not known:
        return f"{split} window unknown"
    distinct = list(dict.fromkeys(known))
    return f"{split} window " + ("; ".join(distinct) if len(distinct) <= 2 else f"{distinct[0]} and others")


def _title(ids: list[str], what: str, window: str) -> str:
    runs = ", ".join(ids) if len(ids) <= 3 else f"{', '.join(ids[:3])} +{len(ids) - 3} more"
    return f"{what}: {runs}\n{window}"


def _runs_text(run_dirs: list[RunDir]) -> str:
    return f"run {run_dirs[0].run_id}" if len(run_dirs) == 1 else "the runs"


def _join(prefix: str | None, text: str) -> str:
    return f"{prefix}: {text}" if prefix else text


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _num(v: Any) -> float:
    return float(v) if _is_number(v) else math.nan
