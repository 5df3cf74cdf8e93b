"""What the run screen reads, through core.service; called in thread workers only (never on
the event loop), and importing what they need inside, so opening the screen stays light."""

from __future__ import annotations

import time
from pathlib import Path


def read_run(runs_dir: Path, run_id: str, events: list[dict] | None = None) -> dict:
    """What the screen shows, read from the run directory (called in a thread worker):
    `run_view` plus the loss curves and the config as YAML text. `events`: the event log
    when the caller has just read it."""
    from core.config import dump_yaml
    from core.service.runs import open_run, run_view
    from core.service.series import loss_series

    rd = open_run(run_id, runs_dir)
    view = run_view(rd, runs_dir, events)
    view["loss"] = loss_series(view["epochs"])
    cfg = view.get("config")
    view["config_yaml"] = dump_yaml(cfg) if isinstance(cfg, dict) else None
    view["read_at"] = time.monotonic()
    return view


def predict_pool(runs_dir: Path, run_id: str, target: str) -> dict:
    """Tomorrow's calibrated probabilities and the pool table (imports torch: a worker only)."""
    from core.service.predict import parse_target, predict
    from core.service.runs import open_run

    parsed = parse_target(target.strip()) if target.strip() else None
    return predict(open_run(run_id, runs_dir), target=parsed)
