"""`synapse runs ls|show|compare|rm|reindex|fields` (driven in-process through Typer's CliRunner)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from helpers import ROOT, write_synthetic

from core.runs import RunDir
from synapse_tui import cliutil
from synapse_tui.commands import runs as runs_mod
from core.service.compare import MISSING, config_diff
from synapse_tui.commands.runs import runs_app
from test_store import make_run, summary  # noqa: E402  (tests/ is on sys.path under pytest)


app = typer.Typer()
app.add_typer(runs_app, name="runs")


@app.callback()
def _root() -> None:
    """A group callback keeps `runs` a subcommand, as in the real app."""


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setattr(cliutil.console, "_width", 100)
    monkeypatch.setattr(cliutil.err_console, "_width", 200)


def run(*args, input=None):
    return CliRunner().invoke(app, ["runs", *map(str, args)], input=input)


def ok(*args, input=None):
    res = run(*args, input=input)
    assert res.exit_code == 0, res.output
    return res


def add_predictions(
    rd: RunDir,
    *,
    days: int = 300,
    start: str = "2020-01-01",
    seed: int = 0,
    skill: float = 0.0,
    primary: str | None = None,
    y_seed: int = 99,
) -> None:
    """A predictions.npz with 5 events a day among 39 parts; `skill` > 0 ranks the true events higher."""
    rs_y = np.random.default_rng(y_seed)
    y = np.zeros((days, 39), dtype=bool)
    for t in range(days):
        y[t, rs_y.choice(39, 5, replace=False)] = True
    rs = np.random.default_rng(seed)
    p = rs.random((days, 39)) * 0.2 + skill * y
    p = (p / p.sum(axis=1, keepdims=True) * 5).clip(1e-4, 1 - 1e-4)
    primary = primary or json.loads(rd.path.joinpath("report.json").read_text())["primary"]
    dates = np.arange(np.datetime64(start), np.datetime64(start) + days).astype("datetime64[D]")
    np.savez(
        rd.predictions_npz,
        y_test=y,
        dates_test=dates,
        primary=np.str_(primary),
        **{f"{primary}__prob_test": p.astype(np.float32)},
    )


def full_report(rd: RunDir, primary: str, ks=(20, 21, 22), rates=(0.4, 0.45, 0.5)) -> None:
    s = summary(primary=primary)
    rd.write_json(
        "report.json",
        {
            "summary": s,
            "primary": primary,
            "reference": "frequency",
            "ks": list(ks),
            "tiers": {"excellent": 5, "good": 4, "fair": 3},
            "good_tier": "good",
            "verdict": {
                "status": "APPROVED",
                "failed": [],
                "criteria": [{"name": "ece", "rule": "ECE after calibration <= 0.1", "value": 0.0047, "ok": True}],
            },
            "comparison": {"ks": list(ks), "p_holm": [0.01, 0.2, 0.04], "beats_at": [20, 22], "worse_at": []},
            "models": {
                name: {
                    "role": role,
                    "calibration": {"name": "platt/part"},
                    "test": {
                        "auc_macro": 0.58,
                        "pr_auc_macro": 0.18,
                        "brier": 0.1,
                        "brier_skill": 0.017,
                        "ece_raw": 0.0045,
                        "ece": 0.0047,
                        "classwise_ece": 0.0169,
                        "lift_capture": 0.8,
                        "good_or_better": {
                            "rate": list(r),
                            "ci_low": [x - 0.03 for x in r],
                            "ci_high": [x + 0.03 for x in r],
                            "random": [0.19, 0.22, 0.26],
                        },
                    },
                }
                for name, role, r in ((primary, "model", rates), ("frequency", "baseline", (0.3, 0.35, 0.4)))
            },
        },
    )


# ------------------------------------------------------------------ ls


@pytest.fixture
def runs4(tmp_path):
    make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001", summ=summary(ece_after=0.02, best_k=24))
    make_run(
        tmp_path,
        "lstm",
        run_id="20260102-000000-lstm-0002",
        summ=summary(ece_after=0.08, beats_reference=False, beats_at=[], brier_skill=-0.01, verdict="FAILED"),
    )
    make_run(tmp_path, "gru", run_id="20260103-000000-gru-0003", status="queued")
    make_run(tmp_path, "big-tf", run_id="20260104-000000-big-tf-0004", kind="transformer", status="failed")
    return tmp_path


def test_ls_newest_first_and_fits_100_columns(runs4):
    out = ok("ls", "--runs-dir", runs4).stdout
    lines = out.rstrip("\n").splitlines()
    assert lines[0].split()[:4] == ["run", "model", "status", "#"]
    for word in ("age", "took", "ECE", "B.skill", "good+@K", "beats", "verdict"):
        assert word in lines[0]
    assert [ln.split()[0] for ln in lines[1:]] == [
        "20260104-000000-big-tf-0004",
        "20260103-000000-gru-0003",
        "20260102-000000-lstm-0002",
        "20260101-000000-gru-0001",
    ]
    assert max(len(ln) for ln in lines) <= 100
    gru = lines[-1]
    assert "succeeded" in gru and "0.020" in gru and "+0.0170" in gru and "0.691@24" in gru
    assert "24-27" in gru and "APPROVED" in gru
    assert "FAILED" in lines[-2] and " no " in lines[-2]


def _terminal(monkeypatch, width: int) -> None:
    """Make the CLI's console behave as a terminal of `width` columns (without colour codes)."""
    monkeypatch.setattr(cliutil.console, "_width", width)
    monkeypatch.setattr(cliutil.console, "_force_terminal", True)
    monkeypatch.setattr(cliutil.console, "_color_system", None)


@pytest.mark.parametrize("width", [80, 100])
def test_narrow_terminals_and_long_names_drop_columns_not_ids(runs4, monkeypatch, width):
    _terminal(monkeypatch, width)
    long_id = "20260105-000000-a-very-long-transformer-name-0005"
    make_run(runs4, "a-very-long-transformer-name", run_id=long_id, kind="transformer")
    lines = ok("ls", "--runs-dir", runs4).stdout.rstrip("\n").splitlines()
    assert max(len(ln) for ln in lines) <= width
    assert lines[1].split()[0] == long_id
    assert "status" in lines[0]
    if width == 100:
        assert "ECE" in lines[0] and "verdict" in lines[0] and "#" not in lines[0]


def test_ls_into_a_pipe_keeps_every_column_whatever_the_width(runs4, monkeypatch):
    """`synapse runs ls | grep ...`: no terminal, so nothing is dropped or cut to fit 80 columns."""
    monkeypatch.setattr(cliutil.console, "_width", 80)
    long_id = "20260105-000000-a-very-long-transformer-name-0005"
    make_run(runs4, "a-very-long-transformer-name", run_id=long_id, kind="transformer")
    lines = ok("ls", "--runs-dir", runs4).stdout.rstrip("\n").splitlines()
    assert lines[0].split() == [
        "run",
        "model",
        "status",
        "#",
        "age",
        "took",
        "ECE",
        "B.skill",
        "good+@K",
        "beats",
        "verdict",
    ]
    assert max(len(ln) for ln in lines) > 80 and "\x1b" not in "".join(lines)
    assert lines[1].split()[:3] == [long_id, "transformer", "succeeded"] and "…" not in "".join(lines)


def test_ls_filters_sort_limit_json(runs4):
    def listed(*args):
        return [r["run_id"][-4:] for r in json.loads(ok("ls", "--runs-dir", runs4, "--json", *args).stdout)]

    assert listed() == ["0004", "0003", "0002", "0001"]
    assert listed("--status", "queued") == ["0003"]
    assert listed("--status", "queued,failed") == ["0004", "0003"]
    assert listed("-s", "queued", "-s", "failed") == ["0004", "0003"]
    assert listed("--model", "gru") == ["0003", "0001"]
    assert listed("--where", "ece<0.05 and model=gru") == ["0001"]
    assert listed("--where", "status=running or status=queued") == ["0003"]
    assert listed("--where", "brier_skill<0 and not beats") == ["0002"]
    assert listed("--where", "name~TF") == ["0004"]
    assert listed("--sort", "ece") == ["0001", "0002", "0004", "0003"]
    assert listed("--sort", "-ece")[:2] == ["0002", "0001"]
    assert listed("--sort=-good", "--limit", "1") == ["0002"] or listed("--sort=-good", "--limit", "1") == ["0001"]
    assert listed("--asc") == ["0001", "0002", "0003", "0004"]
    assert listed("--limit", "2") == ["0004", "0003"]
    row = json.loads(ok("ls", "--runs-dir", runs4, "--json", "--limit", "1").stdout)[0]
    assert {"run_id", "model", "status", "ece_after", "brier_skill", "beats_reference", "path"} <= set(row)


@pytest.mark.parametrize(
    "args,needle",
    [
        (["--where", "ece<<0.05"], "--where 'ece<<0.05': position 5: expected a value"),
        (["--where", "eec<1"], "did you mean ece"),
        (["--status", "runing"], "did you mean running"),
        (["--sort", "nope"], "unknown field 'nope'"),
    ],
)
def test_ls_bad_input_exits_2(runs4, args, needle):
    res = run("ls", "--runs-dir", runs4, *args)
    assert res.exit_code == 2, res.output
    assert needle in res.output
    assert "Traceback" not in res.output


def test_ls_empty(tmp_path):
    res = ok("ls", "--runs-dir", tmp_path / "none")
    assert "no runs in" in res.output
    assert json.loads(ok("ls", "--runs-dir", tmp_path, "--json").stdout) == []
    assert "no runs match" in ok("ls", "--runs-dir", tmp_path, "--model", "x").output


def test_fields_lists_aliases():
    out = ok("fields").stdout
    assert "ece_after" in out and "ece" in out and "beats_reference" in out
    data = json.loads(ok("fields", "--json").stdout)
    assert {
        "name": "best_k",
        "type": "number",
        "aliases": ["k"],
        "help": data[[d["name"] for d in data].index("best_k")]["help"],
    } in data


# ------------------------------------------------------------------ show


def test_show_by_prefix(tmp_path):
    rd = make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001")
    full_report(rd, "gru")
    out = ok("show", "20260101-0000", "--runs-dir", tmp_path).stdout
    for needle in (
        "20260101-000000-gru-0001",
        "succeeded",
        "verdict: APPROVED",
        "ECE after calibration <= 0.1",
        "good-or-better@K (test): gru vs frequency",
        "0.400",
        "[0.370, 0.430]",
        "test window touched 1",
        "report.json",
        "events.jsonl",
        "best val loss 0.37000",
    ):
        assert needle in out, needle
    d = json.loads(ok("show", "20260101", "--runs-dir", tmp_path, "--json").stdout)
    assert d["run"]["run_id"] == rd.run_id and d["summary"]["primary"] == "gru"
    assert d["metrics"]["gru"]["good_or_better"]["rate"] == [0.4, 0.45, 0.5]
    assert {a["name"] for a in d["artifacts"]} >= {"report.json", "manifest.json", "config.yaml", "events.jsonl"}
    assert len(d["test_touches"]) == 1 and len(d["epochs"]) == 3


def test_show_partial_and_bad_refs(tmp_path):
    make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001", status="queued")
    make_run(tmp_path, "gru", run_id="20260101-000000-gru-0002", status="failed")
    assert "queued" in ok("show", "20260101-000000-gru-0001", "--runs-dir", tmp_path).stdout
    out = ok("show", "20260101-000000-gru-0002", "--runs-dir", tmp_path).stdout
    assert "ValueError: boom" in out
    for ref, needle in (("20260101", "ambiguous"), ("2099", "no run matches"), ("../etc", "not a run id")):
        res = run("show", ref, "--runs-dir", tmp_path)
        assert res.exit_code == 2 and needle in res.output, res.output


def _write_live(rd: RunDir, final: str, delay: float = 0.15) -> threading.Thread:
    def go():
        with rd.event_writer() as ev:
            time.sleep(delay)
            ev.run_started(rd.run_id, "h", "cpu", 1)
            for e in range(1, 4):
                time.sleep(delay)
                ev.epoch(e, 0.5 - e / 100, 0.45 - e / 100, 1e-3, 0.1, improved=True)
            time.sleep(delay)
            if final == "succeeded":
                ev.evaluated(summary())
                ev.run_finished("succeeded")
            else:
                ev.run_finished("failed", error="RuntimeError: nan loss")

    t = threading.Thread(target=go)
    t.start()
    return t


@pytest.mark.parametrize("final,code", [("succeeded", 0), ("failed", 1)])
def test_show_follow_streams_epochs_until_the_end(tmp_path, monkeypatch, final, code):
    monkeypatch.setattr(runs_mod, "FOLLOW_POLL_S", 0.05)
    rd = make_run(tmp_path, "gru", status="queued")
    t = _write_live(rd, final)
    res = run("show", rd.run_id, "--follow", "--runs-dir", tmp_path)
    t.join()
    assert res.exit_code == code, res.output
    out = res.stdout
    assert "attempt 1 started" in out
    assert [ln.split()[1] for ln in out.splitlines() if ln.startswith("epoch")] == ["1", "2", "3"]
    assert "val 0.44000" in out and "▲ best" in out
    assert f"run {final}" in out
    assert "succeeded" in out if final == "succeeded" else "nan loss" in out


def test_show_follow_json_lines(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_mod, "FOLLOW_POLL_S", 0.05)
    rd = make_run(tmp_path, "gru", status="queued")
    t = _write_live(rd, "succeeded", delay=0.05)
    res = run("show", rd.run_id, "--follow", "--json", "--runs-dir", tmp_path)
    t.join()
    events = [json.loads(ln) for ln in res.stdout.splitlines()]
    assert [e["type"] for e in events if e["type"] == "epoch"] == ["epoch"] * 3
    assert events[-1]["type"] == "run_finished" and res.exit_code == 0


def test_show_follow_of_a_lost_run_ends(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_mod, "FOLLOW_POLL_S", 0.05)
    rd = make_run(tmp_path, "gru", status="running", started_ago_s=120, finished_ago_s=100)  # dead pid, old beat
    res = run("show", rd.run_id, "--follow", "--runs-dir", tmp_path)
    assert res.exit_code == 1 and "run is lost" in res.stdout


# ------------------------------------------------------------------ compare


def test_config_diff_flattens_and_keeps_only_differences():
    a = {"name": "gru", "seed": 0, "model": {"kind": "gru", "hidden": 64, "layers": [1, 2]}, "train": {"lr": 1e-3}}
    b = {"name": "gru", "seed": 0, "model": {"kind": "gru", "hidden": 128, "layers": [1, 2]}, "train": {}}
    d = config_diff([a, b])
    assert list(d) == ["model.hidden", "train.lr"]
    assert d["model.hidden"] == [64, 128]
    assert d["train.lr"][0] == 1e-3 and d["train.lr"][1] is MISSING
    assert config_diff([a, a]) == {}


@pytest.fixture
def pair(tmp_path):
    a = make_run(tmp_path, "gru", run_id="20260101-000000-gru-000a")
    b = make_run(tmp_path, "lstm", run_id="20260102-000000-lstm-000b")
    full_report(a, "gru", rates=(0.6, 0.65, 0.7))
    full_report(b, "lstm")
    b.write_text("config.yaml", b.config_yaml.read_text().replace("hidden: 64", "hidden: 128"))
    add_predictions(a, skill=0.5, seed=1)
    add_predictions(b, skill=0.0, seed=2)
    return tmp_path, a, b


def test_compare_paired_test_on_the_same_days(pair):
    root, a, b = pair
    out = ok("compare", "20260101", "20260102", "--runs-dir", root).stdout
    assert "A 20260101-000000-gru-000a" in out and "B 20260102-000000-lstm-000b" in out
    assert "config differences" in out and "model.hidden" in out and "model.kind" in out
    assert "seed" not in out.split("summary (test window)")[0]  # equal keys are not shown
    assert "summary (test window)" in out and "good-or-better@K of each run's primary" in out
    assert "paired test A (gru) vs B (lstm) on the same 2020-01-01..2020-10-26 (300 days)" in out
    assert "A beats B at K 20-22" in out
    # the numbers are core.evaluation.metrics' own
    from core.evaluation.metrics import compare, day_indicators

    za, zb = np.load(a.predictions_npz), np.load(b.predictions_npz)
    ks = [20, 21, 22]
    want = compare(
        day_indicators(za["y_test"], za["gru__prob_test"], ks),
        day_indicators(zb["y_test"], zb["lstm__prob_test"], ks),
        ks,
    )
    d = json.loads(ok("compare", a.run_id, b.run_id, "--runs-dir", root, "--json").stdout)
    got = d["paired"][0]
    assert got["p_holm"] == want["p_holm"] and got["model_only"] == want["model_only"]
    assert got["beats_at"] == [20, 21, 22] and got["n"] == 300
    assert d["config_diff"]["model.hidden"] == [64, 128]
    assert d["good_or_better"]["rates"][a.run_id] == [0.6, 0.65, 0.7]
    # each paired test is a recorded look at the test window
    touches = json.loads(a.manifest_json.read_text())["test_touches"]
    assert len(touches) == 3 and "runs compare" in touches[-1]["what"]
    assert len(json.loads(b.manifest_json.read_text())["test_touches"]) == 3


def test_compare_refuses_different_test_windows(pair):
    root, a, b = pair
    add_predictions(b, start="2020-02-01")
    res = run("compare", a.run_id, b.run_id, "--runs-dir", root)
    assert res.exit_code == 2
    assert "test windows differ" in res.output and "2020-01-01..2020-10-26" in res.output
    assert "2020-02-01..2020-11-26" in res.output
    assert len(json.loads(a.manifest_json.read_text())["test_touches"]) == 1  # refused: nothing recorded
    add_predictions(b, days=200)
    assert "test windows differ" in run("compare", a.run_id, b.run_id, "--runs-dir", root).output
    add_predictions(b, y_seed=5)
    res = run("compare", a.run_id, b.run_id, "--runs-dir", root)
    assert res.exit_code == 2 and "different outcomes" in res.output
    # without the paired test the rest still compares, and the test window is not touched
    out = ok("compare", a.run_id, b.run_id, "--no-paired", "--runs-dir", root).stdout
    assert "summary (test window)" in out and "paired test" not in out
    assert len(json.loads(a.manifest_json.read_text())["test_touches"]) == 1


def test_compare_with_an_unfinished_run_and_bad_input(pair):
    root, a, b = pair
    q = make_run(root, "gru", run_id="20260103-000000-gru-000c", status="queued")
    out = ok("compare", a.run_id, b.run_id, q.run_id, "--runs-dir", root).stdout
    assert "C 20260103-000000-gru-000c" in out and "paired test A vs C skipped" in out
    assert "A beats B" in out
    res = run("compare", q.run_id, a.run_id, "--runs-dir", root)
    assert res.exit_code == 2 and "no predictions.npz" in res.output
    for args, needle in (
        ([a.run_id], "at least two"),
        ([a.run_id, "20260101-000000-gru-000a"], "given twice"),
        ([a.run_id, "2099"], "no run matches"),
    ):
        res = run("compare", *args, "--runs-dir", root)
        assert res.exit_code == 2 and needle in res.output, res.output


# ------------------------------------------------------------------ rm, reindex


def test_rm_asks_refuses_running_and_deletes(tmp_path):
    from core.store import Store

    a = make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001")
    b = make_run(tmp_path, "gru", run_id="20260102-000000-gru-0002")
    live = make_run(
        tmp_path, "gru", run_id="20260103-000000-gru-0003", status="running", pid=os.getpid(), finished_ago_s=0
    )
    live_events = live.events_jsonl.read_text().replace(
        '"pid_started_at": "x:1"',
        json.dumps({"pid_started_at": __import__("core.runs", fromlist=["x"]).process_start_time(os.getpid())})[1:-1],
    )
    live.events_jsonl.write_text(live_events)
    store = Store(tmp_path)
    assert len(store.rows()) == 3
    res = run("rm", a.run_id, live.run_id, "--yes", "--runs-dir", tmp_path)
    assert res.exit_code == 2 and "is running" in res.output and "synapse cancel" in res.output
    assert a.path.exists() and live.path.exists()  # nothing deleted
    res = run("rm", a.run_id, "--runs-dir", tmp_path, input="n\n")
    assert res.exit_code == 1 and a.path.exists() and "nothing deleted" in res.output
    res = run("rm", "20260101", "--runs-dir", tmp_path, input="y\n")
    assert res.exit_code == 0 and not a.path.exists() and "deleted 20260101-000000-gru-0001" in res.output
    assert a.run_id not in {r["run_id"] for r in store.rows(refresh=False)}
    d = json.loads(ok("rm", b.run_id, "-y", "--json", "--runs-dir", tmp_path).stdout)
    assert d == {"removed": [b.run_id], "touches_kept": {b.run_id: 1}} and not b.path.exists()
    assert not any(p.name.startswith(".deleting") for p in tmp_path.iterdir())


def test_reindex(tmp_path):
    for i in range(3):
        make_run(tmp_path, f"r{i}")
    (tmp_path / "index.sqlite").write_bytes(b"junk" * 100)
    assert "indexed 3 run(s)" in ok("reindex", "--runs-dir", tmp_path).stdout
    d = json.loads(ok("reindex", "--runs-dir", tmp_path, "--json").stdout)
    assert d["runs"] == 3 and d["index"].endswith("index.sqlite")
    res = run("reindex", "--runs-dir", tmp_path / "missing")
    assert res.exit_code == 2 and "no runs directory" in res.output


# ------------------------------------------------------------------ real runs, end to end


@pytest.fixture(scope="module")
def real(tmp_path_factory):
    """Two real baselines runs on the same small data and windows, and one with another test window."""
    from core.config import load_config
    from core.train.run import run_baselines

    base = tmp_path_factory.mktemp("real")
    data = write_synthetic(base / "d.csv", "planted", days=900, parts=39, per_day=5, seed=3, start="2000-01-03")
    root = base / "runs"
    over = ["split.test_days=200", "split.val_days=200"]
    a = run_baselines(load_config("baselines", overrides=over, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=over + ["eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    c = run_baselines(
        load_config("baselines", overrides=["split.test_days=150", "split.val_days=200"], data=str(data)), root
    )
    return root, a, b, c


@pytest.mark.slow
def test_real_runs_ls_show_compare(real):
    root, a, b, c = real
    lines = ok("ls", "--runs-dir", root).stdout.splitlines()
    assert [ln.split()[0] for ln in lines[1:]] == [c.run_id, b.run_id, a.run_id]
    assert all("succeeded" in ln and "baselines" in ln for ln in lines[1:])
    assert max(map(len, lines)) <= 100
    out = ok("show", a.run_id, "--runs-dir", root).stdout
    assert "test window, every scorer" in out and "predictions.npz" in out
    out = ok("compare", a.run_id, b.run_id, "--runs-dir", root).stdout
    assert "eval.baselines" in out and "paired test A" in out
    res = run("compare", a.run_id, c.run_id, "--runs-dir", root)
    assert res.exit_code == 2 and "test windows differ" in res.output and "(200 days)" in res.output
    assert "(150 days)" in res.output


def test_commands_module_imports_nothing_heavy():
    code = (
        "import sys\nfrom synapse_tui.commands.runs import runs_app\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.split()
    )
    assert "typer" in mods
    assert not mods & {"torch", "pandas", "numpy", "sqlite3", "yaml"}
