"""The words of the run screen's tabs beyond the overview, built from what `read_run` (or, for
the pool, `predict_pool`) returned: why the per-part table is empty, the log tail, tomorrow's
pool. Pure: data in, rich text out (the tab widgets show it). `ascii_only` writes the glyphs
as ASCII (glyphs.RUN_ASCII).
"""

from __future__ import annotations


from rich.console import Group, RenderableType
from rich.text import Text

from synapse_tui.formatting import clean, pool_table, probability_grid
from synapse_tui.screens.run.glyphs import ascii_text


def _out(text: Text, ascii_only: bool) -> Text:
    return ascii_text(text) if ascii_only else text


# ---------------------------------------------------------------------- parts
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
