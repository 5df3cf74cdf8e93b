"""Typed run configuration: pydantic models (extra="forbid"), YAML loading, dotted overrides.

One `Config` covers every model kind. A config is loaded from YAML with `yaml.safe_load` only
(through `load_yaml`, which also refuses alias bombs, deep nesting and huge text),
then `-o a.b.c=value` overrides are applied (values parsed as YAML), then it is validated.
Every problem is a `ConfigError` naming the file and YAML line (or the override) and the
dotted key, e.g. ``gru.yaml:7: unknown key 'model.hiden' — did you mean 'model.hidden'?``.

Switching the model kind by override (``-o model.kind=gru`` on an ewma config) keeps the
model fields the two kinds share by definition (gru <-> lstm share the recurrent fields,
learned models share `head`) and drops the rest with a `ConfigWarning` naming each one.

This package must stay light: no torch, no UI libraries (`synapse --help` imports it).

Layout (this package re-exports the public API; import from `core.config`):
  fields.py      reusable field types and validators (PosInt, Dropout, ...)
  schema.py      the pydantic sections, one model class per kind, the `Config` root
  yaml_lines.py  YAML text -> data plus the file line of every key
  overrides.py   dotted `-o` overrides, the model-kind switch, ConfigWarning
  validation.py  validation whose errors name the file/line or override and the key
  loading.py     load_config / config_from_text, the shipped configs/
  dump.py        config_hash and dump_yaml
"""

from __future__ import annotations

from core.config.dump import config_hash, dump_yaml, flatten_config
from core.config.loading import SHIPPED_CONFIG_DIR, config_from_text, load_config, shipped_configs
from core.config.overrides import ConfigWarning, apply_overrides
from core.config.yaml_lines import MAX_YAML_DEPTH, MAX_YAML_NODES, load_yaml
from core.config.schema import (
    BASELINE_KINDS,
    COMBINED_KINDS,
    FEATURE_GROUPS,
    LEARNED_KINDS,
    MODEL_CLASSES,
    MODEL_KINDS,
    CalibrationConfig,
    Config,
    DataConfig,
    EvalConfig,
    EwmaModel,
    FrequencyModel,
    GruModel,
    HawkesModel,
    HotColdModel,
    LogisticModel,
    LstmModel,
    ModelConfig,
    RecencyModel,
    SplitConfig,
    TargetsConfig,
    TrainConfig,
    TransformerModel,
    UniformModel,
)

__all__ = [
    "Config",
    "DataConfig",
    "SplitConfig",
    "TrainConfig",
    "CalibrationConfig",
    "EvalConfig",
    "TargetsConfig",
    "UniformModel",
    "FrequencyModel",
    "RecencyModel",
    "EwmaModel",
    "HotColdModel",
    "LogisticModel",
    "GruModel",
    "LstmModel",
    "TransformerModel",
    "HawkesModel",
    "ModelConfig",
    "MODEL_KINDS",
    "BASELINE_KINDS",
    "LEARNED_KINDS",
    "COMBINED_KINDS",
    "MODEL_CLASSES",
    "FEATURE_GROUPS",
    "ConfigWarning",
    "load_config",
    "config_from_text",
    "apply_overrides",
    "config_hash",
    "dump_yaml",
    "flatten_config",
    "SHIPPED_CONFIG_DIR",
    "shipped_configs",
    "load_yaml",
    "MAX_YAML_DEPTH",
    "MAX_YAML_NODES",
]
