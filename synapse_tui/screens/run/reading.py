"""What the run screen reads, through core.service; called in thread workers only (never on
the event loop), and importing what they need inside, so opening the screen stays light."""

from __future__ import annotations

import time
from pathlib import Path


def read_run(runs_dir: Path, run_id: str, events: list[dict] | None = None) -> dict:
    """What the screen shows, read from the run directory (called in a thread worker):
    `run_view` plus the loss curves and the config as YAML text. `events`: the event log
    when the caller has just read it."""
    import yaml

    from core.service.runs import open_run, run_view
    from core.service.series import loss_series

    rd = open_run(run_id, runs_dir)
    view = run_view(rd, runs_dir, events)
    view["loss"] = loss_series(view["epochs"])
    cfg = view.get("config")
    view["config_yaml"] = _yaml(yaml, cfg) if isinstance(cfg, dict) else None
    view["read_at"] = time.monotonic()
    return view


def _yaml(yaml, cfg: dict) -> str:
    """The config as config.yaml reads: block mappings, lists of plain values on one line."""

    class Dumper(yaml.SafeDumper):
        """A subclass, so the list representer below is not added to SafeDumper for everyone."""

    def seq(dumper, value):
        flat = all(not isinstance(v, (dict, list)) for v in value)
        return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flat)

    Dumper.add_representer(list, seq)
    return yaml.dump(cfg, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=100)


def predict_pool(runs_dir: Path, run_id: str, target: str) -> dict:
    """Tomorrow's calibrated probabilities and the pool table (imports torch: a worker only)."""
    from core.service.predict import parse_target, predict
    from core.service.runs import open_run

    parsed = parse_target(target.strip()) if target.strip() else None
    return predict(open_run(run_id, runs_dir), target=parsed)
