"""The glyphs the run screen writes, and the same text in ASCII for a terminal without UTF-8
(`synapse-tui --ascii`, or an SSH session with a C locale)."""

from __future__ import annotations

from rich.console import Console, ConsoleOptions, RenderableType, RenderResult
from rich.segment import Segment
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


class AsciiRenderable:
    """Any rich renderable (a table, a group) drawn with RUN_ASCII applied to its text."""

    def __init__(self, renderable: RenderableType) -> None:
        self.renderable = renderable

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for seg in console.render(self.renderable, options):
            yield seg if seg.control else Segment(seg.text.translate(RUN_ASCII), seg.style)


def ascii_renderable(renderable: RenderableType, ascii_only: bool) -> RenderableType:
    """`renderable` as it is, or in ASCII (a Text keeps its spans, anything else is wrapped)."""
    if not ascii_only:
        return renderable
    if isinstance(renderable, Text):
        return ascii_text(renderable)
    if isinstance(renderable, str):
        return renderable.translate(RUN_ASCII)
    return AsciiRenderable(renderable)
