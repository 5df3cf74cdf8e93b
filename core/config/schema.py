"""The config schema: one pydantic section per YAML section, one model class per model kind,
and the `Config` root with its cross-section checks. Every section forbids unknown keys."""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic import BeforeValidator, Strict

from core.config.fields import (
    BATCH_MAX,
    DAYS_MAX,
    EPOCHS_MAX,
    LAYERS_MAX,
    LR_MAX,
    PARTS_MAX,
    SEED_MAX,
    STEPS_MAX,
    THREADS_MAX,
    WIDTH_MAX,
    Bool,
    Dropout,
    Float,
    Fraction,
    Head,
    NonNegFloat,
    NonNegInt,
    PosFloat,
    PosInt,
    Str,
    _k_shorthand,
    _reject_bool,
)
from core.errors import RUN_NAME_PATTERN, RUN_NAME_RULE

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
    "EnsembleModel",
    "ModelConfig",
    "MODEL_KINDS",
    "BASELINE_KINDS",
    "LEARNED_KINDS",
    "COMBINED_KINDS",
    "MODEL_CLASSES",
    "FEATURE_GROUPS",
    "FeatureGroup",
    "BaselineKind",
    "cross_field_problems",
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# --------------------------------------------------------------------------- data / split


# the forms core.data.dates.parse_format reads (kept here so the config needs no numpy)
_DATE_FORMAT = re.compile(r"ISO|(Y{4}|M{1,2}|D{1,2})([-/.]?)(Y{4}|M{1,2}|D{1,2})\2(Y{4}|M{1,2}|D{1,2})")
_DATE_ORDERS = ("YMD", "MDY", "DMY")


class DataColumns(_Section):
    """Which columns to read, for a file whose layout is not found from its header."""

    date: Str = Field(min_length=1, description="name of the date column")
    parts: list[Str] = Field(min_length=1, description="names of the part columns (draws: K; multihot: P, in order)")
    layout: Literal["auto", "draws", "multihot"] = Field("auto", description="auto: 0/1 values make it multihot")

    @field_validator("parts")
    @classmethod
    def _distinct(cls, v: list[str]) -> list[str]:
        dup = sorted({x for x in v if v.count(x) > 1})
        if dup:
            raise ValueError(f"part columns listed twice: {dup}")
        return v


class DataConfig(_Section):
    path: Str | None = Field(None, description="CSV or Parquet file (draws or multihot format)")
    format: Literal["auto", "draws", "multihot"] = "auto"
    parts: Annotated[int, Strict(), Field(ge=2)] = Field(39, le=PARTS_MAX, description="number of parts P")
    events_per_day: PosInt | None = Field(5, le=PARTS_MAX, description="exact events a day; None = any number")
    allow_unsorted: Bool = Field(False, description="sort unsorted dates with a warning instead of failing")
    date_format: Str | None = Field(
        None, description="the dates' format (M/D/YYYY, D/M/YYYY, D.M.YYYY, YYYY-MM-DD, YYYYMMDD); None = inferred"
    )
    columns: DataColumns | None = Field(None, description="{date: NAME, parts: [NAMES]}; None = found from the header")

    @field_validator("date_format")
    @classmethod
    def _date_format(cls, v: str | None) -> str | None:
        if v is None:
            return v
        m = _DATE_FORMAT.fullmatch(v.strip().upper())
        order = "" if m is None or m[0] == "ISO" else "".join(t[0] for t in (m[1], m[3], m[4]))
        if m is None or (m[0] != "ISO" and (order not in _DATE_ORDERS or (not m[2] and order != "YMD"))):
            raise ValueError(
                f"{v!r} is not a date format: use one of YYYY-MM-DD, M/D/YYYY, D/M/YYYY, D.M.YYYY, YYYYMMDD "
                "(or another order of D, M and YYYY with -, / or .)"
            )
        return v


class SplitConfig(_Section):
    test_days: PosInt = Field(1000, le=DAYS_MAX, description="rows in the test window (the last ones)")
    val_days: PosInt = Field(1000, le=DAYS_MAX, description="rows in the validation window (before test)")
    gap_days: NonNegInt = Field(0, le=DAYS_MAX, description="embargo rows between train/val and between val/test")
    folds: PosInt = Field(1, le=1000, description="1 = a single split; >1 = rolling-origin folds")
    fold_step_days: PosInt | None = Field(None, le=DAYS_MAX, description="rows between fold origins; None = test_days")
    min_train_days: PosInt = Field(365, le=DAYS_MAX, description="refuse a fold with fewer training rows")


# --------------------------------------------------------------------------- models


class _ModelBase(_Section):
    """Root of every model kind; fields declared on a shared subclass carry over a kind switch."""


class _Baseline(_ModelBase):
    """Marks the baseline kinds (no trainable parameters)."""


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
    max_gap: PosInt = Field(60, le=DAYS_MAX, description="gaps at or beyond this many days are pooled")
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
    head: Head = Field(
        "sigmoid",
        description="sigmoid: multi-label BCE; softmax: over parts, targets y/events; "
        "kofp: the exact K-of-P set likelihood (conditional Bernoulli)",
    )


FEATURE_GROUPS = ("recency", "frequency", "ewma", "weekday", "cooccurrence")
FeatureGroup = Literal["recency", "frequency", "ewma", "weekday", "cooccurrence"]


class LogisticModel(_Learned):
    """Hand-built features -> one logit per part."""

    kind: Literal["logistic"] = "logistic"
    features: list[FeatureGroup] = Field(default_factory=lambda: list(FEATURE_GROUPS), min_length=1)
    frequency_windows: list[PosInt] = Field(default_factory=lambda: [7, 30, 90, 365], min_length=1)
    ewma_halflives: list[PosFloat] = Field(default_factory=lambda: [7.0, 30.0, 120.0], min_length=1)
    recency_cap: PosInt = Field(60, description="days-since-last is clipped here")
    coupling: Literal["dense", "own", "yesterday", "lowrank"] = Field(
        "own",
        description="dense: every feature to every part; own: a part's own features + weekday; "
        "yesterday: own + every part's yesterday; lowrank: own + a rank-`rank` map "
        "from all parts' yesterday",
    )
    rank: PosInt = Field(4, le=PARTS_MAX, description="rank of the lowrank coupling")
    optimizer: Literal["lbfgs", "adamw"] = Field(
        "adamw",
        description="lbfgs: full-batch L-BFGS to the penalised optimum, once per penalty_scales "
        "point, the best on validation kept; adamw: the training loop's epochs",
    )
    l2: NonNegFloat = Field(1e-4, description="L2 penalty on the weights (lbfgs), on the mean log-loss")
    penalty_scales: list[PosFloat] = Field(
        default_factory=lambda: [16.0, 4.0, 1.0, 0.25],
        min_length=1,
        description="multipliers of l2 fitted in turn (lbfgs; strongest first, warm-started); "
        "the one with the best validation monitor is kept",
    )

    @field_validator("features", "frequency_windows", "ewma_halflives")
    @classmethod
    def _unique(cls, v: list) -> list:
        dup = sorted({x for x in v if v.count(x) > 1}, key=str)
        if dup:
            raise ValueError(f"duplicate entries {dup}")
        return v


Skip = Literal["none", "own"]
SKIP_HELP = (
    "own: add a per-part linear skip path over each part's own recency, rates and EWMAs "
    "to the network's logits (core/models/skip.py); none: the network alone"
)


class _Recurrent(_Learned):
    hidden: PosInt = Field(128, le=WIDTH_MAX, description="hidden units")
    layers: PosInt = Field(1, le=LAYERS_MAX)
    dropout: Dropout = 0.1
    mode: Literal["stateful", "window"] = Field(
        "stateful",
        description="stateful: whole sequence in `chunks` contiguous chunks, TBPTT; window: last `window` days",
    )
    window: PosInt = Field(180, le=DAYS_MAX, description="W days read per prediction in window mode")
    chunks: PosInt = Field(16, le=BATCH_MAX, description="B contiguous chunks run side by side (stateful mode)")
    tbptt: PosInt = Field(128, le=DAYS_MAX, description="truncated-backprop steps (stateful mode)")
    skip: Skip = Field("own", description=SKIP_HELP)


class GruModel(_Recurrent):
    kind: Literal["gru"] = "gru"


class LstmModel(_Recurrent):
    kind: Literal["lstm"] = "lstm"


class TransformerModel(_Learned):
    """Causal Transformer trained on random windows of `context` days."""

    kind: Literal["transformer"] = "transformer"
    d_model: PosInt = Field(128, le=WIDTH_MAX)
    heads: PosInt = Field(4, le=WIDTH_MAX)
    layers: PosInt = Field(2, le=LAYERS_MAX)
    ffn_mult: PosInt = Field(4, le=64, description="feed-forward width = ffn_mult * d_model")
    dropout: Dropout = 0.1
    context: Annotated[int, Strict(), Field(ge=2)] = Field(
        512, le=DAYS_MAX, description="window length L of training batches"
    )
    positions: Literal["rope", "alibi"] = "rope"
    weekday_embedding: Bool = True
    skip: Skip = Field("own", description=SKIP_HELP)

    @field_validator("heads")
    @classmethod
    def _heads_divide(cls, heads: int, info: ValidationInfo) -> int:
        d_model = info.data.get("d_model")
        if d_model is not None and d_model % heads:
            raise ValueError(f"heads ({heads}) must divide d_model ({d_model})")
        return heads

    @model_validator(mode="after")
    def _rope_even(self, info: ValidationInfo) -> TransformerModel:
        deferred = (info.context or {}).get("defer_cross_checks")  # then Config reports it with a key path
        if not deferred and self.positions == "rope" and (self.d_model // self.heads) % 2:
            raise ValueError(
                f"positions 'rope' needs an even head size; d_model/heads = {self.d_model // self.heads}"
                " (change d_model or heads, or use positions: alibi)"
            )
        return self


class HawkesModel(_ModelBase):
    """Discrete-time multivariate Hawkes process, exponential kernels, fit by maximum likelihood."""

    kind: Literal["hawkes"] = "hawkes"
    decays: list[PosFloat] = Field(
        default_factory=lambda: [1.0, 7.0, 30.0],
        min_length=1,
        description="kernel time constants tau in days: exp(-lag / tau)",
    )
    inhibition: Bool = Field(True, description="allow negative (inhibiting) cross-effects")
    l2: NonNegFloat = Field(1e-3, description="L2 penalty on the self-interaction weights")
    cross_l2: NonNegFloat = Field(1e-3, description="L2 penalty on the cross-interaction weights (part q on p)")
    cross_l1: NonNegFloat = Field(
        1e-2,
        description="group-lasso penalty on each cross pair (q on p) over its kernels: most pairs are pruned to ~0",
    )
    seasonal: Bool = Field(True, description="a weekday term in each part's baseline intensity")
    yearly: NonNegInt = Field(
        0,
        le=64,
        description="harmonics of a yearly cycle in each part's baseline intensity "
        "(sin/cos of 2 pi k day / 365.25, k = 1..yearly); 0: none",
    )
    head: Head = Field(
        "sigmoid", description="sigmoid: Bernoulli per part; softmax; kofp: the exact K-of-P set likelihood"
    )
    l1: NonNegFloat = Field(3e-3, description="group-lasso penalty on each part's self-effect over its kernels")
    penalty_scales: list[PosFloat] = Field(
        default_factory=lambda: [4.0, 1.0, 0.25, 0.0625],
        min_length=1,
        description="multipliers of l2, cross_l2 and cross_l1 fitted in turn (strongest first, warm-started); "
        "the one with the best validation monitor is kept",
    )

    @field_validator("decays")
    @classmethod
    def _distinct(cls, v: list[float]) -> list[float]:
        if len(set(v)) != len(v):
            raise ValueError("decays must be distinct")
        return v


class EnsembleModel(_ModelBase):
    """Finished runs' validation-window predictions combined with weights fitted on the
    first part of validation (never on test), then calibrated and evaluated like any model."""

    kind: Literal["ensemble"] = "ensemble"
    members: list[Str] = Field(
        min_length=2,
        description="run ids (or unique prefixes) of finished runs on the same data and split, in the runs dir",
    )
    inner_fraction: Annotated[float, BeforeValidator(_reject_bool), Field(gt=0, lt=1)] = Field(
        0.5, description="the first part of the validation window the weights are fitted on"
    )

    @field_validator("members")
    @classmethod
    def _distinct_members(cls, v: list[str]) -> list[str]:
        if len(set(v)) != len(v):
            raise ValueError("members must be distinct runs")
        return v


MODEL_CLASSES: dict[str, type[_ModelBase]] = {
    "uniform": UniformModel,
    "frequency": FrequencyModel,
    "recency": RecencyModel,
    "ewma": EwmaModel,
    "hot_cold": HotColdModel,
    "logistic": LogisticModel,
    "gru": GruModel,
    "lstm": LstmModel,
    "transformer": TransformerModel,
    "hawkes": HawkesModel,
    "ensemble": EnsembleModel,
}
MODEL_KINDS = tuple(MODEL_CLASSES)
BASELINE_KINDS = tuple(k for k, c in MODEL_CLASSES.items() if issubclass(c, _Baseline))
COMBINED_KINDS = ("ensemble",)  # made from other runs, not fitted to the data themselves
LEARNED_KINDS = tuple(k for k in MODEL_KINDS if k not in BASELINE_KINDS and k not in COMBINED_KINDS)
BaselineKind = Literal["uniform", "frequency", "recency", "ewma", "hot_cold"]

ModelConfig = Annotated[
    UniformModel
    | FrequencyModel
    | RecencyModel
    | EwmaModel
    | HotColdModel
    | LogisticModel
    | GruModel
    | LstmModel
    | TransformerModel
    | HawkesModel
    | EnsembleModel,
    Field(discriminator="kind"),
]


# --------------------------------------------------------------------------- train / calibration / eval

_MONITOR_RE = re.compile(r"^val_good_or_better@(\d+)$")


class TrainConfig(_Section):
    epochs: PosInt = Field(100, le=EPOCHS_MAX, description="maximum epochs")
    steps_per_epoch: PosInt | None = Field(
        None, le=STEPS_MAX, description="windows/chunk steps per epoch; None = one pass"
    )
    batch_size: PosInt = Field(32, le=BATCH_MAX, description="windows per step (transformer, windowed RNN)")
    lr: PosFloat = Field(1e-3, le=LR_MAX)
    weight_decay: NonNegFloat = Field(0.01, le=LR_MAX)
    label_smoothing: Annotated[float, BeforeValidator(_reject_bool), Field(ge=0, lt=0.5)] = 0.0
    patience: PosInt = Field(10, le=EPOCHS_MAX, description="epochs without improvement before stopping")
    min_delta: NonNegFloat = Field(0.0, description="smallest change of the monitor that counts")
    monitor: Str = Field("val_loss", description="val_loss or val_good_or_better@K")
    grad_clip: PosFloat | None = Field(1.0, description="max gradient norm; None = no clipping")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: Bool = Field(False, description="bf16 autocast; honoured on CUDA only")
    num_threads: PosInt | None = Field(
        None, le=THREADS_MAX, description="torch threads; None = cores / parallel workers"
    )
    max_minutes: PosFloat | None = Field(None, description="wall-clock budget for training")
    deterministic: Bool = Field(
        False,
        description="bit-reproducible fit on CPU: one torch thread and "
        "torch.use_deterministic_algorithms (slower); see Training",
    )

    @field_validator("monitor")
    @classmethod
    def _monitor_form(cls, v: str) -> str:
        if v != "val_loss" and not _MONITOR_RE.match(v):
            raise ValueError(
                f"monitor must be 'val_loss' or 'val_good_or_better@K' (e.g. val_good_or_better@24), got {v!r}"
            )
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


class EvalConfig(_Section):
    k: Annotated[list[PosInt], BeforeValidator(_k_shorthand)] = Field(
        default_factory=lambda: list(range(20, 28)), min_length=1, description="pool sizes K (or 'A..B')"
    )
    tiers: dict[Str, NonNegInt] = Field(
        default_factory=lambda: {"excellent": 5, "good": 4, "fair": 3},
        min_length=1,
        description="tier name -> minimum hits",
    )
    good_tier: Str = Field("good", description="tier whose threshold defines good-or-better")
    ece_bins: Annotated[int, Strict(), Field(ge=2)] = Field(15, le=1000)
    baselines: list[BaselineKind] = Field(
        default_factory=lambda: list(BASELINE_KINDS), description="baselines computed alongside every run"
    )

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
_NAME_RE = re.compile(rf"^{RUN_NAME_PATTERN}$")


class Config(_Section):
    name: Str | None = Field(None, description="run name, safe for file names; default = model kind")
    seed: NonNegInt = Field(0, le=SEED_MAX)
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
            raise ValueError(f"name {v!r} must be {RUN_NAME_RULE} (safe as a file name)")
        return v

    @model_validator(mode="after")
    def _resolve(self, info: ValidationInfo) -> Config:
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
        out.append(
            (
                [f"eval.k.{bad[0][0]}", "eval.k", "data.parts"],
                f"K={ks} {'is' if len(bad) == 1 else 'are'} outside 1..data.parts ({parts})",
            )
        )
    mk = cfg.train.monitor_k
    if mk is not None and not 1 <= mk <= parts:
        out.append(
            (["train.monitor", "data.parts"], f"K={mk} in {cfg.train.monitor!r} is outside 1..data.parts ({parts})")
        )
    m = cfg.model
    if isinstance(m, TransformerModel) and m.positions == "rope" and (m.d_model // m.heads) % 2:
        out.append(
            (
                ["model.heads", "model.d_model", "model.positions", "model"],
                f"positions 'rope' needs an even head size; d_model/heads = {m.d_model // m.heads}"
                " (change d_model or heads, or use positions: alibi)",
            )
        )
    if epd is not None:
        if epd >= parts:
            out.append(
                (
                    ["data.events_per_day", "data.parts"],
                    f"events_per_day ({epd}) must be smaller than data.parts ({parts})",
                )
            )
        for name, hits in cfg.eval.tiers.items():
            if hits > epd:
                out.append(
                    (
                        [f"eval.tiers.{name}", "eval.tiers", "data.events_per_day"],
                        f"tier {name!r} needs {hits} hits but a day has only {epd} events (data.events_per_day)",
                    )
                )
    return out
