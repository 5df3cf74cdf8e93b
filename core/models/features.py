"""Causal hand-built features of a multi-hot event history, for the ``rows`` regime.

Every function here is a small, pure, vectorised numpy function of the whole history
``Y`` (shape ``(T, P)``, bool or 0/1, row t = day t) and returns one row per day.

Causality contract
------------------
Row ``t`` of every output is known *before* day t: it is a function of ``Y[:t]`` only
(and of day t's own date for ``weekday_onehot`` and ``yearly_terms``: calendar facts known in advance).
Row 0 therefore sees no history. Changing any row ``>= t`` of ``Y`` leaves output rows
``0..t`` bit-identical (the tests check this by perturbation, and check every function
against a slow per-day reference loop).

No statistic is ever estimated from the data here: every scaling is a fixed constant
(gaps are divided by ``recency_cap``; rates and normalised EWMAs already lie in [0, 1]),
so nothing about later days leaks into earlier rows through a normalisation.

Column layout of the per-part groups is part-major within a parameter: for windows
``(w1, w2)`` the frequency block is ``[freq_w1 of parts 1..P, freq_w2 of parts 1..P]``.
``feature_names`` gives the matching names; ``feature_matrix`` concatenates the groups in
the order they are asked for.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "FEATURE_GROUPS",
    "WEEKDAY_NAMES",
    "days_since_last",
    "recency",
    "frequencies",
    "ewmas",
    "weekday_onehot",
    "yearly_terms",
    "yesterday",
    "exp_traces",
    "feature_matrix",
    "feature_names",
    "feature_count",
]

FEATURE_GROUPS = ("recency", "frequency", "ewma", "weekday", "cooccurrence")
"""The feature groups `feature_matrix` knows (the same names as ``core.config``)."""

WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


# --------------------------------------------------------------------------- helpers


def _history(Y) -> np.ndarray:
    """Validate Y and return it as a (T, P) float64 0/1 array."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (days, parts), got shape {Y.shape}")
    Yf = Y.astype(np.float64, copy=False)
    if Y.dtype != bool and Yf.size and not ((Yf == 0.0) | (Yf == 1.0)).all():
        raise ValueError("Y must hold only 0/1 (or bool) values")
    return Yf


def _positive(values: Sequence, name: str, integer: bool = False) -> list:
    out = []
    for v in values:
        if isinstance(v, bool) or not np.isfinite(v) or v <= 0 or (integer and int(v) != v):
            raise ValueError(f"{name} must be positive {'integers' if integer else 'numbers'}, got {v!r}")
        out.append(int(v) if integer else float(v))
    if not out:
        raise ValueError(f"{name} must not be empty")
    return out


def _decayed_past_sum(Y: np.ndarray, r: float) -> np.ndarray:
    """(T, P) float64 ``out[t] = sum_{s<t} r**(t-1-s) * Y[s]`` (row 0 = 0), via lfilter."""
    out = np.zeros_like(Y, dtype=np.float64)
    if Y.shape[0] > 1:
        out[1:] = lfilter([1.0], [1.0, -r], Y[:-1], axis=0)
    return out


# --------------------------------------------------------------------------- feature groups


def days_since_last(Y) -> tuple[np.ndarray, np.ndarray]:
    """Days since each part last occurred, as known before each day.

    Args:
        Y: (T, P) multi-hot history.
    Returns:
        ``gap`` (T, P) int64: ``t - (last s < t with Y[s, p])``; a part not yet seen counts
        as seen on the virtual day -1, so its gap is ``t + 1``.
        ``unseen`` (T, P) bool: the part has not occurred in rows ``< t``.
    """
    Y = _history(Y)
    T, P = Y.shape
    idx = np.where(Y > 0, np.arange(T)[:, None], -1)
    last = np.full((T, P), -1, dtype=np.int64)
    if T > 1:
        last[1:] = np.maximum.accumulate(idx[:-1], axis=0)
    return np.arange(T)[:, None] - last, last < 0


def recency(Y, cap: int = 60) -> np.ndarray:
    """Capped, scaled days-since-last plus an "unseen" flag.

    Args:
        Y: (T, P) multi-hot history.
        cap: gaps are clipped at ``cap`` days and divided by it (fixed scaling, no data
            statistics), so the scaled gap lies in (0, 1].
    Returns:
        (T, 2P) float64: columns ``[min(gap, cap) / cap for parts 1..P,
        unseen for parts 1..P]`` (``days_since_last`` defines gap and unseen).
    """
    cap = _positive([cap], "recency cap", integer=True)[0]
    gap, unseen = days_since_last(Y)
    return np.concatenate([np.minimum(gap, cap) / cap, unseen.astype(np.float64)], axis=1)


def frequencies(Y, windows: Sequence[int]) -> np.ndarray:
    """Occurrence rate of each part over the last ``w`` days, for each window.

    ``rate[t, p] = (occurrences of p in rows [max(0, t - w), t)) / min(t, w)``; row 0 (no
    history) is 0. Rates lie in [0, 1].

    Args:
        Y: (T, P) multi-hot history.
        windows: W positive window lengths in days.
    Returns:
        (T, W * P) float64; column ``i * P + p`` is window ``windows[i]``, part p.
    """
    Y = _history(Y)
    windows = _positive(windows, "frequency windows", integer=True)
    T, P = Y.shape
    C = np.zeros((T + 1, P), dtype=np.float64)
    np.cumsum(Y, axis=0, out=C[1:])
    t = np.arange(T)
    blocks = []
    for w in windows:
        start = np.maximum(t - w, 0)
        n = (t - start).astype(np.float64)[:, None]
        counts = C[t] - C[start]
        rate = np.zeros((T, P), dtype=np.float64)
        np.divide(counts, n, out=rate, where=n > 0)
        blocks.append(rate)
    return np.concatenate(blocks, axis=1) if blocks else np.zeros((T, 0))


def ewmas(Y, halflives: Sequence[float]) -> np.ndarray:
    """Normalised exponentially weighted average of each part's past occurrences.

    With ``r = 0.5 ** (1 / halflife)``:
    ``e[t, p] = sum_{s<t} r**(t-1-s) Y[s, p] / sum_{s<t} r**(t-1-s)``; row 0 is 0.
    Yesterday weighs 1 before normalisation; values lie in [0, 1].

    Args:
        Y: (T, P) multi-hot history.
        halflives: H positive half-lives in days.
    Returns:
        (T, H * P) float64; column ``i * P + p`` is half-life ``halflives[i]``, part p.
    """
    Y = _history(Y)
    halflives = _positive(halflives, "EWMA half-lives")
    T, P = Y.shape
    t = np.arange(T, dtype=np.float64)[:, None]
    blocks = []
    for h in halflives:
        r = 0.5 ** (1.0 / h)
        num = _decayed_past_sum(Y, r)
        mass = (1.0 - r**t) / (1.0 - r)  # sum_{s<t} r**(t-1-s)
        out = np.zeros((T, P), dtype=np.float64)
        np.divide(num, mass, out=out, where=mass > 0)
        blocks.append(out)
    return np.concatenate(blocks, axis=1)


def weekday_onehot(dates) -> np.ndarray:
    """One-hot weekday of each day's own date (known in advance, so not a leak).

    Args:
        dates: (T,) datetime64 (any unit; truncated to days) or ISO date strings.
    Returns:
        (T, 7) float64; column 0 = Monday ... 6 = Sunday.
    """
    d = np.asarray(dates).astype("datetime64[D]").astype(np.int64)
    wd = (d + 3) % 7  # 1970-01-01 was a Thursday
    out = np.zeros((d.shape[0], 7), dtype=np.float64)
    out[np.arange(d.shape[0]), wd] = 1.0
    return out


def yearly_terms(dates, harmonics: int) -> np.ndarray:
    """Harmonics of the year at each day's own date (a calendar fact, like the weekday).

    Args:
        dates: (T,) datetime64 (any unit; truncated to days).
        harmonics: H >= 1.
    Returns:
        (T, 2H) float32 ``[sin(2 pi k d / 365.25), cos(2 pi k d / 365.25)]`` for k = 1..H,
        d = days since 1970-01-01 (continuous across year ends).
    """
    d = np.asarray(dates).astype("datetime64[D]").astype(np.int64).astype(np.float64)
    ang = 2.0 * np.pi * d[:, None] * np.arange(1, harmonics + 1)[None, :] / 365.25
    return np.stack([np.sin(ang), np.cos(ang)], axis=2).reshape(len(d), 2 * harmonics).astype(np.float32)


def yesterday(Y) -> np.ndarray:
    """Yesterday's multi-hot: ``out[t] = Y[t - 1]``, row 0 all 0.

    A linear layer on it learns co-occurrence across days ("part a yesterday lifts part b
    today" is the weight from column a to output b).

    Args:
        Y: (T, P) multi-hot history.
    Returns:
        (T, P) float64.
    """
    Y = _history(Y)
    out = np.zeros_like(Y, dtype=np.float64)
    out[1:] = Y[:-1]
    return out


def exp_traces(Y, decays: Sequence[float]) -> np.ndarray:
    """Exponentially decaying traces of each part's past events (Hawkes features).

    ``h[t, q, d] = sum_{s<t} exp(-(t - 1 - s) / tau_d) * Y[s, q]`` with ``tau_d = decays[d]``
    in days: yesterday weighs 1, the day before ``exp(-1/tau)``, ... Row 0 is 0.

    Args:
        Y: (T, P) multi-hot history.
        decays: D positive time constants tau (days).
    Returns:
        (T, P * D) float64; column ``q * D + d`` is ``h[t, q, d]`` (so
        ``reshape(T, P, D)`` recovers the 3-D array).
    """
    Y = _history(Y)
    decays = _positive(decays, "decays")
    T, P = Y.shape
    h = np.empty((T, P, len(decays)), dtype=np.float64)
    for d, tau in enumerate(decays):
        h[:, :, d] = _decayed_past_sum(Y, float(np.exp(-1.0 / tau)))
    return h.reshape(T, P * len(decays))


# --------------------------------------------------------------------------- the matrix


def _check_groups(groups: Sequence[str]) -> list[str]:
    groups = list(groups)
    unknown = [g for g in groups if g not in FEATURE_GROUPS]
    if unknown:
        raise ValueError(f"unknown feature group(s) {unknown}; known: {', '.join(FEATURE_GROUPS)}")
    if len(set(groups)) != len(groups):
        raise ValueError(f"duplicate feature groups in {groups}")
    if not groups:
        raise ValueError("at least one feature group is needed")
    return groups


def feature_matrix(
    Y,
    dates,
    groups: Sequence[str] = FEATURE_GROUPS,
    frequency_windows: Sequence[int] = (7, 30, 90, 365),
    ewma_halflives: Sequence[float] = (7.0, 30.0, 120.0),
    recency_cap: int = 60,
) -> np.ndarray:
    """All requested feature groups side by side, in the order of ``groups``.

    Groups: ``recency`` (2P: scaled gap, unseen flag), ``frequency`` (W*P windowed rates),
    ``ewma`` (H*P normalised EWMAs), ``weekday`` (7, of day t itself), ``cooccurrence``
    (P, yesterday's multi-hot). Row t uses ``Y[:t]`` (and ``dates[t]``) only.

    Args:
        Y: (T, P) multi-hot history.
        dates: (T,) datetime64 dates; may be None when ``weekday`` is not requested.
        groups: feature groups to include (no duplicates).
        frequency_windows: windows for ``frequency``.
        ewma_halflives: half-lives for ``ewma``.
        recency_cap: cap (and scale) for the recency gap.
    Returns:
        (T, F) float32 with ``F = feature_count(P, ...)``; ``feature_names`` names the columns.
    """
    Y = _history(Y)
    groups = _check_groups(groups)
    blocks = []
    for g in groups:
        if g == "recency":
            blocks.append(recency(Y, recency_cap))
        elif g == "frequency":
            blocks.append(frequencies(Y, frequency_windows))
        elif g == "ewma":
            blocks.append(ewmas(Y, ewma_halflives))
        elif g == "weekday":
            if dates is None:
                raise ValueError("the weekday feature group needs dates")
            if len(dates) != Y.shape[0]:
                raise ValueError(f"dates has {len(dates)} rows, Y has {Y.shape[0]}")
            blocks.append(weekday_onehot(dates))
        else:  # cooccurrence
            blocks.append(yesterday(Y))
    return np.concatenate(blocks, axis=1).astype(np.float32)


def feature_names(
    parts: int,
    groups: Sequence[str] = FEATURE_GROUPS,
    frequency_windows: Sequence[int] = (7, 30, 90, 365),
    ewma_halflives: Sequence[float] = (7.0, 30.0, 120.0),
) -> list[str]:
    """Names of `feature_matrix`'s columns, e.g. ``gap[part_3]``, ``unseen[part_3]``,
    ``freq_30d[part_3]``, ``ewma_7d[part_3]``, ``weekday[Mon]``, ``yesterday[part_3]``
    (parts are numbered 1..P as in the data files)."""
    groups = _check_groups(groups)
    ps = [f"part_{p + 1}" for p in range(parts)]
    names: list[str] = []
    for g in groups:
        if g == "recency":
            names += [f"gap[{p}]" for p in ps] + [f"unseen[{p}]" for p in ps]
        elif g == "frequency":
            names += [f"freq_{int(w)}d[{p}]" for w in frequency_windows for p in ps]
        elif g == "ewma":
            names += [f"ewma_{float(h):g}d[{p}]" for h in ewma_halflives for p in ps]
        elif g == "weekday":
            names += [f"weekday[{d}]" for d in WEEKDAY_NAMES]
        else:
            names += [f"yesterday[{p}]" for p in ps]
    return names


def feature_count(
    parts: int,
    groups: Sequence[str] = FEATURE_GROUPS,
    frequency_windows: Sequence[int] = (7, 30, 90, 365),
    ewma_halflives: Sequence[float] = (7.0, 30.0, 120.0),
) -> int:
    """F, the number of columns of `feature_matrix` (397 for P=39 and the defaults)."""
    return len(feature_names(parts, groups, frequency_windows, ewma_halflives))
