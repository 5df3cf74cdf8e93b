"""Plain JSON values out of numpy arrays and scalars, paths and datetimes; NaN/inf -> null.

The one conversion every JSON file and event of a run goes through (strict JSON:
`allow_nan=False` never trips on a metric that came out NaN).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from datetime import date, datetime, UTC
from typing import Any


def jsonable(obj: Any) -> Any:
    """Plain JSON values: numpy scalars/arrays, paths, datetimes converted; NaN/inf -> null."""
    if obj is None or isinstance(obj, (bool, str, int)):
        return obj
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    if isinstance(obj, datetime):
        return obj.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ") if obj.tzinfo is not None else obj.isoformat()
    if isinstance(obj, date):
        return obj.isoformat()
    tolist = getattr(obj, "tolist", None)  # numpy arrays and scalars, torch tensors
    if callable(tolist):
        return jsonable(tolist())
    raise TypeError(f"{type(obj).__name__} is not JSON serialisable: {obj!r:.80}")
