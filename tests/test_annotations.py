"""A run's tags, note and archived flag (core.runs.annotations, `synapse runs tag|note|archive|
unarchive|touches`), the index's `tag` / `note` / `archived` / `sweep` fields, and the test-touch
ledger that keeps a deleted run's looks at the test window."""

from __future__ import annotations

import json
import os
import sqlite3

import pytest
import typer
from typer.testing import CliRunner

from core.errors import InputError
from core.query import QueryError, parse
from core.runs.annotations import (
    TOUCH_LEDGER,
    append_touch_ledger,
    read_annotations,
    read_touch_ledger,
    update_annotations,
)
from core.runs.layout import ANNOTATIONS_JSON
from core.service import runs as service
from core.store import Store
from core.store.db import SCHEMA_VERSION
from core.store.rows import COLUMN_NAMES
from synapse_tui import cliutil
from synapse_tui.commands.runs import runs_app
from test_store import make_run  # noqa: E402  (tests/ is on sys.path under pytest)

app = typer.Typer()
app.add_typer(runs_app, name="runs")


@app.callback()
def _root() -> None:
    """A group callback keeps `runs` a subcommand, as in the real app."""


@pytest.fixture(autouse=True)
def _wide_console(monkeypatch):
    monkeypatch.setattr(cliutil.console, "_width", 160)
    monkeypatch.setattr(cliutil.err_console, "_width", 300)


def run(*args):
    return CliRunner().invoke(app, ["runs", *map(str, args)])


def ok(*args):
    res = run(*args)
    assert res.exit_code == 0, res.output
    return res


def ids(root, *args) -> list[str]:
    return [r["run_id"] for r in json.loads(ok("ls", "--json", "--runs-dir", root, *args).stdout)]


def three(root):
    a = make_run(root, "gru", run_id="20260101-000000-gru-0001", touches=2)
    b = make_run(root, "logistic", run_id="20260102-000000-logistic-0002", kind="logistic", touches=1)
    c = make_run(root, "gru", run_id="20260103-000000-gru-0003", touches=0)
    return a, b, c


# --------------------------------------------------------------------------- tags and notes


def test_tag_note_round_trip_through_the_cli_and_the_index(tmp_path):
    a, b, c = three(tmp_path)
    out = json.loads(
        ok("tag", a.run_id, b.run_id, "--add", "baseline-v2,Keep", "--json", "--runs-dir", tmp_path).stdout
    )
    assert [o["tags"] for o in out] == [["baseline-v2", "keep"], ["baseline-v2", "keep"]]  # lower-cased, sorted
    ok("tag", b.run_id, "--remove", "keep", "--add", "lr-sweep", "--runs-dir", tmp_path)
    ok("note", a.run_id, "lr too high: diverges after epoch 40", "--runs-dir", tmp_path)

    # In their own file, never in the files the worker writes.
    stored = json.loads(a.path.joinpath(ANNOTATIONS_JSON).read_text())
    assert stored["tags"] == ["baseline-v2", "keep"] and stored["note"].startswith("lr too high")
    assert "tags" not in json.loads(a.manifest_json.read_text())

    assert ids(tmp_path, "--where", "tag=baseline-v2", "--sort", "run_id", "--asc") == [a.run_id, b.run_id]
    assert ids(tmp_path, "--tag", "keep") == [a.run_id]
    assert ids(tmp_path, "--tag", "baseline-v2", "--tag", "lr-sweep") == [b.run_id]
    assert ids(tmp_path, "--where", "tags~sweep") == [b.run_id]
    assert ids(tmp_path, "--where", "tag=base*") == [b.run_id, a.run_id]
    assert ids(tmp_path, "--where", "tag!=keep") == [c.run_id, b.run_id]
    assert ids(tmp_path, "--where", "tag=null") == [c.run_id]
    assert ids(tmp_path, "--where", "note~diverges") == [a.run_id]
    row = next(r for r in json.loads(ok("ls", "--json", "--runs-dir", tmp_path).stdout) if r["run_id"] == a.run_id)
    assert row["tags"] == ["baseline-v2", "keep"] and row["note"].startswith("lr too high") and row["archived"] is False

    shown = ok("note", a.run_id, "--runs-dir", tmp_path).stdout
    assert "diverges after epoch 40" in shown
    ok("note", a.run_id, "--clear", "--runs-dir", tmp_path)
    assert read_annotations(a).note == "" and ids(tmp_path, "--where", "note~diverges") == []
    assert "baseline-v2" in ok("ls", "--runs-dir", tmp_path).stdout  # the table shows the tags


def test_reindex_and_an_old_schema_keep_the_annotations(tmp_path):
    a, b, _ = three(tmp_path)
    service.annotate([a], tmp_path, add=["baseline-v2"], note="keep")
    service.set_archived([b], tmp_path)
    store = Store(tmp_path)
    assert [r["run_id"] for r in store.rows(query="tag=baseline-v2")] == [a.run_id]

    ok("reindex", "--runs-dir", tmp_path)
    assert [r["run_id"] for r in store.rows(query="tag=baseline-v2 and note=keep")] == [a.run_id]
    assert [r["run_id"] for r in store.rows(query="archived")] == [b.run_id]

    # An index written by the previous schema (no tags column) is rebuilt, not misread.
    assert SCHEMA_VERSION >= 4 and {"tags", "note", "archived", "sweep"} <= set(COLUMN_NAMES)
    from core.store import db as dbmod

    dbmod._conn_for(store.path).close()
    dbmod._CONNS.clear()
    store.path.unlink()
    for suffix in ("-wal", "-shm"):
        if os.path.exists(f"{store.path}{suffix}"):
            os.unlink(f"{store.path}{suffix}")
    old = sqlite3.connect(store.path)
    old_cols = [c for c in COLUMN_NAMES if c not in ("tags", "note", "archived", "sweep")]
    old.execute(f"CREATE TABLE runs ({', '.join(repr(c) for c in old_cols)})")
    old.execute("PRAGMA user_version=3")
    old.commit()
    old.close()
    assert [r["run_id"] for r in Store(tmp_path).rows(query="tag=baseline-v2")] == [a.run_id]


def test_bad_tags_and_notes_exit_2_and_write_nothing(tmp_path):
    a, _, _ = three(tmp_path)
    for bad in ("Bad!", "-dash", "x" * 33, "a/b"):
        res = run("tag", a.run_id, "--add", bad, "--runs-dir", tmp_path)
        assert res.exit_code == 2, (bad, res.output)
        assert "bad tag" in res.output and "1-32 characters" in res.output
    res = run("note", a.run_id, "x" * 2001, "--runs-dir", tmp_path)
    assert res.exit_code == 2 and "note too long" in res.output
    res = run("note", a.run_id, "beep \x1b[31m red", "--runs-dir", tmp_path)
    assert res.exit_code == 2 and "control character" in res.output
    res = run("note", a.run_id, "text", "--clear", "--runs-dir", tmp_path)
    assert res.exit_code == 2
    assert not a.path.joinpath(ANNOTATIONS_JSON).exists()
    with pytest.raises(QueryError, match="tags: use ="):
        parse("tag<3")


def test_a_running_run_can_be_tagged_but_not_archived_or_deleted(tmp_path):
    rd = make_run(tmp_path, "gru", status="running", pid=os.getpid(), finished_ago_s=0)
    before = {p.name: p.read_bytes() for p in rd.path.iterdir()}
    ok("tag", rd.run_id, "--add", "live", "--runs-dir", tmp_path)
    assert {p.name: p.read_bytes() for p in rd.path.iterdir() if p.name != ANNOTATIONS_JSON} == before

    res = run("archive", rd.run_id, "--runs-dir", tmp_path)
    assert res.exit_code == 2 and "is running" in res.output and "nothing was archived" in res.output
    assert read_annotations(rd).archived is False
    res = run("rm", rd.run_id, "--yes", "--runs-dir", tmp_path)
    assert res.exit_code == 2 and "is running" in res.output
    assert rd.path.is_dir() and not (tmp_path / TOUCH_LEDGER).exists()


# --------------------------------------------------------------------------- archive


def test_archive_hides_from_the_default_listing_and_unarchive_restores(tmp_path):
    a, b, c = three(tmp_path)
    out = ok("archive", b.run_id, "--runs-dir", tmp_path).stdout
    assert f"archived {b.run_id}" in out
    assert b.path.is_dir()  # the directory stays where it is: resume and mirrors are untouched
    assert ids(tmp_path) == [c.run_id, a.run_id]
    assert ids(tmp_path, "--archived") == [b.run_id]
    assert ids(tmp_path, "--all") == [c.run_id, b.run_id, a.run_id]
    assert ids(tmp_path, "--where", "archived") == [b.run_id]  # naming the field sees them
    assert "archived" in ok("ls", "--all", "--runs-dir", tmp_path).stdout
    assert run("ls", "--all", "--archived", "--runs-dir", tmp_path).exit_code == 2
    assert "already archived" in ok("archive", b.run_id, "--runs-dir", tmp_path).stdout

    ok("unarchive", b.run_id, "--runs-dir", tmp_path)
    assert ids(tmp_path) == [c.run_id, b.run_id, a.run_id]
    assert read_annotations(b).archived is False


# --------------------------------------------------------------------------- the test-touch ledger


def test_delete_keeps_the_test_touches_in_the_ledger(tmp_path):
    a, b, _ = three(tmp_path)
    man = json.loads(a.manifest_json.read_text())
    res = ok("rm", a.run_id, "--yes", "--runs-dir", tmp_path)
    assert "2 test touches kept" in res.stdout and not a.path.exists()

    ledger = read_touch_ledger(tmp_path)
    assert [e["run_id"] for e in ledger] == [a.run_id, a.run_id]
    for e, t in zip(ledger, man["test_touches"], strict=True):
        assert e["ts"] == t["ts"] and e["what"] == t["what"]
        assert e["config_hash"] == man["config_hash"] and e["data_sha256"] == man["data"]["sha256"]
        assert e["deleted"]

    touches = json.loads(ok("touches", "--json", "--runs-dir", tmp_path).stdout)
    assert sorted((t["run_id"], t["source"]) for t in touches) == [
        (a.run_id, "deleted"),
        (a.run_id, "deleted"),
        (b.run_id, "run"),
    ]
    text = ok("touches", "--runs-dir", tmp_path).stdout
    assert "3 looks at the test window by 2 runs (2 by deleted runs" in text and "deleted" in text

    # A second delete appends: the first run's lines stay.
    ok("rm", b.run_id, "--yes", "--runs-dir", tmp_path)
    assert [e["run_id"] for e in read_touch_ledger(tmp_path)] == [a.run_id, a.run_id, b.run_id]
    assert len(json.loads(ok("touches", "--json", "--runs-dir", tmp_path).stdout)) == 3


def test_a_damaged_manifest_is_recorded_as_unreadable_and_a_torn_line_skipped(tmp_path):
    a, _, _ = three(tmp_path)
    a.manifest_json.write_text('{"test_touches": "lots"}')
    (tmp_path / TOUCH_LEDGER).write_text('{"run_id": "x", "ts": "2026-01-01T00:00:00Z"}\n{"run_id": "torn')
    d = service.delete_run(a, tmp_path)
    assert d["touches"] == 0
    ledger = read_touch_ledger(tmp_path)
    assert [e["run_id"] for e in ledger] == ["x", a.run_id]  # the torn line did not eat the new one
    assert "test_touches" in ledger[-1]["unreadable"]


def test_a_ledger_that_cannot_be_written_deletes_nothing(tmp_path):
    a, _, _ = three(tmp_path)
    (tmp_path / TOUCH_LEDGER).mkdir()  # not a file: the append fails
    with pytest.raises(InputError, match="nothing was deleted"):
        service.delete_run(a, tmp_path)
    assert a.path.is_dir()
    with pytest.raises(OSError):
        append_touch_ledger(tmp_path, [{"run_id": a.run_id}])


# --------------------------------------------------------------------------- core details


def test_update_annotations_replace_add_remove_and_the_flag(tmp_path):
    a, _, _ = three(tmp_path)
    assert update_annotations(a, tags=["b a"]).tags == ("a", "b")
    assert update_annotations(a, add=["c"], remove=["a"]).tags == ("b", "c")
    got = update_annotations(a, archived=True)
    assert got.archived and got.archived_at and got.tags == ("b", "c")
    assert update_annotations(a, archived=True).archived_at == got.archived_at  # when it was archived
    with pytest.raises(InputError, match="at most 32 tags"):
        update_annotations(a, add=[f"t{i}" for i in range(40)])
    a.path.joinpath(ANNOTATIONS_JSON).write_text("{not json")
    assert read_annotations(a).tags == ()  # damaged: none, never an error in a listing
    assert ids(tmp_path, "--all")  # the listing still works


def test_sweep_field_names_the_sweep_that_made_the_run(tmp_path):
    a, b, _ = three(tmp_path)
    sweep = tmp_path / "sweeps" / "20260101-000000-lr-abcd"
    sweep.mkdir(parents=True)
    (sweep / "sweep.json").write_text(json.dumps({"sweep_id": sweep.name, "runs": [{"run_id": b.run_id}]}))
    ok("reindex", "--runs-dir", tmp_path)
    assert ids(tmp_path, "--where", f"sweep={sweep.name}") == [b.run_id]
    assert ids(tmp_path, "--where", "sweep~lr") == [b.run_id]


def test_runs_show_prints_the_tags_and_the_note_as_text(tmp_path):
    a, _, _ = three(tmp_path)
    ok("tag", a.run_id, "--add", "keep,v2", "--runs-dir", tmp_path)
    ok("note", a.run_id, "looks [bold]fine[/bold]", "--runs-dir", tmp_path)
    out = ok("show", a.run_id, "--runs-dir", tmp_path).stdout
    assert "keep v2" in out
    assert "looks [bold]fine[/bold]" in out  # shown as typed, never read as markup
