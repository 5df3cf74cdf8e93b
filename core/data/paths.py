"""Where a data path given in a config or on the command line points."""
from __future__ import annotations

from pathlib import Path

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
