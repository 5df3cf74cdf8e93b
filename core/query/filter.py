"""The one filter grammar of runs, shared by `synapse runs ls --where` and the TUI.

    ece<0.05 and model=gru
    status=running or status=queued
    brier_skill>0 and not beats
    name~gru and (k>=24 or good>0.6)
    age<2h and verdict=approved
    train.lr<0.01 and model.hidden=64      (a dotted name is a key of the run's config)
    tag=baseline-v2 and not archived       (the user's tags, note and archived flag)

Grammar (keywords are case-insensitive; `&&`, `||` and `!` spell and, or, not)::

    query      := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" or_expr ")" | FIELD OP VALUE | FIELD      (a bare yes/no field)
    OP         := = | == | != | < | <= | > | >= | ~ (contains) | !~ (does not contain)
    VALUE      := number | 'quoted' | "quoted" | bare word | true | false | null

`not` binds tighter than `and`, which binds tighter than `or`. Text compares
case-insensitively; `=` with `*` or `?` in the value is a glob (`model=gr*`). Times
(`created`, `started`, `finished`) compare with ISO dates or prefixes of them
(`created>=2026-11-01`); durations (`age`, `duration`) take a unit: `90s`, `10m`, `2h`,
`3d`, `1w` (a plain number is seconds). A row without a value never satisfies a
comparison except `!=` / `!~`; `field=null` finds rows without it.

`tag` (or `tags`) is the run's set of tags: `tag=x` is true when the run has the tag x (a
glob with `*`), `tag~x` when one of its tags contains x, `tag!=x` when it has no tag x,
`tag=null` when it has none. `note` is text (`note~leak`), `archived` yes/no.

A FIELD with a dot is a config key (`train.lr`, `model.kind`, `split.test_days`), read from
the row's flat config (`config`, or the index's `config_json`). Its value is typed by what
is written: a number compares numerically (`train.lr<0.01`, `model.hidden=64`), `true` /
`false` against a yes/no value, anything else or anything quoted as text (`model.kind=gr*`,
`calibration.method~iso`). Given the keys the runs have, a key of an unknown top-level
section is refused with a did-you-mean (`trian.lr`).

A tokenizer and a recursive-descent parser; nothing is evaluated as code. Errors are
`QueryError` (an `InputError`) naming the 1-based position and what was expected.

This module is the API (`parse`, `Query`); the fields are in core.query.fields, the nodes
in core.query.nodes, the tokenizer and parser in core.query.parser.
"""

from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from datetime import datetime, UTC
from typing import Any
from collections.abc import Iterable, Mapping

from core.errors import InputError
from core.query.nodes import Compare, Node, Not, Truthy
from core.query.parser import _Parser

# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class Query:
    """A parsed filter. `matches(row)` tests one row (a dict keyed by field names)."""

    node: Node
    text: str = dc_field(default="", compare=False)  # as typed; equality is structural

    def matches(self, row: Mapping[str, Any], now: datetime | None = None) -> bool:
        return self.node.test(row, now)

    def filter(self, rows, now: datetime | None = None) -> list:
        now = now or datetime.now(UTC)
        return [r for r in rows if self.node.test(r, now)]

    @property
    def fields(self) -> set[str]:
        """Canonical names of the fields the query reads."""
        out: set[str] = set()
        stack = [self.node]
        while stack:
            n = stack.pop()
            if isinstance(n, (Compare, Truthy)):
                out.add(n.field)
            elif isinstance(n, Not):
                stack.append(n.arg)
            else:
                stack += [n.left, n.right]
        return out

    def __str__(self) -> str:
        """Canonical text: `parse(str(q))` gives an equal query."""
        return str(self.node)


def parse(text: str, *, label: str = "filter", config_keys: Iterable[str] | None = None) -> Query:
    """Parse a filter; raises `QueryError` (an `InputError`) with the position and what was expected.

    `label` names the source in messages, e.g. ``--where 'ece<<0.05': position 5: expected a value``.
    `config_keys`: the dotted config keys the runs have (`Store.config_keys`); with them a
    config key of an unknown section (`trian.lr`) gets a did-you-mean, without them any
    dotted name is accepted.
    """
    if not isinstance(text, str):
        raise InputError(f"{label}: expected text, got {type(text).__name__}")
    return Query(_Parser(text, label, config_keys).parse(), text)
