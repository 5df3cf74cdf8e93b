"""The glyphs the run screen writes, and the same text in ASCII for a terminal without UTF-8
(`synapse-tui --ascii`, or an SSH session with a C locale)."""

from __future__ import annotations

from rich.text import Text

from synapse_tui.formatting import ASCII_GLYPHS

RUN_ASCII = {
    **ASCII_GLYPHS,
    **str.maketrans(
        {"▸": ">", "·": "-", "✓": "+", "✗": "x", "○": "o", "◆": "#", "≤": "<=", "≥": ">=", "─": "-", "⚠": "!"}
    ),
}


def ascii_text(text: Text) -> Text:
    """`text` with RUN_ASCII applied, each piece keeping its styles (a glyph may become two characters)."""
    out = Text(style=text.style, justify=text.justify, overflow=text.overflow, no_wrap=text.no_wrap, end=text.end)
    cuts = sorted({0, len(text), *(sp.start for sp in text.spans), *(sp.end for sp in text.spans)})
    for a, b in zip(cuts, cuts[1:]):
        piece = text.plain[a:b].translate(RUN_ASCII)
        start = len(out)
        out.append(piece)
        for sp in text.spans:
            if sp.start <= a and b <= sp.end:
                out.stylize(sp.style, start, start + len(piece))
    return out
