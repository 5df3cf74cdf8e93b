"""ImportanceBars: a bar per swept key, the share of the validation metric's variance it explains."""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widget import Widget

from synapse_tui.formatting import clean
from synapse_tui.screens.run.glyphs import ascii_text
from synapse_tui.screens.sweeps.glyphs import glyphs

NAME_W = 18
NUMBERS_W = 54  # " 0.999  chance 0.40  p 0.067  rho -0.48  n.s.", the rest cropped


def importance_text(view: dict[str, Any], key_index: int, width: int, ascii_only: bool) -> Text:
    """The bars as text (pure): key, bar of eta squared, the chance level, the p-value, rho."""
    g = glyphs(ascii_only)
    out = Text(no_wrap=True, overflow="crop")
    out.append(f"importance on {view['metric_label']}", style="bold")
    wide = width >= 100
    out.append(
        f"  {g['eta']}: variance explained by the key; p: permutation test (significant < {view['alpha']:g})"
        if wide
        else f"  ({g['eta']}, permutation p < {view['alpha']:g})",
        style="dim",
    )
    imps = view["importance"]
    if not imps:
        out.append("\nno swept key", style="dim")
        return out
    bar_w = max(6, width - NAME_W - NUMBERS_W - 4)
    for i, imp in enumerate(imps):
        out.append("\n")
        chosen = i == key_index % len(imps)
        out.append(g["cursor"] if chosen else " ", style="bold")
        out.append(f"{clean(imp['key'])[:NAME_W]:<{NAME_W}} ", style="bold" if chosen else "")
        eta = imp.get("eta2")
        if eta is None:
            out.append(clean(imp.get("why") or "not enough runs"), style="dim")
            continue
        filled = eta * bar_w
        full = int(filled)
        bar = g["bar"] * full + (g["half"] if filled - full >= 0.5 and full < bar_w else "")
        cells = list(bar.ljust(bar_w))
        chance = imp.get("chance")
        if chance is not None:
            c = min(bar_w - 1, int(chance * bar_w))
            if cells[c] == " ":
                cells[c] = g["chance"]
        style = "bold green" if imp.get("significant") else "cyan"
        for ch in cells:
            out.append(ch, style="dim" if ch == g["chance"] else style)
        out.append(f" {eta:.3f}", style="bold" if imp.get("significant") else "")
        out.append(f"  chance {chance:.2f}" if chance is not None else "", style="dim")
        p = imp.get("p_value")
        out.append(
            f"  p {p:.3f}" if p is not None and p >= 0.01 else (f"  p {p:.4f}" if p is not None else "  p -"),
            style="bold green" if imp.get("significant") else "",
        )
        if imp.get("rho") is not None:
            out.append(f"  {g['rho']} {imp['rho']:+.2f}")
        if not imp.get("significant"):
            floor = imp.get("p_floor")
            too_few = floor is not None and floor >= view["alpha"]
            out.append(f"  n.s. (min p {floor:.3f})" if too_few else "  n.s.", style="dim")
    return out


class ImportanceBars(Widget):
    """A line per swept key; the chosen key (the dependence plot's) is marked. The screen hands
    it the sweep view and the chosen key (`show`)."""

    DEFAULT_CSS = """
    ImportanceBars {
        height: auto;
        min-height: 2;
        padding: 0 1;
        text-wrap: nowrap;
        text-overflow: clip;
    }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.view: dict[str, Any] | None = None
        self.key_index = 0

    def show(self, view: dict[str, Any], key_index: int) -> None:
        self.view, self.key_index = view, key_index
        self.refresh(layout=True)

    def get_content_height(self, container, viewport, width: int) -> int:
        return 1 + (len(self.view["importance"]) if self.view and self.view["importance"] else 1)

    def render(self) -> Text:
        if self.view is None:
            return Text("")
        ascii_only = bool(getattr(self.app, "ascii_plots", False))
        text = importance_text(self.view, self.key_index, self.content_size.width, ascii_only)
        return ascii_text(text) if ascii_only else text
