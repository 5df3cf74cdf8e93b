"""A run's markdown (training_log.md, sweep_report.md) rendered with Textual's MarkdownViewer,
with a table of contents when the document is long.

The text is a run's, so: control sequences are removed before it is parsed, links are never
followed (an in-document `#anchor` scrolls there; any other link says so, where the stock
viewer would load whatever file the link names), and in ASCII mode the bullets, the
table of contents and the table rules are ASCII (the app's stylesheet makes the borders
ASCII already) and the text itself is reduced to ASCII.
"""

from __future__ import annotations

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.message import Message
from textual.widgets import Markdown, MarkdownViewer
from textual.widgets.markdown import MarkdownBlock, MarkdownTableOfContents, TableOfContentsType
from textual.worker import get_current_worker

from synapse_tui.formatting import clean
from synapse_tui.widgets.artifact_text import shown_text

ASCII_BULLETS = ["* ", "- ", "+ ", "* ", "- "]
TOC_MIN_HEADINGS = 4  # a document with this many headings (or TOC_MIN_LINES lines) gets a table of contents
TOC_MIN_LINES = 80
TOC_MIN_WIDTH = 100  # columns: narrower, the table of contents would squeeze the document


def wants_contents(text: str) -> bool:
    """Whether a document is long enough for a table of contents."""
    lines = text.splitlines()
    headings = sum(1 for line in lines if line.startswith("#"))
    return headings >= TOC_MIN_HEADINGS or (len(lines) >= TOC_MIN_LINES and headings >= 2)


class ArtifactDocument(Markdown):
    """The document: ASCII bullets in ASCII mode."""

    def on_mount(self) -> None:
        if getattr(self.app, "ascii_plots", False):
            self.BULLETS = ASCII_BULLETS


class ArtifactContents(MarkdownTableOfContents):
    """The table of contents: headings marked with `#`s instead of roman numerals, and an ASCII
    tree, in ASCII mode."""

    def on_mount(self) -> None:
        if getattr(self.app, "ascii_plots", False):
            from textual.widgets import Tree

            tree = self.query_one(Tree)
            tree.ICON_NODE, tree.ICON_NODE_EXPANDED = "> ", "v "
            tree.LINES = {name: ("  ", "| ", "`-", "|-") for name in ("default", "bold", "double")}

    def rebuild_table_of_contents(self, table_of_contents: TableOfContentsType) -> None:
        if not getattr(self.app, "ascii_plots", False):
            super().rebuild_table_of_contents(table_of_contents)
            return
        from textual.widgets import Tree

        tree = self.query_one(Tree)
        tree.clear()
        for level, name, block_id in table_of_contents:
            tree.root.add_leaf(
                Text.assemble(("  " * (level - 1) + "#" * level + " ", "dim"), name), {"block_id": block_id}
            )


class ArtifactMarkdown(MarkdownViewer):
    """`text` (a whole markdown document) rendered; `toc`: show the table of contents (default:
    when the document is long)."""

    DEFAULT_CSS = """
    ArtifactMarkdown { height: 1fr; }
    ArtifactMarkdown MarkdownBlock.-match { background: $warning 30%; }
    ArtifactMarkdown > ArtifactContents { max-width: 33%; }
    ArtifactMarkdown.-ascii MarkdownTableContent { keyline: none; }
    """

    def __init__(self, text: str, *, toc: bool | None = None, id: str | None = None) -> None:
        self.wants_toc = wants_contents(text) if toc is None else toc
        super().__init__("", show_table_of_contents=self.wants_toc, open_links=False, id=id)
        self.text = text
        self._term = ""
        self._matches: list[int] = []  # source lines holding the term
        self._match_i = -1
        self._searching = False

    class Status(Message):
        """What the status line should say about the search."""

        def __init__(self, viewer: ArtifactMarkdown, text: str) -> None:
            super().__init__()
            self.viewer = viewer
            self.text = text

    def compose(self) -> ComposeResult:
        document = ArtifactDocument(open_links=False)
        document.can_focus = True
        yield document
        yield ArtifactContents(document)

    def on_mount(self) -> None:
        # Runs before MarkdownViewer's own mount handler, which parses `_markdown` (off the
        # event loop) and mounts the blocks.
        ascii_only = bool(getattr(self.app, "ascii_plots", False))
        self.set_class(ascii_only, "-ascii")
        self._markdown = shown_text(self.text, ascii_only=ascii_only)

    def on_resize(self) -> None:
        self.show_table_of_contents = self.wants_toc and self.size.width >= TOC_MIN_WIDTH

    # ------------------------------------------------------------------ search

    @property
    def term(self) -> str:
        return self._term

    @property
    def matches(self) -> list[int]:
        return self._matches

    def search(self, term: str) -> None:
        """Find the source lines holding `term` (case-insensitive) and show the first's block."""
        self._term, self._matches, self._match_i = term, [], -1
        self._mark(None)
        self._searching = bool(term)
        self._post_status()
        if term:
            self._search(term, self._markdown or "")

    @work(thread=True, exclusive=True, group="search")
    def _search(self, term: str, source: str) -> None:
        needle = term.lower()
        found = [i for i, line in enumerate(source.splitlines()) if needle in line.lower()]
        if not get_current_worker().is_cancelled:
            try:
                self.app.call_from_thread(self._found, term, found)
            except RuntimeError:  # the app closed meanwhile
                pass

    def _found(self, term: str, found: list[int]) -> None:
        if term != self._term:
            return
        self._matches, self._searching = found, False
        if found:
            self.next_match(1)
        else:
            self._post_status()

    def next_match(self, step: int = 1) -> bool:
        """Scroll to the block of the next (1) or previous (-1) matching line, wrapping."""
        if not self._matches:
            self._post_status()
            return False
        self._match_i = (self._match_i + step) % len(self._matches)
        block = self.block_at(self._matches[self._match_i])
        self._mark(block)
        if block is not None:
            self.scroll_to_widget(block, top=True, animate=False)
        self._post_status()
        return True

    def block_at(self, line: int) -> MarkdownBlock | None:
        """The innermost block drawn from source line `line`."""
        best: MarkdownBlock | None = None
        for block in self.document.query(MarkdownBlock):
            start, end = block.source_range
            if start <= line < end and (best is None or end - start < best.source_range[1] - best.source_range[0]):
                best = block
        return best

    def _mark(self, block: MarkdownBlock | None) -> None:
        for old in self.document.query("MarkdownBlock.-match"):
            old.remove_class("-match")
        if block is not None:
            block.add_class("-match")

    def status_text(self) -> str:
        if not self._term:
            return ""
        if self._searching:
            return f"searching {self._term!r}…"
        if not self._matches:
            return f"no line holds {self._term!r}"
        at = f"match {self._match_i + 1:,}/" if self._match_i >= 0 else ""
        return f"{self._term!r}: {at}{len(self._matches):,} (n/N) · line {self._matches[self._match_i] + 1:,}"

    def _post_status(self) -> None:
        self.post_message(self.Status(self, self.status_text()))

    async def _on_markdown_link_clicked(self, message: Markdown.LinkClicked) -> None:
        message.prevent_default()
        message.stop()
        href = message.href
        if href.startswith("#"):
            self.document.goto_anchor(href[1:])
        else:
            self.notify(f"links in a run's file are not followed: {clean(href)[:200]}", markup=False)


__all__ = ["ArtifactMarkdown", "wants_contents"]
