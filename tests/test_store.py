"""core.store: the SQLite index of runs — a cache of the run directories, never the truth."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from datetime import datetime, timedelta, UTC
from pathlib import Path

import pytest

from helpers import ROOT

from core.errors import InputError
from core.runs import RunDir, format_ts
from core.store import COLUMN_NAMES, INDEX_NAME, Store, read_run


def summary(**kw) -> dict:
    s = {
        "primary": "gru",
        "reference": "frequency",
        "best_baseline": "frequency",
        "calibration": "platt/part",
        "val_brier": 0.108,
        "auc": 0.58,
        "pr_auc": 0.18,
        "brier_skill": 0.017,
        "ece_before": 0.0045,
        "ece_after": 0.0047,
        "classwise_ece": 0.0169,
        "best_good_or_better": 0.691,
        "best_k": 27,
        "lift_capture": 0.81,
        "beats_reference": True,
        "beats_at": [24, 25, 26, 27],
        "verdict": "APPROVED",
    }
    s.update(kw)
    return s


def make_run(
    root,
    name: str = "gru",
    *,
    run_id: str | None = None,
    kind: str | None = None,
    job: str = "train",
    status: str | None = "succeeded",
    epochs: int = 3,
    summ: dict | None = None,
    report: bool = True,
    evaluated_event: bool = True,
    touches: int = 1,
    pid: int | None = None,
    host: str | None = None,
    started_ago_s: float = 5.0,
    finished_ago_s: float = 1.0,
    created: datetime | None = None,
) -> RunDir:
    """A plausible run directory written the way the engine writes one (no training)."""
    root = Path(root)
    if run_id is None:
        rd = RunDir.create(root, name)
    else:
        rd = RunDir(root / run_id)
        rd.path.mkdir(parents=True)
    now = datetime.now(UTC)
    created = created or rd.created or now
    kind = kind or name
    rd.write_text(
        "config.yaml", f"name: {name}\nseed: 0\nmodel:\n  kind: {kind}\n  hidden: 64\ntrain:\n  epochs: {epochs}\n"
    )
    rd.write_json(
        "manifest.json",
        {
            "run_id": rd.run_id,
            "created": format_ts(created),
            "config_hash": "abc123def456",
            "host": socket.gethostname(),
            "device": "cpu",
            "job": job,
            "data": {"path": "d.csv", "sha256": "f" * 64, "rows": 100, "parts": 39},
            "splits": [],
            "test_touches": [{"ts": format_ts(now), "what": "t"} for _ in range(touches)],
        },
    )
    lines = [{"ts": format_ts(created), "type": "queued", "job": job}]
    if status is not None and status != "queued":
        t0 = now - timedelta(seconds=started_ago_s)
        lines.append(
            {
                "ts": format_ts(t0),
                "type": "run_started",
                "run_id": rd.run_id,
                "config_hash": "abc123def456",
                "host": host or socket.gethostname(),
                "pid": pid if pid is not None else 999_999_999,
                "pid_started_at": "x:1",
                "device": "cpu",
                "attempt": 1,
            }
        )
        for e in range(1, epochs + 1):
            lines.append(
                {
                    "ts": format_ts(t0 + timedelta(seconds=e * 0.1)),
                    "type": "epoch",
                    "epoch": e,
                    "train_loss": 0.4 - e / 100,
                    "val_loss": [0.39, 0.37, 0.38, 0.385][(e - 1) % 4],
                    "lr": 1e-3,
                    "seconds": 0.1,
                }
            )
        if status == "running":
            lines.append({"ts": format_ts(now - timedelta(seconds=finished_ago_s)), "type": "heartbeat"})
        if status in ("succeeded", "failed", "cancelled"):
            s = summ if summ is not None else summary(primary=kind)
            if status == "succeeded" and evaluated_event:
                lines.append(
                    {"ts": format_ts(now - timedelta(seconds=finished_ago_s)), "type": "evaluated", "summary": s}
                )
            fin = {"ts": format_ts(now - timedelta(seconds=finished_ago_s)), "type": "run_finished", "status": status}
            if status == "failed":
                fin["error"] = "ValueError: boom"
            lines.append(fin)
            if status == "succeeded" and report:
                rd.write_json("report.json", {"summary": s, "primary": s["primary"], "models": {}})
    with open(rd.events_jsonl, "a") as fh:
        for e in lines:
            fh.write(json.dumps(e) + "\n")
    return rd


def ids(rows):
    return [r["run_id"] for r in rows]


def backdate(path: Path, seconds: float = 10.0) -> None:
    """Age a run's files past the store's 'racy' window (no sleeping)."""
    t = time.time() - seconds
    for p in [path, *path.iterdir()]:
        os.utime(p, (t, t))


# ------------------------------------------------------------------ reading one run


def test_read_run_of_a_finished_run(tmp_path):
    rd = make_run(tmp_path, "gru", epochs=4)
    row = Store(tmp_path).upsert(rd)
    assert row["run_id"] == rd.run_id and row["name"] == "gru" and row["model"] == "gru"
    assert row["job"] == "train" and row["status"] == "succeeded" and row["attempt"] == 1
    assert row["best_val_loss"] == pytest.approx(0.37) and row["epochs"] == 4
    assert row["ece_after"] == pytest.approx(0.0047) and row["ece_before"] == pytest.approx(0.0045)
    assert row["brier_skill"] == pytest.approx(0.017) and row["auc"] == pytest.approx(0.58)
    assert row["best_good_or_better"] == pytest.approx(0.691) and row["best_k"] == 27
    assert row["beats_reference"] is True and row["beats_at"] == [24, 25, 26, 27]
    assert row["lift_capture"] == pytest.approx(0.81) and row["verdict"] == "APPROVED"
    assert row["test_touches"] == 1 and row["config_hash"] == "abc123def456" and row["data_sha256"] == "f" * 64
    assert row["host"] == socket.gethostname() and row["device"] == "cpu"
    assert row["summary"]["primary"] == "gru" and row["primary"] == "gru" and row["reference"] == "frequency"
    assert row["duration_s"] == pytest.approx(4.0, abs=0.01)
    assert row["started"] and row["finished"] and row["created"]
    assert row["path"] == str(rd.path)
    assert "signature" not in row and "live" not in row
    raw = read_run(rd)  # the stored row also keeps what the sync and the live status need
    assert set(raw) == set(COLUMN_NAMES) and raw["signature"] and json.loads(raw["live"])["started"]["pid"]


def test_partial_directories_are_tolerated(tmp_path):
    store = Store(tmp_path)
    bare = RunDir(tmp_path / "20260101-000000-bare-0000")
    bare.path.mkdir()
    row = store.upsert(bare)  # just created: no files at all
    assert row["status"] == "queued" and row["model"] is None and row["ece_after"] is None
    assert row["created"].startswith("2026-01-01T00:00:00")
    queued = make_run(tmp_path, "lstm", status="queued")
    row = store.upsert(queued)
    assert (row["status"], row["model"], row["job"], row["attempt"]) == ("queued", "lstm", "train", 0)
    assert row["verdict"] is None and row["best_val_loss"] is None and row["duration_s"] is None
    broken = make_run(tmp_path, "hawkes")
    broken.manifest_json.write_text("{not json")
    broken.config_yaml.write_text("model: [unclosed")
    with open(broken.events_jsonl, "a") as fh:
        fh.write('{"ts": "2026-01-01T00:00:00Z", "type": "epo')  # a torn last line
    row = store.upsert(broken)
    assert row["status"] == "succeeded" and row["model"] is None and row["test_touches"] is None


def test_baselines_job_model_and_report_fallback(tmp_path):
    rd = make_run(
        tmp_path,
        "baselines",
        kind="ewma",
        job="baselines",
        epochs=0,
        evaluated_event=False,
        summ=summary(primary="frequency", reference="uniform", calibration="none"),
    )
    row = Store(tmp_path).upsert(rd)
    assert row["model"] == "baselines" and row["primary"] == "frequency"  # summary read from report.json
    assert row["epochs"] is None and row["best_val_loss"] is None


def test_failed_run_keeps_its_error(tmp_path):
    row = Store(tmp_path).upsert(make_run(tmp_path, "gru", status="failed"))
    assert row["status"] == "failed" and row["error"] == "ValueError: boom" and row["verdict"] is None


def test_upsert_of_a_missing_directory_drops_its_row(tmp_path):
    store = Store(tmp_path)
    rd = make_run(tmp_path)
    store.upsert(rd)
    shutil.rmtree(rd.path)
    assert store.upsert(rd) is None
    assert store.rows(refresh=False) == []
    with pytest.raises(InputError):
        store.upsert(tmp_path / "not-a-run")


# ------------------------------------------------------------------ sync and live status


def test_rows_syncs_with_the_directories(tmp_path):
    store = Store(tmp_path)
    a = make_run(tmp_path, "a", run_id="20260101-000000-a-0001")
    assert ids(store.rows()) == [a.run_id]
    b = make_run(tmp_path, "b", run_id="20260102-000000-b-0002")
    assert ids(store.rows()) == [b.run_id, a.run_id]  # added, newest first
    shutil.rmtree(a.path)  # deleted by hand
    assert ids(store.rows()) == [b.run_id]
    assert ids(store.rows(refresh=False)) == [b.run_id]  # and gone from the index itself


def test_changed_events_are_reindexed(tmp_path):
    store = Store(tmp_path)
    rd = make_run(tmp_path, "gru", status="queued")
    backdate(rd.path)
    assert store.rows()[0]["status"] == "queued"
    with rd.event_writer() as ev:
        ev.run_started(rd.run_id, "h", "cpu", 1)  # this process: alive
    assert store.rows()[0]["status"] == "running"
    with rd.event_writer() as ev:
        ev.epoch(1, 0.5, 0.41, 1e-3, 0.1)
        ev.evaluated(summary(ece_after=0.01))
        ev.run_finished("succeeded")
    row = store.rows()[0]
    assert (row["status"], row["ece_after"], row["best_val_loss"]) == ("succeeded", 0.01, 0.41)


def test_unchanged_runs_are_not_reread(tmp_path, monkeypatch):
    store = Store(tmp_path)
    for i in range(3):
        backdate(make_run(tmp_path, f"r{i}").path)
    store.rows()
    import core.store.index as cs

    calls = []
    real = cs.read_run
    monkeypatch.setattr(cs, "read_run", lambda *a, **k: calls.append(a) or real(*a, **k))
    store.rows()
    assert calls == []
    rd = RunDir(Path(store.rows()[0]["path"]))
    with rd.event_writer() as ev:
        ev.log("info", "hello")
    store.rows()
    assert len(calls) == 1


def test_running_becomes_lost_without_any_file_change(tmp_path):
    store = Store(tmp_path)
    rd = make_run(tmp_path, "gru", status="running", finished_ago_s=5)  # dead pid, heartbeat 5 s ago
    backdate(rd.path, 60)
    now = datetime.now(UTC)
    assert store.rows(now=now)[0]["status"] == "running"
    later = store.rows(now=now + timedelta(seconds=60))[0]
    assert later["status"] == "lost"
    assert later["duration_s"] == pytest.approx(0.3, abs=0.05)  # started .. its last event (epoch 3)
    # ... and the index learns it too
    assert store.rows(now=now + timedelta(seconds=60), refresh=False)[0]["status"] == "lost"


def test_a_live_worker_process_is_running_until_it_dies(tmp_path):
    rd = make_run(tmp_path, "gru", status="queued")
    code = (
        "import sys, time\nfrom core.runs import RunDir\n"
        "rd = RunDir(sys.argv[1])\n"
        "with rd.event_writer() as ev:\n    ev.run_started(rd.run_id, 'h', 'cpu', 1)\n"
        "print('started', flush=True)\ntime.sleep(60)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(rd.path)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "started"
        store = Store(tmp_path)
        far = datetime.now(UTC) + timedelta(minutes=10)  # no heartbeat would still count
        assert store.rows(now=far)[0]["status"] == "running"  # the process lives
        proc.kill()
        proc.wait()
        assert store.rows(now=far)[0]["status"] == "lost"
        assert store.rows(status="lost", now=far)[0]["run_id"] == rd.run_id
    finally:
        proc.kill()
        proc.wait()


# ------------------------------------------------------------------ filters, sorting, limits


@pytest.fixture
def four(tmp_path):
    make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001", summ=summary(ece_after=0.02, best_k=24))
    make_run(
        tmp_path,
        "lstm",
        run_id="20260102-000000-lstm-0002",
        summ=summary(ece_after=0.08, beats_reference=False, beats_at=[], brier_skill=-0.01, verdict="FAILED"),
    )
    make_run(tmp_path, "gru", run_id="20260103-000000-gru-0003", status="queued")
    make_run(tmp_path, "logistic", run_id="20260104-000000-logistic-0004", status="failed")
    return Store(tmp_path)


def test_filters(four):
    assert ids(four.rows(status="queued")) == ["20260103-000000-gru-0003"]
    assert ids(four.rows(status=["failed", "queued"])) == ["20260104-000000-logistic-0004", "20260103-000000-gru-0003"]
    assert ids(four.rows(status="failed,queued")) == ids(four.rows(status=["failed", "queued"]))
    assert ids(four.rows(model="GRU")) == ["20260103-000000-gru-0003", "20260101-000000-gru-0001"]
    assert ids(four.rows(model="gru,lstm")) == [
        "20260103-000000-gru-0003",
        "20260102-000000-lstm-0002",
        "20260101-000000-gru-0001",
    ]
    assert ids(four.rows(query="ece<0.05 and model=gru")) == ["20260101-000000-gru-0001"]
    assert ids(four.rows(query="brier_skill<0 and not beats")) == ["20260102-000000-lstm-0002"]
    assert ids(four.rows(query="verdict=null")) == ["20260104-000000-logistic-0004", "20260103-000000-gru-0003"]
    from core.query import parse

    assert ids(four.rows(query=parse("k=24"))) == ["20260101-000000-gru-0001"]
    assert ids(four.rows(query="status=succeeded", model="lstm")) == ["20260102-000000-lstm-0002"]


def test_sorting_and_limit(four):
    assert ids(four.rows(limit=2)) == ["20260104-000000-logistic-0004", "20260103-000000-gru-0003"]
    assert ids(four.rows(sort="created", descending=False))[0] == "20260101-000000-gru-0001"
    # missing values go last in both directions
    assert ids(four.rows(sort="ece", descending=False)) == [
        "20260101-000000-gru-0001",
        "20260102-000000-lstm-0002",
        "20260104-000000-logistic-0004",
        "20260103-000000-gru-0003",
    ]
    assert ids(four.rows(sort="-ece"))[:2] == ["20260102-000000-lstm-0002", "20260101-000000-gru-0001"]
    assert ids(four.rows(sort="ece_after", descending=True)) == ids(four.rows(sort="-ece"))
    assert ids(four.rows(sort="model", descending=False))[:2] == [
        "20260103-000000-gru-0003",
        "20260101-000000-gru-0001",
    ]  # ties: newest first
    assert ids(four.rows(sort="age", descending=False))[0] == "20260104-000000-logistic-0004"
    assert four.rows(limit=0) == []


def test_bad_filter_arguments(four):
    with pytest.raises(InputError, match="did you mean running"):
        four.rows(status="runing")
    with pytest.raises(InputError, match="did you mean ece"):
        four.rows(sort="eec")
    with pytest.raises(InputError, match="position 5"):
        four.rows(query="ece<<1")


def test_get_and_remove(four):
    row = four.get("20260101-000000-gru-0001")
    assert row["model"] == "gru"
    assert four.get("20991231-000000-none-ffff") is None
    assert four.remove("20260101-000000-gru-0001") is True
    assert four.remove("20260101-000000-gru-0001") is False
    assert "20260101-000000-gru-0001" not in ids(four.rows(refresh=False))
    assert "20260101-000000-gru-0001" in ids(four.rows())  # the directory is the truth


# ------------------------------------------------------------------ rebuilds: never fatal


def test_reindex_equals_incremental(tmp_path):
    store = Store(tmp_path)
    for i, (name, status) in enumerate(
        [
            ("gru", "succeeded"),
            ("lstm", "failed"),
            ("logistic", "queued"),
            ("hawkes", "cancelled"),
            ("gru", "succeeded"),
        ]
    ):
        rd = make_run(tmp_path, name, run_id=f"2026010{i + 1}-000000-{name}-000{i}", status=status)
        store.upsert(rd)
    make_run(tmp_path, "tf", run_id="20260109-000000-tf-0009", kind="transformer")  # only found by the sync
    incremental = store.rows()
    assert len(incremental) == 6
    assert store.reindex() == 6
    assert store.rows(refresh=False) == incremental
    os.unlink(store.path)
    assert store.rows() == incremental


def test_missing_index_is_rebuilt(tmp_path):
    make_run(tmp_path, "gru")
    store = Store(tmp_path)
    assert len(store.rows()) == 1
    for suffix in ("", "-wal", "-shm"):
        Path(f"{store.path}{suffix}").unlink(missing_ok=True)
    assert len(store.rows()) == 1  # the cached connection notices the file is gone
    assert store.path.exists() and not store.in_memory


@pytest.mark.parametrize("garbage", [b"this is not a database" * 100, b"", b"SQLite format 3\x00" + b"\xff" * 4000])
def test_garbage_index_is_rebuilt(tmp_path, garbage):
    make_run(tmp_path, "gru")
    make_run(tmp_path, "lstm")
    (tmp_path / INDEX_NAME).write_bytes(garbage)
    rows = Store(tmp_path).rows()
    assert sorted(r["model"] for r in rows) == ["gru", "lstm"]
    with sqlite3.connect(tmp_path / INDEX_NAME) as db:  # a real index again
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 2


def test_wrong_schema_is_rebuilt(tmp_path):
    make_run(tmp_path, "gru")
    with sqlite3.connect(tmp_path / INDEX_NAME) as db:
        db.execute("CREATE TABLE runs (run_id TEXT, something_else INTEGER)")
        db.execute("CREATE TABLE other (x)")
        db.execute("INSERT INTO runs VALUES ('x', 1)")
    rows = Store(tmp_path).rows()
    assert [r["model"] for r in rows] == ["gru"]
    with sqlite3.connect(tmp_path / INDEX_NAME) as db:
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert tables == {"runs"}
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_index_corrupted_under_an_open_connection(tmp_path):
    make_run(tmp_path, "gru")
    store = Store(tmp_path)
    assert len(store.rows()) == 1
    with open(store.path, "r+b") as fh:  # same inode, garbage in place
        fh.write(b"\x00garbage" * 2048)
    Path(f"{store.path}-wal").unlink(missing_ok=True)
    make_run(tmp_path, "lstm")
    assert sorted(r["model"] for r in store.rows()) == ["gru", "lstm"]


def test_corruption_found_mid_operation_is_rebuilt(tmp_path):
    """A query that meets a malformed page (SQLITE_CORRUPT) throws the index away and retries."""
    make_run(tmp_path, "gru")
    store = Store(tmp_path)
    assert len(store.rows()) == 1
    conn = store._c

    class Malformed:  # the cached connection now meets a broken page
        def __init__(self, db):
            self.db = db

        def execute(self, *a, **k):
            raise sqlite3.DatabaseError("database disk image is malformed")

        def close(self):
            self.db.close()

    conn.db = Malformed(conn.db)
    with open(store.path, "r+b") as fh:  # and the file really is broken (same inode)
        fh.write(b"\x00garbage" * 2048)
    Path(f"{store.path}-wal").unlink(missing_ok=True)
    before = conn.rebuilds
    assert [r["model"] for r in store.rows()] == ["gru"]
    assert conn.rebuilds == before + 1
    with sqlite3.connect(store.path) as db:
        assert db.execute("SELECT count(*) FROM runs").fetchone()[0] == 1


def test_unwritable_index_falls_back_to_memory(tmp_path):
    make_run(tmp_path, "gru")
    (tmp_path / INDEX_NAME).mkdir()  # nothing can open a directory as a database
    store = Store(tmp_path)
    assert [r["model"] for r in store.rows()] == ["gru"]
    assert store.in_memory
    assert store.reindex() == 1


def test_missing_runs_dir_is_empty_and_not_created(tmp_path):
    store = Store(tmp_path / "nope")
    assert store.rows() == []
    assert not (tmp_path / "nope").exists()
    (tmp_path / "nope").mkdir()
    make_run(tmp_path / "nope", "gru")
    assert len(store.rows()) == 1  # moves to a file once the dir exists
    assert store.path.exists()


# ------------------------------------------------------------------ concurrency: real processes

N_PROCS, N_RUNS = 4, 20


def _worker(root: str, wid: int, barrier) -> list[str]:
    store = Store(root)
    barrier.wait()
    made = []
    for i in range(N_RUNS):
        rd = RunDir.create(root, f"w{wid}")
        rd.write_text("config.yaml", f"name: w{wid}\nmodel:\n  kind: gru\n")
        store.upsert(rd)
        with rd.event_writer() as ev:
            ev.queued(job="train")
            store.upsert(rd)
            ev.run_started(rd.run_id, "h", "cpu", 1)
            store.upsert(rd)
            ev.epoch(1, 0.5, 0.4 + i / 1000, 1e-3, 0.01)
            ev.evaluated(summary(ece_after=wid + i / 100))
            ev.run_finished("succeeded")
        store.upsert(rd)
        store.rows(refresh=False, limit=3)  # readers at the same time as the writers
        made.append(rd.run_id)
    return made


def _worker_entry(root, wid, barrier, q):
    try:
        q.put((wid, _worker(root, wid, barrier)))
    except BaseException as exc:  # report, do not hang the parent
        q.put((wid, f"{type(exc).__name__}: {exc}"))


@pytest.mark.slow
def test_concurrent_writers_lose_no_row(tmp_path):
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(N_PROCS)
    q = ctx.Queue()
    procs = [ctx.Process(target=_worker_entry, args=(str(tmp_path), w, barrier, q)) for w in range(N_PROCS)]
    for p in procs:
        p.start()
    results = dict(q.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(timeout=60)
    assert all(isinstance(v, list) for v in results.values()), results
    made = {rid for v in results.values() for rid in v}
    assert len(made) == N_PROCS * N_RUNS
    rows = Store(tmp_path).rows(refresh=False)  # what the upserts alone left in the index
    assert {r["run_id"] for r in rows} == made
    assert {r["status"] for r in rows} == {"succeeded"}
    by_id = {r["run_id"]: r for r in rows}
    for wid, v in results.items():
        for i, rid in enumerate(v):
            assert by_id[rid]["ece_after"] == pytest.approx(wid + i / 100)
    assert Store(tmp_path).rows() == rows or {r["run_id"] for r in Store(tmp_path).rows()} == made


def test_fork_child_uses_its_own_connection(tmp_path):
    make_run(tmp_path, "gru")
    store = Store(tmp_path)
    assert len(store.rows()) == 1  # the parent holds a connection
    ctx = mp.get_context("fork")
    q = ctx.Queue()

    def child():
        s = Store(tmp_path)
        s.upsert(make_run(tmp_path, "lstm"))
        q.put(len(s.rows(refresh=False)))

    p = ctx.Process(target=child)
    p.start()
    assert q.get(timeout=60) == 2
    p.join(timeout=30)
    assert p.exitcode == 0
    assert len(store.rows(refresh=False)) == 2  # the parent's connection still works
