"""The miner's settings (`rules:` section) and the rules config file (configs/rules/mine.yaml).

The shipped file sits in configs/rules/, not configs/: every configs/*.yaml is a run config
(the tests, `shipped_configs()` and the launch screen validate each one as such), and this
one has a `rules:` section a run config refuses.

A rules config is a run config's `data` and `split` sections (validated by `core.config`, so
the windows are the ones a run with the same split settings uses) plus a `rules` section
validated here. `-o rules.fdr=0.1` and `-o split.val_days=1500` work as for runs; every
problem is a ConfigError naming the file and line (or the override) and the dotted key.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator

from core.config import SHIPPED_CONFIG_DIR, Config
from core.config.fields import Fraction, PosInt
from core.config.loading import _find_file
from core.config.overrides import _apply
from core.config.schema import _Section
from core.config.validation import _issues_from_pydantic, _raise, _unknown_keys, _validate
from core.config.yaml_lines import Origins, _parse_yaml
from core.errors import ConfigError
from core.rules.kinds import KINDS

DEFAULT_RULES_CONFIG = SHIPPED_CONFIG_DIR / "rules" / "mine.yaml"

Window = Annotated[list[PosInt], Field(min_length=2, max_length=2)]


KindName = Literal["follow_within", "inhibition", "cooccurrence", "long_absence", "calendar"]
CalendarName = Literal["weekday", "month"]


def _all_kinds() -> list[KindName]:
    return list(KINDS)  # type: ignore[arg-type]  # KINDS spells the same names


def _all_calendar() -> list[CalendarName]:
    return ["weekday", "month"]


class RulesSettings(_Section):
    kinds: list[KindName] = Field(default_factory=_all_kinds, description="which kinds of rule to mine")
    windows: list[Window] = Field(
        default_factory=lambda: [[1, 1], [2, 3], [4, 6], [7, 14]],
        description="follow_within/inhibition: [min, max] draws back where the antecedent part occurred",
    )
    gaps: list[PosInt] = Field(
        default_factory=lambda: [10, 15, 20, 30], description="long_absence: draws a part has not been seen"
    )
    calendar: list[CalendarName] = Field(default_factory=_all_calendar, description="calendar rules: weekday, month")
    min_support: PosInt = Field(
        default=30, le=1_000_000, description="fewest antecedent days (training) for a candidate"
    )
    fdr: Fraction = Field(default=0.05, description="false discovery rate over all candidates tested on training")
    fdr_method: Literal["bh", "by"] = Field(default="bh", description="bh: Benjamini-Hochberg; by: Benjamini-Yekutieli")
    replication_alpha: Fraction = Field(default=0.05, description="one-sided level of each rule's test on validation")
    max_rules: PosInt | None = Field(default=None, le=100_000, description="keep at most this many (strongest first)")

    @field_validator("windows")
    @classmethod
    def _ordered(cls, v: list[list[int]]) -> list[list[int]]:
        for a, b in v:
            if a > b:
                raise ValueError(f"window [{a}, {b}]: min must not exceed max")
            if b > 10_000:
                raise ValueError(f"window [{a}, {b}]: max is at most 10000 draws")
        if len({tuple(w) for w in v}) != len(v):
            raise ValueError("windows repeat")
        return v

    @field_validator("gaps")
    @classmethod
    def _gaps(cls, v: list[int]) -> list[int]:
        if any(g > 10_000 for g in v):
            raise ValueError("a gap is at most 10000 draws")
        return sorted(set(v))

    @model_validator(mode="after")
    def _something(self) -> RulesSettings:
        if not self.kinds:
            raise ValueError("kinds is empty: nothing to mine")
        return self

    @property
    def lookback(self) -> int:
        """Rows before a window's first day that an antecedent may read."""
        w = max((b for _, b in self.windows), default=0)
        return max([w, *self.gaps])


def rules_from_raw(raw: dict | None, origins: Origins | None = None) -> RulesSettings:
    origins = origins or {}
    raw = {} if raw is None else raw
    if not isinstance(raw, dict):
        where, line = origins.get(("rules",), (None, None))
        raise ConfigError("rules: should be a mapping (a YAML section)", path=where, line=line)
    issues: list = [([p], m) for p, m in _unknown_keys(raw, RulesSettings, ("rules",))]
    if issues:
        _raise(issues, origins)
    try:
        return RulesSettings.model_validate(raw)
    except ValidationError as exc:
        _raise([([("rules", *p)], f"rules.{msg}") for p, msg in _issues_from_pydantic(exc)], origins)
        raise  # unreachable: _raise raises


def load_rules_config(
    path: str | Path | None = None, overrides: Sequence[str] = (), data: str | None = None
) -> tuple[Config, RulesSettings]:
    """(run config with data + split, miner settings) from a rules YAML, `-o` overrides and --data.

    A bare name that is not a file ("gru") means the shipped configs/<name>.yaml; no path at
    all means the shipped configs/rules/mine.yaml (when installed from source), else defaults."""
    if path is None and DEFAULT_RULES_CONFIG.is_file():
        path = DEFAULT_RULES_CONFIG
    raw: dict = {}
    origins: Origins = {}
    if path is not None:
        p = _find_file(path)
        try:
            text = p.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            raise ConfigError(f"not UTF-8 text (byte {exc.start})", path=p) from None
        except OSError as exc:
            raise ConfigError(f"cannot read: {exc.strerror}", path=p) from None
        raw, origins = _parse_yaml(text, str(p))
    raw = _apply(raw, list(overrides), origins)
    if data is not None:
        if not isinstance(raw.get("data"), dict):
            raw["data"] = {}
        raw["data"]["path"] = str(data)
        origins[("data", "path")] = (f"--data {data}", None)
    settings = rules_from_raw(raw.pop("rules", None), origins)
    return _validate(raw, origins), settings
