"""The run screen's tabs beyond the overview, filled from what `read_run` (or, for the pool,
`predict_pool`) returned: per-part AUC (sortable), the config, the log tail and the
artifacts, tomorrow's pool. The tables are filled in place; the rest is rich text to show.
`ascii_only` writes the glyphs as ASCII (glyphs.RUN_ASCII).
"""

from __future__ import annotations

import math

from rich.console import Group, RenderableType
from rich.syntax import Syntax
from rich.text import Text
from textual.widgets import DataTable

from synapse_tui.formatting import byte_size, clean, num, pool_table, probability_grid
from synapse_tui.screens.run.glyphs import RUN_ASCII, ascii_text


def _out(text: Text, ascii_only: bool) -> Text:
    return ascii_text(text) if ascii_only else text


# ---------------------------------------------------------------------- parts
def fill_parts(table: DataTable, rows: list[dict]) -> None:
    """The per-part table: part, AUC (red below 0.5), AP and a bar of AUC − 0.5."""
    table.clear()
    for r in rows:
        auc, ap = r.get("auc"), r.get("ap")
        ok = isinstance(auc, (int, float)) and math.isfinite(auc)
        lift = (auc - 0.5) if ok else None
        bar = "" if lift is None else ("+" if lift >= 0 else "-") * min(20, int(abs(lift) * 100))
        table.add_row(
            Text(str(r.get("part")), justify="right"),
            Text(num(auc, 3), justify="right", style="" if not ok or auc >= 0.5 else "red"),
            Text(num(ap, 3), justify="right"),
            Text(bar, style="green" if (lift or 0) >= 0 else "red"),
            key=str(r.get("part")),
        )


def parts_note(view: dict | None) -> str:
    """Why the per-part table is empty ("" when it has rows)."""
    view = view or {}
    if view.get("auc_per_part"):
        return ""
    status = (view.get("run") or {}).get("status")
    if not view:
        return "reading the run…"
    if status in ("queued", "running"):
        return f"{status}: per-part metrics appear when the run has been evaluated (when training ends)"
    if not view.get("summary"):
        return f"{status or 'this run'}: not evaluated, so there are no per-part metrics"
    return "the evaluation in report.json holds no per-part AUC for the primary scorer"


def sort_parts(table: DataTable, rows: list[dict], col: str, descending: bool, *, ascii_only: bool = False) -> None:
    """Order the per-part table by `col` (part, auc or ap; the bar sorts as AUC), missing values
    last either way, and say the order in its title."""
    if not table.row_count:
        return
    col = "auc" if col == "bar" else col
    by_part = {str(r.get("part")): r for r in rows}

    def value(part: str) -> tuple:
        v = by_part[part].get(col) if col != "part" else by_part[part].get("part")
        missing = not (isinstance(v, (int, float)) and math.isfinite(v))
        return (missing != descending, 0 if missing else v)  # missing values last either way

    rank = {part: i for i, part in enumerate(sorted(by_part, key=value, reverse=descending))}
    table.sort("part", key=lambda cell: rank.get(cell.plain, len(rank)))
    name = {"part": "part", "auc": "AUC", "ap": "AP"}[col]
    title = f"per-part AUC and AP on test · by {name} {'↓' if descending else '↑'} · s or a header click sorts"
    table.border_title = title.translate(RUN_ASCII) if ascii_only else title


# ---------------------------------------------------------------------- config
def config_view(view: dict) -> RenderableType:
    """config.yaml as resolved (every default filled in), highlighted."""
    text = view.get("config_yaml")
    if not text:
        why = view.get("config_error")
        if not why:
            return Text("no readable config.yaml", style="dim")
        # core.config's words name the file and line; the file's text may quote anything
        out = Text("config.yaml cannot be read:\n", style="bold red")
        out.append(clean(why, newlines=True).rstrip(), style="red")
        return out
    path = (view.get("run") or {}).get("path")
    head = Text(f"# {path}/config.yaml (resolved: every default filled in)\n", style="dim")
    return Group(head, Syntax(text, "yaml", theme="ansi_dark", background_color="default", word_wrap=True))


# ---------------------------------------------------------------------- log and artifacts
def log_text(view: dict, *, ascii_only: bool = False) -> Text:
    """The log tail: time, level (warnings yellow, errors red), message; then the last lines of
    worker.log (the worker's own output: epochs go there, not to log events)."""
    out = Text()
    for e in view.get("log_tail") or []:
        # A log line may come from a remote host: no control sequence reaches the terminal.
        level = clean(e.get("level") or "info")
        out.append(f"{clean(e.get('ts', ''))[11:19]} ", style="dim")
        out.append(f"{level:<7} ", style={"warning": "yellow", "error": "bold red"}.get(level, "dim"))
        msg = clean(e.get("message", ""), newlines=True).rstrip()
        out.append(msg + "\n")
    worker = view.get("worker_log") or {}
    lines = worker.get("lines") or []
    if lines:
        if out.plain:
            out.append("\n")
        cut = "the last " + f"{len(lines)} lines of " if worker.get("cut") else ""
        out.append(f"── {cut}worker.log ──\n", style="dim")
        for line in lines:
            # written by the worker, maybe on a remote host: no control sequence reaches the terminal
            out.append(clean(line).rstrip() + "\n")
    if not out.plain:
        out.append("no log lines yet", style="dim")
    return _out(out, ascii_only)


def fill_artifacts(table: DataTable, arts: list[dict]) -> None:
    """The artifacts table (name, size), the cursor kept on the same row number."""
    cursor = table.cursor_row
    table.clear()
    for a in arts:
        table.add_row(a["name"], Text(byte_size(a.get("bytes") or 0), justify="right", style="dim"), key=a["name"])
    if table.row_count:
        table.move_cursor(row=min(cursor, table.row_count - 1), animate=False)


def artifacts_title(view: dict, *, ascii_only: bool = False) -> Text:
    return _out(
        Text(f"artifacts in {(view.get('run') or {}).get('path', '')} — enter or a opens a PNG", style="bold"),
        ascii_only,
    )


# ---------------------------------------------------------------------- tomorrow's pool
def pool_view(
    res: dict | None,
    *,
    running: bool,
    error: str | None,
    width: int,
    ascii_only: bool = False,
    shown_target: str | None = None,
) -> RenderableType:
    """The Pool tab: scoring under way, the error, or `predict`'s result: what was scored, the
    smallest K reaching the target, the ranked probabilities (as many column groups as `width`
    holds) and the top-K pools table. A pool already shown (`res`, for `shown_target`) stays
    under the progress or the error of the next target."""
    first = Text()
    if running:
        first.append("scoring tomorrow with the run's best checkpoint and calibrator…", style="dim")
    elif error:
        first.append("✗ " + error, style="red")
    if res is None:
        return _out(first, ascii_only) if first.plain else ""
    if first.plain:  # the last pool stays under a new target's progress or error
        label = f"the last pool ({shown_target})" if shown_target else "the last pool"
        first.append(f"\nbelow: {label}", style="dim")
    head = Text()
    head.append(f"{res['model']} scores {res['date']}", style="bold")
    head.append(f" from {res['history_rows']:,} days up to {res['history_last_date']}")
    if res.get("new_days_since_run"):
        head.append(f" ({res['new_days_since_run']} newer than the run)")
    sug = res.get("suggestion") or {}
    if sug:
        head.append("\nsmallest K with P(" + f"{sug['tier']} or better) ≥ {sug['target']}: ")
        head.append(
            str(sug["k"]) if sug.get("k") is not None else "none in range",
            style="bold green" if sug.get("k") is not None else "yellow",
        )
    cols = max(1, min(6, (width - 4) // 22))
    grid = probability_grid(res["probabilities"], cols, title_style="bold")
    pt = pool_table(res["pools"], sug.get("k"), title_style="bold", random_style="dim")
    caveat = Text(res.get("caveat", ""), style="yellow")
    top = [_out(first, ascii_only), Text("")] if first.plain else []
    return Group(*top, _out(head, ascii_only), Text(""), grid, Text(""), pt, Text(""), _out(caveat, ascii_only))
