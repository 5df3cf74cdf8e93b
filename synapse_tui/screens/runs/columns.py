"""The runs table's columns: how each cell reads from an index row, and how it sorts.

A `Cell` is rich Text that carries its sort key, so sorting by a column sorts by values
(numbers, times), not by how they read; missing values sort last either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import SelectionList, Static

from core.runs import parse_ts
from synapse_tui.formatting import ASCII_GLYPHS, clean, clock, k_ranges, num
from synapse_tui.theme import STATUS_STYLE


class Cell(Text):
    """A table cell that sorts by its value, not by how it reads."""

    def __init__(self, text: str, sort_key=None, style: str = "") -> None:
        super().__init__(text, style=style, end="")
        self.sort_key = sort_key


def missing_last(v, descending: bool):
    # (is missing, value): missing values sort after every value in either direction
    return (v is None) != descending, v if v is not None else 0


# -- the sorted column: its direction on a first sort, and the marker in its header
# A first sort on a text column reads A to Z; on numbers and times, the largest / newest first.
TEXT_SORT_COLUMNS = frozenset(
    {"id", "status", "name", "model", "host", "run_id", "device", "calibration", "verdict", "tags", "note"}
)
SORT_MARKS = {False: "▲", True: "▼"}  # by descending
SORT_MARKS_ASCII = {False: "^", True: "v"}


def first_sort_descending(key: str) -> bool:
    """The direction of a first sort by `key`: text columns ascending, numbers and times descending."""
    return key not in TEXT_SORT_COLUMNS


def mark_sorted_header(table, sort_key: str | None, descending: bool, ascii_only: bool = False) -> None:
    """End the sorted column's header with ▲ (ascending) or ▼ (^ / v in ASCII); unmark the others."""
    marks = {f" {m}" for m in (*SORT_MARKS.values(), *SORT_MARKS_ASCII.values())}
    mark = f" {(SORT_MARKS_ASCII if ascii_only else SORT_MARKS)[descending]}"
    changed = False
    for key, col in table.columns.items():
        if key.value == "sel":
            continue
        if ascii_only and not col.label.plain.isascii():  # "epoch ▲best"
            col.label = Text(col.label.plain.translate(ASCII_GLYPHS), style=col.label.style)
        plain = col.label.plain
        bare = plain[:-2] if plain[-2:] in marks else plain
        want = bare + mark if key.value == sort_key else bare
        if want != plain:
            label = col.label[: len(bare)]  # the header's own styles kept
            if want != bare:
                label.append(mark)
            col.label = label
            col.content_width = max(col.content_width, label.cell_len)
            changed = True
    if changed:  # the header is cached by the table's update count
        table._update_count += 1
        table._require_update_dimensions = True
        table.refresh()


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    cell: Callable[[dict, datetime], Cell]
    shown: bool = True


def _status(r: dict, now: datetime) -> Cell:
    s = r.get("status") or "?"
    if r.get("job") is None and r.get("config_hash") is None and s == "queued":
        return Cell("unreadable", "unreadable", "bold red")  # no manifest, no config: corrupt or half-made
    attempt = r.get("attempt") or 0
    return Cell(s + (f" #{attempt}" if attempt > 1 else ""), s, STATUS_STYLE.get(s, ""))


def _started(r: dict, now: datetime) -> Cell:
    # An absolute time (UTC), not "3m ago": a cell that changed every second would be redrawn
    # on every refresh for every row.
    t = parse_ts(r.get("started")) or parse_ts(r.get("created"))
    return Cell(f"{t:%m-%d %H:%M}" if t else "–", r.get("started") or r.get("created"))


def _epoch(r: dict, now: datetime) -> Cell:
    e, best, top = r.get("epochs"), r.get("best_epoch"), r.get("max_epochs")
    if e is None:
        return Cell("–", None)
    text = f"{e}" + (f"/{top}" if top and r.get("status") in ("running", "queued") else "")
    return Cell(text + (f" ▲{best}" if best is not None else ""), e)


def _number(key: str, digits: int, signed: bool = False) -> Callable[[dict, datetime], Cell]:
    def cell(r: dict, now: datetime) -> Cell:
        v = r.get(key)
        return Cell(num(v, digits, signed), v)

    return cell


def _text(key: str) -> Callable[[dict, datetime], Cell]:
    def cell(r: dict, now: datetime) -> Cell:
        v = r.get(key)
        return Cell(str(v) if v is not None else "–", v)

    return cell


NAME_WIDTH = 24  # a long (sweep) name is cut to this with an ellipsis: it must not push the rest off


def _name(r: dict, now: datetime) -> Cell:
    v = r.get("name")
    if v is None:
        return Cell("–", None)
    return Cell(v if len(v) <= NAME_WIDTH else v[: NAME_WIDTH - 1] + "…", v)


def _short_id(r: dict, now: datetime) -> Cell:
    # The run id's random 4-hex suffix: four columns that tell every row apart at any width.
    suffix = r["run_id"].rsplit("-", 1)[-1]
    return Cell(suffix, suffix, "bold")


def _good(r: dict, now: datetime) -> Cell:
    v = r.get("best_good_or_better")
    return Cell("–" if v is None else f"{v:.3f}@{r.get('best_k')}", v)


def _beats(r: dict, now: datetime) -> Cell:
    b = r.get("beats_reference")
    if b is None:
        return Cell("–", None)
    at = r.get("beats_at") or []
    return Cell(k_ranges(at) if b and at else ("yes" if b else "no"), len(at) if b else 0, "green" if b else "")


def _verdict(r: dict, now: datetime) -> Cell:
    v = r.get("verdict")
    return Cell(v or "–", v, "green" if v == "APPROVED" else ("red" if v else "dim"))


TAGS_WIDTH = 20


def _tags(r: dict, now: datetime) -> Cell:
    # An archived run (shown with H) says so first, dim; the tags after it, cut to TAGS_WIDTH.
    tags = [str(t) for t in r.get("tags") or []]
    words = (["archived"] if r.get("archived") else []) + tags
    if not words:
        return Cell("–", None, "dim")
    text = clean(" ".join(words))
    if len(text) > TAGS_WIDTH:
        text = text[: TAGS_WIDTH - 1] + "…"
    return Cell(text, " ".join(tags) or None, "dim" if not tags else "cyan")


def _note(r: dict, now: datetime) -> Cell:
    v = clean(r.get("note") or "")  # one line: newlines become spaces
    if not v:
        return Cell("–", None, "dim")
    return Cell(v if len(v) <= NAME_WIDTH else v[: NAME_WIDTH - 1] + "…", v)


def _duration(r: dict, now: datetime) -> Cell:
    return Cell(clock(r.get("duration_s")), r.get("duration_s"))


COLUMNS: tuple[Column, ...] = (
    Column("id", "id", _short_id),
    Column("status", "status", _status),
    Column("name", "name", _name),
    Column("model", "model", _text("model")),
    Column("host", "host", _text("host")),
    Column("started", "started", _started),
    Column("duration", "took", _duration),
    Column("epoch", "epoch ▲best", _epoch),
    Column("best_val_loss", "val loss", _number("best_val_loss", 4)),
    Column("ece_after", "ECE", _number("ece_after", 3)),
    Column("brier_skill", "B.skill", _number("brier_skill", 4, signed=True)),
    Column("good", "good+@K", _good),
    Column("beats", "beats", _beats),
    Column("verdict", "verdict", _verdict),
    Column("tags", "tags", _tags),
    Column("run_id", "run", _text("run_id")),
    Column("device", "device", _text("device"), shown=False),
    Column("auc", "AUC", _number("auc", 3), shown=False),
    Column("lift_capture", "lift", _number("lift_capture", 2), shown=False),
    Column("calibration", "calibration", _text("calibration"), shown=False),
    Column("test_touches", "test×", _text("test_touches"), shown=False),
    Column("note", "note", _note, shown=False),
)
BY_KEY = {c.key: c for c in COLUMNS}
CONFIG_PREFIX = "cfg:"


def _config_cell(key: str) -> Callable[[dict, datetime], Cell]:
    def cell(r: dict, now: datetime) -> Cell:
        v = (r.get("config") or {}).get(key)
        return Cell("–" if v is None else str(v), v if isinstance(v, (int, float)) else (None if v is None else str(v)))

    return cell


def column(key: str) -> Column:
    """A fixed column, or `cfg:<dotted key>`: a config value (offered when it varies across runs)."""
    if key.startswith(CONFIG_PREFIX):
        name = key[len(CONFIG_PREFIX) :]
        return Column(key, name, _config_cell(name), shown=False)
    return BY_KEY[key]


# Under WIDE columns of terminal the default set drops what matters least (a chosen set stays).
WIDE = 140
# The short `id` column tells the rows apart there; the full run id (30 columns) would be
# off the edge anyway, as the epoch would push the verdict off at 80 columns.
NARROW_HIDDEN = ("name", "host", "started", "epoch", "best_val_loss", "beats", "tags", "run_id")


class ColumnsScreen(ModalScreen[list]):
    """Which columns to show, in which order: space toggles, [ and ] move one, enter applies."""

    BINDINGS = [
        Binding("enter", "apply", "Apply", priority=True),
        Binding("escape", "dismiss_none", "Close"),
        Binding("left_square_bracket", "move(-1)", "Move up", key_display="["),
        Binding("right_square_bracket", "move(1)", "Move down", key_display="]"),
    ]

    def __init__(self, shown: list[str], config_keys: list[str] = ()) -> None:
        super().__init__()
        self.shown = shown
        self.config_keys = [CONFIG_PREFIX + k for k in config_keys]

    def compose(self) -> ComposeResult:
        with Vertical(id="columns-box"):
            yield Static(
                "[b]Columns[/b] — space shows/hides, \\[ and ] move, enter applies; config keys that "
                "differ between the runs are offered too"
            )
            self.order = (
                self.shown
                + [c.key for c in COLUMNS if c.key not in self.shown]
                + [k for k in self.config_keys if k not in self.shown]
            )
            yield SelectionList(*self._options(set(self.shown)), id="columns")

    def _options(self, on: set[str]) -> list[tuple[str, str, bool]]:
        return [
            (column(k).header + ("  (config)" if k.startswith(CONFIG_PREFIX) else f"  ({k})"), k, k in on)
            for k in self.order
        ]

    def action_move(self, step: int) -> None:
        sl = self.query_one("#columns", SelectionList)
        i = sl.highlighted
        if i is None or not 0 <= i + step < len(self.order):
            return
        on = set(sl.selected)
        self.order[i], self.order[i + step] = self.order[i + step], self.order[i]
        sl.clear_options()
        sl.add_options(self._options(on))
        sl.highlighted = i + step

    def action_apply(self) -> None:
        on = set(self.query_one("#columns", SelectionList).selected)
        self.dismiss([k for k in self.order if k in on])

    def action_dismiss_none(self) -> None:
        self.dismiss(None)
