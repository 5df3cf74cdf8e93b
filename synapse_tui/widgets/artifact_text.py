"""Text from a run's file, made safe to show: what the artifact viewer's widgets (log view,
JSON tree, markdown) share. Terminal control sequences are removed (`formatting.clean`), tabs
expanded, and in ASCII mode every glyph becomes ASCII (ours as `ASCII_GLYPHS` maps them, anything
else `?`), so a C-locale terminal never receives a byte it would garble."""

from __future__ import annotations

from synapse_tui.formatting import ASCII_GLYPHS, clean

# The dashboard's glyphs in ASCII, and a few more a text file often holds.
_ASCII = {
    **ASCII_GLYPHS,
    **str.maketrans({"▸": ">", "✓": "+", "✗": "x", "○": "o", "◆": "#", "─": "-", "│": "|", "⚠": "!", "’": "'"}),
    **str.maketrans({"‘": "'", "“": '"', "”": '"'}),
}

MAX_LINE_CHARS = 4096
"""A line longer than this is cut (with an ellipsis) when shown; search sees the same text."""


def shown_line(raw: str, *, ascii_only: bool = False, limit: int = MAX_LINE_CHARS) -> str:
    """One line of a file as it is shown: tabs expanded, control sequences removed, cut at
    `limit` characters, ASCII-only when asked."""
    text = clean(raw.expandtabs(8) if "\t" in raw else raw)
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return to_ascii(text) if ascii_only else text


def shown_text(raw: str, *, ascii_only: bool = False) -> str:
    """A whole document (markdown) as it is shown: newlines and tabs kept, control sequences
    removed, ASCII-only when asked."""
    text = clean(raw, newlines=True)
    return to_ascii(text) if ascii_only else text


def to_ascii(text: str) -> str:
    """`text` with the dashboard's glyphs in ASCII and any other non-ASCII character as `?`."""
    if text.isascii():
        return text
    return text.translate(_ASCII).encode("ascii", "replace").decode("ascii")


def ellipsis(ascii_only: bool) -> str:
    return "..." if ascii_only else "…"
