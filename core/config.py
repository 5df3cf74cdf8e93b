"""Typed run configuration: pydantic models (extra="forbid"), YAML loading, dotted overrides.

One `Config` covers every model kind. A config is loaded from YAML with `yaml.safe_load` only,
then `-o a.b.c=value` overrides are applied (values parsed as YAML), then it is validated.
Every problem is a `ConfigError` naming the file and YAML line (or the override) and the
dotted key, e.g. ``gru.yaml:7: unknown key 'model.hiden' — did you mean 'model.hidden'?``.

Switching the model kind by override (``-o model.kind=gru`` on an ewma config) keeps the
model fields the two kinds share by definition (gru <-> lstm share the recurrent fields,
learned models share `head`) and drops the rest with a `ConfigWarning` naming each one.

This module must stay light: no torch, no UI libraries (`synapse --help` imports it).
"""
from __future__ import annotations

import copy
import difflib
import hashlib
import json
import re
import sys
import warnings
from pathlib import Path
from typing import Annotated, Any, Literal, Sequence, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic import BeforeValidator, Strict

from core.errors import ConfigError

__all__ = [
    "Config", "DataConfig", "SplitConfig", "TrainConfig", "CalibrationConfig", "EvalConfig", "TargetsConfig",
    "UniformModel", "FrequencyModel", "RecencyModel", "EwmaModel", "HotColdModel", "LogisticModel",
    "GruModel", "LstmModel", "TransformerModel", "HawkesModel", "ModelConfig",
    "MODEL_KINDS", "BASELINE_KINDS", "LEARNED_KINDS", "MODEL_CLASSES", "FEATURE_GROUPS",
    "ConfigWarning", "load_config", "config_from_text", "apply_overrides", "config_hash", "dump_yaml",
    "SHIPPED_CONFIG_DIR", "shipped_configs",
]

SHIPPED_CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


class ConfigWarning(UserWarning):
    """Something was dropped or reinterpreted while resolving a config (never silently)."""


def _warn(message: str) -> None:
    """A ConfigWarning attributed to the first caller outside this module."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        level, frame = level + 1, frame.f_back
    warnings.warn(ConfigWarning(message), stacklevel=level)


# --------------------------------------------------------------------------- field types

def _reject_bool(v: Any) -> Any:
    if isinstance(v, bool):
        raise ValueError("expected a number, not a boolean")
    return v


PosInt = Annotated[int, Strict(), Field(ge=1)]
NonNegInt = Annotated[int, Strict(), Field(ge=0)]
# Lax floats accept ints and numeric strings: YAML 1.1 reads `1e-3` (no dot) as a string.
Float = Annotated[float, BeforeValidator(_reject_bool), Field(allow_inf_nan=False)]
PosFloat = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, allow_inf_nan=False)]
NonNegFloat = Annotated[float, BeforeValidator(_reject_bool), Field(ge=0, allow_inf_nan=False)]
Fraction = Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, lt=1)]
Dropout = Annotated[float, BeforeValidator(_reject_bool), Field(ge=0, lt=1)]
Bool = Annotated[bool, Strict()]
Str = Annotated[str, Strict()]
Head = Literal["sigmoid", "softmax"]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- data / split

class DataConfig(_Section):
    path: Str | None = Field(None, description="CSV or Parquet file (draws or multihot format)")
    format: Literal["auto", "draws", "multihot"] = "auto"
    parts: Annotated[int, Strict(), Field(ge=2)] = Field(39, description="number of parts P")
    events_per_day: PosInt | None = Field(5, description="exact events a day; None = any number")
    allow_unsorted: Bool = Field(False, description="sort unsorted dates with a warning instead of failing")


class SplitConfig(_Section):
    test_days: PosInt = Field(1000, description="rows in the test window (the last ones)")
    val_days: PosInt = Field(1000, description="rows in the validation window (before test)")
    gap_days: NonNegInt = Field(0, description="embargo rows between train/val and between val/test")
    folds: PosInt = Field(1, description="1 = a single split; >1 = rolling-origin folds")
    fold_step_days: PosInt | None = Field(None, description="rows between fold origins; None = test_days")
    min_train_days: PosInt = Field(365, description="refuse a fold with fewer training rows")


# --------------------------------------------------------------------------- models

class _ModelBase(_Section):
    """Root of every model kind; fields declared on a shared subclass carry over a kind switch."""


class _Baseline(_ModelBase):
    pass


class UniformModel(_Baseline):
    """Every part gets events/parts: the random reference."""
    kind: Literal["uniform"] = "uniform"


class FrequencyModel(_Baseline):
    """Per-part frequency over the training history (or the last `window` days)."""
    kind: Literal["frequency"] = "frequency"
    window: PosInt | None = Field(None, description="days; None = expanding (all history)")
    smoothing: NonNegFloat = Field(1.0, description="pseudo-days shrinking each rate toward events/parts")


class RecencyModel(_Baseline):
    """P(part occurs | days since it last occurred), estimated on training data."""
    kind: Literal["recency"] = "recency"
    max_gap: PosInt = Field(60, description="gaps at or beyond this many days are pooled")
    smoothing: NonNegFloat = Field(1.0, description="pseudo-counts toward the part's base rate")


class EwmaModel(_Baseline):
    """Exponentially weighted moving average of each part's occurrences."""
    kind: Literal["ewma"] = "ewma"
    halflife: PosFloat = Field(30.0, description="days")


class HotColdModel(_Baseline):
    """Long-run rate adjusted by how hot (recent frequency) and how cold (overdue) a part is."""
    kind: Literal["hot_cold"] = "hot_cold"
    window: PosInt = Field(30, description="days counted as 'recent'")
    hot_weight: Float = Field(1.0, description="weight of the recent-frequency (hot) signal; <0 is contrarian")
    cold_weight: Float = Field(0.0, description="weight of the overdue (cold) signal")


class _Learned(_ModelBase):
    head: Head = Field("sigmoid", description="sigmoid: multi-label BCE; softmax: over parts, targets y/events")


FEATURE_GROUPS = ("recency", "frequency", "ewma", "weekday", "cooccurrence")
FeatureGroup = Literal["recency", "frequency", "ewma", "weekday", "cooccurrence"]


class LogisticModel(_Learned):
    """Hand-built features -> one logit per part."""
    kind: Literal["logistic"] = "logistic"
    features: list[FeatureGroup] = Field(default_factory=lambda: list(FEATURE_GROUPS), min_length=1)
    frequency_windows: list[PosInt] = Field(default_factory=lambda: [7, 30, 90, 365], min_length=1)
    ewma_halflives: list[PosFloat] = Field(default_factory=lambda: [7.0, 30.0, 120.0], min_length=1)
    recency_cap: PosInt = Field(60, description="days-since-last is clipped here")

    @field_validator("features", "frequency_windows", "ewma_halflives")
    @classmethod
    def _unique(cls, v: list) -> list:
        dup = sorted({x for x in v if v.count(x) > 1}, key=str)
        if dup:
            raise ValueError(f"duplicate entries {dup}")
        return v


class _Recurrent(_Learned):
    hidden: PosInt = Field(128, description="hidden units")
    layers: PosInt = 1
    dropout: Dropout = 0.1
    mode: Literal["stateful", "window"] = Field(
        "stateful", description="stateful: whole sequence in `chunks` contiguous chunks, TBPTT; window: last `window` days")
    window: PosInt = Field(180, description="W days read per prediction in window mode")
    chunks: PosInt = Field(16, description="B contiguous chunks run side by side (stateful mode)")
    tbptt: PosInt = Field(128, description="truncated-backprop steps (stateful mode)")


class GruModel(_Recurrent):
    kind: Literal["gru"] = "gru"


class LstmModel(_Recurrent):
    kind: Literal["lstm"] = "lstm"


class TransformerModel(_Learned):
    """Causal Transformer trained on random windows of `context` days."""
    kind: Literal["transformer"] = "transformer"
    d_model: PosInt = 128
    heads: PosInt = 4
    layers: PosInt = 2
    ffn_mult: PosInt = Field(4, description="feed-forward width = ffn_mult * d_model")
    dropout: Dropout = 0.1
    context: Annotated[int, Strict(), Field(ge=2)] = Field(512, description="window length L of training batches")
    positions: Literal["rope", "alibi"] = "rope"
    weekday_embedding: Bool = True

    @field_validator("heads")
    @classmethod
    def _heads_divide(cls, heads: int, info: ValidationInfo) -> int:
        d_model = info.data.get("d_model")
        if d_model is not None and d_model % heads:
            raise ValueError(f"heads ({heads}) must divide d_model ({d_model})")
        return heads

    @model_validator(mode="after")
    def _rope_even(self, info: ValidationInfo) -> "TransformerModel":
        deferred = (info.context or {}).get("defer_cross_checks")  # then Config reports it with a key path
        if not deferred and self.positions == "rope" and (self.d_model // self.heads) % 2:
            raise ValueError(f"positions 'rope' needs an even head size; d_model/heads = {self.d_model // self.heads}"
                             " (change d_model or heads, or use positions: alibi)")
        return self


class HawkesModel(_ModelBase):
    """Discrete-time multivariate Hawkes process, exponential kernels, fit by maximum likelihood."""
    kind: Literal["hawkes"] = "hawkes"
    decays: list[PosFloat] = Field(default_factory=lambda: [1.0, 7.0, 30.0], min_length=1,
                                   description="kernel time constants tau in days: exp(-lag / tau)")
    inhibition: Bool = Field(True, description="allow negative (inhibiting) cross-effects")
    l2: NonNegFloat = Field(3e-3, description="L2 penalty on the interaction weights")

    @field_validator("decays")
    @classmethod
    def _distinct(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v):
            raise ValueError("decays must be distinct")
        return v


MODEL_CLASSES: dict[str, type[_ModelBase]] = {
    "uniform": UniformModel, "frequency": FrequencyModel, "recency": RecencyModel, "ewma": EwmaModel,
    "hot_cold": HotColdModel, "logistic": LogisticModel, "gru": GruModel, "lstm": LstmModel,
    "transformer": TransformerModel, "hawkes": HawkesModel,
}
MODEL_KINDS = tuple(MODEL_CLASSES)
BASELINE_KINDS = tuple(k for k, c in MODEL_CLASSES.items() if issubclass(c, _Baseline))
LEARNED_KINDS = tuple(k for k in MODEL_KINDS if k not in BASELINE_KINDS)
BaselineKind = Literal["uniform", "frequency", "recency", "ewma", "hot_cold"]

ModelConfig = Annotated[
    Union[UniformModel, FrequencyModel, RecencyModel, EwmaModel, HotColdModel, LogisticModel,
          GruModel, LstmModel, TransformerModel, HawkesModel],
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- train / calibration / eval

_MONITOR_RE = re.compile(r"^val_good_or_better@(\d+)$")


class TrainConfig(_Section):
    epochs: PosInt = Field(100, description="maximum epochs")
    steps_per_epoch: PosInt | None = Field(None, description="windows/chunk steps per epoch; None = one pass")
    batch_size: PosInt = Field(32, description="windows per step (transformer, windowed RNN)")
    lr: PosFloat = 1e-3
    weight_decay: NonNegFloat = 0.01
    label_smoothing: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0, lt=0.5)] = 0.0
    patience: PosInt = Field(10, description="epochs without improvement before stopping")
    min_delta: NonNegFloat = Field(0.0, description="smallest change of the monitor that counts")
    monitor: Str = Field("val_loss", description="val_loss or val_good_or_better@K")
    grad_clip: PosFloat | None = Field(1.0, description="max gradient norm; None = no clipping")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: Bool = Field(False, description="bf16 autocast; honoured on CUDA only")
    num_threads: PosInt | None = Field(None, description="torch threads; None = cores / parallel workers")
    max_minutes: PosFloat | None = Field(None, description="wall-clock budget for training")

    @field_validator("monitor")
    @classmethod
    def _monitor_form(cls, v: str) -> str:
        if v != "val_loss" and not _MONITOR_RE.match(v):
            raise ValueError(f"monitor must be 'val_loss' or 'val_good_or_better@K' (e.g. val_good_or_better@24), got {v!r}")
        return v

    @property
    def monitor_k(self) -> int | None:
        m = _MONITOR_RE.match(self.monitor)
        return int(m.group(1)) if m else None

    @property
    def monitor_mode(self) -> Literal["min", "max"]:
        return "min" if self.monitor == "val_loss" else "max"


class CalibrationConfig(_Section):
    method: Literal["auto", "none", "platt", "isotonic", "temperature"] = "auto"
    per_part: Bool = Field(True, description="one calibrator per part (else one global)")
    holdout_fraction: Fraction = Field(0.5, description="share of validation `auto` holds out to pick the method")


def _k_shorthand(v: Any) -> Any:
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", v)
        if m:
            return list(range(int(m.group(1)), int(m.group(2)) + 1))
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    return v


class EvalConfig(_Section):
    k: Annotated[list[PosInt], BeforeValidator(_k_shorthand)] = Field(
        default_factory=lambda: list(range(20, 28)), min_length=1, description="pool sizes K (or 'A..B')")
    tiers: dict[Str, NonNegInt] = Field(
        default_factory=lambda: {"excellent": 5, "good": 4, "fair": 3}, min_length=1,
        description="tier name -> minimum hits")
    good_tier: Str = Field("good", description="tier whose threshold defines good-or-better")
    ece_bins: Annotated[int, Strict(), Field(ge=2)] = 15
    baselines: list[BaselineKind] = Field(default_factory=lambda: list(BASELINE_KINDS),
                                          description="baselines computed alongside every run")

    @field_validator("k")
    @classmethod
    def _sorted_unique(cls, v: list[int]) -> list[int]:
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"duplicate K values {dup}")
        return sorted(v)

    @field_validator("tiers")
    @classmethod
    def _tier_names(cls, v: dict[str, int]) -> dict[str, int]:
        for name in v:
            if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                raise ValueError(f"tier name {name!r} must be an identifier (letters, digits, _)")
        return v

    @field_validator("good_tier")
    @classmethod
    def _good_tier_known(cls, v: str, info: ValidationInfo) -> str:
        tiers = info.data.get("tiers")
        if tiers is not None and v not in tiers:
            raise ValueError(f"good_tier {v!r} is not one of the tiers {sorted(tiers)}")
        return v

    @field_validator("baselines")
    @classmethod
    def _no_dup_baselines(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("duplicate baseline kinds")
        return v

    @property
    def good_hits(self) -> int:
        """Minimum hits of the good-or-better tier."""
        return self.tiers[self.good_tier]


class TargetsConfig(_Section):
    ece_max: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, le=1)] = 0.10
    brier_skill_min: Annotated[float, BeforeValidator(_reject_bool), Field(lt=1, allow_inf_nan=False)] = 0.0
    beat_baseline: Bool = True


# --------------------------------------------------------------------------- root

_TRAILING_INDEX = re.compile(r"(\.\d+)+$")
_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,80}$")


class Config(_Section):
    name: Str | None = Field(None, description="run name, safe for file names; default = model kind")
    seed: NonNegInt = 0
    data: DataConfig = Field(default_factory=DataConfig)
    split: SplitConfig = Field(default_factory=SplitConfig)
    model: ModelConfig = Field(default_factory=UniformModel)
    train: TrainConfig = Field(default_factory=TrainConfig)
    calibration: CalibrationConfig = Field(default_factory=CalibrationConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    targets: TargetsConfig = Field(default_factory=TargetsConfig)

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str | None) -> str | None:
        if v is not None and (not _NAME_RE.match(v) or set(v) == {"."}):
            raise ValueError(f"name {v!r} must be 1-80 characters from A-Z a-z 0-9 _ . - (safe as a file name)")
        return v

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> "Config":
        if self.name is None:
            self.name = self.model.kind
        if not (info.context or {}).get("defer_cross_checks"):
            problems = cross_field_problems(self)
            if problems:
                raise ValueError("; ".join(f"{_TRAILING_INDEX.sub('', paths[0])}: {msg}" for paths, msg in problems))
        return self


def cross_field_problems(cfg: Config) -> list[tuple[list[str], str]]:
    """Checks spanning sections: [(candidate key paths, most specific first; problem)]."""
    out: list[tuple[list[str], str]] = []
    parts, epd = cfg.data.parts, cfg.data.events_per_day
    bad = [(i, k) for i, k in enumerate(cfg.eval.k) if not 1 <= k <= parts]
    if bad:
        ks = ", ".join(str(k) for _, k in bad)
        out.append(([f"eval.k.{bad[0][0]}", "eval.k", "data.parts"],
                    f"K={ks} {'is' if len(bad) == 1 else 'are'} outside 1..data.parts ({parts})"))
    mk = cfg.train.monitor_k
    if mk is not None and not 1 <= mk <= parts:
        out.append((["train.monitor", "data.parts"], f"K={mk} in {cfg.train.monitor!r} is outside 1..data.parts ({parts})"))
    m = cfg.model
    if isinstance(m, TransformerModel) and m.positions == "rope" and (m.d_model // m.heads) % 2:
        out.append((["model.heads", "model.d_model", "model.positions", "model"],
                    f"positions 'rope' needs an even head size; d_model/heads = {m.d_model // m.heads}"
                    " (change d_model or heads, or use positions: alibi)"))
    if epd is not None:
        if epd >= parts:
            out.append((["data.events_per_day", "data.parts"],
                        f"events_per_day ({epd}) must be smaller than data.parts ({parts})"))
        for name, hits in cfg.eval.tiers.items():
            if hits > epd:
                out.append(([f"eval.tiers.{name}", "eval.tiers", "data.events_per_day"],
                            f"tier {name!r} needs {hits} hits but a day has only {epd} events (data.events_per_day)"))
    return out


# --------------------------------------------------------------------------- YAML with line numbers

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


# --------------------------------------------------------------------------- overrides

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
        _warn(f"{text}: switching the model kind {old} -> {new} drops {', '.join(dropped)} "
              f"({old}'s own fields are not carried over; set any again with -o model.FIELD=VALUE)")


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
            value = yaml.safe_load(value_text) if value_text.strip() else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"the value is not valid YAML: {getattr(exc, 'problem', exc)}", path=text) from None
        if path == ["model", "kind"] and isinstance(value, str):
            _switch_kind(raw, value, text, origins)
        node: Any = raw
        for depth, part in enumerate(path[:-1]):
            if isinstance(node, dict):
                if node.get(part) is None:
                    if path[depth + 1].isdigit():
                        raise ConfigError(f"'{'.'.join(path[:depth + 1])}' is not set in the config, so it has no "
                                          f"item {path[depth + 1]}; set the whole list, e.g. -o {'.'.join(path[:depth + 1])}=[...]",
                                          path=text)
                    node[part] = {}
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ConfigError(f"'{'.'.join(path[:depth])}' holds {node!r}, not a section", path=text)
            if not isinstance(node, (dict, list)):
                raise ConfigError(f"'{'.'.join(path[:depth + 1])}' holds {node!r}, not a section", path=text)
        last = path[-1]
        if isinstance(node, list):
            if not (last.isdigit() and int(last) < len(node)):
                raise ConfigError(f"'{'.'.join(path[:-1])}' is a list of {len(node)}; no index {last}", path=text)
            node[int(last)] = value
        else:
            node[last] = value
        for p in [p for p in origins if p[:len(path)] == tuple(path)]:
            del origins[p]
        origins[tuple(path)] = (text, None)
    return raw


def apply_overrides(raw: dict, overrides: Sequence[str]) -> dict:
    """A copy of `raw` with each "a.b.c=value" applied in order (value parsed by yaml.safe_load).

    Setting `model.kind` to another kind drops the model fields the new kind does not share
    (with a ConfigWarning naming them). Unknown keys are caught later, by validation.
    """
    return _apply(raw, list(overrides), {})


# --------------------------------------------------------------------------- validation with locations

def _where(candidates: Sequence[tuple[str, ...]], origins: Origins) -> tuple[str | None, int | None]:
    """Where the first candidate key path that the file or an override set was set."""
    for path in candidates:
        if path in origins:
            return origins[path]
    for path in candidates:  # e.g. `-o foo.bar=1` makes the unknown section 'foo'
        deeper = [p for p in origins if path and p[:len(path)] == path]
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
            msg = msg[len(prefix):]
    msg = re.sub(r"^Input should be a valid dictionary (or instance of \w+|or object to extract fields from)",
                 "should be a mapping (a YAML section)", msg)
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
        _raise([([tuple(p.split(".")) for p in paths], f"{_TRAILING_INDEX.sub('', paths[0])}: {msg}")
                for paths, msg in problems], origins)
    return cfg


# --------------------------------------------------------------------------- public API

def config_from_text(text: str, *, source: str = "<config>", overrides: Sequence[str] = (),
                     data: str | None = None) -> Config:
    """Validate YAML text (e.g. from the TUI's editor) as `load_config` validates a file."""
    raw, origins = _parse_yaml(text, source)
    return _resolve(raw, origins, overrides, data)


def _resolve(raw: dict, origins: Origins, overrides: Sequence[str], data: str | None) -> Config:
    if isinstance(overrides, str):
        overrides = [overrides]
    raw = _apply(raw, list(overrides), origins)
    if data is not None:
        if not isinstance(raw.get("data"), dict):
            raw["data"] = {}
        raw["data"]["path"] = str(data)
        origins[("data", "path")] = (f"--data {data}", None)
    return _validate(raw, origins)


def _find_file(path: str | Path) -> Path:
    p = Path(path)
    if p.is_file():
        return p
    if not p.exists() and p.parent == Path(".") and not p.suffix:
        shipped = SHIPPED_CONFIG_DIR / f"{p.name}.yaml"
        if shipped.is_file():
            return shipped  # `-c gru` means the shipped configs/gru.yaml
    if p.is_dir():
        raise ConfigError("is a directory, not a config file", path=p)
    names = sorted(shipped_configs())
    raise ConfigError("no such config file" + (f" (shipped configs: {', '.join(names)})" if names else ""), path=p)


def load_config(path: str | Path | None = None, overrides: Sequence[str] = (), data: str | None = None) -> Config:
    """Load, override and validate a config. Raises ConfigError naming file/line/override and key.

    path None -> every default, model kind from overrides (`-o model.kind=gru`) or "uniform".
    A bare name that is not a file ("gru") means the shipped configs/<name>.yaml.
    `data` is short for `-o data.path=FILE` (applied after the overrides).
    """
    if path is None:
        return _resolve({}, {}, overrides, data)
    p = _find_file(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=p) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", path=p) from None
    return config_from_text(text, source=str(p), overrides=overrides, data=data)


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


def dump_yaml(cfg: Config) -> str:
    """The resolved config as YAML: every default filled in, fields in declaration order
    (model.kind first). `load_config` of the text gives an equal Config."""
    data = cfg.model_dump(mode="json")
    data["model"] = {"kind": data["model"]["kind"], **data["model"]}
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=100)


def shipped_configs() -> dict[str, Path]:
    """Name -> path of the configs shipped in configs/ (empty when not installed from source)."""
    if not SHIPPED_CONFIG_DIR.is_dir():
        return {}
    return {p.stem: p for p in sorted(SHIPPED_CONFIG_DIR.glob("*.yaml"))}
