"""Errors that mean "the user gave us something wrong" (exit code 2), as opposed to bugs."""

from __future__ import annotations

from pathlib import Path

# The one rule for run names (a config's `name`, the middle of a run id). It lives in the
# foundation because core.config (schema) and core.runs (run ids) both check it and neither
# may import the other's layer for it; messages quote RUN_NAME_RULE so they cannot drift.
RUN_NAME_MAX = 64
RUN_NAME_PATTERN = rf"[A-Za-z0-9_.-]{{1,{RUN_NAME_MAX}}}"
RUN_NAME_RULE = f"1-{RUN_NAME_MAX} characters of A-Z a-z 0-9 _ . -"


class InputError(Exception):
    """Bad input: names the file, the line (1-based, when known) and the problem.

    The CLI turns it into one line on stderr and exit code 2.
    """

    def __init__(self, problem: str, *, path: str | Path | None = None, line: int | None = None):
        self.problem = problem
        self.path = None if path is None else str(path)
        self.line = line
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.path is not None:
            where = self.path if self.line is None else f"{self.path}:{self.line}"
            where += ": "
        return f"{where}{self.problem}"


class DataError(InputError):
    """A data file failed validation."""


class ConfigError(InputError):
    """A config file or override failed validation."""
