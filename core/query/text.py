"""A filter as a person types it: plain text (a substring of a few row fields) or an
expression of the filter grammar. The dashboard's `/` box uses these; `runs ls --where`
takes expressions only.

    is_expression("gru")                    -> False: plain text
    is_expression("ece<0.05 and model=gru") -> True
    matches_text(row, "gru")                -> "gru" in the run id, name, model, status, host, tags or note
    row_filter(text)(row)                   -> either of the two, as one predicate
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

# A character of an operator or a parenthesis, or one of the keywords as a word, makes an expression.
QUERY_CHARS = frozenset("<>=~!()")
KEYWORDS = ("and", "or", "not")
# The row fields plain text is looked for in (case-insensitively).
TEXT_FIELDS = ("run_id", "name", "model", "status", "host", "tags", "note")


def is_expression(text: str) -> bool:
    """Whether `text` is meant as an expression of the filter grammar rather than plain text."""
    words = f" {text.lower()} "
    return bool(QUERY_CHARS & set(text)) or any(f" {w} " in words for w in KEYWORDS)


def matches_text(row: Mapping[str, Any], text: str) -> bool:
    """Plain text: a case-insensitive substring of the row's id, name, model, status, host, a tag
    or the note."""
    text = text.lower()
    for k in TEXT_FIELDS:
        v = row.get(k) or ""
        if isinstance(v, (list, tuple)):
            v = " ".join(str(x) for x in v)
        if text in str(v).lower():
            return True
    return False


def filter_error(text: str) -> str | None:
    """Why `text` is not a filter (the parser's message with its did-you-mean), or None.

    Empty or plain text is always fine (a substring match)."""
    if not text or not is_expression(text):
        return None
    from core.query import QueryError, parse

    try:
        parse(text)
    except QueryError as exc:
        return str(exc)
    return None


def row_filter(text: str) -> Callable[[Mapping[str, Any]], bool]:
    """One predicate for what was typed: every row for empty text, `matches_text` for plain
    text, the parsed expression's `matches` otherwise (QueryError when it does not parse)."""
    if not text:
        return lambda row: True
    if not is_expression(text):
        return lambda row: matches_text(row, text)
    from core.query import parse

    return parse(text).matches
