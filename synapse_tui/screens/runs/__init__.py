"""The home screen: every run, live.

columns  the table's columns (cells that read and sort), the columns dialog
screen   RunsScreen: the live table, sort, filter, select, cancel/resume, launch, demo
"""

from synapse_tui.screens.runs.columns import ColumnsScreen
from synapse_tui.screens.runs.screen import RunsScreen

__all__ = ["ColumnsScreen", "RunsScreen"]
