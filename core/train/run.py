"""Create a run directory and execute its job (baselines, train or ensemble) in this process.

`create_run` validates everything first (data, splits, model kind, device), so bad input
leaves nothing behind; `execute` runs or resumes the job as a new attempt. The CLI calls
these through a worker process (core.jobs.worker), never directly.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from collections.abc import Callable

from core.config import Config, dump_yaml, load_config
from core.errors import InputError
from core.runs import RunDir
from core.runs.layout import creation_error
from core.train.baselines import baselines_body
from core.train.lifecycle import run_lifecycle
from core.train.prepare import Prepared, Progress, manifest, prepare, quiet

JOBS = ("baselines", "train", "ensemble")


def start_run(cfg: Config, root: Path, prep: Prepared, job: str, device: str = "cpu") -> RunDir:
    """Create the run directory with its resolved config and manifest, marked queued.

    All or nothing: if any of it cannot be written (a full disk), the half-made directory
    is removed — it would list as a `queued` run that never runs — and the OS's reason is
    an InputError naming the runs directory.
    """
    run = RunDir.create(root, cfg.name)
    try:
        run.write_text("config.yaml", dump_yaml(cfg))
        man = manifest(prep, run)
        man["device"] = device
        man["job"] = job
        run.write_json("manifest.json", man)
        with run.event_writer() as events:
            events.queued(job=job)
    except BaseException as exc:
        shutil.rmtree(run.path, ignore_errors=True)
        if isinstance(exc, OSError):
            raise creation_error(Path(root), exc) from None
        raise
    return run


def create_run(cfg: Config, root: Path, job: str) -> RunDir:
    """Validate everything (data, splits, model kind, device) and only then create the run
    directory: bad input leaves nothing behind."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}")
    device = "cpu"
    if job == "train":
        from core.train.learned import check_learned, device_for  # torch: only for a train job

        check_learned(cfg)
        device = str(device_for(cfg))
    prep = prepare(cfg)
    if job == "ensemble":
        from core.train.ensemble import member_runs

        if cfg.model.kind != "ensemble":
            raise InputError(f"model.kind={cfg.model.kind} is not an ensemble")
        member_runs(cfg, Path(root), prep)  # every member checked before the run exists
    return start_run(cfg, root, prep, job, device)


def attempts_so_far(run: RunDir) -> int:
    return sum(1 for e in run.read_events() if e.get("type") == "run_started")


def execute(run: RunDir, *, resume: bool = False, stop_flag=None, progress: Progress = quiet) -> RunDir:
    """Run (or resume, as a new attempt) the job of an existing run directory in this process."""
    cfg = load_config(run.config_yaml)
    man = run.read_json("manifest.json")
    prep = prepare(cfg, recorded=man)
    if prep.data.sha256 != man["data"]["sha256"]:
        raise InputError(
            f"data file changed since the run was created (sha256 {prep.data.sha256[:12]} != "
            f"{man['data']['sha256'][:12]})",
            path=prep.data.path,
        )
    attempt = attempts_so_far(run) + 1
    cfg_yaml = run.config_yaml.read_text()
    with run_lifecycle(run, cfg_yaml, man, device=man.get("device", "cpu"), attempt=attempt) as events:
        if man.get("job", "baselines") == "train":
            from core.train.learned import train_body  # torch: only for a train job

            train_body(run, cfg, prep, cfg_yaml, events, progress=progress, resume=resume, stop_flag=stop_flag)
        elif man.get("job") == "ensemble":
            from core.train.ensemble import ensemble_body

            ensemble_body(run, cfg, prep, cfg_yaml, events, progress=progress)
        else:
            baselines_body(run, cfg, prep, cfg_yaml, events, progress=progress)
    return run


def run_ensemble(cfg: Config, root: Path, *, progress: Progress = quiet) -> RunDir:
    """An `ensemble` config's run in this process (its members are runs under `root`)."""
    return execute(create_run(cfg, root, "ensemble"), progress=progress)


def run_baselines(cfg: Config, root: Path, *, progress: Progress = quiet) -> RunDir:
    """`synapse baselines` in this process: every baseline on every fold, a complete run directory."""
    return execute(create_run(cfg, root, "baselines"), progress=progress)


def run_train(
    cfg: Config, root: Path, *, progress: Progress = quiet, stop_flag: Callable[[], bool] | None = None
) -> RunDir:
    """`synapse train` in this process (the CLI runs it in a worker process)."""
    return execute(create_run(cfg, root, "train"), progress=progress, stop_flag=stop_flag)
