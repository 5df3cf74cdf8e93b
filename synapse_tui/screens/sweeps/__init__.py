"""The sweeps view: SweepsScreen (every sweep) and SweepScreen (one sweep: its runs grouped
under it with the swept keys as columns, the winner on validation, the verdicts, and how the
validation metric depends on each swept key: a text scatter and the importance per key).

One widget per file: runs_table (SweepRunsTable), dependence (DependencePlot, drawn by the
pure scatter.draw_dependence), importance (ImportanceBars), verdicts (VerdictLines); glyphs
holds every glyph with its ASCII twin. The numbers come from core.service.sweeps.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from synapse_tui.screens.sweeps.list_screen import SweepsScreen
    from synapse_tui.screens.sweeps.sweep_screen import SweepScreen

__all__ = ["SweepScreen", "SweepsScreen"]


def __getattr__(name: str) -> Any:
    """The screens are imported when first asked for: `synapse sweep show` uses glyphs.py
    without loading Textual."""
    if name == "SweepsScreen":
        from synapse_tui.screens.sweeps.list_screen import SweepsScreen

        return SweepsScreen
    if name == "SweepScreen":
        from synapse_tui.screens.sweeps.sweep_screen import SweepScreen

        return SweepScreen
    raise AttributeError(name)
