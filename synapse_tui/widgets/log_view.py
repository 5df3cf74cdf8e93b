"""A text file as a log view, after toolong: virtual scrolling over the file's lines, search,
follow.

The file is never held in memory: a thread worker indexes where each line starts (numpy finds
the newlines, an `array` of int64 holds the offsets: 8 bytes a line), and only the lines on
screen (and a screen either side) are read, in another thread worker, into a small cache.
`render_line` draws what the cache holds and asks for the rest. Search (`search`, n/N) scans
the file in a worker too; follow (`f`) polls the file's size in a worker and indexes what was
appended (a file that shrank or was replaced is indexed again from the start). Every line
shown goes through `artifact_text.shown_line` (control sequences removed, ASCII in ASCII
mode) and is drawn as a rich `Text`, never read as markup.

Messages up: `LogView.Status` whenever what the status line says changes.
"""

from __future__ import annotations

import os
import re
import time
from array import array
from bisect import bisect_left, bisect_right
from collections import OrderedDict
from pathlib import Path

from rich.segment import Segment
from rich.text import Text
from textual import work
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.worker import get_current_worker

from synapse_tui.formatting import byte_size
from synapse_tui.widgets.artifact_text import MAX_LINE_CHARS, shown_line

CHUNK_BYTES = 4 * 1024 * 1024  # read this much at a time while indexing
POST_EVERY_BYTES = 32 * 1024 * 1024  # hand the offsets found so far to the view this often
FOLLOW_POLL_S = 0.5
CACHE_LINES = 4000
MAX_MATCHES = 100_000
READ_LINE_BYTES = MAX_LINE_CHARS * 4  # the most read of one line (a UTF-8 character is <= 4 bytes)
# A byte that makes a line show differently from its bytes (controls, tabs, anything not ASCII).
_NOT_PLAIN = re.compile(rb"[\x00-\x09\x0b-\x1f\x7f-\xff]")


class LogView(ScrollView, can_focus=True):
    """The lines of `path`, read lazily; `search(term)`, `next_match`, `follow`."""

    DEFAULT_CSS = """
    LogView {
        height: 1fr;
        background: $surface;
        scrollbar-gutter: stable;
    }
    LogView > .log-view--gutter { color: $text-muted; }
    LogView > .log-view--match { background: $warning 50%; color: $text; }
    LogView > .log-view--current { background: $accent 35%; }
    """
    COMPONENT_CLASSES = {"log-view--gutter", "log-view--match", "log-view--current"}

    follow: reactive[bool] = reactive(False, init=False)

    class Status(Message):
        """What the view's status line should say (lines, size, follow, search)."""

        def __init__(self, view: LogView, text: str) -> None:
            super().__init__()
            self.view = view
            self.text = text

    def __init__(self, path: str | os.PathLike, *, follow: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.path = Path(path)
        self._starts = array("q", [0])  # where each line starts; a last start == _size is no line
        self._bytes = 0  # bytes indexed
        self._ino: int | None = None
        self._longest = 0  # the longest line indexed, in bytes (capped), for the horizontal extent
        self._generation = 0  # bumped when the file is indexed again from the start
        self._cache: OrderedDict[int, str] = OrderedDict()
        self._inflight: set[int] = set()
        self._fetch_scheduled = False
        self._indexed = False  # the first pass over the file is done
        self.error: str | None = None
        self._term = ""
        self._matches: list[int] = []
        self._searching = False
        self._current: int | None = None  # the line of the match jumped to
        self._status = ""
        self._want_follow = follow

    # ------------------------------------------------------------------ state

    @property
    def line_count(self) -> int:
        n = len(self._starts)
        return n - 1 if self._starts[-1] >= self._bytes else n

    @property
    def matches(self) -> list[int]:
        return self._matches

    @property
    def term(self) -> str:
        return self._term

    @property
    def current_match(self) -> int | None:
        return self._current

    def cached_line(self, index: int) -> str | None:
        """The line as shown, when it has been read (tests, the screen)."""
        return self._cache.get(index)

    def _ascii(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _gutter_width(self) -> int:
        return len(f"{max(1, self.line_count):,}") + 1

    def _span(self, index: int) -> tuple[int, int]:
        """(start, end) bytes of line `index`, its newline excluded."""
        start = self._starts[index]
        end = self._starts[index + 1] - 1 if index + 1 < len(self._starts) else self._bytes
        return start, max(start, end)

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        self._post_status()
        if self._want_follow:
            self.follow = True
        else:
            self._tail(False)

    def watch_follow(self, follow: bool) -> None:
        # One indexing worker at a time (exclusive): following starts the poller; stopping
        # replaces it with one pass that finishes what is left of the file.
        if follow:
            self.call_after_refresh(self._stick)
        self._tail(follow)
        self._post_status()

    # ------------------------------------------------------------------ indexing (worker)

    @work(thread=True, exclusive=True, group="tail")
    def _tail(self, follow: bool) -> None:
        """Index from where the view stands to the end of the file; then, following, poll for
        more until cancelled. Whatever this worker finds is handed to the view with the
        offset it starts at, and a stale hand-over (another worker got there first) makes it
        ask the view again where it stands, so no byte is indexed twice or skipped."""
        import numpy as np

        worker = get_current_worker()
        while not worker.is_cancelled:
            position = self._call(self._position)
            if position is None:
                return  # the app is closing
            generation, offset, ino = position
            try:
                st = os.stat(self.path)
            except OSError as exc:
                self._call(self._failed, f"cannot read {self.path}: {exc.strerror or exc}")
                return
            if (ino is not None and st.st_ino != ino) or st.st_size < offset:
                self._call(self._reset)  # replaced or truncated: start again
                continue
            stale = False
            if st.st_size > offset or not self._indexed:
                try:
                    with open(self.path, "rb") as fh:
                        fh.seek(offset)
                        pending: list = []
                        start, last, longest = offset, offset, 0
                        while not worker.is_cancelled:
                            chunk = fh.read(CHUNK_BYTES)
                            if chunk:
                                nl = np.flatnonzero(np.frombuffer(chunk, dtype=np.uint8) == 10).astype(np.int64)
                                starts = nl + (offset + 1)
                                if len(starts):
                                    longest = max(longest, int(np.diff(starts, prepend=last).max()))
                                    last = int(starts[-1])
                                    pending.append(starts)
                                offset += len(chunk)
                            if not chunk or offset - start >= POST_EVERY_BYTES:
                                data = np.concatenate(pending).tobytes() if pending else b""
                                ok = self._call(
                                    self._extend, generation, start, offset, data, longest, st.st_ino, not chunk
                                )
                                if not ok:
                                    stale = True
                                    break
                                pending, start, longest = [], offset, 0
                            if not chunk:
                                break
                except OSError as exc:
                    self._call(self._failed, f"cannot read {self.path}: {exc.strerror or exc}")
                    return
                except MemoryError:
                    self._call(self._failed, f"{self.path.name}: too many lines to index in memory")
                    return
            if stale:
                continue
            if not follow:
                return
            self._call(self._stick)  # in case a layout since the last lines moved the view
            time.sleep(FOLLOW_POLL_S)

    def _call(self, fn, *args):
        """`fn(*args)` on the event loop from a worker thread; None once the app is gone."""
        try:
            return self.app.call_from_thread(fn, *args)
        except RuntimeError:  # the app has closed under the worker
            return None

    def _position(self) -> tuple[int, int, int | None]:
        """(generation, bytes indexed, inode) for the indexing worker (event loop)."""
        return self._generation, self._bytes, self._ino

    def _reset(self) -> int:
        """The file shrank or was replaced: forget every line (event loop)."""
        self._generation += 1
        self._starts = array("q", [0])
        self._bytes = 0
        self._ino = None
        self._longest = 0
        self._cache.clear()
        self._inflight.clear()
        self._indexed = False
        if self._term:
            self._matches, self._current = [], None
        self._update_extent()
        return self._generation

    def _extend(
        self, generation: int, start: int, end: int, starts: bytes, longest: int, ino: int, final: bool = True
    ) -> bool:
        """Take the line starts found in bytes [start, end) (event loop); False when stale.
        `final`: the worker reached the end of the file."""
        if generation != self._generation or start != self._bytes:
            return False
        before = self.line_count
        if before:
            self._cache.pop(before - 1, None)  # the last line may have grown
        # the line that was open at `start` grew: its length counts from its own start
        last_start = self._starts[-1]
        new = array("q")
        new.frombytes(starts)
        if new:
            self._longest = max(self._longest, int(new[0] - last_start))
        self._starts.extend(new)
        self._bytes = end
        self._ino = ino
        self._longest = min(max(self._longest, longest, end - self._starts[-1]), MAX_LINE_CHARS + 1)
        self._indexed = self._indexed or final
        self._update_extent()
        if self.follow:
            self.call_after_refresh(self._stick)
        if self._term and end > start and not self._searching:
            self._search_appended(start)
        self._post_status()
        return True

    def _stick(self) -> None:
        """Following: show the end (after a refresh, so the new extent counts)."""
        if self.follow and self.scroll_offset.y != self.max_scroll_y:
            self.scroll_to(y=self.max_scroll_y, animate=False, immediate=True)

    def on_resize(self) -> None:
        self._stick()

    def _search_appended(self, offset: int) -> None:
        """Search the lines from the one holding byte `offset` to the end of what is indexed."""
        first = max(0, bisect_right(self._starts, offset) - 1)
        first = min(first, max(0, self.line_count - 1))
        self._search_more(self._term, self._generation, first, self._starts[first], self._bytes)

    def _failed(self, message: str) -> None:
        self.error = message
        self.follow = False
        self._post_status()

    def _update_extent(self) -> None:
        self.virtual_size = Size(self._gutter_width() + self._longest + 1, self.line_count)
        self.refresh()

    # ------------------------------------------------------------------ reading lines (worker)

    def _want(self) -> None:
        if not self._fetch_scheduled:
            self._fetch_scheduled = True
            self.call_later(self._fetch_visible)

    def _fetch_visible(self) -> None:
        self._fetch_scheduled = False
        height = max(1, self.scrollable_content_region.height)
        top = self.scroll_offset.y
        lo, hi = max(0, top - height), min(self.line_count, top + 2 * height)
        missing = [i for i in range(lo, hi) if i not in self._cache and i not in self._inflight]
        if not missing:
            return
        spans = [(i, *self._span(i)) for i in missing]
        self._inflight.update(missing)
        self._read_lines(self._generation, spans)

    @work(thread=True, group="lines")
    def _read_lines(self, generation: int, spans: list[tuple[int, int, int]]) -> None:
        ascii_only = self._ascii()
        out: list[tuple[int, str]] = []
        try:
            with open(self.path, "rb") as fh:
                for index, start, end in spans:
                    fh.seek(start)
                    raw = fh.read(min(end - start, READ_LINE_BYTES))
                    text = raw.decode("utf-8", errors="replace").rstrip("\r")
                    if end - start > READ_LINE_BYTES:
                        text += "…"
                    out.append((index, shown_line(text, ascii_only=ascii_only)))
        except OSError as exc:
            self._call(self._failed, f"cannot read {self.path}: {exc.strerror or exc}")
            return
        self._call(self._store_lines, generation, out)

    def _store_lines(self, generation: int, lines: list[tuple[int, str]]) -> None:
        for index, _ in lines:
            self._inflight.discard(index)
        if generation != self._generation:
            return
        for index, text in lines:
            self._cache[index] = text
            self._cache.move_to_end(index)
        while len(self._cache) > CACHE_LINES:
            self._cache.popitem(last=False)
        self.refresh()

    # ------------------------------------------------------------------ drawing

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        index = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if index >= self.line_count:
            return Strip.blank(width, base)
        gutter_w = self._gutter_width()
        gutter = Segment(f"{index + 1:>{gutter_w - 1}} ", base + self.get_component_rich_style("log-view--gutter"))
        text = self._cache.get(index)
        if text is None:
            self._want()
            return Strip([gutter]).extend_cell_length(width, base)
        line = Text(text, no_wrap=True, end="")
        if self._term:
            low, term = text.lower(), self._term.lower()
            match_style = self.get_component_rich_style("log-view--match")
            at = low.find(term)
            while at >= 0 and term:
                line.stylize(match_style, at, at + len(term))
                at = low.find(term, at + len(term))
        style = base
        if index == self._current:
            style = base + self.get_component_rich_style("log-view--current")
        segments = [
            Segment(seg.text, style + seg.style if seg.style else style) for seg in line.render(self.app.console)
        ]
        body = Strip(segments).crop(scroll_x, scroll_x + max(0, width - gutter_w))
        return Strip([gutter, *body]).extend_cell_length(width, style).crop(0, width)

    # ------------------------------------------------------------------ search

    def search(self, term: str) -> None:
        """Find every line holding `term` (case-insensitive, in the text as shown) and jump to
        the first at or below the top of the view; an empty term clears the search."""
        self._term = term
        self._matches, self._current = [], None
        self.workers.cancel_group(self, "search-more")
        self.refresh()
        if not term:
            self._searching = False
            self._post_status()
            return
        self._searching = True
        self._post_status()
        self._search(term, self._generation, 0, 0, self._bytes, True)

    @work(thread=True, group="search", exclusive=True)
    def _search(self, term: str, generation: int, first: int, start: int, stop: int, jump: bool) -> None:
        """The whole search (a new term): one at a time."""
        self._scan(term, generation, first, start, stop, jump)

    @work(thread=True, group="search-more")
    def _search_more(self, term: str, generation: int, first: int, start: int, stop: int) -> None:
        """The lines appended since (following): never cancels the whole search."""
        self._scan(term, generation, first, start, stop, False)

    def _scan(self, term: str, generation: int, first: int, start: int, stop: int, jump: bool) -> None:
        """Lines `first`... (bytes [start, stop)) holding `term` in their text as shown. A block
        of plain printable ASCII (shown exactly as it is) is searched whole with bytes.find;
        any other block line by line through `shown_line`."""
        ascii_only = self._ascii()
        needle = term.lower()
        needle_b = needle.encode("ascii") if needle.isascii() else None
        found: list[int] = []
        worker = get_current_worker()

        def slow(line: bytes) -> bool:
            text = line[:READ_LINE_BYTES].decode("utf-8", errors="replace").rstrip("\r")
            return needle in shown_line(text, ascii_only=ascii_only).lower()

        try:
            with open(self.path, "rb") as fh:
                fh.seek(start)
                index, offset = first, start
                while offset < stop and not worker.is_cancelled and len(found) < MAX_MATCHES:
                    block = fh.read(min(CHUNK_BYTES, stop - offset))
                    if not block:
                        break
                    more_after = offset + len(block) < stop
                    cut = block.rfind(b"\n") + 1
                    if not cut and more_after:
                        # one line longer than a block: its start is searched, the rest skipped
                        offset += len(block)
                        while offset < stop:
                            rest = fh.read(min(CHUNK_BYTES, stop - offset))
                            if not rest:
                                break
                            nl = rest.find(b"\n")
                            if nl >= 0:
                                offset += nl + 1
                                fh.seek(offset)
                                break
                            offset += len(rest)
                        if slow(block):
                            found.append(index)
                        index += 1
                        continue
                    if cut and cut < len(block) and more_after:
                        block = block[:cut]
                        fh.seek(offset + cut)
                    offset += len(block)
                    if needle_b is not None and _NOT_PLAIN.search(block) is None:
                        low = block.lower()
                        line_at, counted = index, 0
                        pos = low.find(needle_b)
                        while pos >= 0 and len(found) < MAX_MATCHES:
                            line_at += block.count(b"\n", counted, pos)
                            found.append(line_at)
                            nl = block.find(b"\n", pos)
                            if nl < 0:
                                break
                            line_at, counted = line_at + 1, nl + 1
                            pos = low.find(needle_b, counted)
                    else:
                        lines = block.split(b"\n")
                        if block.endswith(b"\n"):
                            lines.pop()
                        for i, line in enumerate(lines):
                            if slow(line):
                                found.append(index + i)
                                if len(found) >= MAX_MATCHES:
                                    break
                    index += block.count(b"\n") + (0 if block.endswith(b"\n") else 1)
        except OSError as exc:
            self._call(self._failed, f"cannot read {self.path}: {exc.strerror or exc}")
            return
        if not worker.is_cancelled:
            self._call(self._found, term, generation, first, found[:MAX_MATCHES], jump, stop)

    def _found(self, term: str, generation: int, first: int, found: list[int], jump: bool, stop: int) -> None:
        if term != self._term or generation != self._generation:
            return
        if jump:  # the whole search: its answer
            self._matches = found
            self._searching = False
            if stop < self._bytes:  # lines arrived meanwhile
                self._search_appended(stop)
        else:  # appended lines (`first` was re-read: it may have grown)
            self._matches = sorted((set(self._matches) - {first}) | set(found))[:MAX_MATCHES]
        if jump:
            top = self.scroll_offset.y
            after = bisect_left(self._matches, top)
            if self._matches:
                self._jump(self._matches[after % len(self._matches)])
        self.refresh()
        self._post_status()

    def next_match(self, step: int = 1) -> bool:
        """Jump to the next (step 1) or previous (-1) match, wrapping; False without matches."""
        if not self._matches:
            self._post_status()
            return False
        ref = self._current if self._current is not None else self.scroll_offset.y - (1 if step > 0 else 0)
        if step > 0:
            i = bisect_right(self._matches, ref)
            target = self._matches[i % len(self._matches)]
        else:
            i = bisect_left(self._matches, ref) - 1
            target = self._matches[i % len(self._matches)]
        self._jump(target)
        return True

    def _jump(self, line: int) -> None:
        self.follow = False
        self._current = line
        height = max(1, self.scrollable_content_region.height)
        self.scroll_to(y=max(0, line - height // 3), animate=False)
        self.refresh()
        self._post_status()

    # ------------------------------------------------------------------ moving up stops following

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    # ------------------------------------------------------------------ keys the screen forwards

    def go_top(self) -> None:
        self.follow = False
        self.scroll_home(animate=False)

    def go_bottom(self) -> None:
        self.scroll_end(animate=False)

    # ------------------------------------------------------------------ status

    def status_text(self) -> str:
        if self.error:
            return self.error
        parts = [f"{self.line_count:,} lines", byte_size(self._bytes)]
        if not self._indexed:
            parts.append("reading…")
        if self.follow:
            parts.append("following (f stops)")
        if self._term:
            if self._searching:
                parts.append(f"searching {self._term!r}…")
            elif not self._matches:
                parts.append(f"no line holds {self._term!r}")
            else:
                n = len(self._matches)
                more = "+" if n >= MAX_MATCHES else ""
                if self._current is not None and self._current in self._matches:
                    at = self._matches.index(self._current) + 1
                    parts.append(f"{self._term!r}: match {at:,}/{n:,}{more} (n/N)")
                else:
                    parts.append(f"{self._term!r}: {n:,}{more} matches (n/N)")
        return " · ".join(parts)

    def _post_status(self) -> None:
        text = self.status_text()
        if text != self._status:
            self._status = text
            self.post_message(self.Status(self, text))


__all__ = ["LogView"]
