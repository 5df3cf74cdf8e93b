"""core.service.plot_export and `synapse runs plot` on real runs: SVG that parses and names the
run and its axes, PNG of the promised size, every per-epoch metric, wall-clock x, several
runs overlaid, refusals (unknown plot, suffix, axis, too many runs) before anything is
written, and a failed export leaving the old file as it was."""

import json
import struct
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
import typer
from typer.testing import CliRunner

from core.config import load_config
from core.errors import InputError
from core.service.plot_export import (
    DPI,
    FIG_SIZE,
    MAX_RUNS,
    default_export_path,
    epoch_metrics,
    export_plot,
    plot_names,
)
from core.train.run import run_baselines, run_train
from synapse_tui.commands.plot_export import plot_cmd

from helpers import ROOT

SPLIT = ["split.test_days=200", "split.val_days=200"]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def runs(tmp_path_factory, synthetic_csv):
    base = tmp_path_factory.mktemp("plot_export")
    data = synthetic_csv("planted", days=900, seed=5)
    root = base / "runs"
    over = [*SPLIT, "train.device=cpu"]
    first = run_train(load_config("logistic", overrides=[*over, "train.epochs=3"], data=str(data)), root)
    second = run_train(
        load_config("logistic", overrides=[*over, "train.epochs=2", "train.lr=0.01"], data=str(data)), root
    )
    base_run = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    return root, first, second, base_run


def _svg_text(path) -> str:
    tree = ET.parse(path)  # raises on anything that is not well-formed XML
    assert tree.getroot().tag.endswith("svg")
    return " ".join(t for t in tree.getroot().itertext())


def _no_temp_files(folder) -> bool:
    return not [p for p in folder.iterdir() if p.name.endswith(".tmp")]


def test_loss_svg_parses_and_names_the_run_axes_and_window(runs, tmp_path):
    root, first, _, _ = runs
    out = export_plot([first], "loss", tmp_path / "loss.svg")
    assert out == tmp_path / "loss.svg"
    text = _svg_text(out)
    assert first.run_id in text
    assert "epoch" in text and "loss (binary cross-entropy)" in text
    assert "train" in text and "validation" in text and "best epoch" in text
    manifest = json.loads((first.path / "manifest.json").read_text())
    val = manifest["splits"][-1]["val"]
    assert f"validation window {val['first_date']}..{val['last_date']}" in text


def test_png_has_the_signature_and_the_promised_size(runs, tmp_path):
    _, first, _, _ = runs
    out = export_plot([first], "loss", tmp_path / "loss.PNG")
    data = out.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    assert (width, height) == (round(FIG_SIZE[0] * DPI), round(FIG_SIZE[1] * DPI)) == (800, 480)


def test_a_metric_plot_of_val_auc_over_epochs_and_wall_clock(runs, tmp_path):
    _, first, _, _ = runs
    metrics = epoch_metrics(first.read_events())
    assert {"val_auc", "lr", "seconds", "train_loss", "val_loss"} <= set(metrics)
    assert "epoch" not in metrics and "fold" not in metrics and "improved" not in metrics
    text = _svg_text(export_plot([first], "val_auc", tmp_path / "auc.svg"))
    assert "val_auc" in text and "epoch" in text and first.run_id in text
    wall = _svg_text(export_plot([first], "val_auc", tmp_path / "auc_wall.svg", x="wall"))
    assert "wall-clock time since the run started (s)" in wall
    assert "loss (binary cross-entropy)" in _svg_text(export_plot([first], "loss", tmp_path / "w.svg", x="wall"))


def test_several_runs_overlay_and_the_limits(runs, tmp_path):
    _, first, second, _ = runs
    text = _svg_text(export_plot([first, second], "loss", tmp_path / "two.svg"))
    assert first.run_id in text and second.run_id in text
    assert _svg_text(export_plot([first, second], "lr", tmp_path / "lr.svg")).count(second.run_id) >= 2  # title, legend
    with pytest.raises(InputError, match=f"at most {MAX_RUNS} runs"):
        export_plot([first] * (MAX_RUNS + 1), "loss", tmp_path / "many.svg")
    with pytest.raises(InputError, match="given twice"):
        export_plot([first, first], "loss", tmp_path / "twice.svg")
    assert not (tmp_path / "many.svg").exists() and not (tmp_path / "twice.svg").exists()


def test_tiers_and_reliability_come_from_report_json(runs, tmp_path):
    _, first, _, base_run = runs
    report = json.loads((first.path / "report.json").read_text())
    tiers = _svg_text(export_plot([first], "tiers", tmp_path / "tiers.svg"))
    assert "pool size K (parts kept)" in tiers and f"{report['good_tier']}-or-better rate" in tiers
    assert "random pool" in tiers and report["primary"] in tiers and "test window" in tiers
    if report.get("best_baseline") not in (None, report["primary"]):
        assert f"{report['best_baseline']} (best baseline)" in tiers
    rel = _svg_text(export_plot([first], "reliability", tmp_path / "rel.svg"))
    assert "predicted probability" in rel and "observed frequency" in rel
    assert "before calibration" in rel and "after calibration" in rel and "perfectly calibrated" in rel
    # a baselines run has a report (tiers) but no epochs (loss)
    assert base_run.run_id in _svg_text(export_plot([base_run], "tiers", tmp_path / "bt.svg"))
    with pytest.raises(InputError, match="no epochs.*baselines run does not train"):
        export_plot([base_run], "loss", tmp_path / "bl.svg")


def test_unknown_plot_suffix_or_axis_is_refused_naming_what_is_known(runs, tmp_path):
    _, first, _, _ = runs
    with pytest.raises(InputError) as exc:
        export_plot([first], "val_acu", tmp_path / "x.svg")
    msg = str(exc.value)
    assert "unknown plot 'val_acu' (did you mean val_auc?)" in msg
    for name in ("loss", "tiers", "reliability", "val_auc", "lr", "seconds"):
        assert name in msg
    with pytest.raises(InputError, match=r"\.png or \.svg"):
        export_plot([first], "loss", tmp_path / "x.pdf")
    with pytest.raises(InputError, match="unknown x axis"):
        export_plot([first], "loss", tmp_path / "x.svg", x="time")
    with pytest.raises(InputError, match="no run"):
        export_plot([], "loss", tmp_path / "x.svg")
    assert list(tmp_path.iterdir()) == []
    assert plot_names([first])[:3] == ["loss", "tiers", "reliability"] and "val_auc" in plot_names([first])


def test_a_failed_export_leaves_the_old_file_and_no_temp_file(runs, tmp_path):
    _, first, _, base_run = runs
    out = tmp_path / "plot.svg"
    out.write_text("old")
    with pytest.raises(InputError):
        export_plot([base_run], "loss", out)  # fails while drawing
    with pytest.raises(InputError):
        export_plot([base_run], "val_auc", out)  # a metric the run does not have
    assert out.read_text() == "old" and _no_temp_files(tmp_path)
    blocker = tmp_path / "file"
    blocker.write_text("a file, not a folder")
    with pytest.raises(InputError, match="cannot write"):
        export_plot([first], "loss", blocker / "sub" / "plot.svg")
    assert blocker.read_text() == "a file, not a folder"
    # a good export replaces the old file whole, creating the folder it needs
    fresh = export_plot([first], "loss", tmp_path / "new" / "deeper" / "plot.svg")
    assert fresh.exists() and _no_temp_files(fresh.parent)
    export_plot([first], "loss", out)
    assert out.read_text().lstrip().startswith("<?xml") and _no_temp_files(tmp_path)


def test_default_export_path_is_relative_and_safe():
    p = default_export_path("20261207-231100-gru-a9f6", "val_good_or_better@20", ".png")
    assert str(p) == "synapse-plots/20261207-231100-gru-a9f6-val_good_or_better@20.png"
    assert not p.is_absolute()
    assert default_export_path("r", "../../etc/x", "svg").name == "r-.._.._etc_x.svg"
    assert default_export_path("r", "../../etc/x", "svg").parent.name == "synapse-plots"


def test_the_cli_command_writes_and_refuses(runs, tmp_path, monkeypatch):
    root, first, second, _ = runs
    cli = typer.Typer()
    cli.command("plot")(plot_cmd)
    cli.command("other", hidden=True)(lambda: None)  # two commands: `plot` stays a subcommand
    runner = CliRunner()
    out = tmp_path / "auc.png"
    res = runner.invoke(
        cli,
        [
            "plot",
            first.run_id[:15],
            second.run_id,
            "--what",
            "val_auc",
            "--out",
            str(out),
            "--runs-dir",
            str(root),
            "--json",
        ],
    )
    assert res.exit_code == 0, res.output
    got = json.loads(res.output)
    assert got == {"path": str(out), "what": "val_auc", "x": "epoch", "runs": [first.run_id, second.run_id]}
    assert out.read_bytes().startswith(PNG_SIGNATURE)
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(cli, ["plot", first.run_id, "--runs-dir", str(root), "--x", "wall"])
    assert res.exit_code == 0, res.output
    assert (tmp_path / "synapse-plots" / f"{first.run_id}-loss.svg").exists()
    bad = runner.invoke(cli, ["plot", first.run_id, "--what", "nope", "--runs-dir", str(root)])
    assert bad.exit_code == 2 and "unknown plot 'nope'" in bad.output


def test_importing_the_export_code_does_not_load_matplotlib():
    code = (
        "import sys, core.service.plot_export, synapse_tui.commands.plot_export;"
        "print('matplotlib' in sys.modules, 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
