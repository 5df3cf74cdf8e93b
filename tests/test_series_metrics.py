"""core.service.series: any per-epoch metric of a run (`epoch_table`, `epoch_metrics`,
`metric_series`) by epoch or by wall clock, on planted epoch events (resumed runs, folds,
missing values, timestamps) and on a real run's events.jsonl; and the drawing behind the
dashboard's MetricPlot (`synapse_tui.widgets.draw_metric`) on 8 runs x 10,000 epochs."""

import math
from datetime import UTC, datetime, timedelta

import pytest

from core.errors import InputError
from core.runs.events import format_ts
from core.service.series import epoch_metrics, epoch_table, metric_label, metric_series, union_metrics

T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _ev(ep, *, at=None, fold=0, **metrics):
    """An epoch event as events.jsonl holds it; `at`: seconds after T0 it was written."""
    e = {"type": "epoch", "epoch": ep, "fold": fold, **metrics}
    if at is not None:
        e = {"ts": format_ts(T0 + timedelta(seconds=at)), **e}
    return e


def _planted():
    """Five epochs of 2 s each (the first began at T0), written in an odd key order, with
    booleans, strings and a metric only some epochs have."""
    out = []
    for ep in range(1, 6):
        out.append(
            _ev(
                ep,
                at=2.0 * ep,
                seconds=2.0,
                improved=ep % 2 == 1,  # a bool is not a metric
                optimizer="adamw",  # nor a string
                lr=0.1 / ep,
                zeta=float(ep),  # an unknown key: a metric all the same, after the known ones
                val_auc=0.5 + ep / 100,
                train_seconds=1.5,
                best_epoch=ep,
                train_loss=1.0 / ep,
                val_loss=2.0 / ep,
                **({"val_good_or_better@24": 0.1 * ep} if ep >= 3 else {}),
            )
        )
    return out


def test_epoch_metrics_lists_every_numeric_key_loss_first_in_a_stable_order():
    events = _planted()
    expected = [
        "val_loss",
        "train_loss",
        "val_auc",
        "val_good_or_better@24",
        "lr",
        "seconds",
        "train_seconds",
        "zeta",
        "best_epoch",
    ]
    assert epoch_metrics(events) == expected
    # the same whatever order the keys or events come in
    shuffled = [dict(reversed(list(e.items()))) for e in events]
    assert epoch_metrics(shuffled) == expected
    assert epoch_metrics(epoch_table(events)) == expected  # a table works as the events do
    assert epoch_metrics([]) == [] and epoch_metrics([{"type": "epoch"}]) == []
    assert union_metrics([[_ev(1, seconds=1.0)], events[:1]]) == [
        "val_loss",
        "train_loss",
        "val_auc",
        "lr",
        "seconds",
    ] + [
        "train_seconds",
        "zeta",
        "best_epoch",
    ]


def test_metric_series_by_epoch_with_nan_where_an_epoch_lacks_the_metric():
    s = metric_series(_planted(), "val_good_or_better@24")
    assert s["x"] == [1, 2, 3, 4, 5] and s["epoch"] == [1, 2, 3, 4, 5]
    assert math.isnan(s["y"][0]) and math.isnan(s["y"][1])
    assert s["y"][2:] == pytest.approx([0.3, 0.4, 0.5])
    assert s["label"] == "val good-or-better@24" and s["x_label"] == "epoch"
    assert s["metric"] == "val_good_or_better@24" and s["x_mode"] == "epoch"
    auc = metric_series(_planted(), "val_auc")
    assert auc["y"] == pytest.approx([0.51, 0.52, 0.53, 0.54, 0.55]) and auc["label"] == "val AUC"
    assert metric_label("lr") == "learning rate" and metric_label("seconds") == "epoch seconds"


def test_wall_clock_x_is_seconds_since_the_first_epoch_began_from_the_timestamps():
    events = _planted()
    events[3]["seconds"] = 99.0  # the timestamps win over the epochs' own durations
    s = metric_series(events, "val_loss", x="wall")
    # epoch e was written at 2e s after T0 and epoch 1 took 2 s: it began at T0
    assert s["x"] == pytest.approx([2.0, 4.0, 6.0, 8.0, 10.0])
    assert s["y"] == pytest.approx([2.0 / e for e in range(1, 6)])
    assert s["x_mode"] == "wall" and "wall clock" in s["x_label"]
    table = epoch_table(events)
    assert table["wall_source"] == "ts"
    # a gap (the worker was paused, a resume) is wall-clock time too
    events[4]["ts"] = format_ts(T0 + timedelta(seconds=110))
    assert metric_series(events, "val_loss", x="wall")["x"][-1] == pytest.approx(110.0)


def test_wall_clock_falls_back_to_the_running_sum_of_epoch_seconds():
    events = [_ev(e, seconds=float(e), val_loss=1.0) for e in range(1, 5)]  # no ts at all
    events[2]["seconds"] = None  # a missing duration adds nothing
    s = metric_series(events, "val_loss", x="wall")
    assert s["x"] == pytest.approx([1.0, 3.0, 3.0, 7.0])
    assert epoch_table(events)["wall_source"] == "seconds"
    bare = [_ev(e, val_loss=1.0) for e in range(1, 3)]  # neither ts nor seconds
    s = metric_series(bare, "val_loss", x="wall")
    assert all(math.isnan(v) for v in s["x"]) and epoch_table(bare)["wall_source"] is None


def test_a_resumed_run_keeps_the_latest_attempts_values():
    first = [_ev(e, at=e, seconds=1.0, val_loss=10.0 + e) for e in range(1, 9)]  # attempt 1 reached epoch 8
    # attempt 2 started again from epoch 4's checkpoint and was at epoch 6 when read
    second = [_ev(e, at=100 + e, seconds=1.0, val_loss=20.0 + e) for e in range(4, 7)]
    s = metric_series(first + second, "val_loss")
    assert s["x"] == [1, 2, 3, 4, 5, 6]  # 7 and 8 belonged to the attempt that was replaced
    assert s["y"] == pytest.approx([11, 12, 13, 24, 25, 26])
    wall = metric_series(first + second, "val_loss", x="wall")["x"]
    assert wall == pytest.approx([1, 2, 3, 104, 105, 106])  # the restart's pause is on the clock
    # a checkpoint-less restart from epoch 1: only the new attempt is left
    again = metric_series(first + [_ev(1, val_loss=0.5)], "val_loss")
    assert again["x"] == [1] and again["y"] == [0.5]


def test_only_the_last_fold_counts_and_bad_values_are_nan():
    events = [_ev(e, fold=0, val_loss=9.0) for e in range(1, 4)] + [
        _ev(1, fold=1, val_loss=1.0, val_auc=True),  # a bool where a number belongs
        _ev(2, fold=1, val_loss=float("inf")),
        _ev(3, fold=1, val_loss="0.3"),  # a string
        {"type": "epoch", "fold": 1, "val_loss": 0.1},  # no epoch number: skipped
    ]
    s = metric_series(events, "val_loss")
    assert s["x"] == [1, 2, 3] and s["y"][0] == 1.0 and all(math.isnan(v) for v in s["y"][1:])
    assert "val_auc" not in epoch_metrics(events)


def test_an_unknown_metric_is_an_input_error_naming_the_known_ones():
    with pytest.raises(InputError) as err:
        metric_series(_planted(), "val_acu")
    msg = str(err.value)
    assert "'val_acu'" in msg and "did you mean val_auc?" in msg
    assert "val_loss, train_loss, val_auc" in msg and "train_seconds" in msg
    with pytest.raises(InputError, match="x axis must be one of epoch, wall"):
        metric_series(_planted(), "val_loss", x="time")
    # no epochs yet (a baselines run, a queued one): nothing to plot, not an error
    empty = metric_series([], "val_auc")
    assert empty["x"] == [] and empty["y"] == [] and empty["label"] == "val AUC"


def test_a_real_runs_events(tmp_path):
    """events.jsonl of a real training run: every metric its loop logs, in order, the wall clock
    from its timestamps (monotone, at least the summed epoch seconds minus rounding)."""
    from core.config import load_config
    from core.service.runs import open_run, run_detail, run_row
    from core.train.run import run_train
    from helpers import write_synthetic

    data = write_synthetic(tmp_path / "planted.csv", "planted", days=900, seed=5)
    root = tmp_path / "runs"
    cfg = load_config(
        "logistic",
        overrides=["split.test_days=200", "split.val_days=200", "train.epochs=3", "train.device=cpu"],
        data=str(data),
    )
    rd = open_run(run_train(cfg, root).run_id, root)
    epochs = run_detail(rd, run_row(rd, root))["epochs"]
    names = epoch_metrics(epochs)
    assert names[:3] == ["val_loss", "train_loss", "val_auc"]
    assert {"lr", "seconds", "train_seconds"} <= set(names) and "improved" not in names and "epoch" not in names
    auc = metric_series(epochs, "val_auc")
    assert auc["x"] == [1, 2, 3] and auc["y"] == pytest.approx([e["val_auc"] for e in epochs])
    wall = metric_series(epochs, "val_auc", x="wall")["x"]
    assert wall == sorted(wall) and wall[0] == pytest.approx(epochs[0]["seconds"], abs=1e-3)
    assert wall[-1] >= sum(e["seconds"] for e in epochs) - 0.05


# --------------------------------------------------------------------------- drawing 1..8 runs


def _long_run(n, seed):
    import random

    rng = random.Random(seed)
    t = epoch_table(
        [_ev(e, at=3.0 * e, seconds=3.0, val_loss=1 / e + rng.random() * 0.01, lr=0.01) for e in range(1, n + 1)]
    )
    return t


def test_eight_runs_of_10000_epochs_are_downsampled_to_the_width():
    import plotext

    from synapse_tui.widgets.draw_metric import RUN_COLOURS, draw_metric, metric_lines

    runs = [{"label": chr(ord("A") + i), "table": _long_run(10_000, i)} for i in range(8)]
    prepared = metric_lines(runs, "val_loss", "wall", width=70)
    assert [ln["label"] for ln in prepared["lines"]] == list("ABCDEFGH")
    assert all(len(ln["xs"]) <= 140 for ln in prepared["lines"])  # 2 points a column at most
    # the spikes survive: each line keeps its series' min and max
    for ln, run in zip(prepared["lines"], runs):
        assert max(ln["ys"]) == max(run["table"]["metrics"]["val_loss"])
    drawn = draw_metric(plotext, runs, "val_loss", "wall", width=70, height=20, ascii_only=True, labels=False)
    assert [c for _, _, c in drawn["legend"]] == RUN_COLOURS
    assert [s for s, _, _ in drawn["legend"]] == ["**", "++", "oo", "xx", "##", "%%", "@@", "=="]
    assert drawn["unit"] == "h"  # 30,000 s: hours on the axis
    plotext.plotsize(80, 20)
    plotext.theme("clear")
    text = plotext.uncolorize(plotext.build())
    assert "val loss by wall clock" in text and "h since the first epoch began" in text
    # a ninth run is not drawn (8 colours); a run without the metric is named, not drawn
    more = runs + [{"label": "I", "table": _long_run(10, 9)}]
    assert len(metric_lines(more, "val_loss", width=70)["lines"]) == 8
    assert metric_lines([runs[0], {"label": "B", "epochs": []}], "lr")["missing"] == ["B"]


@pytest.mark.parametrize("n", [5, 100, 1_001, 10_000])
@pytest.mark.parametrize("buckets", [3, 50])
def test_the_numpy_downsample_keeps_what_downsample_minmax_keeps(n, buckets):
    import random

    from core.service.series import downsample_minmax
    from synapse_tui.widgets.draw_metric import downsample

    rng = random.Random(n + buckets)
    xs = [float(x) for x in range(n)]
    ys = [rng.gauss(0, 1) if rng.random() > 0.05 else math.nan for _ in xs]
    finite = [(x, y) for x, y in zip(xs, ys) if not math.isnan(y)]
    assert downsample(xs, ys, buckets) == downsample_minmax([p[0] for p in finite], [p[1] for p in finite], buckets)
    ys[0] = -1.0  # a log axis drops what is not positive
    px, py = downsample(xs, ys, buckets, positive=True)
    assert py and min(py) > 0


def test_the_best_epoch_is_marked_on_any_metric_by_epoch_or_wall_clock():
    import plotext

    from synapse_tui.widgets.draw_metric import BEST, draw_metric

    events = _planted()
    for e in events:
        e["best_epoch"] = min(e["epoch"], 3)  # improved up to epoch 3, then not
    runs = [{"label": "A", "epochs": events}]
    drawn = draw_metric(plotext, runs, "val_auc", "epoch", width=60, height=15, ascii_only=True, best=True)
    assert drawn["best"] == {"A": (3, 3, pytest.approx(0.53))}
    assert ("^", "best e3", BEST) in drawn["legend"]
    wall = draw_metric(plotext, runs, "val_auc", "wall", width=60, height=15, ascii_only=True, best=True)
    assert wall["best"]["A"][:2] == (3, pytest.approx(6.0))  # epoch 3 ended 6 s after the first began
    two = draw_metric(plotext, runs + [{"label": "B", "epochs": events}], "lr", best=True, ascii_only=True)
    assert {name for _, name, _ in two["legend"]} >= {"A best e3", "B best e3"}
    assert draw_metric(plotext, runs, "val_auc", best=False)["best"] == {}
