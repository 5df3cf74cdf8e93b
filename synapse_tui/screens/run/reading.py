"""What the run screen reads, through core.service; called in thread workers only (never on
the event loop), and importing what they need inside, so opening the screen stays light.
Tomorrow's pool is scored in a child process (torch never enters the dashboard's process)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from core.errors import InputError


def read_run(runs_dir: Path, run_id: str, events: list[dict] | None = None) -> dict:
    """What the screen shows, read from the run directory (called in a thread worker):
    `run_view` plus the loss curves, every per-epoch metric and the config as YAML text. `events`: the event log
    when the caller has just read it."""
    from core.config import dump_yaml
    from core.service.runs import open_run, run_view
    from core.service.series import epoch_table, loss_series

    rd = open_run(run_id, runs_dir)
    view = run_view(rd, runs_dir, events)
    view["loss"] = loss_series(view["epochs"])
    view["epoch_table"] = epoch_table(view["epochs"])  # any per-epoch metric (m), by epoch or wall clock (w)
    cfg = view.get("config")
    view["config_yaml"] = dump_yaml(cfg) if isinstance(cfg, dict) else None
    view["read_at"] = time.monotonic()
    return view


# `predict` in a child process: it imports torch, whose first import holds the GIL for a second
# or more (the dashboard's frames stop) and adds ~200,000 objects that every later full garbage
# collection of the dashboard walks (a 0.2 s pause, now and then, for the rest of the session).
# The child runs at a lower priority (nice 10): scoring must not take the CPU from the frames.
_PREDICT = """
import json, os, sys

if hasattr(os, "nice"):
    os.nice(10)  # background work: the dashboard's frames come first on a busy machine
from core.errors import InputError
from core.service.predict import parse_target, predict
from core.service.runs import open_run

runs_dir, run_id, target = sys.argv[1:4]
try:
    parsed = parse_target(target.strip()) if target.strip() else None
    out = {"result": predict(open_run(run_id, runs_dir), target=parsed)}
except InputError as exc:
    out = {"input_error": str(exc)}
except Exception as exc:  # noqa: BLE001 - said by the parent, never a traceback
    out = {"error": f"{type(exc).__name__}: {exc}"}
sys.stdout.write("\\n" + json.dumps(out) + "\\n")
"""


def predict_pool(runs_dir: Path, run_id: str, target: str, cancelled: Callable[[], bool] | None = None) -> dict:
    """Tomorrow's calibrated probabilities and the pool table (`core.service.predict.predict`),
    computed in a child process (see _PREDICT). Raises InputError with predict's words for a
    bad target or run; RuntimeError when the child fails otherwise or `cancelled()` turns true
    (the child is then killed)."""
    proc = subprocess.Popen(
        [sys.executable, "-c", _PREDICT, str(runs_dir), run_id, target],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        while True:
            try:
                out, err = proc.communicate(timeout=0.2)
                break
            except subprocess.TimeoutExpired:
                if cancelled is not None and cancelled():
                    raise RuntimeError("scoring cancelled") from None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    lines = [line for line in out.splitlines() if line.startswith("{")]
    if not lines:
        last = (err.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        raise RuntimeError(f"scoring failed: {last}")
    got = json.loads(lines[-1])
    if "input_error" in got:
        raise InputError(got["input_error"])
    if "error" in got:
        raise RuntimeError(got["error"])
    return got["result"]
