"""YAML text -> (plain data, where each key path was set): `yaml.safe_load` only, duplicate keys refused."""
from __future__ import annotations

import re

import yaml

from core.errors import ConfigError

Origins = dict[tuple[str, ...], tuple[str, int | None]]  # key path -> (where, line)


def _mark_lines(node: yaml.Node, prefix: tuple[str, ...], source: str, out: Origins) -> None:
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for knode, vnode in node.value:
            key = str(knode.value)
            line = knode.start_mark.line + 1
            if key in seen and key != "<<":
                dotted = ".".join(prefix + (key,))
                raise ConfigError(f"duplicate key '{dotted}' (first at line {seen[key]})", path=source, line=line)
            seen[key] = line
            out[prefix + (key,)] = (source, line)
            _mark_lines(vnode, prefix + (key,), source, out)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out[prefix + (str(i),)] = (source, item.start_mark.line + 1)
            _mark_lines(item, prefix + (str(i),), source, out)


def _yaml_error(exc: yaml.YAMLError, source: str) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = None if mark is None else mark.line + 1
    problem = getattr(exc, "problem", None) or str(exc)
    if isinstance(exc, yaml.constructor.ConstructorError) and "tag" in problem:
        tag = re.search(r"'([^']+)'", problem)
        name = (tag.group(1) if tag else "").replace("tag:yaml.org,2002:", "!!")
        return ConfigError(f"YAML tag {name} is not allowed: configs are read with "
                           "yaml.safe_load (plain mappings, lists, strings, numbers, booleans)", path=source, line=line)
    ctx = getattr(exc, "context", None)
    return ConfigError(f"YAML syntax error: {problem}" + (f" ({ctx})" if ctx else ""), path=source, line=line)


def _parse_yaml(text: str, source: str) -> tuple[dict, Origins]:
    try:
        raw = yaml.safe_load(text)
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be a mapping of sections, not {type(raw).__name__}", path=source, line=1)
    origins: Origins = {}
    if node is not None:
        _mark_lines(node, (), source, origins)
    return raw, origins

