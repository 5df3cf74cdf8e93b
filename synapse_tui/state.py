"""The dashboard's remembered state: the runs screen's columns, sort and filter, and the theme.

Kept in `$XDG_STATE_HOME/synapse/tui.json` (default `~/.local/state/synapse/tui.json`),
written atomically. A file that is corrupt, too big or the wrong shape is ignored (the caller
says so in one line); unknown columns and a filter that no longer parses are dropped. The
checks are pure functions over dicts (`clean`); `load` and `save` do the file IO.

    {"version": 1, "theme": "textual-dark",
     "runs": {"columns": ["id", "status", ...], "sort": {"key": "ece_after", "descending": false},
              "filter": "model=gru"}}
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Mapping
from pathlib import Path

from core.fsutil import atomic_write_text

VERSION = 1
MAX_BYTES = 64 * 1024
CONFIG_PREFIX = "cfg:"  # a config value's column (synapse_tui/screens/runs/columns.py)


class StateError(ValueError):
    """Why a state file was ignored (one line)."""


def state_path(environ: Mapping[str, str] | None = None) -> Path:
    """`$XDG_STATE_HOME/synapse/tui.json`; `~/.local/state/...` where XDG_STATE_HOME is unset,
    empty or relative (the XDG spec says to ignore a relative one)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_STATE_HOME") or ""
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "synapse" / "tui.json"


def _is_column(key: object, known: Collection[str]) -> bool:
    return isinstance(key, str) and (key in known or (key.startswith(CONFIG_PREFIX) and len(key) > len(CONFIG_PREFIX)))


def clean(raw: object, known_columns: Collection[str], filter_error: Callable[[str], str | None] | None = None) -> dict:
    """The usable part of a parsed state file: `{"theme"?, "runs": {"columns"?, "sort"?, "filter"?}}`.

    Raises StateError when `raw` is not the state's shape at all (not an object, a part of
    the wrong type); drops what no longer applies: unknown column names (a config column,
    `cfg:<key>`, is kept), a sort on an unknown column, a filter `filter_error` rejects."""
    if not isinstance(raw, dict):
        raise StateError(f"not a JSON object but {type(raw).__name__}")
    out: dict = {}
    theme = raw.get("theme")
    if theme is not None:
        if not isinstance(theme, str):
            raise StateError("theme is not a string")
        out["theme"] = theme
    runs = raw.get("runs", {})
    if not isinstance(runs, dict):
        raise StateError("runs is not an object")
    part: dict = {}
    columns = runs.get("columns")
    if columns is not None:
        if not isinstance(columns, list):
            raise StateError("runs.columns is not a list")
        kept = list(dict.fromkeys(c for c in columns if _is_column(c, known_columns)))
        if kept:
            part["columns"] = kept
    sort = runs.get("sort")
    if sort is not None:
        if not isinstance(sort, dict):
            raise StateError("runs.sort is not an object")
        key, desc = sort.get("key"), sort.get("descending", True)
        if not isinstance(desc, bool):
            raise StateError("runs.sort.descending is not true or false")
        if key is None or _is_column(key, known_columns):
            part["sort"] = {"key": key, "descending": desc}
    text = runs.get("filter")
    if text is not None:
        if not isinstance(text, str):
            raise StateError("runs.filter is not a string")
        text = text.strip()
        if text and (filter_error is None or filter_error(text) is None):
            part["filter"] = text
    out["runs"] = part
    return out


def load(path: Path, known_columns: Collection[str], filter_error: Callable[[str], str | None] | None = None) -> dict:
    """The cleaned state in `path`; `{}` when there is none. Raises StateError (the file is then
    to be ignored) when it cannot be read, is over MAX_BYTES, is not JSON or the wrong shape."""
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise StateError(f"cannot read it: {exc.strerror or exc}") from None
    if size > MAX_BYTES:
        raise StateError(f"{size} bytes, over the {MAX_BYTES // 1024} KiB limit")
    try:
        with open(path, "rb") as fh:
            data = fh.read(MAX_BYTES + 1)
    except OSError as exc:
        raise StateError(f"cannot read it: {exc.strerror or exc}") from None
    if len(data) > MAX_BYTES:
        raise StateError(f"over the {MAX_BYTES // 1024} KiB limit")
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise StateError(f"not JSON ({str(exc).splitlines()[0]})") from None
    return clean(raw, known_columns, filter_error)


def dump(state: Mapping) -> str:
    return json.dumps({"version": VERSION, **state}, indent=1, sort_keys=True) + "\n"


def save(path: Path, state: Mapping) -> None:
    """Write `state` to `path` atomically, making its directory (mode 0700) first."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    atomic_write_text(path, dump(state))
