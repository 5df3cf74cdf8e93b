"""Dotted `-o a.b.c=value` overrides, a model-kind switch that says what it drops, and ConfigWarning."""

from __future__ import annotations

import copy
import json
import os
import sys
import warnings
from typing import Any
from collections.abc import Sequence

from core.config.schema import MODEL_CLASSES, _ModelBase
from core.config.yaml_lines import Origins, load_yaml
from core.errors import ConfigError


class ConfigWarning(UserWarning):
    """Something was dropped or reinterpreted while resolving a config (never silently)."""


_PACKAGE_DIR = os.path.dirname(__file__)  # every module of core.config lies here


def _warn(message: str) -> None:
    """A ConfigWarning attributed to the first caller outside the core.config package."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR:
        level, frame = level + 1, frame.f_back
    warnings.warn(ConfigWarning(message), stacklevel=level)


def _model_kind(raw: dict) -> Any:
    model = raw.get("model")
    return model.get("kind", "uniform") if isinstance(model, dict) else "uniform"


def _carried_fields(old: str, new: str) -> set[str]:
    """Fields of `new` declared on a class that `old` shares (same name, same meaning)."""
    a, b = MODEL_CLASSES[old], MODEL_CLASSES[new]
    shared = [c for c in a.__mro__ if c in b.__mro__ and issubclass(c, _ModelBase) and c is not _ModelBase]
    return {f for c in shared for f in c.model_fields} - {"kind"}


def _switch_kind(raw: dict, new: str, text: str, origins: Origins) -> None:
    old = _model_kind(raw)
    model = raw.get("model")
    if old == new or not isinstance(model, dict) or old not in MODEL_CLASSES or new not in MODEL_CLASSES:
        return
    keep = _carried_fields(old, new)
    dropped = []
    for key in list(model):
        if key == "kind" or key in keep:
            continue
        where = origins.get(("model", key))
        if where is not None and where[0].startswith("-o "):
            continue  # set by an earlier override: kept, and validated like any key
        value = model.pop(key)
        loc = "" if where is None else f" ({where[0]}:{where[1]})" if where[1] else f" ({where[0]})"
        dropped.append(f"model.{key}={json.dumps(value, default=str)}{loc}")
        for p in [p for p in origins if p[:2] == ("model", key)]:
            del origins[p]
    if dropped:
        _warn(
            f"{text}: switching the model kind {old} -> {new} drops {', '.join(dropped)} "
            f"({old}'s own fields are not carried over; set any again with -o model.FIELD=VALUE)"
        )


def _apply(raw: dict, overrides: Sequence[str], origins: Origins) -> dict:
    raw = copy.deepcopy(raw) if raw else {}
    for ov in overrides:
        text = f"-o {ov}"
        key, sep, value_text = str(ov).partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError("expected KEY=VALUE with a dotted key, e.g. -o model.hidden=64", path=text)
        path = key.split(".")
        if any(not p for p in path):
            raise ConfigError(f"bad key {key!r}: empty part in the dotted path", path=text)
        try:
            value = load_yaml(value_text, text) if value_text.strip() else None
        except ConfigError as exc:
            problem = exc.problem.removeprefix("YAML syntax error: ")
            raise ConfigError(f"the value is not valid YAML: {problem}", path=text) from None
        if path == ["model", "kind"] and isinstance(value, str):
            _switch_kind(raw, value, text, origins)
        node: Any = raw
        for depth, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                if node.get(part) is None:
                    if path[depth + 1].isdigit():
                        raise ConfigError(
                            f"'{'.'.join(path[: depth + 1])}' is not set in the config, so it has no "
                            f"item {path[depth + 1]}; set the whole list, e.g. -o {'.'.join(path[: depth + 1])}=[...]",
                            path=text,
                        )
                    node[part] = {}
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigError(f"'{'.'.join(path[:depth])}' holds {node!r}, not a section", path=text)
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"'{'.'.join(path[: depth + 1])}' holds {node!r}, not a section", path=text)
        last = path[-1]
        if isinstance(node, list):
            if not (last.isdigit() and int(last) < len(node)):
                raise ConfigError(f"'{'.'.join(path[:-1])}' is a list of {len(node)}; no index {last}", path=text)
            node[int(last)] = value
        else:
            node[last] = value
        for p in [p for p in origins if p[: len(path)] == tuple(path)]:
            del origins[p]
        origins[tuple(path)] = (text, None)
    return raw


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of `raw` with each "a.b.c=value" applied in order (value parsed by `load_yaml`: yaml.safe_load with limits).

    Setting `model.kind` to another kind drops the model fields the new kind does not share
    (with a ConfigWarning naming them). Unknown keys are caught later, by validation.
    """
    return _apply(raw, list(overrides), {})
