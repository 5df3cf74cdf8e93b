"""Runs end to end: data -> splits -> scorers -> evaluation -> run directory.

Every input is validated before the run directory exists, so bad input leaves nothing
behind. Once it exists, every step is logged to events.jsonl, and a failure ends the run
`failed` with its traceback in the log and in training_log.md.
"""
from __future__ import annotations

import contextlib
import platform
import socket
import sys
import traceback
from dataclasses import dataclass
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Callable

import numpy as np

from core import report as rep
from core.config import Config, config_hash, dump_yaml
from core.data import Dataset, load_dataset, resolve_data_path
from core.data.splits import Split, splits_from_config
from core.errors import InputError
from core.evaluation import Outcome, Scored, Windows, evaluate_scorers
from core.models.baselines import score_baseline
from core.runs import RunDir, format_ts

Progress = Callable[[str], None]


def _quiet(_: str) -> None:
    """The progress callback when nobody is watching."""


@dataclass
class Prepared:
    cfg: Config
    data: Dataset
    splits: list[Split]
    truth: np.ndarray | None  # (T, P) aligned with data rows, or None
    truth_file: Path | None


def code_version() -> str:
    try:
        return version("synapse")
    except PackageNotFoundError:
        return "unknown"


def load_truth(data_path: Path, dates: np.ndarray) -> tuple[np.ndarray | None, Path | None]:
    """The `<stem>.truth.npz` sidecar aligned to `dates` by date, when it covers every day."""
    from core.data.synthetic import truth_path

    path = truth_path(data_path)
    if not path.exists():
        return None, None
    with np.load(path, allow_pickle=False) as z:
        truth, tdates = z["truth"], z["dates"].astype("datetime64[D]")
    if truth.ndim != 2 or len(tdates) != len(truth):
        raise InputError(f"truth file is malformed: truth {truth.shape}, dates {tdates.shape}", path=path)
    idx = np.searchsorted(tdates, dates)
    idx = np.clip(idx, 0, len(tdates) - 1)
    if not np.array_equal(tdates[idx], dates):
        return None, None  # the data has days the truth does not know: no oracle, honestly
    return truth[idx], path


def prepare(cfg: Config) -> Prepared:
    """Load and validate everything a run needs; raises InputError before anything is written."""
    if cfg.data.path is None:
        raise InputError("no data file: pass --data FILE or set data.path in the config")
    path = resolve_data_path(cfg.data.path)
    data = load_dataset(path, parts=cfg.data.parts, events_per_day=cfg.data.events_per_day,
                        allow_unsorted=cfg.data.allow_unsorted)
    if data.P != cfg.data.parts:
        raise InputError(f"data has {data.P} parts but the config says data.parts={cfg.data.parts}", path=path)
    splits = splits_from_config(cfg.split, data.T, data.dates)
    truth, truth_file = load_truth(path, data.dates)
    if truth is not None and truth.shape != data.Y.shape:
        raise InputError(f"truth file has shape {truth.shape}, data {data.Y.shape}", path=truth_file)
    return Prepared(cfg, data, splits, truth, truth_file)


def manifest(prep: Prepared, run: RunDir) -> dict:
    d = prep.data
    return {
        "run_id": run.run_id,
        "created": format_ts(datetime.now(timezone.utc)),
        "config_hash": config_hash(prep.cfg),
        "code_version": code_version(),
        "python": sys.version.split()[0],
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": "cpu",
        "seed": prep.cfg.seed,
        "data": {
            "path": str(d.path), "sha256": d.sha256, "format": d.fmt, "rows": d.T, "parts": d.P,
            "first_date": str(d.dates[0]), "last_date": str(d.dates[-1]), "gaps": d.n_gaps,
            "truth": None if prep.truth_file is None else str(prep.truth_file),
        },
        "splits": [s.to_manifest(d.dates) for s in prep.splits],
        "test_touches": [],
    }


def record_test_touch(run: RunDir, what: str) -> dict:
    """Every look at the test window is counted (DESIGN.md 4)."""
    m = run.read_json("manifest.json")
    m.setdefault("test_touches", []).append({"ts": format_ts(datetime.now(timezone.utc)), "what": what})
    run.write_json("manifest.json", m)
    return m


def baseline_params(cfg: Config, kind: str) -> dict:
    """The model section's hyperparameters when it is this baseline, else the kind's defaults."""
    from core.config import MODEL_CLASSES

    section = cfg.model if cfg.model.kind == kind else MODEL_CLASSES[kind]()
    return section.model_dump()


def baseline_logits(cfg: Config, Y: np.ndarray) -> dict[str, np.ndarray]:
    """(T, P) logits of every configured baseline over the whole sequence (each causal)."""
    kinds = list(dict.fromkeys(["uniform", *cfg.eval.baselines]))
    return {k: score_baseline(k, Y, events_per_day=cfg.data.events_per_day, **baseline_params(cfg, k))
            for k in kinds}


def windows(prep: Prepared, split: Split) -> Windows:
    Y, dates, truth = prep.data.Y, prep.data.dates, prep.truth
    tr, va, te = split.slice("train"), split.slice("val"), split.slice("test")
    return Windows(
        base_rate=Y[tr].mean(axis=0),
        y_val=Y[va], y_test=Y[te], dates_val=dates[va], dates_test=dates[te],
        truth_val=None if truth is None else truth[va],
        truth_test=None if truth is None else truth[te],
    )


def scored_from_logits(logits: dict[str, np.ndarray], split: Split, role_of: Callable[[str], str]) -> list[Scored]:
    va, te = split.slice("val"), split.slice("test")
    return [Scored(name, name, role_of(name), L[va], L[te]) for name, L in logits.items()]


def last_report(run: RunDir) -> dict:
    """The latest evaluation report of a run, as stored beside its artifacts."""
    return run.read_json("report.json")


def write_artifacts(run: RunDir, prep_or_manifest: dict, cfg_yaml: str, outcomes: list[tuple[Split, Outcome]],
                    *, eval_id: str, events, progress: Progress = _quiet, epochs: list[dict] | None = None) -> dict:
    """metrics.csv, predictions.npz, the PNGs and training_log.md from the last fold's outcome."""
    rows = []
    for split, out in outcomes:
        rows += rep.metric_rows(out.report, fold=split.fold, eval_id=eval_id)
    previous = []
    if run.metrics_csv.exists() and eval_id != "run":
        previous = [r for r in rep.read_metrics_csv(run.metrics_csv) if r["eval_id"] != eval_id]
    rep.write_metrics_csv(run.metrics_csv, previous + rows)
    events.artifact(run.metrics_csv.name)

    last_split, last = outcomes[-1]
    run.write_json("report.json", last.report)
    run.write_json("calibrators.json", last.calibrators)  # what `synapse predict` applies to new days
    arrays = dict(last.arrays)
    arrays["primary"] = np.str_(last.report["primary"] or "")
    _write_npz(run.predictions_npz, arrays)
    events.artifact(run.predictions_npz.name)
    if last.report["primary"] is not None:
        progress("plotting")
        rep.plot_reliability(last.report, last.arrays, run.calibration_png)
        events.artifact(run.calibration_png.name)
        rep.plot_tier_rates(last.report, run.tier_rates_png)
        events.artifact(run.tier_rates_png.name)
    folds = None
    if len(outcomes) > 1:
        folds = [{"fold": s.fold, "summary": o.report["summary"],
                  "test_window": f"{o.arrays['dates_test'][0]}..{o.arrays['dates_test'][-1]}"} for s, o in outcomes]
    text = rep.training_log(run_id=run.run_id, config_yaml=cfg_yaml, manifest=prep_or_manifest,
                            report=last.report, folds=folds, epochs=epochs)
    rep.write_training_log(run.training_log_md, text)
    events.artifact(run.training_log_md.name)
    return {"summary": last.report["summary"], "folds": folds}


def _write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    import io

    from core.fsutil import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(path, buf.getvalue())


class Cancelled(Exception):
    """The run was asked to stop (SIGTERM, `synapse cancel`); its resume state is saved."""


@contextlib.contextmanager
def run_lifecycle(run: RunDir, cfg_yaml: str, man: dict, device: str = "cpu", attempt: int = 1):
    """Open the event log, mark the attempt started, and on any exception end it failed (or
    cancelled) with the traceback in the log and in training_log.md, then re-raise."""
    with run.event_writer() as events:
        events.run_started(run.run_id, man["config_hash"], device, attempt)
        try:
            yield events
            events.run_finished("succeeded")
        except BaseException as exc:
            cancelled = isinstance(exc, (KeyboardInterrupt, Cancelled))
            tb = traceback.format_exc()
            events.log("warning" if cancelled else "error", str(exc) if cancelled else tb)
            events.run_finished("cancelled" if cancelled else "failed", error=f"{type(exc).__name__}: {exc}")
            if cancelled:
                raise
            with contextlib.suppress(Exception):  # the original error matters more than the summary
                rep.write_training_log(run.training_log_md, rep.training_log(
                    run_id=run.run_id, config_yaml=cfg_yaml, manifest=run.read_json("manifest.json"),
                    report={}, error=tb))
            raise


JOBS = ("baselines", "train")


def start_run(cfg: Config, root: Path, prep: Prepared, job: str, device: str = "cpu") -> RunDir:
    """Create the run directory with its resolved config and manifest, marked queued."""
    run = RunDir.create(root, cfg.name)
    run.write_text("config.yaml", dump_yaml(cfg))
    man = manifest(prep, run)
    man["device"] = device
    man["job"] = job
    run.write_json("manifest.json", man)
    with run.event_writer() as events:
        events.queued(job=job)
    return run


def create_run(cfg: Config, root: Path, job: str) -> RunDir:
    """Validate everything (data, splits, model kind, device) and only then create the run
    directory: bad input leaves nothing behind."""
    if job not in JOBS:
        raise ValueError(f"unknown job {job!r}")
    device = "cpu"
    if job == "train":
        from core.train_run import check_learned, device_for

        check_learned(cfg)
        device = str(device_for(cfg))
    return start_run(cfg, root, prepare(cfg), job, device)


def attempts_so_far(run: RunDir) -> int:
    return sum(1 for e in run.read_events() if e.get("type") == "run_started")


def execute(run: RunDir, *, resume: bool = False, stop_flag=None, progress: Progress = _quiet) -> RunDir:
    """Run (or resume, as a new attempt) the job of an existing run directory in this process."""
    from core.config import load_config

    cfg = load_config(run.config_yaml)
    man = run.read_json("manifest.json")
    prep = prepare(cfg)
    if prep.data.sha256 != man["data"]["sha256"]:
        raise InputError(f"data file changed since the run was created (sha256 {prep.data.sha256[:12]} != "
                         f"{man['data']['sha256'][:12]})", path=prep.data.path)
    attempt = attempts_so_far(run) + 1
    cfg_yaml = run.config_yaml.read_text()
    with run_lifecycle(run, cfg_yaml, man, device=man.get("device", "cpu"), attempt=attempt) as events:
        if man.get("job", "baselines") == "train":
            from core.train_run import train_body

            train_body(run, cfg, prep, cfg_yaml, events, progress=progress, resume=resume, stop_flag=stop_flag)
        else:
            baselines_body(run, cfg, prep, cfg_yaml, events, progress=progress)
    return run


def run_baselines(cfg: Config, root: Path, *, progress: Progress = _quiet) -> RunDir:
    """`synapse baselines` in this process: every baseline on every fold, a complete run directory."""
    return execute(create_run(cfg, root, "baselines"), progress=progress)


def baselines_body(run: RunDir, cfg: Config, prep: Prepared, cfg_yaml: str, events, *,
                   progress: Progress = _quiet) -> None:
    progress(f"run {run.run_id}: scoring {len(cfg.eval.baselines) + 1} baselines on {prep.data.T} days")
    logits = baseline_logits(cfg, prep.data.Y)
    outcomes = []
    for split in prep.splits:
        progress(f"fold {split.fold}: calibrating on validation, evaluating")
        out = evaluate_scorers(scored_from_logits(logits, split, lambda n: "baseline"), windows(prep, split), cfg)
        outcomes.append((split, out))
        log_calibration(events, out, split)
    man = record_test_touch(run, f"baselines run: {len(logits)} baselines evaluated on "
                                 f"{len(prep.splits)} test window(s)")
    result = write_artifacts(run, man, cfg_yaml, outcomes, eval_id="run", events=events, progress=progress)
    events.evaluated(result["summary"])


def log_calibration(events, out: Outcome, split: Split) -> None:
    primary = out.report["primary"]
    cal = out.report["models"][primary]["calibration"]
    test = out.report["models"][primary]["test"]
    events.calibrated(cal.get("name"), test["ece_raw"], test["ece"], model=primary, fold=split.fold)


def reevaluate(run: RunDir, cfg: Config, *, progress: Progress = _quiet) -> dict:
    """`synapse eval RUN`: re-fit calibration / recompute metrics from the stored predictions.

    Uses only predictions.npz (validation and test logits and labels), so it needs no model
    and no data file; the test touch is recorded.
    """
    if not run.predictions_npz.exists():
        raise InputError("no predictions.npz: the run has not finished an evaluation", path=run.path)
    with np.load(run.predictions_npz, allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    man = run.read_json("manifest.json")
    names = sorted({k.split("__")[0] for k in arrays if "__logits_val" in k})
    roles = {n: ("baseline" if n in BASELINE_NAMES else "model") for n in names}
    truth = None
    if man.get("data", {}).get("truth"):
        tpath = resolve_data_path(man["data"]["truth"])
        if tpath.exists():
            with np.load(tpath, allow_pickle=False) as z:
                tdates, tr = z["dates"].astype("datetime64[D]"), z["truth"]
            pos = {d: i for i, d in enumerate(tdates.tolist())}
            try:
                truth = (tr[[pos[d] for d in arrays["dates_val"].tolist()]],
                         tr[[pos[d] for d in arrays["dates_test"].tolist()]])
            except KeyError:
                truth = None
    split_info = man["splits"][-1]
    win = Windows(base_rate=arrays["base_rate"], y_val=arrays["y_val"], y_test=arrays["y_test"],
                  dates_val=arrays["dates_val"], dates_test=arrays["dates_test"],
                  truth_val=None if truth is None else truth[0], truth_test=None if truth is None else truth[1])
    scored = [Scored(n, n, roles[n], arrays[f"{n}__logits_val"].astype(np.float64),
                     arrays[f"{n}__logits_test"].astype(np.float64)) for n in names]
    progress(f"re-evaluating {len(scored)} scorer(s) on fold {split_info['fold']}")
    out = evaluate_scorers(scored, win, cfg)
    touches = len(man.get("test_touches", []))
    eval_id = f"eval-{touches}"
    what = (f"synapse eval ({eval_id}): calibration={cfg.calibration.method}"
            f"{'/part' if cfg.calibration.per_part else '/global'}, k={list(cfg.eval.k)}")
    man = record_test_touch(run, what)
    run.write_text("config.yaml", dump_yaml(cfg))
    split = Split(split_info["fold"], (split_info["train"]["start"], split_info["train"]["stop"]),
                  (split_info["val"]["start"], split_info["val"]["stop"]),
                  (split_info["test"]["start"], split_info["test"]["stop"]))
    with run.event_writer() as events:
        result = write_artifacts(run, man, dump_yaml(cfg), [(split, out)], eval_id=eval_id, events=events,
                                 progress=progress)
        events.evaluated(result["summary"], eval_id=eval_id)
    return {"eval_id": eval_id, "report": out.report, "test_touches": len(man["test_touches"])}


BASELINE_NAMES = frozenset({"uniform", "frequency", "frequency_window", "recency", "ewma", "hot_cold"})
