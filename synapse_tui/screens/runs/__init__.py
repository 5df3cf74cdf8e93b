"""The home screen: every run, live.

columns  the table's columns (cells that read and sort), the columns dialog
reading  the rows a filter and the archive switch leave, their config values (core.service.runs)
export   the table as a CSV (`E`): full values, never over another export
manage   run management apart from the screen: why x/R/A/D refuse, the tag and note checks,
         the archive/delete questions, and the work each does once confirmed (returns the message)
demo     the first-run screen's demo (`d`), detached and followed in place
screen   RunsScreen: the live table, sort, filter, select, compare, launch, and thin actions
"""

from synapse_tui.screens.runs.columns import ColumnsScreen
from synapse_tui.screens.runs.screen import RunsScreen

__all__ = ["ColumnsScreen", "RunsScreen"]
