"""The service layer (core.service): what the CLI and the dashboard call, on real runs."""

import json
from pathlib import Path

import pytest

from core.config import load_config
from core.data import synthetic
from core.errors import InputError
from core.runs import RunDir, list_run_dirs, status_of
from core.service import compare, jobs, runs
from core.service.predict import parse_target
from core.train.run import run_baselines, run_train

ROOT = Path(__file__).resolve().parents[1]
SPLIT = ["split.test_days=200", "split.val_days=200"]
LOGISTIC = [*SPLIT, "train.epochs=3", "train.device=cpu"]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A runs root with two baselines runs on the same windows and a logistic run on them too."""
    base = tmp_path_factory.mktemp("service")
    data = base / "d.csv"
    synthetic.write(data, synthetic.generate("planted", days=900, seed=5, start="2001-01-01"))
    root = base / "runs"
    a = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), root)
    b = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,recency]"], data=str(data)), root
    )
    m = run_train(load_config("logistic", overrides=LOGISTIC, data=str(data)), root)
    return root, data, a, b, m


def _touches(rd: RunDir) -> list:
    return rd.read_json("manifest.json")["test_touches"]


# --------------------------------------------------------------------------- opening and listing


def test_open_run_by_directory_by_prefix_and_refusals(world, tmp_path):
    root, _, a, b, m = world
    assert runs.open_run(str(a.path)).path == a.path  # a directory, wherever it is
    assert runs.open_run(m.run_id[:-2], root).run_id == m.run_id
    with pytest.raises(InputError, match="ambiguous"):
        runs.open_run(a.run_id[:4], root)
    with pytest.raises(InputError):
        runs.open_run("../etc", root)
    assert [rd.run_id for rd in runs.open_runs([a.run_id, b.run_id, a.run_id], root)] == [a.run_id, b.run_id]


def test_list_runs_filters_and_sorts_with_the_query_grammar(world):
    root, _, a, b, m = world
    rows = runs.list_runs(root)
    assert [r["run_id"] for r in rows] == [m.run_id, b.run_id, a.run_id]  # newest first
    assert [r["run_id"] for r in runs.list_runs(root, sort="created", ascending=True)] == [a.run_id, b.run_id, m.run_id]
    assert [r["run_id"] for r in runs.list_runs(root, where="model=logistic")] == [m.run_id]
    assert {r["run_id"] for r in runs.list_runs(root, where="job=baselines and status=succeeded")} == {
        a.run_id,
        b.run_id,
    }
    assert len(runs.list_runs(root, limit=2)) == 2
    with pytest.raises(InputError, match="--where"):
        runs.list_runs(root, where="ece<<1")


# --------------------------------------------------------------------------- one run


def test_run_view_holds_what_the_run_screen_draws(world):
    root, _, _, _, m = world
    view = runs.run_view(m, root)
    report = m.read_json("report.json")
    test = report["models"]["logistic"]["test"]
    assert view["run"]["run_id"] == m.run_id and view["run"]["status"] == "succeeded"
    assert [e["epoch"] for e in view["epochs"]] == list(range(1, len(view["epochs"]) + 1))
    tiers = view["tiers"]
    assert tiers["ks"] == report["ks"] and tiers["primary"] == "logistic"
    assert tiers["baseline"] == report["best_baseline"]
    assert set(tiers["tiers"]) == set(report["tiers"])
    good = tiers["tiers"]["good"]
    assert good["model"]["rate"] == test["tier_rates"]["good"]["rate"]
    assert good["baseline"]["rate"] == report["models"][report["best_baseline"]]["test"]["tier_rates"]["good"]["rate"]
    assert good["random"] == test["tier_rates"]["good"]["random"]
    assert good["oracle"] == test["oracle"]["tier_rates"]["good"]  # the planted data has a truth file
    assert tiers["beats_at"] == report["comparison"]["beats_at"]
    assert view["reliability"]["before"] == test["reliability_raw"]
    assert view["reliability"]["after"] == test["reliability"]
    assert sum(view["reliability"]["after"]["count"]) == 200 * 39
    assert [p["part"] for p in view["auc_per_part"]] == list(range(1, 40))
    assert [p["auc"] for p in view["auc_per_part"]] == test["auc_per_part"]
    assert view["config"]["model"]["kind"] == "logistic"
    assert len(view["test_touches"]) == len(_touches(m))
    names = {a["name"] for a in view["artifacts"]}
    assert {"report.json", "metrics.csv", "model_checkpoint.pt", "calibration_curve.png"} <= names
    assert view["log_tail"] and all(e["type"] == "log" for e in view["log_tail"])


def test_run_view_of_a_run_that_has_not_run_yet(world, tmp_path):
    _, data, *_ = world
    rd = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", tmp_path)
    view = runs.run_view(rd, tmp_path)
    assert view["run"]["status"] == "queued"
    assert view["tiers"] is None and view["reliability"] is None and view["auc_per_part"] == []
    assert view["epochs"] == [] and view["summary"] is None


@pytest.mark.slow  # spawns worker processes
def test_follow_run_hands_on_events_then_the_final_status(world, tmp_path):
    _, data, *_ = world
    info = jobs.launch(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", tmp_path)
    rd = RunDir(Path(info["path"]))
    assert info["target"] == "local" and isinstance(info["pid"], int)
    seen = list(runs.follow_run(rd, poll_s=0.05))
    assert seen[-1].final == "succeeded" and all(s.final is None for s in seen[:-1])
    types = [s.event["type"] for s in seen[:-1]]
    assert types[0] == "queued" and "run_started" in types and types[-1] == "run_finished"
    assert "heartbeat" not in types and "artifact" not in types


def test_follow_run_ends_lost_when_the_worker_is_gone(world, tmp_path):
    _, data, *_ = world
    rd = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", tmp_path)
    started = {
        "ts": "2000-01-01T00:00:00.000000Z",
        "type": "run_started",
        "run_id": rd.run_id,
        "config_hash": "x",
        "host": "elsewhere",
        "pid": 1,
        "pid_started_at": "x",
        "device": "cpu",
        "attempt": 1,
    }
    with open(rd.events_jsonl, "a", encoding="utf-8") as fh:  # an attempt long dead, its heartbeat old
        fh.write(json.dumps(started) + "\n")
    seen = list(runs.follow_run(rd, poll_s=0.01, status_every_s=0.0))
    assert seen[-1].final == "lost"


def test_launch_refuses_an_unknown_target_and_leaves_nothing(world, tmp_path):
    _, data, *_ = world
    with pytest.raises(InputError, match="unknown target"):
        jobs.launch(load_config("baselines", data=str(data)), "baselines", tmp_path, target="h200")
    assert list_run_dirs(tmp_path) == []


# --------------------------------------------------------------------------- jobs


def test_cancel_a_queued_run_then_resume_refuses_nothing_to_resume(world, tmp_path):
    _, data, *_ = world
    rd = jobs.create_job(load_config("baselines", overrides=SPLIT, data=str(data)), "baselines", tmp_path)
    out = jobs.cancel(rd)
    assert out == {"run_id": rd.run_id, "status": "cancelled", "message": "cancelled"}
    assert status_of(rd).status == "cancelled"
    with pytest.raises(InputError, match="not running"):
        jobs.cancel(rd)
    done = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), tmp_path)
    with pytest.raises(InputError, match="only lost, cancelled or failed runs resume"):
        jobs.check_resumable(done)


@pytest.mark.slow  # spawns worker processes
def test_workers_run_side_by_side_and_report_their_exit_codes(world, tmp_path):
    _, data, *_ = world
    cfg = load_config("baselines", overrides=SPLIT, data=str(data))
    rds = [jobs.create_job(cfg, "baselines", tmp_path) for _ in range(2)]
    workers = jobs.Workers(rds)
    lines = {0: [], 1: []}
    ended = []
    for i, line in workers.lines():
        (ended.append(i) if line is None else lines[i].append(line))
    assert sorted(ended) == [0, 1] and all(lines.values())
    assert workers.wait() == [jobs.EXIT_SUCCEEDED] * 2
    outs = [jobs.outcome(rd) for rd in rds]
    assert all(o["verdict"] == o["report"]["verdict"] and o["summary"]["primary"] for o in outs)


def test_reevaluate_with_other_ks_counts_a_test_touch(world):
    _, _, a, *_ = world
    before = len(_touches(a))
    out = jobs.reevaluate(a, calibration="isotonic", per_part=False, ks=[20, 22])
    assert out["report"]["ks"] == [20, 22] and out["test_touches"] == before + 1
    assert "calibration=isotonic/global, k=[20, 22]" in _touches(a)[-1]["what"]


def test_parse_ks_and_parse_target():
    assert jobs.parse_ks("20..23") == [20, 21, 22, 23]
    assert jobs.parse_ks(" 18, 20 ,22") == [18, 20, 22]
    for bad in ("20..x", "", "a,b", "1.5"):
        with pytest.raises(InputError):
            jobs.parse_ks(bad)
    assert parse_target("good-or-better:0.6") == ("good", 0.6)
    assert parse_target("fair:0.25") == ("fair", 0.25)
    assert parse_target(None) is None
    for bad in ("good", "good:1.5", "good:x", "good:0"):
        with pytest.raises(InputError):
            parse_target(bad)


# --------------------------------------------------------------------------- compare, delete, reindex


def test_compare_runs_pairs_the_same_days_and_records_the_touch(world):
    root, _, a, b, m = world
    before = {rd.run_id: len(_touches(rd)) for rd in (a, b, m)}
    c = compare.compare_runs([a, b, m], root)
    assert c["labels"] == ["A", "B", "C"] and c["ids"] == [a.run_id, b.run_id, m.run_id]
    assert [t["run"] for t in c["tests"]] == [b.run_id, m.run_id]
    assert all(len(t["p_holm"]) == len(t["ks"]) for t in c["tests"])
    assert {rd.run_id: len(_touches(rd)) for rd in (a, b, m)} == {k: v + 1 for k, v in before.items()}
    diff = compare.config_diff(c["cfgs"])
    assert "eval.baselines" in diff and "model.kind" in diff
    js = compare.compare_json(c)
    json.dumps(js)  # plain data
    assert js["good_or_better"]["ks"] == sorted(set().union(*(r["ks"] for r in c["reports"])))
    assert set(js["summary"]) == {a.run_id, b.run_id, m.run_id}


def test_compare_refuses_before_recording_anything(world):
    root, _, a, b, _ = world
    before = len(_touches(a))
    with pytest.raises(InputError, match="given twice"):
        compare.compare_runs([a, a], root)
    with pytest.raises(InputError, match="at least two"):
        compare.compare_runs([a], root)
    assert len(_touches(a)) == before
    c = compare.compare_runs([a, b], root, paired=False)
    assert c["tests"] == [] and len(_touches(a)) == before


def test_delete_refuses_an_active_run_and_removes_a_finished_one_from_the_index(world, tmp_path):
    _, data, *_ = world
    cfg = load_config("baselines", overrides=SPLIT, data=str(data))
    queued = jobs.create_job(cfg, "baselines", tmp_path)
    done = run_baselines(cfg, tmp_path)
    assert {r["run_id"] for r in runs.list_runs(tmp_path)} == {queued.run_id, done.run_id}
    with pytest.raises(InputError, match="cancel it first"):
        runs.check_deletable([done, queued])
    assert runs.check_deletable([done]) == {done.run_id: "succeeded"}
    runs.delete_run(done, tmp_path)
    assert not done.path.exists()
    assert [r["run_id"] for r in runs.list_runs(tmp_path)] == [queued.run_id]
    out = runs.reindex(tmp_path)
    assert out["runs"] == 1 and out["index"].endswith("index.sqlite")
    with pytest.raises(InputError, match="no runs directory"):
        runs.reindex(tmp_path / "nowhere")


def test_run_row_of_a_run_outside_the_runs_root_is_read_not_indexed(world, tmp_path):
    _, _, a, *_ = world
    row = runs.run_row(a, tmp_path)
    assert row["run_id"] == a.run_id and row["status"] == "succeeded" and row["path"] == str(a.path)
    assert not (tmp_path / "index.sqlite").exists()


def test_run_detail_lists_warnings_and_scalar_metrics(world):
    root, _, a, *_ = world
    d = runs.run_detail(a, runs.run_row(a, root))
    report = a.read_json("report.json")
    assert set(d["metrics"]) == set(report["models"])
    for name, m in d["metrics"].items():
        assert m["auc_macro"] == report["models"][name]["test"]["auc_macro"]
        assert "auc_per_part" not in m
    assert d["verdict"] == report["verdict"] and d["manifest"]["run_id"] == a.run_id
    assert "test_touches" not in d["manifest"]


def test_service_modules_import_nothing_heavy():
    import subprocess
    import sys

    code = (
        "import sys\nimport core.service.runs, core.service.compare, core.service.jobs\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    mods = set(
        subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True
        ).stdout.split()
    )
    assert not mods & {"torch", "numpy", "sqlite3", "yaml", "textual", "typer", "rich"}


@pytest.mark.slow  # spawns worker processes
def test_sweeps_open_the_latest_and_refuse_what_is_not_there(world, tmp_path):
    from core.service import sweeps

    with pytest.raises(InputError, match="give at least one config"):
        sweeps.start([], runs_dir=tmp_path)
    with pytest.raises(InputError, match="no sweeps in"):
        sweeps.open_sweep(None, tmp_path)
    _, data, *_ = world
    first = sweeps.start(["baselines"], ["split.gap_days=0,1"], SPLIT, 1, data=data, runs_dir=tmp_path)
    st = sweeps.state(first)
    assert len(st["rows"]) == 2 and {r["status"] for r in st["rows"]} <= {"queued", "running", "succeeded"}
    assert sweeps.open_sweep(None, tmp_path).sweep_id == first.sweep_id
    assert sweeps.open_sweep(first.sweep_id[:-1], tmp_path).sweep_id == first.sweep_id
    done = sweeps.wait_and_report(first, poll=0.1)
    assert [r["status"] for r in done["rows"]] == ["succeeded", "succeeded"]
    assert done["report"]["sweep_id"] == first.sweep_id and sweeps.state(first)["report"] is not None
