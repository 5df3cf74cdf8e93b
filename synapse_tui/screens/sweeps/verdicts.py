"""VerdictLines: the winner, each run's readiness verdict and the sweep's notes, as text."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from synapse_tui.formatting import clean
from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.glyphs import fmt, glyphs

VERDICT_STYLE = {"APPROVED": "bold green", "FAILED": "red"}


def verdict_text(view: dict[str, Any], ascii_only: bool) -> Text:
    """The winner line, the rule it was chosen by, a line per run and the notes (pure)."""
    g = glyphs(ascii_only)
    out = Text()
    w = view.get("winner")
    if w:
        out.append(f"{g['winner']} winner ", style="bold yellow")
        out.append(clean(w["label"]), style="bold")
        out.append(f"  {view['metric_label']} {fmt(w['value'])}  verdict {clean(w.get('verdict') or g['dash'])}")
    else:
        out.append("winner: none yet (no run has succeeded)", style="dim")
    out.append(
        f"\nchosen on validation only (lowest {view['metric_label']}); test columns are for information\n",
        style="dim",
    )
    for run in view["runs"]:
        v = run.get("verdict")
        out.append(f"{g['winner'] if run['winner'] else ' '} ", style="bold yellow")
        out.append(clean(run["label"]))
        out.append(": ")
        out.append(clean(run["verdict_text"]), style=VERDICT_STYLE.get(v or "", "dim"))
        if run.get("error"):
            out.append(f" {g['dash']} {clean(run['error'])}", style="red")
        out.append("\n")
    for n in view.get("notes") or []:
        out.append(f"note: {clean(n)}\n", style="yellow")
    if view.get("report"):
        out.append(f"report: {clean(view['report'])}", style="dim")
    return out


class VerdictLines(Static):
    """The sweep report's verdict lines for the screen's sweep view (`show`)."""

    DEFAULT_CSS = """
    VerdictLines {
        height: auto;
        padding: 0 1;
    }
    """

    def show(self, view: dict[str, Any]) -> None:
        ascii_only = bool(getattr(self.app, "ascii_plots", False))
        text = verdict_text(view, ascii_only)
        self.update(ascii_text(text) if ascii_only else text)
