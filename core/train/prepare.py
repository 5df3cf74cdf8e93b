"""Everything a run needs before it runs: the data, its splits, the truth file, the manifest,
and the baselines' logits; and the per-split windows every evaluation reads.

Validation happens here, before anything is written: bad input leaves no run directory.
"""

from __future__ import annotations

import os
import platform
import socket
import sys
from dataclasses import dataclass
from datetime import datetime, UTC
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from collections.abc import Callable

import numpy as np

from core.config import Config, config_hash
from core.data import load_for_config, UNSORTED_HINT_CONFIG, Dataset, resolve_data_path, resolve_run_data
from core.data.splits import Split, splits_from_config
from core.errors import InputError
from core.evaluation.evaluate import Scored, Windows
from core.models.baselines import score_baseline
from core.runs import RunDir, format_ts

Progress = Callable[[str], None]


def quiet(_: str) -> None:
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


def prepare(cfg: Config, recorded: dict | None = None) -> Prepared:
    """Load and validate everything a run needs; raises InputError before anything is written.

    recorded: the manifest of the run being resumed; its absolute data path is used when the
    config's relative one does not resolve from here (`resolve_run_data`)."""
    if cfg.data.path is None:
        raise InputError("no data file: pass --data FILE or set data.path in the config")
    path = resolve_data_path(cfg.data.path) if recorded is None else resolve_run_data(recorded, cfg.data.path)
    data = load_for_config(
        path,
        cfg.data,
        unsorted_hint=UNSORTED_HINT_CONFIG,
        echo=recorded is None,
    )  # a run directory's data path is nobody's choice here
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
        "created": format_ts(datetime.now(UTC)),
        "config_hash": config_hash(prep.cfg),
        "code_version": code_version(),
        "python": sys.version.split()[0],
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "device": "cpu",
        "seed": prep.cfg.seed,
        # A relative data path means nothing from another directory: resume and predict fall
        # back to abs_path, and name created_cwd when neither resolves (core.data.resolve_run_data).
        "created_cwd": os.getcwd(),
        "data": {
            "path": str(d.path),
            "abs_path": os.path.abspath(d.path),
            "sha256": d.sha256,
            "format": d.fmt,
            "rows": d.T,
            "parts": d.P,
            "first_date": str(d.dates[0]),
            "last_date": str(d.dates[-1]),
            "gaps": d.n_gaps,
            "truth": None if prep.truth_file is None else str(prep.truth_file),
        },
        "splits": [s.to_manifest(d.dates) for s in prep.splits],
        "test_touches": [],
    }


def baseline_params(cfg: Config, kind: str) -> dict:
    """The model section's hyperparameters when it is this baseline, else the kind's defaults."""
    from core.config import MODEL_CLASSES

    section = cfg.model if cfg.model.kind == kind else MODEL_CLASSES[kind]()
    return section.model_dump()


def baseline_logits(cfg: Config, Y: np.ndarray) -> dict[str, np.ndarray]:
    """(T, P) logits of every configured baseline over the whole sequence (each causal)."""
    kinds = list(dict.fromkeys(["uniform", *cfg.eval.baselines]))
    return {k: score_baseline(k, Y, events_per_day=cfg.data.events_per_day, **baseline_params(cfg, k)) for k in kinds}


def windows(prep: Prepared, split: Split) -> Windows:
    Y, dates, truth = prep.data.Y, prep.data.dates, prep.truth
    tr, va, te = split.slice("train"), split.slice("val"), split.slice("test")
    return Windows(
        base_rate=Y[tr].mean(axis=0),
        y_val=Y[va],
        y_test=Y[te],
        dates_val=dates[va],
        dates_test=dates[te],
        truth_val=None if truth is None else truth[va],
        truth_test=None if truth is None else truth[te],
    )


def scored_from_logits(logits: dict[str, np.ndarray], split: Split, role_of: Callable[[str], str]) -> list[Scored]:
    va, te = split.slice("val"), split.slice("test")
    return [Scored(name, name, role_of(name), L[va], L[te]) for name, L in logits.items()]
