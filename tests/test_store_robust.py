"""Broken things under a runs root never break a listing (docs/ARCHITECTURE.md, "The store",
"A run directory"): folders named like runs that are not, a corrupt index page, a bad
manifest.json, a run directory deleted while it is followed."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from helpers import ROOT

from core.errors import InputError
from core.fsutil import atomic_open, atomic_write_text
from core.runs import RunDir, is_run_id, list_run_dirs, new_run_id
import core.runs.layout as layout
from core.store import INDEX_NAME, Store, read_run
from synapse_tui import cli as cli_mod
from synapse_tui.commands import runs as runs_mod
from test_store import backdate, make_run

BAD_ID = "20261209-000060-logistic-5847"  # the shape of a run id, but 00:00:60 is no time


def synapse(*args, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    """The real CLI in a fresh process."""
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "synapse_tui.cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
    )


def invoke(*args):
    """The whole Typer app in this process."""
    return CliRunner().invoke(cli_mod.app, list(map(str, args)))


# ------------------------------------------------------------------ 17: names shaped like run ids


@pytest.mark.parametrize(
    "text,ok",
    [
        ("20261209-235959-logistic-5847", True),
        (BAD_ID, False),
        ("20261209-246000-logistic-5847", False),
        ("20260230-120000-gru-0001", False),  # 30 February
        ("20261309-120000-gru-0001", False),
        ("00000101-000000-gru-0001", False),  # year 0
    ],
)
def test_an_id_that_cannot_be_parsed_is_not_an_id(text, ok):
    assert is_run_id(text) is ok


def test_new_run_ids_are_ids():
    for _ in range(20):
        assert is_run_id(new_run_id("logistic"))


def test_a_folder_with_an_impossible_time_is_skipped(tmp_path):
    good = make_run(tmp_path, "gru", run_id="20261209-000000-gru-0001")
    (tmp_path / BAD_ID).mkdir()
    (tmp_path / BAD_ID / "manifest.json").write_text("{}")
    assert [r.run_id for r in list_run_dirs(tmp_path)] == [good.run_id]
    assert [r["run_id"] for r in Store(tmp_path).rows()] == [good.run_id]
    assert RunDir.open(tmp_path, "20261209").run_id == good.run_id  # the odd folder is no candidate
    with pytest.raises(InputError, match="not a run directory name"):
        Store(tmp_path).upsert(tmp_path / BAD_ID)


@pytest.mark.slow
def test_runs_ls_lists_the_runs_and_warns_about_the_odd_folder(tmp_path):
    good = make_run(tmp_path, "gru", run_id="20261209-000000-gru-0001")
    (tmp_path / BAD_ID).mkdir()
    r = synapse("runs", "ls", "--runs-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert good.run_id in r.stdout and BAD_ID not in r.stdout
    assert "Traceback" not in r.stderr
    assert f"warning: skipped {tmp_path / BAD_ID}" in r.stderr and "not a valid date and time" in r.stderr


# ------------------------------------------------------------------ 19: garbage inside an index page

GARBAGE = b"\xff\xfe" * 32  # 64 bytes, never valid UTF-8


def _index_with_runs(root: Path, n: int = 12) -> tuple[list[str], bytes]:
    made = []
    for i in range(n):
        rd = make_run(root, "gru", run_id=f"202601{i + 1:02d}-000000-gru-{i:04x}")
        backdate(rd.path)
        made.append(rd.run_id)
    Store(root).rows()
    with sqlite3.connect(root / INDEX_NAME) as db:
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return made, (root / INDEX_NAME).read_bytes()


def _offsets(root: Path, data: bytes) -> dict[str, int]:
    """Where to write the garbage: inside a text cell, a table leaf page's header and middle,
    and the primary-key index's root page."""
    page = int.from_bytes(data[16:18], "big")
    with sqlite3.connect(root / INDEX_NAME) as db:
        roots = dict(db.execute("SELECT name, rootpage FROM sqlite_master").fetchall())
    text_cell = data.index(b'"calibration": "platt/part"') + 4
    leaf = next(p for p in range(1, len(data) // page) if data[p * page] == 0x0D)  # a table leaf page
    index_root = roots["sqlite_autoindex_runs_1"] - 1
    return {
        "text cell": text_cell,
        "table leaf header": leaf * page + 2,
        "middle of a table page": leaf * page + page // 2,
        "index page": index_root * page + 8,
    }


def _corrupt(root: Path, good: bytes, offset: int) -> None:
    for suffix in ("-wal", "-shm"):
        Path(f"{root / INDEX_NAME}{suffix}").unlink(missing_ok=True)
    bad = bytearray(good)
    bad[offset : offset + len(GARBAGE)] = GARBAGE
    (root / INDEX_NAME).write_bytes(bytes(bad))


def _assert_rebuilt(root: Path, n: int) -> None:
    data = (root / INDEX_NAME).read_bytes()
    assert GARBAGE not in data
    with sqlite3.connect(root / INDEX_NAME) as db:
        assert db.execute("PRAGMA quick_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT * FROM runs").fetchall()  # every cell decodes
        assert len(rows) == n


@pytest.mark.slow
@pytest.mark.parametrize("where", ["text cell", "table leaf header", "middle of a table page", "index page"])
def test_runs_ls_and_reindex_survive_garbage_in_an_index_page(tmp_path, where):
    made, good = _index_with_runs(tmp_path)
    off = _offsets(tmp_path, good)[where]
    _corrupt(tmp_path, good, off)
    r = synapse("runs", "ls", "--json", "--runs-dir", tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(row["run_id"] for row in json.loads(r.stdout)) == sorted(made)
    _assert_rebuilt(tmp_path, len(made))
    _corrupt(tmp_path, good, off)
    r = synapse("runs", "reindex", "--runs-dir", tmp_path)
    assert r.returncode == 0 and f"indexed {len(made)} run(s)" in r.stdout, r.stderr
    _assert_rebuilt(tmp_path, len(made))


def test_a_bad_text_cell_found_while_reading_is_rebuilt(tmp_path):
    """quick_check checks pages, not what a cell holds: the bad cell shows only when the rows
    are read (UnicodeDecodeError), and that too rebuilds the index, refilled before it is read."""
    made, good = _index_with_runs(tmp_path, 4)
    store = Store(tmp_path)
    assert len(store.rows()) == 4
    conn = store._c
    before = conn.rebuilds
    with open(store.path, "r+b") as fh:  # same inode, garbage inside a text value
        fh.seek(_offsets(tmp_path, good)["text cell"])
        fh.write(GARBAGE)
    conn.close()  # drop the page cache: the next read opens the file again, and quick_check passes it
    assert sorted(r["run_id"] for r in store.rows(refresh=False)) == sorted(made)
    assert conn.rebuilds == before + 1
    _assert_rebuilt(tmp_path, 4)


# ------------------------------------------------------------------ 20: one bad manifest.json

BAD_MANIFESTS = {
    "deeply nested": ('{"a": ' * 100_000, "nested too deeply"),
    "5000-digit integer": ('{"seed": ' + "7" * 5000 + "}", "integer"),
    "a list at the top": ("[1, 2, 3]", "not a JSON object (a list)"),
    "test_touches a string": (None, "test_touches must be a list"),
    "data a string": (None, "data must be an object"),
    "a touch that is a number": (None, "test_touches[0] must be an object"),
}


def _break(rd: RunDir, case: str) -> None:
    text = BAD_MANIFESTS[case][0]
    if text is None:
        man = json.loads(rd.manifest_json.read_text())
        if case == "test_touches a string":
            man["test_touches"] = "yesterday"
        elif case == "data a string":
            man["data"] = "d.csv"
        else:
            man["test_touches"] = [3]
        text = json.dumps(man)
    rd.manifest_json.write_text(text)


@pytest.fixture
def two(tmp_path):
    from test_runs_cli import add_predictions, full_report

    good = make_run(tmp_path, "gru", run_id="20260101-000000-gru-0001")
    bad = make_run(tmp_path, "lstm", run_id="20260102-000000-lstm-0002")
    full_report(good, "gru")
    full_report(bad, "lstm")
    add_predictions(good, seed=1)
    add_predictions(bad, seed=2)
    return tmp_path, good, bad


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_a_bad_manifest_is_a_row_with_what_could_be_read(two, case):
    root, good, bad = two
    _break(bad, case)
    rows = {r["run_id"]: r for r in Store(root).rows()}
    assert set(rows) == {good.run_id, bad.run_id}
    row = rows[bad.run_id]
    assert row["status"] == "succeeded" and row["epochs"] == 3 and row["model"] == "lstm"  # events, config
    if case == "data a string":  # the fields that are fine are kept
        assert row["config_hash"] == "abc123def456" and row["test_touches"] == 1 and row["data_sha256"] is None
    else:
        assert row["test_touches"] is None  # unknown, not 0
    assert rows[good.run_id]["test_touches"] == 1


@pytest.mark.parametrize("case", list(BAD_MANIFESTS))
def test_commands_on_a_bad_manifest_name_the_run_file_and_problem(two, case):
    root, good, bad = two
    _break(bad, case)
    want = f"run {bad.run_id}: manifest.json: "
    with pytest.raises(layout.RunFileError) as info:
        bad.read_json("manifest.json")
    assert str(info.value).startswith(want) and BAD_MANIFESTS[case][1] in str(info.value)
    for args in (
        ("runs", "show", bad.run_id),
        ("runs", "compare", good.run_id, bad.run_id),
        ("predict", bad.run_id),
        ("eval", bad.run_id),
    ):
        res = invoke(*args, "--runs-dir", root)
        assert res.exit_code == 2, (args, res.output)
        assert want in res.output and BAD_MANIFESTS[case][1] in res.output, (args, res.output)
    res = invoke("runs", "ls", "--runs-dir", root)
    assert res.exit_code == 0 and bad.run_id in res.output and good.run_id in res.output


def test_an_oversized_json_file_is_not_read(two):
    root, good, bad = two
    with open(bad.manifest_json, "r+b") as fh:
        fh.truncate(layout.MAX_JSON_BYTES + 1)  # sparse: nothing is written, nothing may be read
    with pytest.raises(layout.RunFileError, match=r"manifest.json: .* bytes, more than"):
        bad.read_json("manifest.json")
    assert {r["run_id"] for r in Store(root).rows()} == {good.run_id, bad.run_id}
    with open(bad.path / "report.json", "r+b") as fh:
        fh.truncate(layout.MAX_JSON_BYTES + 1)
    row = read_run(bad)
    assert row["status"] == "succeeded" and row["best_val_loss"] is not None


def test_a_deeply_nested_event_line_is_skipped(tmp_path):
    rd = make_run(tmp_path, "gru", status="succeeded")
    with open(rd.events_jsonl, "a") as fh:
        fh.write('{"a": ' * 100_000 + "\n")
        fh.write('{"ts": "2026-01-01T00:00:00Z", "type": "log", "n": ' + "9" * 5000 + "}\n")
    assert [r["status"] for r in Store(tmp_path).rows()] == ["succeeded"]


# ------------------------------------------------------------------ 23: atomic writes, a vanished run dir


def test_atomic_open_never_creates_the_directory(tmp_path):
    gone = tmp_path / "run" / "last.pt"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_text(gone, "x")
    assert not (tmp_path / "run").exists()
    with pytest.raises(FileNotFoundError):
        with atomic_open(gone, "wb") as fh:
            fh.write(b"x")
    assert not (tmp_path / "run").exists()
    atomic_write_text(tmp_path / "ok.txt", "fine")  # an existing directory is fine, and fsynced
    assert (tmp_path / "ok.txt").read_text() == "fine"


def test_a_run_dir_deleted_mid_run_is_not_recreated(tmp_path):
    from helpers import write_synthetic

    from core.config import load_config
    from core.train.run import create_run, execute

    data = write_synthetic(tmp_path / "d.csv", "planted", days=900, seed=5)
    cfg = load_config(
        "logistic",
        overrides=[
            "split.test_days=200",
            "split.val_days=200",
            "train.epochs=4",
            "train.device=cpu",
            "train.patience=10",
        ],
        data=str(data),
    )
    run = create_run(cfg, tmp_path / "runs", "train")

    def progress(msg: str) -> None:
        if " epoch 1/" in msg:
            shutil.rmtree(run.path)

    with pytest.raises(FileNotFoundError, match=f"{run.path}.*does not exist"):
        execute(run, progress=progress)
    assert not run.path.exists()
    assert Store(tmp_path / "runs").rows() == []


@pytest.mark.timeout(60)
def test_runs_show_follow_notices_the_run_dir_is_gone(tmp_path, monkeypatch):
    monkeypatch.setattr(runs_mod, "FOLLOW_POLL_S", 0.05)
    rd = make_run(tmp_path, "gru", status="running", pid=os.getpid(), started_ago_s=1, finished_ago_s=0.5)

    def delete() -> None:
        time.sleep(0.3)
        shutil.rmtree(rd.path)

    t = threading.Thread(target=delete)
    t.start()
    app = typer.Typer()
    app.add_typer(runs_mod.runs_app, name="runs")
    app.callback()(lambda: None)
    t0 = time.monotonic()
    res = CliRunner().invoke(app, ["runs", "show", rd.run_id, "--follow", "--runs-dir", str(tmp_path)])
    t.join()
    assert time.monotonic() - t0 < 10
    assert res.exit_code == 1, res.output
    assert f"run directory {rd.path} is gone" in res.output
    assert "Traceback" not in res.output and not rd.path.exists()


def test_a_crafted_config_yaml_with_an_alias_bomb_or_a_cycle_reads_as_missing(tmp_path):
    """A run's config.yaml is walked by compare's diff and the Config tab: a billion laughs
    (9^9 values behind 1 KB) or a self-referencing alias must read as no config, at once."""
    from core.store import read_yaml

    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, 9):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text("\n".join(lines) + "\n")
    assert read_yaml(bomb) is None
    cycle = tmp_path / "cycle.yaml"
    cycle.write_text("a: &a [*a]\n")
    assert read_yaml(cycle) is None
    deep = tmp_path / "deep.yaml"
    deep.write_text("[" * 50_000 + "]" * 50_000)
    assert read_yaml(deep) is None
    # a real config, anchors and all, still reads
    fine = tmp_path / "fine.yaml"
    fine.write_text("train: &t {lr: 0.01, epochs: 3}\nother: *t\nmodel: {kind: gru, hidden: 16}\n")
    assert read_yaml(fine) == {
        "train": {"lr": 0.01, "epochs": 3},
        "other": {"lr": 0.01, "epochs": 3},
        "model": {"kind": "gru", "hidden": 16},
    }


@pytest.mark.parametrize("umask,mode", [(0o022, 0o644), (0o077, 0o600)])
def test_atomic_writes_follow_the_process_umask(tmp_path, umask, mode):
    """A remote worker runs under umask 077 so a shared server's other users read nothing of
    its run: the files written atomically (config, manifest, checkpoints) keep to it too."""
    target = tmp_path / "f.json"
    code = f"from core.fsutil import atomic_write_text; atomic_write_text({str(target)!r}, '{{}}')"
    subprocess.run(["sh", "-c", f'umask {umask:03o} && exec "$0" -c "$1"', sys.executable, code], cwd=ROOT, check=True)
    assert target.stat().st_mode & 0o777 == mode
