"""Tokenizer and recursive-descent parser of the filter grammar (the grammar is in core.query.filter).

Nothing is evaluated as code: the parser builds core.query.nodes nodes, and every error is a
`QueryError` naming the 1-based position and what was expected.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass

from core.query.nodes import And, Compare, Node, Not, Or, Truthy, Value, _norm_time
from core.query.fields import BOOL, CONFIG, DURATION, NUMBER, TAGS, TEXT, TIME, Field, QueryError, resolve_field

# --------------------------------------------------------------------------- tokens

_OPS = ("==", "!=", "<=", ">=", "!~", "=", "<", ">", "~")
_OP_CHARS = set("=!<>~")
_WORD_STOP = set(" \t\r\n()\"'&|") | _OP_CHARS
_KEYWORDS = {"and": "AND", "or": "OR", "not": "NOT"}


@dataclass(frozen=True)
class Token:
    kind: str  # WORD STRING OP AND OR NOT LPAREN RPAREN END
    text: str  # the source text of the token (for a STRING: its decoded value)
    pos: int  # 1-based position of its first character


def tokenize(text: str, label: str = "filter") -> list[Token]:
    out: list[Token] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c == "(":
            out.append(Token("LPAREN", c, i + 1))
            i += 1
        elif c == ")":
            out.append(Token("RPAREN", c, i + 1))
            i += 1
        elif text.startswith("&&", i):
            out.append(Token("AND", "&&", i + 1))
            i += 2
        elif text.startswith("||", i):
            out.append(Token("OR", "||", i + 1))
            i += 2
        elif c in "&|":
            raise QueryError(text, i + 1, f"unexpected {c!r} (write {'and' if c == '&' else 'or'})", label=label)
        elif c in _OP_CHARS:
            op = next((o for o in _OPS if text.startswith(o, i)), None)
            if op is None:  # a lone "!" is `not`
                out.append(Token("NOT", "!", i + 1))
                i += 1
            else:
                out.append(Token("OP", op, i + 1))
                i += len(op)
        elif c in "\"'":
            j, buf = i + 1, []
            while j < n and text[j] != c:
                if text[j] == "\\" and j + 1 < n:
                    j += 1
                buf.append(text[j])
                j += 1
            if j >= n:
                raise QueryError(
                    text, i + 1, f"unterminated string: no closing {c}", label=label, expected=f"a closing {c}"
                )
            out.append(Token("STRING", "".join(buf), i + 1))
            i = j + 1
        else:
            j = i
            while j < n and text[j] not in _WORD_STOP:
                j += 1
            word = text[i:j]
            kind = _KEYWORDS.get(word.lower(), "WORD")
            out.append(Token(kind, word, i + 1))
            i = j
    out.append(Token("END", "", n + 1))
    return out


# --------------------------------------------------------------------------- values

_DURATION_RE = re.compile(r"^([0-9]*\.?[0-9]+(?:e[-+]?[0-9]+)?)\s*(s|sec|m|min|h|d|w)?$", re.I)
_UNIT_S = {None: 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600, "d": 86400, "w": 604800}
_TRUE = {"true", "yes", "y", "1", "on"}
_FALSE = {"false", "no", "n", "0", "off"}
_NULL = {"null", "none"}


def _number(word: str) -> float | None:
    try:
        x = float(word)
    except ValueError:
        return None
    return x if math.isfinite(x) else None


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, label: str, config_keys: Iterable[str] | None = None):
        self.text = text
        self.label = label
        self.config_keys = None if config_keys is None else list(config_keys)
        self.toks = tokenize(text, label)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, tok: Token, expected: str, message: str | None = None) -> QueryError:
        got = "the end" if tok.kind == "END" else repr(tok.text)
        return QueryError(
            self.text, tok.pos, message or f"expected {expected}, got {got}", label=self.label, expected=expected
        )

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise self.fail(self.tok, "a condition", "empty filter: expected a condition such as ece<0.05")
        node = self.or_expr()
        if self.tok.kind != "END":
            tok = self.tok
            if tok.kind == "RPAREN":
                raise self.fail(tok, "and, or or the end", "unmatched ')'")
            raise self.fail(tok, "and, or or the end")
        return node

    def or_expr(self) -> Node:
        node = self.and_expr()
        while self.tok.kind == "OR":
            self.i += 1
            node = Or(node, self.and_expr())
        return node

    def and_expr(self) -> Node:
        node = self.not_expr()
        while self.tok.kind == "AND":
            self.i += 1
            node = And(node, self.not_expr())
        return node

    def not_expr(self) -> Node:
        if self.tok.kind == "NOT":
            self.i += 1
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        tok = self.tok
        if tok.kind == "LPAREN":
            self.i += 1
            if self.tok.kind == "RPAREN":
                raise self.fail(self.tok, "a condition")
            node = self.or_expr()
            if self.tok.kind != "RPAREN":
                raise self.fail(
                    self.tok,
                    "')'",
                    f"expected ')' to close the '(' at position {tok.pos}, got "
                    + ("the end" if self.tok.kind == "END" else repr(self.tok.text)),
                )
            self.i += 1
            return node
        if tok.kind != "WORD":
            raise self.fail(tok, "a field name")
        field = resolve_field(
            tok.text, text=self.text, position=tok.pos, label=self.label, config_keys=self.config_keys
        )
        self.i += 1
        op_tok = self.tok
        if op_tok.kind != "OP":
            if field.type == BOOL:
                return Truthy(field.name)
            raise self.fail(
                op_tok,
                "an operator",
                f"expected an operator (= != < <= > >= ~ !~) after "
                f"{tok.text}, got " + ("the end" if op_tok.kind == "END" else repr(op_tok.text)),
            )
        op = "=" if op_tok.text == "==" else op_tok.text
        self.i += 1
        val_tok = self.tok
        if val_tok.kind not in ("WORD", "STRING"):
            raise self.fail(val_tok, "a value", "expected a value")
        self.i += 1
        return Compare(field.name, op, self.value(field, op, val_tok))

    def value(self, field: Field, op: str, tok: Token) -> Value:
        word, quoted = tok.text, tok.kind == "STRING"
        low = word.lower()
        if not quoted and low in _NULL:
            if op not in ("=", "!="):
                raise self.fail(tok, "a value", f"null only works with = and !=, not {op}")
            return None
        t = field.type
        if t == CONFIG:
            # Typed by what is written: a number compares numerically, true/false with a
            # yes/no value, anything else (or anything quoted) as text.
            if quoted or op in ("~", "!~"):
                return word
            x = _number(word)
            if x is not None:
                return x
            if low in ("true", "false"):
                if op not in ("=", "!="):
                    raise self.fail(tok, "a value", f"{word} only works with = and !=, not {op}")
                return low == "true"
            return word
        if t == TAGS:
            if op not in ("=", "!=", "~", "!~"):
                raise self.fail(
                    tok, "a value", f"{field.name}: use = (has the tag), != , ~ (a tag contains) or !~, not {op}"
                )
            return word
        if op in ("~", "!~") and t not in (TEXT, TIME):
            raise self.fail(tok, "a value", f"{op} (contains) works on text fields; {field.name} is a {t}")
        if t == BOOL:
            if op not in ("=", "!="):
                raise self.fail(
                    tok, "a value", f"{field.name} is yes/no: use = or != (or just `{field.name}` / `not {field.name}`)"
                )
            if low in _TRUE:
                return True
            if low in _FALSE:
                return False
            raise self.fail(tok, "true or false", f"{field.name} is yes/no: expected true or false, got {word!r}")
        if t == NUMBER:
            x = _number(word)
            if x is None:
                raise self.fail(tok, "a number", f"{field.name} is a number: expected a number, got {word!r}")
            return x
        if t == DURATION:
            m = _DURATION_RE.match(word.strip())
            if not m:
                raise self.fail(
                    tok, "a duration", f"{field.name} is a duration: expected e.g. 90s, 10m, 2h, 3d, got {word!r}"
                )
            return float(m.group(1)) * _UNIT_S[m.group(2).lower() if m.group(2) else None]
        if t == TIME:
            if op in ("~", "!~"):
                return word
            norm = _norm_time(word.strip()).upper()
            if not re.match(r"^\d{4}(-\d\d(-\d\d(T\d\d(:\d\d(:\d\d(\.\d+)?)?)?)?)?)?Z?$", norm):
                raise self.fail(
                    tok,
                    "a date",
                    f"{field.name} is a time: expected an ISO date like 2026-11-22 or 2026-11-22T03:45, got {word!r}",
                )
            return norm.rstrip("Z")
        # text
        if field.choices and op in ("=", "!=") and low not in field.choices and not any(c in low for c in "*?["):
            close = difflib.get_close_matches(low, field.choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise self.fail(tok, "a value", f"{field.name} is one of {', '.join(field.choices)}, not {word!r}{hint}")
        return word
