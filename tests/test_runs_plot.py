"""`synapse runs show RUN --plot`: the loss curves and the tier rates drawn with plotext on
plain stdout, sized to the terminal, ASCII-only when stdout is not UTF-8 (real runs)."""

import io

import pytest
from typer.testing import CliRunner

from core.config import load_config
from core.errors import InputError
from core.service.runs import open_run, run_view
from core.train.run import run_baselines, run_train
from synapse_tui.cli import app
from synapse_tui.commands.plots import print_plots, render_plots

from helpers import write_synthetic

SPLIT = ["split.test_days=200", "split.val_days=200"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    base = tmp_path_factory.mktemp("runs_plot")
    data = write_synthetic(base / "planted.csv", "planted", days=900, seed=5)
    root = base / "runs"
    trained = run_train(
        load_config("logistic", overrides=[*SPLIT, "train.epochs=3", "train.device=cpu"], data=str(data)), root
    )
    base_run = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    return root, trained, base_run


def _invoke(*args, columns=100, lines=40):
    return CliRunner().invoke(app, list(args), env={"COLUMNS": str(columns), "LINES": str(lines), "NO_COLOR": "1"})


def test_plot_draws_loss_and_tier_rates_sized_to_the_terminal(runs):
    root, trained, _ = runs
    res = _invoke("runs", "show", trained.run_id, "--runs-dir", str(root), "--plot", columns=100)
    assert res.exit_code == 0, res.output
    out = res.output
    plot_part = out[out.index("training_log.md") :].split("\n", 1)[1]
    assert "loss" in plot_part and "good-or-better@K (test)" in plot_part
    best = run_view(trained, root)["epochs"]
    assert "best e" in plot_part and "train" in plot_part and "val" in plot_part
    assert "random" in plot_part and "oracle" in plot_part and "95% CI" in plot_part
    assert "\x1b[" not in out  # NO_COLOR / not a terminal: plain text
    widths = [len(line) for line in plot_part.splitlines()]
    assert max(widths) <= 100 and max(widths) >= 90  # the terminal's width
    assert len(best) == 3
    narrow = _invoke("runs", "show", trained.run_id, "--runs-dir", str(root), "--plot", columns=60).output
    assert max(len(line) for line in narrow[narrow.index("training_log.md") :].split("\n", 1)[1].splitlines()) <= 60


def test_plot_is_ignored_with_json_and_absent_without_the_flag(runs):
    root, trained, _ = runs
    plain = _invoke("runs", "show", trained.run_id, "--runs-dir", str(root))
    assert plain.exit_code == 0 and "good-or-better@K (test)" not in plain.output.split("artifacts in")[-1]
    as_json = _invoke("runs", "show", trained.run_id, "--runs-dir", str(root), "--plot", "--json")
    assert as_json.exit_code == 0 and as_json.output.lstrip().startswith("{")


def test_a_baselines_run_has_tier_rates_but_no_loss(runs):
    root, _, base_run = runs
    res = _invoke("runs", "show", base_run.run_id, "--runs-dir", str(root), "--plot")
    assert res.exit_code == 0, res.output
    assert "loss: no epochs (a baselines run does not train)" in res.output
    assert "good-or-better@K (test)" in res.output


def test_ascii_stdout_gets_ascii_plots(runs):
    root, trained, _ = runs
    view = run_view(open_run(trained.run_id, root), root)
    blocks = render_plots(view, width=80, height=14, ascii_only=True, color=False)
    assert len(blocks) == 2 and all(all(ord(c) < 128 for c in b) for b in blocks)
    assert "^ best e" in blocks[0] and "** logistic" in blocks[1]
    assert ("# beats it" in blocks[1]) == bool(view["tiers"]["beats_at"])
    raw = io.BytesIO()
    stream = io.TextIOWrapper(raw, encoding="ascii")  # an ASCII stdout: a non-ASCII byte would raise
    print_plots(view, color=False, stream=stream)
    stream.flush()
    text = raw.getvalue().decode("ascii")
    assert "loss" in text and "good-or-better@K" in text


def test_colour_when_asked(runs):
    root, trained, _ = runs
    view = run_view(open_run(trained.run_id, root), root)
    coloured = render_plots(view, width=80, height=14, ascii_only=False, color=True)
    assert any("\x1b[" in b for b in coloured)
    assert any("⠀" <= c <= "⣿" for c in coloured[0])  # braille lines on a UTF-8 terminal


# --------------------------------------------------------------------------- any per-epoch metric


def test_any_metric_by_epoch_or_wall_clock(runs):
    root, trained, _ = runs
    view = run_view(open_run(trained.run_id, root), root)
    by_epoch = render_plots(view, width=80, height=14, ascii_only=True, color=False, metric="val_auc")
    assert len(by_epoch) == 2  # the metric instead of the loss, then the tier rates
    assert "val AUC by epoch" in by_epoch[0] and "loss" not in by_epoch[0].split("\n", 1)[0]
    best = [e for e in view["epochs"] if e.get("improved")][-1]["epoch"]
    assert f"^ best e{best}" in by_epoch[0]  # the checkpoint kept, marked on the curve
    assert "good-or-better@K (test)" in by_epoch[1]
    assert all(ord(c) < 128 for b in by_epoch for c in b)
    wall = render_plots(view, width=80, height=14, ascii_only=True, color=False, metric="lr", x="wall")
    assert "learning rate by wall clock" in wall[0] and "since the first epoch began" in wall[0]
    # --x wall alone: the loss (val) on the wall clock
    assert (
        "val loss by wall clock" in render_plots(view, width=80, height=14, ascii_only=True, color=False, x="wall")[0]
    )
    narrow = render_plots(view, width=60, height=12, ascii_only=False, color=False, metric="seconds")
    assert max(len(line) for line in narrow[0].splitlines()) <= 60


def test_an_unknown_metric_names_the_ones_the_run_has(runs):
    root, trained, base_run = runs
    view = run_view(open_run(trained.run_id, root), root)
    with pytest.raises(
        InputError, match=r"'val_acu' \(did you mean val_auc\?\); this run records: val_loss, train_loss"
    ):
        render_plots(view, width=80, height=14, ascii_only=True, color=False, metric="val_acu")
    with pytest.raises(InputError, match="--x must be one of epoch, wall"):
        render_plots(view, width=80, height=14, ascii_only=True, color=False, x="clock")
    base = run_view(open_run(base_run.run_id, root), root)
    blocks = render_plots(base, width=80, height=14, ascii_only=True, color=False, metric="val_auc")
    assert blocks[0] == "val_auc: no epochs (a baselines run does not train)"


def test_runs_show_plot_takes_metric_and_x_from_the_command_line(runs):
    root, trained, _ = runs
    res = _invoke(
        "runs", "show", trained.run_id, "--runs-dir", str(root), "--plot", "--metric", "val_auc", "--x", "wall"
    )
    assert res.exit_code == 0, res.output
    assert "val AUC by wall clock" in res.output
    bad = _invoke("runs", "show", trained.run_id, "--runs-dir", str(root), "--plot", "--metric", "val_acu")
    assert bad.exit_code == 2 and "did you mean val_auc" in bad.output
