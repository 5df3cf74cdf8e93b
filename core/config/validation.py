"""Validation with locations: every problem becomes one ConfigError naming the file and YAML line
(or the override) and the dotted key, with close-match suggestions for unknown keys and kinds."""

from __future__ import annotations

import difflib
import re
from typing import Any
from collections.abc import Sequence

from pydantic import BaseModel, ValidationError

from core.config.schema import (
    MODEL_CLASSES,
    MODEL_KINDS,
    _TRAILING_INDEX,
    Config,
    _ModelBase,
    _Section,
    cross_field_problems,
)
from core.config.yaml_lines import Origins
from core.errors import ConfigError


def _where(candidates: Sequence[tuple[str, ...]], origins: Origins) -> tuple[str | None, int | None]:
    """Where the first candidate key path that the file or an override set was set."""
    for path in candidates:
        if path in origins:
            return origins[path]
    for path in candidates:  # e.g. `-o foo.bar=1` makes the unknown section 'foo'
        deeper = [p for p in origins if path and p[: len(path)] == path]
        if deeper:
            return origins[deeper[0]]
    for path in candidates:  # e.g. an item of a list an override set as a whole
        for n in range(len(path) - 1, 0, -1):
            if path[:n] in origins:
                return origins[path[:n]]
    return None, None


def _suggest(word: str, allowed: Sequence[str]) -> list[str]:
    return difflib.get_close_matches(word, list(allowed), n=3, cutoff=0.6)


def _kind_problem(kind: Any) -> str:
    valid = ", ".join(MODEL_KINDS)
    hint = _suggest(kind, MODEL_KINDS) if isinstance(kind, str) else []
    did = f" — did you mean '{hint[0]}'?" if hint else ""
    return f"model.kind: unknown model kind {kind!r}{did} Valid kinds: {valid}"


def _unknown_keys(raw: Any, cls: type[BaseModel], prefix: tuple[str, ...]) -> list[tuple[tuple[str, ...], str]]:
    if not isinstance(raw, dict):
        return []  # wrong type: pydantic reports it
    out = []
    for key, value in raw.items():
        skey = str(key)
        path = prefix + (skey,)
        field = cls.model_fields.get(skey) if isinstance(key, str) else None
        if field is None:
            dotted = ".".join(path)
            hint = _suggest(skey, list(cls.model_fields))
            did = f" — did you mean '{'.'.join(prefix + (hint[0],))}'?" if hint else ""
            allowed = "" if hint else f" (allowed here: {', '.join(cls.model_fields)})"
            if issubclass(cls, _ModelBase):
                owners = [k for k, c in MODEL_CLASSES.items() if skey in c.model_fields and skey != "kind"]
                kind = cls.model_fields["kind"].default
                if owners:
                    allowed = f" ({kind} has no such field; {', '.join(owners)} {'do' if len(owners) > 1 else 'does'}: set model.kind)"
                elif not hint:
                    allowed = f" ({kind} takes: {', '.join(cls.model_fields)})"
            out.append((path, f"unknown key '{dotted}'{did}{allowed}"))
            continue
        if cls is Config and skey == "model":
            if value is None or (isinstance(value, dict) and not value):
                continue
            if isinstance(value, dict):
                kind = value.get("kind", "uniform")
                if not isinstance(kind, str) or kind not in MODEL_CLASSES:
                    out.append((path + ("kind",), _kind_problem(kind)))
                else:
                    out += _unknown_keys(value, MODEL_CLASSES[kind], path)
            continue
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, _Section):
            out += _unknown_keys(value, ann, path)
    return out


def _plain(msg: str) -> str:
    for prefix in ("Value error, ", "Assertion failed, "):
        if msg.startswith(prefix):
            msg = msg[len(prefix) :]
    msg = re.sub(
        r"^Input should be a valid dictionary (or instance of \w+|or object to extract fields from)",
        "should be a mapping (a YAML section)",
        msg,
    )
    msg = msg.replace("Input should be", "should be")
    return msg[:1].lower() + msg[1:]


def _error_path(loc: tuple) -> tuple[str, ...]:
    parts = [str(p) for p in loc]
    if len(parts) >= 2 and parts[0] == "model" and parts[1] in MODEL_CLASSES:
        del parts[1]  # the discriminated union's tag
    return tuple(p for p in parts if p not in ("[key]",) and not p.startswith("function-"))


def _issues_from_pydantic(exc: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    out = []
    for err in exc.errors(include_url=False):
        path = _error_path(err["loc"])
        dotted = ".".join(path) or "config"
        msg = _plain(err["msg"])
        if err["type"] == "extra_forbidden":
            msg = "unknown key"
        elif err["type"] not in ("missing", "model_type", "model_attributes_type", "value_error", "assertion_error"):
            got = repr(err.get("input"))
            msg += f" (got {got if len(got) <= 60 else got[:57] + '...'})"
        if path == ("model",) and "mapping" in msg:
            msg += " with a kind, e.g. `model: {kind: gru}`"
        out.append((path, f"{dotted}: {msg}"))
    return out


Issue = tuple[list[tuple[str, ...]], str]  # (candidate key paths, most specific first; problem)


def _raise(issues: list[Issue], origins: Origins) -> None:
    rendered = [(*_where(candidates, origins), problem) for candidates, problem in issues]
    where, line, problem = rendered[0]
    for w, ln, p in rendered[1:]:
        loc = "" if w is None else (f"{w}:{ln}: " if ln else f"{w}: ")
        problem += f"\n  also {loc}{p}"
    raise ConfigError(problem, path=where, line=line)


_SECTIONS = ("data", "split", "model", "train", "calibration", "eval", "targets")


def _normalise(raw: dict) -> dict:
    """An empty section (`data:` with everything commented out) means all its defaults."""
    for key in [k for k, v in raw.items() if v is None and k in _SECTIONS]:
        del raw[key]
    if isinstance(raw.get("model"), dict) and "kind" not in raw["model"]:
        raw["model"] = {"kind": "uniform", **raw["model"]}
    return raw


# Where to point when a field's error is caused by a sibling the user set instead.
_RELATED = {
    ("eval", "good_tier"): [("eval", "tiers")],
    ("model", "heads"): [("model", "d_model")],
}


def _validate(raw: dict, origins: Origins) -> Config:
    raw = _normalise(raw)
    issues = [([p], msg) for p, msg in _unknown_keys(raw, Config, ())]
    if issues:
        _raise(issues, origins)
    try:
        cfg = Config.model_validate(raw, context={"defer_cross_checks": True})
    except ValidationError as exc:
        _raise([([p, *_RELATED.get(p, [])], msg) for p, msg in _issues_from_pydantic(exc)], origins)
    problems = cross_field_problems(cfg)
    if problems:
        _raise(
            [
                ([tuple(p.split(".")) for p in paths], f"{_TRAILING_INDEX.sub('', paths[0])}: {msg}")
                for paths, msg in problems
            ],
            origins,
        )
    return cfg
