"""The event log (docs/ARCHITECTURE.md, "The event log"): writer/reader across real processes, torn and bad lines."""

import json
import math
import re
import subprocess
import sys
import time

import pytest

from helpers import ROOT

from core.runs import EVENT_TYPES, EventReader, EventWriter, read_events


# argv: path, n, tag, pad, [go-file]. Waits for the go-file (if given) so two writers start together;
# pauses briefly every 1000 events so a follower really reads while the log grows.
WRITER = """
import os, sys, time
from core.runs import EventWriter
path, n, tag, pad = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
go = sys.argv[5] if len(sys.argv) > 5 else None
w = EventWriter(path)
while go and not os.path.exists(go):
    time.sleep(0.001)
for i in range(n):
    w.log("info", "tick", seq=i, writer=tag, pad="x" * pad)
    if go is None and i % 1000 == 999:
        time.sleep(0.003)
w.close()
"""


def _spawn_writer(path, n, tag, pad=0, go=None):
    args = [sys.executable, "-c", WRITER, str(path), str(n), tag, str(pad)] + ([str(go)] if go else [])
    return subprocess.Popen(args, cwd=ROOT, stderr=subprocess.PIPE, text=True)


def test_follower_sees_every_event_of_a_writer_process_once_and_in_order(tmp_path):
    path = tmp_path / "events.jsonl"
    reader = EventReader(path)
    assert reader.read_new() == []  # the file does not exist yet: no crash
    proc = _spawn_writer(path, 10_000, "a", pad=100)
    seen, batches, deadline = [], 0, time.monotonic() + 30
    while True:
        exited = proc.poll() is not None  # decide before reading, so the last read is complete
        new = reader.read_new()
        if new:
            batches += 1
            seen.extend(new)
        if exited:
            break
        assert time.monotonic() < deadline, "writer process hung"
        time.sleep(0.0005)
    assert proc.returncode == 0, proc.stderr.read()
    assert [e["seq"] for e in seen] == list(range(10_000))  # none lost, none twice, in order
    assert batches >= 2  # it really followed a growing file
    assert reader.malformed == 0 and reader.pending_bytes == 0
    assert reader.offset == path.stat().st_size
    assert reader.read_new() == []


def test_two_writer_processes_never_interleave_within_a_line(tmp_path):
    path, go = tmp_path / "events.jsonl", tmp_path / "go"
    procs = [_spawn_writer(path, 3_000, tag, pad=1500, go=go) for tag in ("a", "b")]
    time.sleep(0.2)
    go.touch()
    for p in procs:
        assert p.wait(timeout=30) == 0, p.stderr.read()
    lines = path.read_bytes().split(b"\n")
    assert lines[-1] == b""
    events = [json.loads(line) for line in lines[:-1]]  # every line parses on its own
    assert len(events) == 6_000
    for tag in ("a", "b"):
        assert [e["seq"] for e in events if e["writer"] == tag] == list(range(3_000))
    writers = [e["writer"] for e in events]
    assert sum(a != b for a, b in zip(writers, writers[1:])) >= 2  # they really wrote at the same time


def test_torn_last_line_is_held_back_then_read_exactly_once(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.heartbeat()
    line = b'{"ts":"2025-01-01T00:00:00.000000Z","type":"log","level":"info","message":"half and half"}\n'
    with open(path, "ab") as fh:
        fh.write(line[:40])
    reader = EventReader(path)
    first = reader.read_new()
    assert [e["type"] for e in first] == ["heartbeat"]
    assert reader.pending_bytes == 40 and reader.malformed == 0
    offset_before = reader.offset
    assert reader.read_new() == []  # still torn
    with open(path, "ab") as fh:
        fh.write(line[40:])
    second = reader.read_new()
    assert [e["message"] for e in second] == ["half and half"]
    assert reader.offset == offset_before + len(line) == path.stat().st_size
    assert reader.read_new() == [] and reader.malformed == 0
    assert [e["type"] for e in read_events(path)] == ["heartbeat", "log"]


def test_one_shot_read_ignores_a_torn_tail(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"ts":"2025-01-01T00:00:00.000000Z","type":"queued"}\n{"ts":"2025-01-01T00:0')
    assert [e["type"] for e in read_events(path)] == ["queued"]


def test_malformed_middle_lines_are_skipped_and_counted(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(
        b'{"ts":"2025-01-01T00:00:00.000000Z","type":"queued"}\n'
        b"this is not json{\n"
        b'["a list", "not an object"]\n'
        b'{"no_type": 1}\n'
        b"\xff\xfe bad utf-8\n"
        b'{"ts":"2025-01-01T00:00:01.000000Z","type":"heartbeat"}\n'
    )
    reader = EventReader(path)
    assert [e["type"] for e in reader.read_new()] == ["queued", "heartbeat"]
    assert reader.malformed == 4
    assert reader.malformed_lines == [2, 3, 4, 5]


def test_a_new_writer_ends_a_dead_writers_torn_line_so_its_own_events_survive(tmp_path):
    path = tmp_path / "events.jsonl"
    path.write_bytes(b'{"ts":"2025-01-01T00:00:00.000000Z","type":"queued"}\n{"ts":"2025-01-01T00:0')
    with EventWriter(path) as w:  # e.g. the resumed worker
        w.heartbeat()
    reader = EventReader(path)
    assert [e["type"] for e in reader.read_new()] == ["queued", "heartbeat"]
    assert reader.malformed == 1


def test_reader_resumes_from_its_offset(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for i in range(5):
            w.log("info", f"m{i}")
        first = EventReader(path)
        assert len(first.read_new()) == 5
        for i in range(5, 8):
            w.log("info", f"m{i}")
    again = EventReader(path, offset=first.offset)
    assert [e["message"] for e in again.read_new()] == ["m5", "m6", "m7"]


def test_reader_restarts_when_the_log_is_replaced_by_a_shorter_one(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        for _ in range(3):
            w.heartbeat()
    reader = EventReader(path)
    assert len(reader.read_new()) == 3
    path.unlink()
    with EventWriter(path) as w:
        w.queued()
    assert [e["type"] for e in reader.read_new()] == ["queued"]
    assert reader.resets == 1


TS_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")


def test_every_event_type_has_a_method_and_the_documented_fields(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        w.queued()
        w.run_started("20250101-000000-x-abcd", "cfg123", "cpu", 1)
        w.epoch(1, 0.5, 0.6, 1e-3, 2.5, auc=0.7)
        w.checkpoint(1, tmp_path / "model_checkpoint.pt")
        w.calibrated("platt", 0.12, 0.03)
        w.evaluated({"auc": 0.71})
        w.artifact("metrics.csv")
        w.log("WARNING", "multi\nline message")
        w.heartbeat()
        w.run_finished("failed", error="boom")
    events = read_events(path)
    assert {e["type"] for e in events} == EVENT_TYPES
    assert all(TS_RE.match(e["ts"]) for e in events)
    started = events[1]
    assert set(started) >= {"run_id", "config_hash", "host", "pid", "pid_started_at", "device", "attempt"}
    assert isinstance(started["pid"], int) and started["pid_started_at"]
    assert events[2]["auc"] == 0.7 and events[2]["lr"] == 1e-3
    assert events[3]["path"].endswith("model_checkpoint.pt")
    assert events[6] == {**events[6], "path": "metrics.csv"}
    assert events[7]["level"] == "warning" and events[7]["message"] == "multi\nline message"
    assert events[-1]["status"] == "failed" and events[-1]["error"] == "boom"
    assert len(path.read_bytes().splitlines()) == len(events)  # newlines in values stay escaped


def test_writer_refuses_unknown_types_and_statuses_and_writes_strict_json(tmp_path):
    path = tmp_path / "events.jsonl"
    with EventWriter(path) as w:
        with pytest.raises(ValueError, match="unknown event type"):
            w.write("exploded")
        with pytest.raises(ValueError):
            w.run_finished("done")
        with pytest.raises(ValueError):
            w.write("log", ts="yesterday")
        w.epoch(3, float("nan"), math.inf, 0.1, 1.0)
    raw = path.read_text()
    assert "NaN" not in raw and "Infinity" not in raw
    (e,) = read_events(path)
    assert e["train_loss"] is None and e["val_loss"] is None
