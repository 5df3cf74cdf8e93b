"""The one filter grammar of runs, shared by `synapse runs ls --where` and the TUI.

    ece<0.05 and model=gru
    status=running or status=queued
    brier_skill>0 and not beats
    name~gru and (k>=24 or good>0.6)
    age<2h and verdict=approved

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

A tokenizer and a recursive-descent parser; nothing is evaluated as code. Errors are
`QueryError` (an `InputError`) naming the 1-based position and what was expected.
"""
from __future__ import annotations

import difflib
import fnmatch
import math
import re
from dataclasses import dataclass, field as dc_field
from datetime import datetime, timezone
from typing import Any, Callable, Mapping, Union

from core.errors import InputError

__all__ = [
    "FIELDS", "ALIASES", "Field", "Query", "QueryError", "parse", "resolve_field", "field_help", "value_of",
    "Compare", "Truthy", "And", "Or", "Not",
]

# --------------------------------------------------------------------------- fields

NUMBER, TEXT, BOOL, TIME, DURATION = "number", "text", "yes/no", "time", "duration"


@dataclass(frozen=True)
class Field:
    name: str  # the row key (a store column)
    type: str
    help: str
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()  # known values of a text field (typos get a did-you-mean)


STATUS_CHOICES = ("queued", "running", "succeeded", "failed", "cancelled", "lost")

_FIELD_LIST = (
    Field("run_id", TEXT, "run id", ("id", "run")),
    Field("name", TEXT, "run name (the config's name)"),
    Field("model", TEXT, "model kind (logistic, gru, ...; 'baselines' for a baselines run)", ("kind",)),
    Field("job", TEXT, "job: baselines or train"),
    Field("status", TEXT, "queued, running, succeeded, failed, cancelled or lost", ("state",), STATUS_CHOICES),
    Field("attempt", NUMBER, "attempt number (a resume is a new attempt)", ("attempts",)),
    Field("created", TIME, "when the run was created (UTC)", ("date",)),
    Field("started", TIME, "when the current attempt started (UTC)"),
    Field("finished", TIME, "when the run finished (UTC)"),
    Field("age", DURATION, "time since the run was created", ()),
    Field("duration_s", DURATION, "how long the current attempt ran (so far)", ("duration", "took")),
    Field("config_hash", TEXT, "hash of the resolved config", ("hash", "config")),
    Field("data_sha256", TEXT, "sha256 of the data file", ("data", "sha256", "sha")),
    Field("host", TEXT, "host the run was started on"),
    Field("device", TEXT, "device it ran on (cpu, cuda, ...)"),
    Field("primary", TEXT, "the scorer the summary is about", ("primary_model",)),
    Field("reference", TEXT, "what the primary is judged against", ("ref",)),
    Field("best_baseline", TEXT, "best baseline, chosen on validation", ("baseline",)),
    Field("calibration", TEXT, "calibration chosen for the primary", ("cal", "calibrator")),
    Field("epochs", NUMBER, "epochs trained (largest epoch number logged)", ("epoch",)),
    Field("best_val_loss", NUMBER, "lowest validation loss of any epoch", ("val_loss", "loss")),
    Field("val_brier", NUMBER, "validation Brier score of the primary"),
    Field("auc", NUMBER, "test macro ROC AUC", ("roc_auc",)),
    Field("pr_auc", NUMBER, "test macro PR-AUC", ("ap",)),
    Field("brier_skill", NUMBER, "test Brier skill score", ("bss", "skill")),
    Field("ece_before", NUMBER, "test ECE before calibration", ("ece_raw",)),
    Field("ece_after", NUMBER, "test ECE after calibration", ("ece",)),
    Field("classwise_ece", NUMBER, "test classwise ECE (mean of per-part ECE)", ("cw_ece",)),
    Field("best_good_or_better", NUMBER, "best good-or-better rate over K (test)", ("good", "gob", "good_or_better")),
    Field("best_k", NUMBER, "the K of that best rate", ("k",)),
    Field("lift_capture", NUMBER, "(model - random) / (oracle - random), mean over K", ("lift",)),
    Field("beats_reference", BOOL, "beats its reference (McNemar + Holm)", ("beats",)),
    Field("verdict", TEXT, "APPROVED or FAILED", (), ("approved", "failed")),
    Field("test_touches", NUMBER, "times the test window was evaluated", ("touches",)),
    Field("error", TEXT, "the error a failed run ended with"),
)
FIELDS: dict[str, Field] = {f.name: f for f in _FIELD_LIST}
ALIASES: dict[str, str] = {a: f.name for f in _FIELD_LIST for a in f.aliases}
_ALL_NAMES = {**{n: n for n in FIELDS}, **ALIASES}


class QueryError(InputError):
    """A filter that does not parse or names an unknown field.

    `position` is 1-based in `text`; `expected` says what the parser wanted there.
    """

    def __init__(self, text: str, position: int, message: str, *, label: str = "filter",
                 expected: str | None = None):
        self.text = text
        self.position = position
        self.message = message
        self.expected = expected
        self.label = label
        super().__init__(f"{label} {text!r}: position {position}: {message}")


def resolve_field(name: str, *, text: str | None = None, position: int = 1, label: str = "filter") -> Field:
    """The field called `name` (or one of its aliases); a did-you-mean error otherwise."""
    key = name.lower()
    if key in _ALL_NAMES:
        return FIELDS[_ALL_NAMES[key]]
    close = difflib.get_close_matches(key, list(_ALL_NAMES), n=3, cutoff=0.6)
    if close:
        msg = f"unknown field {name!r}; did you mean {' or '.join(close)}?"
    else:
        msg = f"unknown field {name!r} (fields: {', '.join(FIELDS)})"
    if text is None:
        raise InputError(msg)
    raise QueryError(text, position, msg, label=label, expected="a field name")


def field_help() -> list[dict]:
    """Every field with its type, aliases and meaning (for help screens)."""
    return [{"name": f.name, "type": f.type, "aliases": list(f.aliases), "help": f.help} for f in _FIELD_LIST]


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
                raise QueryError(text, i + 1, f"unterminated string: no closing {c}", label=label,
                                 expected=f"a closing {c}")
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


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


Value = Union[float, str, bool, None]


# --------------------------------------------------------------------------- AST


@dataclass(frozen=True)
class Compare:
    field: str  # canonical field name
    op: str  # = != < <= > >= ~ !~  ("==" is normalised to "=")
    value: Value  # float for number/duration, str for text/time, bool, or None (null)

    def __str__(self) -> str:
        v = self.value
        if v is None:
            text = "null"
        elif isinstance(v, bool):
            text = "true" if v else "false"
        elif isinstance(v, float):
            text = _fmt_number(v)
        else:
            text = _quote(v)
        return f"{self.field}{self.op}{text}"

    def test(self, row: Mapping[str, Any], now: datetime | None) -> bool:
        f = FIELDS[self.field]
        actual = value_of(row, self.field, now)
        if self.value is None:  # field=null / field!=null
            missing = actual is None
            return missing if self.op == "=" else not missing
        if actual is None:
            return self.op in ("!=", "!~")
        if f.type == BOOL:
            eq = bool(actual) == self.value
            return eq if self.op == "=" else not eq
        if f.type in (NUMBER, DURATION):
            try:
                a = float(actual)
            except (TypeError, ValueError):
                return self.op == "!="
            if math.isnan(a):
                return self.op == "!="
            return _CMP[self.op](a, float(self.value))
        # text and time
        a = str(actual)
        if f.type == TIME:
            a = _norm_time(a)
        a_l, v_l = a.lower(), str(self.value).lower()
        if self.op == "~":
            return v_l in a_l
        if self.op == "!~":
            return v_l not in a_l
        if self.op in ("=", "!="):
            if f.type == TIME:
                eq = a_l.startswith(v_l)  # created=2026-11-22 matches any time that day
            elif any(ch in v_l for ch in "*?["):
                eq = fnmatch.fnmatchcase(a_l, v_l)
            else:
                eq = a_l == v_l
            return eq if self.op == "=" else not eq
        if f.type == TIME and self.op in ("<=", ">"):
            # "<= 2026-11-22" includes the whole day; "> 2026-11-22" starts after it.
            a_l = a_l[: len(v_l)]
        return _CMP[self.op](a_l, v_l)


@dataclass(frozen=True)
class Truthy:
    field: str

    def __str__(self) -> str:
        return self.field

    def test(self, row: Mapping[str, Any], now: datetime | None) -> bool:
        return bool(value_of(row, self.field, now))


@dataclass(frozen=True)
class Not:
    arg: "Node"

    def __str__(self) -> str:
        return f"not {_wrap(self.arg)}"

    def test(self, row, now) -> bool:
        return not self.arg.test(row, now)


@dataclass(frozen=True)
class And:
    left: "Node"
    right: "Node"

    def __str__(self) -> str:
        return f"{_wrap(self.left)} and {_wrap(self.right)}"

    def test(self, row, now) -> bool:
        return self.left.test(row, now) and self.right.test(row, now)


@dataclass(frozen=True)
class Or:
    left: "Node"
    right: "Node"

    def __str__(self) -> str:
        return f"{_wrap(self.left)} or {_wrap(self.right)}"

    def test(self, row, now) -> bool:
        return self.left.test(row, now) or self.right.test(row, now)


Node = Union[Compare, Truthy, Not, And, Or]


def _wrap(node: Node) -> str:
    return str(node) if isinstance(node, (Compare, Truthy, Not)) else f"({node})"


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
}


def _norm_time(s: str) -> str:
    # Stored times are ISO (2026-11-22T03:45:49.230253Z); users type dates or "2026-11-22 03:45".
    return s.replace(" ", "T")


def _parse_time(s: str) -> datetime | None:
    try:
        dt = datetime.fromisoformat(s[:-1] + "+00:00" if s.endswith("Z") else s)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=timezone.utc)


def value_of(row: Mapping[str, Any], name: str, now: datetime | None = None) -> Any:
    """A field's value in a row (canonical name); `age` is derived from `created` and `now`."""
    if name == "age" and row.get("age") is None:
        created = row.get("created")
        if not created:
            return None
        dt = created if isinstance(created, datetime) else _parse_time(str(created))
        if dt is None:
            return None
        now = now or datetime.now(timezone.utc)
        return (now - dt).total_seconds()
    return row.get(name)


# --------------------------------------------------------------------------- parser


class _Parser:
    def __init__(self, text: str, label: str):
        self.text = text
        self.label = label
        self.toks = tokenize(text, label)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.toks[self.i]

    def fail(self, tok: Token, expected: str, message: str | None = None) -> QueryError:
        got = "the end" if tok.kind == "END" else repr(tok.text)
        return QueryError(self.text, tok.pos, message or f"expected {expected}, got {got}", label=self.label,
                          expected=expected)

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
                raise self.fail(self.tok, "')'", f"expected ')' to close the '(' at position {tok.pos}, got "
                                + ("the end" if self.tok.kind == "END" else repr(self.tok.text)))
            self.i += 1
            return node
        if tok.kind != "WORD":
            raise self.fail(tok, "a field name")
        field = resolve_field(tok.text, text=self.text, position=tok.pos, label=self.label)
        self.i += 1
        op_tok = self.tok
        if op_tok.kind != "OP":
            if field.type == BOOL:
                return Truthy(field.name)
            raise self.fail(op_tok, "an operator", f"expected an operator (= != < <= > >= ~ !~) after "
                            f"{tok.text}, got " + ("the end" if op_tok.kind == "END" else repr(op_tok.text)))
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
        if op in ("~", "!~") and t not in (TEXT, TIME):
            raise self.fail(tok, "a value", f"{op} (contains) works on text fields; {field.name} is a {t}")
        if t == BOOL:
            if op not in ("=", "!="):
                raise self.fail(tok, "a value", f"{field.name} is yes/no: use = or != (or just `{field.name}` / "
                                f"`not {field.name}`)")
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
                raise self.fail(tok, "a duration", f"{field.name} is a duration: expected e.g. 90s, 10m, 2h, 3d, "
                                f"got {word!r}")
            return float(m.group(1)) * _UNIT_S[m.group(2).lower() if m.group(2) else None]
        if t == TIME:
            if op in ("~", "!~"):
                return word
            norm = _norm_time(word.strip()).upper()
            if not re.match(r"^\d{4}(-\d\d(-\d\d(T\d\d(:\d\d(:\d\d(\.\d+)?)?)?)?)?)?Z?$", norm):
                raise self.fail(tok, "a date", f"{field.name} is a time: expected an ISO date like 2026-11-22 or "
                                f"2026-11-22T03:45, got {word!r}")
            return norm.rstrip("Z")
        # text
        if field.choices and op in ("=", "!=") and low not in field.choices and not any(c in low for c in "*?["):
            close = difflib.get_close_matches(low, field.choices, n=1, cutoff=0.5)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise self.fail(tok, "a value", f"{field.name} is one of {', '.join(field.choices)}, not {word!r}{hint}")
        return word


# --------------------------------------------------------------------------- API


@dataclass(frozen=True)
class Query:
    """A parsed filter. `matches(row)` tests one row (a dict keyed by field names)."""

    node: Node
    text: str = dc_field(default="", compare=False)  # as typed; equality is structural

    def matches(self, row: Mapping[str, Any], now: datetime | None = None) -> bool:
        return self.node.test(row, now)

    def filter(self, rows, now: datetime | None = None) -> list:
        now = now or datetime.now(timezone.utc)
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


def parse(text: str, *, label: str = "filter") -> Query:
    """Parse a filter; raises `QueryError` (an `InputError`) with the position and what was expected.

    `label` names the source in messages, e.g. ``--where 'ece<<0.05': position 5: expected a value``.
    """
    if not isinstance(text, str):
        raise InputError(f"{label}: expected text, got {type(text).__name__}")
    return Query(_Parser(text, label).parse(), text)
