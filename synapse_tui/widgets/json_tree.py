"""A JSON document (report.json, manifest.json, sweep_report.json, ...) as a collapsible tree.

Each node shows its key and, for a scalar, its value cut short; an object shows how many
keys it holds, a list its length. Children are made when a node is first expanded, and an
object or list of more than CHUNK entries is split into nested ranges ("[0-99]", ...), so a
100,000-entry list costs what a screenful costs. `search(term)` finds, in a thread worker,
every key or scalar value holding `term` (in display order), and `next_match` expands the
path to the next one and moves the cursor there. Keys and values are cleaned of control
sequences and drawn as rich `Text`, never read as markup; in ASCII mode the tree's icons
and guides are ASCII.

Messages up: `JsonTree.Status` when the search's state changes.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual import work
from textual.message import Message
from textual.widgets import Tree
from textual.widgets.tree import TreeNode
from textual.worker import get_current_worker

from synapse_tui.widgets.artifact_text import shown_line

CHUNK = 100  # entries shown under one node before they are grouped into ranges
VALUE_CHARS = 80  # a scalar's value is cut to this many characters on its node
MAX_MATCHES = 10_000
ASCII_LINES = ("  ", "| ", "`-", "|-")


@dataclass(frozen=True)
class JsonRef:
    """What a node stands for: the value at `path`, or (for a range node) entries lo..hi-1 of
    the container at `path`."""

    path: tuple
    value: Any
    lo: int | None = None
    hi: int | None = None

    @property
    def is_range(self) -> bool:
        return self.lo is not None


class JsonTree(Tree[JsonRef]):
    """`data` (parsed JSON) under a root labelled `label`."""

    DEFAULT_CSS = """
    JsonTree {
        height: 1fr;
        background: $surface;
        scrollbar-gutter: stable;
    }
    """

    class Status(Message):
        def __init__(self, tree: JsonTree, text: str) -> None:
            super().__init__()
            self.tree = tree
            self.text = text

    def __init__(self, data: Any, label: str = "", *, id: str | None = None) -> None:
        super().__init__(Text(label or "json"), data=JsonRef((), data), id=id)
        self.json_data = data
        self._keys: dict[int, list] = {}  # id(dict) -> its keys, for range nodes
        self._filled: set[int] = set()  # ids of nodes whose children were made
        self._term = ""
        self._matches: list[tuple] = []
        self._match_i = -1
        self._searching = False
        self._capped = False

    def on_mount(self) -> None:
        if getattr(self.app, "ascii_plots", False):
            self.ICON_NODE, self.ICON_NODE_EXPANDED = "> ", "v "
            self.LINES = {name: ASCII_LINES for name in ("default", "bold", "double")}
        self.root.set_label(self._label(str(self.root.label), self.json_data, is_key=True))
        self.root.allow_expand = _is_container(self.json_data)
        self._fill(self.root)
        self.root.expand()
        self.guide_depth = 3

    # ------------------------------------------------------------------ building nodes

    def _ascii(self) -> bool:
        return bool(getattr(self.app, "ascii_plots", False))

    def _fill(self, node: TreeNode[JsonRef]) -> None:
        """Make `node`'s children once (its entries, or ranges of them)."""
        if node.id in self._filled or node.data is None:
            return
        self._filled.add(node.id)
        ref = node.data
        container = ref.value
        if not _is_container(container):
            return
        lo = ref.lo if ref.lo is not None else 0
        hi = ref.hi if ref.hi is not None else len(container)
        count = hi - lo
        if count > CHUNK:
            step = CHUNK
            while count > step * CHUNK:
                step *= CHUNK
            for a in range(lo, hi, step):
                b = min(hi, a + step)
                label = Text(f"[{a}-{b - 1}]", style="dim")
                node.add(label, data=JsonRef(ref.path, container, a, b), allow_expand=True)
            return
        if isinstance(container, dict):
            keys = self._dict_keys(container)
            for key in keys[lo:hi]:
                self._add_entry(node, ref.path + (key,), str(key), container[key], is_key=True)
        else:
            for i in range(lo, hi):
                self._add_entry(node, ref.path + (i,), f"[{i}]", container[i], is_key=False)

    def _dict_keys(self, d: dict) -> list:
        keys = self._keys.get(id(d))
        if keys is None:
            keys = self._keys[id(d)] = list(d)
        return keys

    def _add_entry(self, node: TreeNode[JsonRef], path: tuple, key: str, value: Any, *, is_key: bool) -> None:
        node.add(
            self._label(key, value, is_key=is_key),
            data=JsonRef(path, value),
            allow_expand=_is_container(value) and len(value) > 0,
        )

    def _label(self, key: str, value: Any, *, is_key: bool) -> Text:
        ascii_only = self._ascii()
        text = Text(no_wrap=True, end="")
        text.append(shown_line(key, ascii_only=ascii_only, limit=VALUE_CHARS), style="bold" if is_key else "dim")
        if isinstance(value, dict):
            text.append(f" {{{len(value):,} key{'s' if len(value) != 1 else ''}}}", style="dim")
        elif isinstance(value, list):
            text.append(f" [{len(value):,} item{'s' if len(value) != 1 else ''}]", style="dim")
        else:
            text.append(": ")
            style = (
                "green"
                if isinstance(value, str)
                else ("magenta" if value is None or isinstance(value, bool) else "cyan")
            )
            text.append(shown_line(scalar_text(value), ascii_only=ascii_only, limit=VALUE_CHARS), style=style)
        return text

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[JsonRef]) -> None:
        self._fill(event.node)

    # ------------------------------------------------------------------ search

    @property
    def matches(self) -> list[tuple]:
        return self._matches

    @property
    def term(self) -> str:
        return self._term

    def search(self, term: str) -> None:
        """Find every key or scalar value holding `term` (case-insensitive) and jump to the first."""
        self._term = term
        self._matches, self._match_i, self._capped = [], -1, False
        if not term:
            self._searching = False
            self._post_status()
            return
        self._searching = True
        self._post_status()
        self._search(term)

    @work(thread=True, exclusive=True, group="search")
    def _search(self, term: str) -> None:
        worker = get_current_worker()
        needle = term.lower()
        ascii_only = self._ascii()
        found: list[tuple] = []
        stack: list[tuple[tuple, Any]] = [((), self.json_data)]
        while stack and not worker.is_cancelled:
            path, value = stack.pop()
            if path:
                key = path[-1]
                hit = isinstance(key, str) and needle in shown_line(key, ascii_only=ascii_only).lower()
                if not hit and not _is_container(value):
                    hit = needle in shown_line(scalar_text(value), ascii_only=ascii_only).lower()
                if hit:
                    found.append(path)
                    if len(found) >= MAX_MATCHES:
                        break
            if isinstance(value, dict):
                stack.extend((path + (k,), v) for k, v in reversed(list(value.items())))
            elif isinstance(value, list):
                stack.extend((path + (i,), value[i]) for i in range(len(value) - 1, -1, -1))
        if not worker.is_cancelled:
            try:
                self.app.call_from_thread(self._found, term, found, len(found) >= MAX_MATCHES)
            except RuntimeError:  # the app closed meanwhile
                pass

    def _found(self, term: str, found: list[tuple], capped: bool) -> None:
        if term != self._term:
            return
        self._matches, self._capped, self._searching = found, capped, False
        self._match_i = -1
        if found:
            self.next_match(1)
        else:
            self._post_status()

    def next_match(self, step: int = 1) -> bool:
        """Expand the way to the next (1) or previous (-1) match and put the cursor on it."""
        if not self._matches:
            self._post_status()
            return False
        self._match_i = (self._match_i + step) % len(self._matches)
        node = self.reveal(self._matches[self._match_i])
        if node is not None:
            self._tree_lines  # noqa: B018 — rebuild the lines now, so the node knows its line (textual is pinned)
            self.move_cursor(node)
            self.scroll_to_node(node, animate=False)
        self._post_status()
        return True

    def reveal(self, path: tuple) -> TreeNode[JsonRef] | None:
        """Make and expand the nodes down to `path`; its node (None when it does not exist)."""
        node = self.root
        self._fill(node)
        node.expand()
        for depth, key in enumerate(path):
            container = node.data.value if node.data is not None else None
            position = self._position(container, key)
            if position is None:
                return None
            child = None
            while True:
                self._fill(node)
                for c in node.children:
                    ref = c.data
                    if ref is None:
                        continue
                    if ref.is_range and ref.lo is not None and ref.hi is not None and ref.lo <= position < ref.hi:
                        child = c
                        break
                    if not ref.is_range and len(ref.path) == depth + 1 and ref.path[-1] == key:
                        child = c
                        break
                if child is None:
                    return None
                if child.data is not None and child.data.is_range:
                    child.expand()
                    node, child = child, None
                    continue
                break
            node = child
            if depth < len(path) - 1:
                self._fill(node)
                node.expand()
        return node

    def _position(self, container: Any, key: Any) -> int | None:
        if isinstance(container, dict):
            try:
                return self._dict_keys(container).index(key)
            except ValueError:
                return None
        if isinstance(container, list) and isinstance(key, int) and 0 <= key < len(container):
            return key
        return None

    def status_text(self) -> str:
        if not self._term:
            return ""
        if self._searching:
            return f"searching {self._term!r}…"
        if not self._matches:
            return f"nothing holds {self._term!r}"
        more = "+" if self._capped else ""
        if self._match_i < 0:
            return f"{self._term!r}: {len(self._matches):,}{more} matches (n/N)"
        where = path_text(self._matches[self._match_i])
        return f"{self._term!r}: match {self._match_i + 1:,}/{len(self._matches):,}{more} (n/N) · {where}"

    def _post_status(self) -> None:
        self.post_message(self.Status(self, self.status_text()))


def scalar_text(value: Any) -> str:
    """A scalar as JSON writes it (a string quoted, control characters escaped)."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def path_text(path: tuple) -> str:
    """('models', 'gru', 'test', 3) -> models.gru.test[3]"""
    out = ""
    for key in path:
        out += f"[{key}]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return shown_line(out, limit=200)


def _is_container(value: Any) -> bool:
    return isinstance(value, (dict, list))


__all__ = ["JsonRef", "JsonTree", "path_text", "scalar_text"]
