"""What the artifact viewer reads, before anything is shown: which view fits a file (markdown,
a JSON tree, a log view) or why none does (missing, a folder, unreadable, binary, too large).
Called in a thread worker; never raises for a bad file."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from core.runs.layout import MAX_JSON_BYTES, JsonFileError, load_json_file
from synapse_tui.formatting import byte_size

MARKDOWN_SUFFIXES = (".md", ".markdown")
JSON_SUFFIXES = (".json",)
MAX_MARKDOWN_BYTES = 2 * 1024 * 1024  # rendered as markdown up to this size, shown as text above it
MAX_TEXT_BYTES = 4 * 1024 * 1024 * 1024  # the log view indexes files up to this size (8 bytes a line)
SNIFF_BYTES = 8192
# Files a run directory holds that are never text, and what they are.
BINARY_KINDS = {
    ".pt": "a torch checkpoint",
    ".npz": "numpy arrays",
    ".npy": "a numpy array",
    ".png": "an image",
    ".onnx": "an ONNX model",
    ".sqlite": "an SQLite database",
    ".lock": "a lock file",
}


@dataclass(frozen=True)
class Opened:
    """kind: "markdown" (`text`), "json" (`data`), "text" (a log view over the file) or
    "message" (nothing to show: `note` says why). `note`: a line for the status bar, such as
    why a .json file is shown as text."""

    kind: str
    size: int = 0
    text: str | None = None
    data: Any = None
    note: str | None = None


def open_artifact(path: str | os.PathLike) -> Opened:
    """Decide how to show `path`, reading at most what the view needs (slow: a worker's job)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return Opened("message", note=f"{path}: no such file (deleted?)")
    except OSError as exc:
        return Opened("message", note=f"cannot read {path}: {_reason(exc)}")
    if stat.S_ISDIR(st.st_mode):
        return Opened("message", note=f"{path} is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        return Opened("message", note=f"{path} is not a regular file (a pipe or a device): not read")
    size = st.st_size
    try:
        with open(path, "rb") as fh:
            head = fh.read(SNIFF_BYTES)
    except OSError as exc:
        return Opened("message", size, note=f"cannot read {path}: {_reason(exc)}")
    if is_binary(head):
        what = BINARY_KINDS.get(path.suffix.lower())
        return Opened(
            "message",
            size,
            note=f"{path.name} is a binary file ({what + ', ' if what else ''}{byte_size(size)}): nothing to show as text",
        )
    suffix = path.suffix.lower()
    if suffix in MARKDOWN_SUFFIXES:
        if size > MAX_MARKDOWN_BYTES:
            return Opened("text", size, note=f"too long to render as markdown ({byte_size(size)}): shown as text")
        try:
            with open(path, "rb") as fh:
                raw = fh.read(MAX_MARKDOWN_BYTES + 1)
        except OSError as exc:
            return Opened("message", size, note=f"cannot read {path}: {_reason(exc)}")
        return Opened("markdown", size, text=raw.decode("utf-8", errors="replace"))
    if suffix in JSON_SUFFIXES:
        if size > MAX_JSON_BYTES:
            return Opened("text", size, note=f"too large to browse as JSON ({byte_size(size)}): shown as text")
        try:
            return Opened("json", size, data=load_json_file(path))
        except JsonFileError as exc:
            return Opened("text", size, note=f"{exc}: shown as text")
        except OSError as exc:
            return Opened("message", size, note=f"cannot read {path}: {_reason(exc)}")
    if size > MAX_TEXT_BYTES:
        return Opened(
            "message",
            size,
            note=f"{path.name} is too large to show here ({byte_size(size)}, more than {byte_size(MAX_TEXT_BYTES)}): "
            "use less or toolong",
        )
    return Opened("text", size)


def is_binary(head: bytes) -> bool:
    """Whether the first bytes of a file look like anything but text: NUL bytes (more than a
    stray one), many control bytes (escape sequences, bells, tabs, form feeds and backspaces
    are a log's, not a binary's), or mostly invalid UTF-8."""
    if not head:
        return False
    if head.count(b"\x00") > 1 + len(head) // 200:
        return True
    controls = sum(1 for b in head if b < 32 and b not in (7, 8, 9, 10, 12, 13, 27))
    if controls > len(head) // 20:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            bad = head.decode("utf-8", errors="replace").count("\ufffd")
            return bad > len(head) // 10
    return False


def _reason(exc: OSError) -> str:
    reason = exc.strerror or type(exc).__name__
    return reason[:1].lower() + reason[1:]
