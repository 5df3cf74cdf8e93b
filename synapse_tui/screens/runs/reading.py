"""The runs screen's reads through core.service.runs, called in its refresh worker: the rows a
filter (text, or an expression the index answers) and the archive switch leave, and the config
values of those rows."""

from __future__ import annotations

from pathlib import Path

from core.errors import InputError
from core.query.text import is_expression, matches_text


def read_rows(runs_dir: Path, filter_text: str, archived: bool) -> tuple[list[dict], int]:
    """The index's rows under `filter_text` (archived runs too when `archived`), and how many
    archived runs are hidden when no run is left otherwise (0 else). Raises InputError when the
    index refuses the filter (only the index knows the config keys: a typo in one gets here)."""
    from core.service.runs import list_runs

    where = filter_text if filter_text and is_expression(filter_text) else None
    rows = list_runs(runs_dir, where=where, archived=None if archived else False)
    if filter_text and where is None:
        rows = [r for r in rows if matches_text(r, filter_text)]
    # With nothing to show, say when it is because every run is archived (not the first-run screen).
    hidden = 0
    if not rows and not archived and not filter_text:
        try:
            hidden = len(list_runs(runs_dir, archived=True))
        except InputError:
            pass
    return rows, hidden


def attach_configs(rows: list[dict]) -> list[str]:
    """Each row's resolved config values as its "config"; the config keys that differ between them."""
    from core.service.runs import config_values, varying_keys

    configs = config_values([r["path"] for r in rows])
    for r in rows:
        r["config"] = configs.get(r["run_id"], {})
    return varying_keys(configs)
