"""The parsed form of a filter (core.query): comparison and boolean nodes that test a row
and print back as canonical text."""

from __future__ import annotations

import fnmatch
import json
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from collections.abc import Callable, Mapping

from core.query.fields import BOOL, DURATION, FIELDS, NUMBER, TAGS, TIME, is_config_key, value_of

# --------------------------------------------------------------------------- values


def _fmt_number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else repr(float(x))


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


Value = float | str | bool | None


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
        actual = value_of(row, self.field, now)
        if self.value is None:  # field=null / field!=null
            missing = actual is None
            return missing if self.op == "=" else not missing
        if actual is None:
            return self.op in ("!=", "!~")
        if is_config_key(self.field):
            return self._test_config(actual)
        f = FIELDS[self.field]
        if f.type == TAGS:
            return self._test_tags(actual)
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

    def _test_tags(self, actual: Any) -> bool:
        """Tags (a non-empty list here): = true when one tag equals the value (a glob with * ? [),
        ~ when one contains it; != and !~ are their negations (no such tag)."""
        tags = [str(t).lower() for t in actual] if isinstance(actual, (list, tuple)) else [str(actual).lower()]
        v_l = str(self.value).lower()
        if self.op in ("~", "!~"):
            hit = any(v_l in t for t in tags)
            return hit if self.op == "~" else not hit
        glob = any(ch in v_l for ch in "*?[")
        hit = any(fnmatch.fnmatchcase(t, v_l) if glob else t == v_l for t in tags)
        return hit if self.op == "=" else not hit

    def _test_config(self, actual: Any) -> bool:
        """A config key's value (never None here) against the typed value: numbers numerically,
        true/false against a yes/no value, text (case-insensitive, globs in =) otherwise."""
        v = self.value
        if isinstance(v, bool):
            eq = (actual is v) if isinstance(actual, bool) else _config_text(actual).lower() == str(v).lower()
            return eq if self.op == "=" else not eq
        if isinstance(v, float):
            a = _config_number(actual)
            if a is None:
                return self.op == "!="
            return _CMP[self.op](a, v)
        a_l, v_l = _config_text(actual).lower(), str(v).lower()
        if self.op == "~":
            return v_l in a_l
        if self.op == "!~":
            return v_l not in a_l
        if self.op in ("=", "!="):
            eq = fnmatch.fnmatchcase(a_l, v_l) if any(ch in v_l for ch in "*?[") else a_l == v_l
            return eq if self.op == "=" else not eq
        if _config_number(actual) is not None:
            return False  # a number has no text order: model.hidden<abc matches nothing
        return _CMP[self.op](a_l, v_l)


def _config_number(x: Any) -> float | None:
    """A config value as a finite number (a numeric string such as YAML's `1e-3` too), else None."""
    if isinstance(x, bool):
        return None
    if isinstance(x, (int, float)):
        f = float(x)
    elif isinstance(x, str):
        try:
            f = float(x)
        except ValueError:
            return None
    else:
        return None
    return f if math.isfinite(f) else None


def _config_text(x: Any) -> str:
    if isinstance(x, bool):
        return "true" if x else "false"
    if isinstance(x, float):
        return _fmt_number(x) if math.isfinite(x) else str(x)
    if isinstance(x, (list, dict)):
        return json.dumps(x, separators=(",", ":"), default=str)
    return str(x)


@dataclass(frozen=True)
class Truthy:
    field: str

    def __str__(self) -> str:
        return self.field

    def test(self, row: Mapping[str, Any], now: datetime | None) -> bool:
        return bool(value_of(row, self.field, now))


@dataclass(frozen=True)
class Not:
    arg: Node

    def __str__(self) -> str:
        return f"not {_wrap(self.arg)}"

    def test(self, row, now) -> bool:
        return not self.arg.test(row, now)


@dataclass(frozen=True)
class And:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left)} and {_wrap(self.right)}"

    def test(self, row, now) -> bool:
        return self.left.test(row, now) and self.right.test(row, now)


@dataclass(frozen=True)
class Or:
    left: Node
    right: Node

    def __str__(self) -> str:
        return f"{_wrap(self.left)} or {_wrap(self.right)}"

    def test(self, row, now) -> bool:
        return self.left.test(row, now) or self.right.test(row, now)


Node = Compare | Truthy | Not | And | Or


def _wrap(node: Node) -> str:
    return str(node) if isinstance(node, (Compare, Truthy, Not)) else f"({node})"


_CMP: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


def _norm_time(s: str) -> str:
    # Stored times are ISO (2026-11-22T03:45:49.230253Z); users type dates or "2026-11-22 03:45".
    return s.replace(" ", "T")
