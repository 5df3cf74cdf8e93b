"""A resolved config out again: its stable hash, its YAML text, and its flat dotted keys."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import yaml

from core.config.schema import Config


def config_hash(cfg: Config) -> str:
    """First 12 hex of the sha256 of the resolved config's canonical JSON (sorted keys)."""
    blob = json.dumps(cfg.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


class _Dumper(yaml.SafeDumper):
    """Block-style sections; lists of scalars on one line (`k: [20, 21, ...]`)."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(x, (dict, list)) for x in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_yaml(cfg: Config | Mapping[str, Any]) -> str:
    """The resolved config as YAML: every default filled in, fields in declaration order
    (model.kind first). `load_config` of the text gives an equal Config.

    A plain mapping (a run's config.yaml read back, which may no longer validate) is dumped
    as it is, in the same style: the dashboard's Config tab shows it so. Text is written as
    typed (`allow_unicode`: `données.csv`, never an escaped string)."""
    data = cfg.model_dump(mode="json") if isinstance(cfg, Config) else dict(cfg)
    model = data.get("model")
    if isinstance(model, Mapping) and "kind" in model:
        data["model"] = {"kind": model["kind"], **model}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def flatten_config(obj: Any, prefix: str = "") -> dict[str, Any]:
    """A nested config as {dotted key: value} (lists stay values; an empty section adds no keys)."""
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict):  # an empty section adds no keys
                out.update(flatten_config(v, key))
            else:
                out[key] = v
    else:
        out[prefix or "(config)"] = obj
    return out
