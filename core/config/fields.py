"""Reusable pydantic field types and before-validators for the config sections.

Ints are strict (no bools, no strings); floats are lax but never take a boolean.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, Strict

__all__ = [
    "PosInt",
    "NonNegInt",
    "Float",
    "PosFloat",
    "NonNegFloat",
    "Fraction",
    "Dropout",
    "Bool",
    "Str",
    "Head",
]


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
Head = Literal["sigmoid", "softmax", "kofp"]

# Upper bounds (docs/ARCHITECTURE.md, "Config"): a value past them fails validation, naming the
# key and line, instead of failing the run later (a seed torch cannot take) or asking for
# gigabytes (batch_size 1e9). Each is far above any size that trains on one GPU.
SEED_MAX = 2**32 - 1  # what every generator takes: numpy's legacy seed, torch, random
EPOCHS_MAX = 100_000
STEPS_MAX = 1_000_000
BATCH_MAX = 4096
WIDTH_MAX = 8192  # hidden units, d_model
LAYERS_MAX = 64
DAYS_MAX = 100_000  # context, window, tbptt, split lengths: about 270 years of days
PARTS_MAX = 10_000
THREADS_MAX = 1024
LR_MAX = 10.0


def _k_shorthand(v: Any) -> Any:
    if isinstance(v, str):
        m = re.fullmatch(r"\s*(\d+)\s*\.\.\s*(\d+)\s*", v)
        if m:
            return list(range(int(m.group(1)), int(m.group(2)) + 1))
    if isinstance(v, int) and not isinstance(v, bool):
        return [v]
    return v
