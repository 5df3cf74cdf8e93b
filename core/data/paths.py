"""Where a data path given in a config or on the command line points."""

from __future__ import annotations

import os
from pathlib import Path

from core.errors import InputError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def resolve_data_path(raw: str | Path) -> Path:
    """`raw` as given when it exists (relative paths from the current directory); else a
    relative path the project holds (the bundled ``sample_data/...`` that the shipped configs
    name), so `synapse demo` and `synapse train -c gru` work from any directory. Otherwise
    `raw` unchanged, and the loader's "no such file" names it as the user wrote it."""
    path = Path(raw)
    if path.exists() or path.is_absolute():
        return path
    bundled = PROJECT_ROOT / path
    return bundled if bundled.is_file() else path


def resolve_run_data(manifest: dict, raw: str | Path | None = None) -> Path:
    """The data file of a run, from its manifest (docs/ARCHITECTURE.md, "Data"): `raw` (default
    the recorded `data.path`) as `resolve_data_path` finds it; else, when that was relative and
    is not found from this directory, the absolute `data.abs_path` recorded when the run was
    created. Neither found: an InputError naming both and the directory the run was made in."""
    data = manifest.get("data") or {}
    given = raw if raw is not None else data.get("path")
    if not given:
        raise InputError("the run's manifest names no data file; pass --data FILE")
    path = resolve_data_path(given)
    if path.exists():
        return path
    recorded = data.get("abs_path")
    if recorded and Path(recorded).exists():
        return Path(recorded)
    made_in = manifest.get("created_cwd")
    also = f" nor at {recorded}" if recorded and str(recorded) != str(path) else ""
    where = f" (the run was created in {made_in})" if made_in else ""
    raise InputError(
        f"the run's data file {str(given)!r} is not found from {os.getcwd()}{also}{where}; "
        "run from there, put the file back, or (predict, export onnx) pass --data FILE",
        path=path,
    )
