"""YAML text -> (plain data, where each key path was set): `yaml.safe_load` only, duplicate keys refused.

Every YAML the project reads from a user (configs, `-o` values, sweep grids, hosts.yaml) goes
through `load_yaml`, which is `yaml.safe_load` with limits (docs/ARCHITECTURE.md, "Config"):
aliases let 1 KB of text stand for a structure of billions of nodes (billion laughs), which
every walk over it (line numbers, validation, the launch screen on each keystroke) would
expand, and deep nesting overflows the recursive composer. So the nesting depth is checked
on the parser's events before anything recursive runs, and the node graph's size with every
alias expanded is counted once per node (memoised), before any Python object is built.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from core.errors import ConfigError

Origins = dict[tuple[str, ...], tuple[str, int | None]]  # key path -> (where, line)

MAX_YAML_DEPTH = 64  # nested mappings/lists, aliases expanded; a config uses 3
MAX_YAML_NODES = 10_000  # keys, values and items with every alias expanded; a config holds ~200
MAX_YAML_CHARS = 1 << 20  # 1 MiB of text; the largest shipped config is 2 KB


def _limit_error(problem: str, source: str, mark: Any) -> ConfigError:
    return ConfigError(problem, path=source, line=None if mark is None else mark.line + 1)


def _check_depth(text: str, source: str) -> None:
    """Refuse nesting deeper than MAX_YAML_DEPTH from the (iterative) parser's events, before the
    recursive composer sees it; stops reading at the first level too deep."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, (yaml.MappingStartEvent, yaml.SequenceStartEvent)):
            depth += 1
            if depth > MAX_YAML_DEPTH:
                raise _limit_error(
                    f"nested more than {MAX_YAML_DEPTH} levels deep; a config needs a few", source, event.start_mark
                )
        elif isinstance(event, (yaml.MappingEndEvent, yaml.SequenceEndEvent)):
            depth -= 1


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    return []


def _check_graph(root: yaml.Node, source: str) -> None:
    """Expanded size and depth of the node graph, each node counted once (an alias is the same
    node object as its anchor), iteratively so a long chain of aliases cannot overflow the stack."""
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # the nodes on the current path: an alias back to one is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, finished = stack.pop()
        key = id(node)
        kids = _children(node)
        if finished:
            open_.discard(key)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            if size[key] > MAX_YAML_NODES:
                raise _limit_error(
                    f"aliases expand this value to {size[key]:,}+ nodes, more than the "
                    f"{MAX_YAML_NODES:,} allowed (a YAML alias bomb?)",
                    source,
                    node.start_mark,
                )
            if depth[key] > MAX_YAML_DEPTH + 1:  # scalars count as one level here, not in _check_depth
                raise _limit_error(
                    f"aliases nest this value more than {MAX_YAML_DEPTH} levels deep", source, node.start_mark
                )
            continue
        if key in size:
            continue
        open_.add(key)
        stack.append((node, True))
        for kid in kids:
            if id(kid) in open_:
                raise _limit_error("a recursive alias (a value that contains itself)", source, kid.start_mark)
            if id(kid) not in size:
                stack.append((kid, False))


def _load(text: str, source: str) -> tuple[Any, yaml.Node | None]:
    """(data, node graph) of YAML text as `yaml.safe_load` reads it, within the limits above."""
    if len(text) > MAX_YAML_CHARS:
        raise ConfigError(f"{len(text):,} characters of YAML, more than the {MAX_YAML_CHARS:,} allowed", path=source)
    loader = yaml.SafeLoader(text)
    try:
        _check_depth(text, source)
        node = loader.get_single_node()
        if node is None:
            return None, None
        _check_graph(node, source)
        return loader.construct_document(node), node
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source) from None
    finally:
        loader.dispose()


def load_yaml(text: str, source: str = "<yaml>") -> Any:
    """`yaml.safe_load(text)` refusing alias bombs, deep nesting and huge text with a ConfigError
    naming `source` and the line; YAML errors become ConfigErrors too."""
    return _load(text, source)[0]


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
        return ConfigError(
            f"YAML tag {name} is not allowed: configs are read with "
            "yaml.safe_load (plain mappings, lists, strings, numbers, booleans)",
            path=source,
            line=line,
        )
    ctx = getattr(exc, "context", None)
    return ConfigError(f"YAML syntax error: {problem}" + (f" ({ctx})" if ctx else ""), path=source, line=line)


def _parse_yaml(text: str, source: str) -> tuple[dict, Origins]:
    raw, node = _load(text, source)
    if raw is None:
        return {}, {}
    if not isinstance(raw, dict):
        raise ConfigError(f"the top level must be a mapping of sections, not {type(raw).__name__}", path=source, line=1)
    origins: Origins = {}
    if node is not None:
        _mark_lines(node, (), source, origins)
    return raw, origins
