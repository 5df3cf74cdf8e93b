"""Curves for plots, shared by the dashboard and `synapse runs show --plot`: a run's loss
history from its epoch events, any per-epoch metric against the epoch or the wall clock
(`epoch_table`, `epoch_metrics`, `metric_series`), EMA smoothing, and min/max downsampling
so a redraw of a 10,000-epoch history costs what a redraw of a screen's width costs."""

from __future__ import annotations

import difflib
import math
from collections.abc import Mapping, Sequence

from core.errors import InputError


def loss_series(epochs: Sequence[dict]) -> dict:
    """Epoch events -> {"epoch", "train", "val" (lists, NaN where missing), "best_epoch"}.

    With rolling-origin folds only the last fold's epochs are kept (the ones its
    checkpoint comes from). `best_epoch` is the last epoch marked `improved`, else the one
    with the lowest validation loss.
    """
    folds = [e.get("fold") for e in epochs if isinstance(e, dict)]
    last_fold = folds[-1] if folds else None
    rows = [
        e
        for e in epochs
        if isinstance(e, dict) and e.get("fold") == last_fold and isinstance(e.get("epoch"), (int, float))
    ]
    out = {
        "epoch": [int(e["epoch"]) for e in rows],
        "train": [_num(e.get("train_loss")) for e in rows],
        "val": [_num(e.get("val_loss")) for e in rows],
        "best_epoch": None,
    }
    improved = [int(e["epoch"]) for e in rows if e.get("improved")]
    if improved:
        out["best_epoch"] = improved[-1]
    elif rows:
        finite = [(v, ep) for v, ep in zip(out["val"], out["epoch"]) if not math.isnan(v)]
        out["best_epoch"] = min(finite)[1] if finite else None
    return out


# --------------------------------------------------------------------------- any per-epoch metric

X_MODES = ("epoch", "wall")
# Keys of an epoch event that are not metrics: the x axis, the fold, the event's own fields.
_NOT_METRICS = frozenset({"epoch", "fold", "ts", "type"})
# Metrics in this order first (those a run has), then val_* and train_* (alphabetical), then
# the rest (alphabetical), `best_epoch` last: the same order whatever order the events hold.
_FIRST = ("val_loss", "train_loss", "val_auc")
_TIMING = ("lr", "seconds", "train_seconds")
_LABELS = {
    "val_loss": "val loss",
    "train_loss": "train loss",
    "val_auc": "val AUC",
    "lr": "learning rate",
    "seconds": "epoch seconds",
    "train_seconds": "train seconds",
    "best_epoch": "best epoch",
    "penalty_scale": "penalty scale",
}
X_LABELS = {"epoch": "epoch", "wall": "wall clock (s since the first epoch began)"}


def _is_num(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def metric_label(metric: str) -> str:
    """How a metric reads in a title or legend: "val loss", "val AUC", "learning rate",
    "val good-or-better@24"; an unknown key as it is."""
    if metric in _LABELS:
        return _LABELS[metric]
    if metric.startswith(("val_good_or_better@", "train_good_or_better@")):
        head, _, k = metric.partition("@")
        return head.replace("_good_or_better", " good-or-better") + "@" + k
    return metric


def _metric_key(name: str) -> tuple:
    if name in _FIRST:
        return (0, _FIRST.index(name), name)
    if name == "best_epoch":
        return (5, 0, name)
    if name.startswith("val_"):
        return (1, 0, name)
    if name.startswith("train_") and name not in _TIMING:
        return (2, 0, name)
    if name in _TIMING:
        return (3, _TIMING.index(name), name)
    return (4, 0, name)


def _sort_metrics(names) -> list[str]:
    return sorted(set(names), key=_metric_key)


def epoch_table(epochs: Sequence[dict]) -> dict:
    """Epoch events (`run_detail(...)["epochs"]`, events.jsonl's `epoch` lines) as columns:

        {"epoch": [int], "wall": [float], "wall_source": "ts" | "seconds" | None,
         "metrics": {name: [float]}}   # every list as long as "epoch", NaN where missing

    Only the last fold's epochs (as `loss_series`). A resumed run logs some epochs again
    (the new attempt starts over from its checkpoint): an epoch number at or below the
    previous one drops every kept epoch from that number on, so the latest attempt's
    values are the ones kept. "wall" is seconds since the first kept epoch began: from
    the events' `ts` (minus the first epoch's own `seconds`), or, when an event lacks a
    readable `ts`, the running sum of `seconds`; all NaN when neither is there
    (`wall_source` None). "metrics" holds every numeric key (booleans are not numbers)
    of any kept epoch but epoch and fold, in `epoch_metrics` order. Pure and O(epochs):
    compute it once in a worker and plot any metric from it with `metric_series`.
    """
    folds = [e.get("fold") for e in epochs if isinstance(e, dict)]
    last_fold = folds[-1] if folds else None
    rows: list[dict] = []
    for e in epochs:
        if not isinstance(e, dict) or e.get("fold") != last_fold or not _is_num(e.get("epoch")):
            continue
        if not math.isfinite(e["epoch"]):
            continue
        ep = int(e["epoch"])
        if rows and ep <= int(rows[-1]["epoch"]):  # a new attempt took over from epoch `ep`
            while rows and int(rows[-1]["epoch"]) >= ep:
                rows.pop()
        rows.append(e)
    names: set[str] = set()
    for e in rows:
        names.update(k for k, v in e.items() if k not in _NOT_METRICS and _is_num(v))
    order = _sort_metrics(names)
    metrics = {name: [_num(e.get(name)) for e in rows] for name in order}
    wall, source = _wall(rows, metrics.get("seconds"))
    return {"epoch": [int(e["epoch"]) for e in rows], "wall": wall, "wall_source": source, "metrics": metrics}


def _wall(rows: list[dict], seconds: list[float] | None) -> tuple[list[float], str | None]:
    from core.runs.events import parse_ts  # stdlib only: datetime

    stamps = [parse_ts(e.get("ts")) for e in rows]
    if rows and all(t is not None for t in stamps):
        first = seconds[0] if seconds and math.isfinite(seconds[0]) and seconds[0] >= 0 else 0.0
        t0 = stamps[0].timestamp() - first  # type: ignore[union-attr]
        return [t.timestamp() - t0 for t in stamps], "ts"  # type: ignore[union-attr]
    if seconds and any(math.isfinite(v) for v in seconds):
        out, acc = [], 0.0
        for v in seconds:
            acc += v if math.isfinite(v) and v >= 0 else 0.0
            out.append(acc)
        return out, "seconds"
    return [math.nan] * len(rows), None


def _table(epochs: Sequence[dict] | Mapping) -> Mapping:
    if isinstance(epochs, Mapping) and "metrics" in epochs and "epoch" in epochs:
        return epochs  # an epoch_table already
    return epoch_table(epochs)  # type: ignore[arg-type]


def epoch_metrics(epochs: Sequence[dict] | Mapping) -> list[str]:
    """The per-epoch metrics a run recorded (every numeric key of its last fold's epoch events
    but epoch and fold): val_loss, train_loss, val_auc first, then the other val_* and
    train_* keys, then lr, seconds, train_seconds, then the rest, best_epoch last — a
    stable order whatever order the events hold. `epochs`: the events or an `epoch_table`."""
    return list(_table(epochs)["metrics"])


def union_metrics(tables: Sequence[Sequence[dict] | Mapping]) -> list[str]:
    """The metrics any of several runs recorded, in `epoch_metrics` order (a compare's picker)."""
    return _sort_metrics(name for t in tables for name in epoch_metrics(t))


def metric_series(epochs: Sequence[dict] | Mapping, metric: str, x: str = "epoch") -> dict:
    """One per-epoch metric of a run against the epoch (`x="epoch"`) or the wall clock
    (`x="wall"`, seconds since the first epoch began, see `epoch_table`):

        {"x": [...], "y": [...], "label": "val AUC", "x_label": "epoch",
         "metric": "val_auc", "x_mode": "epoch", "epoch": [...]}

    `epochs`: the run's epoch events or their `epoch_table` (cheaper when several metrics
    of one run are plotted). Last fold only, a resumed run's latest attempt, NaN where an
    epoch lacks the metric (or its time, on the wall clock). A metric the run never
    recorded is an InputError naming those it has; a run with no epochs has no metrics,
    so any metric gives empty lists (nothing trained yet is not an error).
    """
    if x not in X_MODES:
        raise InputError(f"x axis must be one of {', '.join(X_MODES)}, got {x!r}")
    table = _table(epochs)
    known = list(table["metrics"])
    n = len(table["epoch"])
    if metric not in table["metrics"]:
        if n:
            close = difflib.get_close_matches(metric, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]}?)" if close else ""
            raise InputError(f"no per-epoch metric {metric!r}{hint}; this run records: {', '.join(known)}")
        ys: list[float] = []
    else:
        ys = list(table["metrics"][metric])
    xs: list = (list(table["epoch"]) if x == "epoch" else list(table["wall"])) if ys else []
    return {
        "x": xs,
        "y": ys,
        "label": metric_label(metric),
        "x_label": X_LABELS[x],
        "metric": metric,
        "x_mode": x,
        "epoch": list(table["epoch"]) if ys else [],
    }


def ema(values: Sequence[float], weight: float) -> list[float]:
    """Exponential moving average, TensorBoard style: weight 0 is the raw series, 0.99 very
    smooth; debiased so the first points are not pulled toward zero; NaN passes through."""
    if not 0 <= weight < 1:
        raise ValueError(f"smoothing weight must be in [0, 1), got {weight}")
    out, acc, n = [], 0.0, 0
    for v in values:
        if v is None or math.isnan(v):
            out.append(math.nan)
            continue
        acc, n = weight * acc + (1 - weight) * v, n + 1
        out.append(acc / (1 - weight**n) if weight else v)
    return out


def downsample_minmax(xs: Sequence[float], ys: Sequence[float], buckets: int) -> tuple[list, list]:
    """At most 2 * `buckets` points: each bucket of consecutive points keeps its lowest and
    highest y (in x order), so spikes survive and a plot looks as it would at full length."""
    n = len(xs)
    if buckets <= 0 or n <= 2 * buckets:
        return list(xs), list(ys)
    ox, oy = [], []
    for b in range(buckets):
        lo, hi = b * n // buckets, (b + 1) * n // buckets
        idx = [i for i in range(lo, hi) if not math.isnan(ys[i])]
        if not idx:
            continue
        i_min = min(idx, key=lambda i: ys[i])
        i_max = max(idx, key=lambda i: ys[i])
        for i in sorted({i_min, i_max}):
            ox.append(xs[i])
            oy.append(ys[i])
    return ox, oy


def _num(v) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) else math.nan


def tier_names(curves: dict | None, first: str | None = "good") -> list[str]:
    """The tiers of `core.service.runs.tier_curves`, strictest first (most hits needed), with
    `first` (the config's good tier) moved to the front when present."""
    tiers = (curves or {}).get("tiers") or {}

    def hits(name: str) -> float:
        oracle = tiers[name].get("oracle") or {}
        mh = oracle.get("min_hits")
        return -mh if isinstance(mh, (int, float)) else 0.0

    names = sorted(tiers, key=lambda n: (hits(n), n))
    if first in names:
        names.remove(first)
        names.insert(0, first)
    return names


def tier_series(curves: dict | None, tier: str) -> dict:
    """One tier of `tier_curves` as plot-ready lines over K (NaN where a value is missing):

    {"ks", "model", "ci_low", "ci_high", "baseline", "random", "oracle" (lists, or None when
    the run has no such line), "primary", "baseline_name", "beats_at", "worse_at"}.
    """
    curves = curves or {}
    ks = list(curves.get("ks") or [])
    block = (curves.get("tiers") or {}).get(tier) or {}

    def line(values) -> list[float] | None:
        if not isinstance(values, list):
            return None
        vals = [_num(v) for v in values[: len(ks)]]
        vals += [math.nan] * (len(ks) - len(vals))
        return None if all(math.isnan(v) for v in vals) else vals

    def rates(entry, key="rate"):
        return line(entry.get(key)) if isinstance(entry, dict) else line(entry)

    model = block.get("model") if isinstance(block.get("model"), dict) else {}
    return {
        "ks": ks,
        "model": rates(model),
        "ci_low": rates(model, "ci_low"),
        "ci_high": rates(model, "ci_high"),
        "baseline": rates(block.get("baseline")),
        "random": rates(block.get("random")),
        "oracle": rates(block.get("oracle")),
        "primary": curves.get("primary"),
        "baseline_name": curves.get("baseline"),
        "beats_at": [k for k in curves.get("beats_at") or [] if k in ks],
        "worse_at": [k for k in curves.get("worse_at") or [] if k in ks],
    }


def reliability_points(block: dict | None) -> dict:
    """A reliability block (`run_view(...)["reliability"]["before"|"after"]`: per-bin mean_p,
    mean_y, count) -> {"p", "y", "count"} of the bins that hold predictions, plus "counts"
    (every bin's count, empty ones as 0, for a histogram) and "total"."""
    block = block or {}
    mp, my, cnt = block.get("mean_p") or [], block.get("mean_y") or [], block.get("count") or []
    out = {"p": [], "y": [], "count": [], "counts": [], "total": 0}
    for i, c in enumerate(cnt):
        n = int(c) if isinstance(c, (int, float)) and not isinstance(c, bool) and math.isfinite(c) else 0
        out["counts"].append(n)
        out["total"] += n
        p = _num(mp[i]) if i < len(mp) else math.nan
        y = _num(my[i]) if i < len(my) else math.nan
        if n > 0 and not (math.isnan(p) or math.isnan(y)):
            out["p"].append(p)
            out["y"].append(y)
            out["count"].append(n)
    return out


def nice_ticks(lo: float, hi: float, most: int = 6, integer: bool = False) -> list[float]:
    """Round tick positions (steps of 1, 2 or 5 times a power of ten) covering [lo, hi], at
    most `most` of them (at least one); `integer` keeps steps of at least 1 (epochs, K)."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi < lo:
        lo, hi = hi, lo
    most = max(1, most)
    span = hi - lo
    if span == 0:
        return [lo]
    raw = span / most
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10, 20) if m * power * most >= span)
    if integer:
        step = max(1, round(step))
    first = math.ceil(lo / step - 1e-9) * step
    ticks, t = [], first
    while t <= hi + 1e-9 * max(1.0, abs(hi)) and len(ticks) < most + 1:
        ticks.append(int(round(t)) if integer else round(t, 12))
        t += step
    return ticks or [lo]


def tick_labels(ticks: Sequence[float]) -> list[str]:
    """Short labels for evenly spaced tick positions (`nice_ticks`): whole numbers without a
    decimal point, else just the decimals the step needs (0.37, 0.375), scientific notation
    for very small or very large values (2.1e-05); never a negative zero."""
    vals = [float(t) for t in ticks]
    if not vals:
        return []
    steps = [abs(b - a) for a, b in zip(vals, vals[1:]) if b != a]
    step = min(steps) if steps else (abs(vals[0]) or 1.0)
    top = max(abs(v) for v in vals)

    def clean(text: str) -> str:
        return text[1:] if text.startswith("-") and float(text) == 0 else text

    if top and (top >= 1e5 or top < 1e-3 or step < 1e-4):
        digits = max(0, math.floor(math.log10(top) + 1e-9) - math.floor(math.log10(step) + 1e-9)) if step else 1
        return [clean("0" if abs(v) < step * 1e-6 else f"{v:.{min(digits, 6)}e}") for v in vals]
    decimals = max(0, -math.floor(math.log10(step) + 1e-9)) if step < 1 or any(v != round(v) for v in vals) else 0
    while decimals < 12 and len({f"{v:.{decimals}f}" for v in vals}) < len(set(vals)):
        decimals += 1
    return [clean(f"{v:.{decimals}f}") for v in vals]
