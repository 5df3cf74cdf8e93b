"""Shared pieces of the `synapse` commands: consoles, error handling, common options."""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Annotated
from collections.abc import Callable

import typer
from rich.console import Console
from rich.text import Text

from core.errors import InputError
from synapse_tui.formatting import clean, k_ranges  # noqa: F401  (the CLI modules import k_ranges from here)

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2

console = Console()
err_console = Console(stderr=True)


def user_errors(fn: Callable) -> Callable:
    """Turn bad input into one `error: FILE:LINE: problem` line on stderr and exit code 2."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except InputError as exc:
            tell(f"{exc}", "error:", "bold red")
            raise typer.Exit(EXIT_USAGE) from None

    return wrapper


def tell(message: str, label: str = "", style: str = "", *, stderr: bool = True) -> None:
    """One line, never wrapped and never read as markup: file names and cell values can
    hold brackets, and scripts grep these lines. Control sequences are removed: messages
    carry text from runs (remote log lines, errors), which must not drive the terminal."""
    text = Text.assemble((label, style), " " if label else "", clean(message, newlines=True))
    (err_console if stderr else console).print(text, soft_wrap=True, highlight=False)


def say(message: str) -> None:
    tell(message, stderr=False)


def print_json(obj) -> None:
    sys.stdout.write(json.dumps(obj, indent=2, default=str) + "\n")


JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON instead of tables.")]
ConfigOpt = Annotated[Path | None, typer.Option("--config", "-c", help="A YAML config (see configs/).")]
OverrideOpt = Annotated[
    list[str] | None, typer.Option("--override", "-o", help="Dotted override, e.g. -o model.hidden=64 (repeatable).")
]
DataOpt = Annotated[Path | None, typer.Option("--data", help="Data file; short for -o data.path=FILE.")]


DetachOpt = Annotated[bool, typer.Option("--detach", help="Start the worker in the background and print the run id.")]
RunsDirOpt = Annotated[
    Path | None, typer.Option("--runs-dir", help="Where runs live (default: $SYNAPSE_RUNS_DIR or ./runs).")
]


def progress(msg: str) -> None:
    tell(msg, "…", "dim")
