"""Fixed runs for the dashboard's snapshot tests: real baselines runs on a small planted
file, renamed to fixed run ids and with every timestamp set to a fixed time, plus a queued
and a failed run, so a screenshot reads the same on every machine and every day."""

import json
import re
import shutil
from pathlib import Path

from core.config import load_config
from core.runs import RunDir
from core.train.run import run_baselines

SPLIT = ["split.test_days=200", "split.val_days=200"]
TS = "2026-01-0{day}T12:00:{sec:02d}.000000Z"


def _fix(run: RunDir, root: Path, run_id: str, day: int) -> RunDir:
    """Rename a run to `run_id` and set every timestamp in it to day `day`, 12:00:SS."""
    dst = root / run_id
    shutil.move(str(run.path), dst)
    rd = RunDir(dst)
    events = [json.loads(line) for line in rd.events_jsonl.read_text().splitlines()]
    for i, e in enumerate(events):
        e["ts"] = TS.format(day=day, sec=min(i, 59))
        if "run_id" in e:
            e["run_id"] = run_id
    rd.events_jsonl.write_text("".join(json.dumps(e) + "\n" for e in events))
    man = rd.read_json("manifest.json")
    man["run_id"], man["created"] = run_id, TS.format(day=day, sec=0)
    man["host"] = "box"
    man["data"]["path"] = "planted.csv"
    for t in man.get("test_touches", []):
        t["ts"] = TS.format(day=day, sec=59)
    rd.write_json("manifest.json", man)
    cfg = rd.config_yaml.read_text()
    rd.config_yaml.write_text(re.sub(r"(?m)^(\s*path:).*$", r"\1 planted.csv", cfg))
    for p in dst.iterdir():
        if p.suffix in (".npz", ".png", ".pt") or p.name == "training_log.md":
            p.unlink()
    return rd


def make_fixture_runs(root: Path, data: Path) -> list[str]:
    """Two finished baselines runs, a queued one and a failed one under `root`; their ids."""
    root.mkdir(parents=True, exist_ok=True)
    tmp = root.parent / (root.name + "-tmp")
    a = run_baselines(load_config("baselines", overrides=SPLIT, data=str(data)), tmp)
    b = run_baselines(
        load_config("baselines", overrides=[*SPLIT, "eval.baselines=[uniform,recency]"], data=str(data)), tmp
    )
    ids = ["20260101-120000-baselines-aaaa", "20260102-120000-recency-bbbb"]
    _fix(a, root, ids[0], 1)
    _fix(b, root, ids[1], 2)
    for run_id, day, status in (("20260103-120000-queued-cccc", 3, None), ("20260104-120000-broken-dddd", 4, "failed")):
        d = root / run_id
        d.mkdir()
        shutil.copy(root / ids[0] / "config.yaml", d / "config.yaml")
        man = json.loads((root / ids[0] / "manifest.json").read_text())
        man.update(run_id=run_id, created=TS.format(day=day, sec=0), test_touches=[])
        (d / "manifest.json").write_text(json.dumps(man))
        events = [{"ts": TS.format(day=day, sec=0), "type": "queued", "job": "baselines"}]
        if status:
            events += [
                {
                    "ts": TS.format(day=day, sec=1),
                    "type": "run_started",
                    "run_id": run_id,
                    "config_hash": "x",
                    "host": "box",
                    "pid": 1,
                    "pid_started_at": "x",
                    "device": "cpu",
                    "attempt": 1,
                },
                {
                    "ts": TS.format(day=day, sec=2),
                    "type": "run_finished",
                    "status": status,
                    "error": "ValueError: injected",
                },
            ]
        (d / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        ids.append(run_id)
    shutil.rmtree(tmp)
    return ids
