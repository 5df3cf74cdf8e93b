"""Baseline scorers: uniform, frequency (expanding / windowed), recency (gap hazard), EWMA, hot-cold.

Every baseline is a small pure, vectorised numpy function of the whole multi-hot history
``Y`` (shape ``(T, P)``, bool or 0/1) that returns ``(T, P)`` float64 **logits**.

Causality contract
------------------
Row ``t`` of the output is the score for day ``t`` and is a function of rows ``< t`` of
``Y`` only (plus the parameters). Row 0 therefore gets the uninformed prior ``K/P``
(``K`` = events per day). Changing any row ``>= t`` of ``Y`` leaves output rows ``0..t``
bit-identical; ``tests/test_baselines.py`` checks this by perturbation for every baseline.
The one quantity that may be read from the whole array is ``K`` when ``events_per_day`` is
``None``: it is then inferred from the mean row sum, a data-set constant (the loader enforces
exactly K events a day), so pass ``events_per_day`` explicitly when rows may differ.

All probabilities are clipped to ``[1e-6, 1 - 1e-6]`` before the logit, so every logit is
finite (``|logit| <= 13.82``). Smoothing priors are counted in pseudo-days (pseudo-counts).

``BASELINES`` maps a kind to its function; ``score_baseline(kind, Y, **params)`` is the one
entry point the rest of the engine uses, with parameter names that match ``core.config``
(``window``, ``smoothing``, ``max_gap``, ``halflife``, ``hot_weight``, ``cold_weight``).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

import numpy as np
from scipy.signal import lfilter

__all__ = [
    "PROB_EPS",
    "BASELINES",
    "score_baseline",
    "uniform",
    "frequency",
    "frequency_window",
    "recency",
    "ewma",
    "hot_cold",
    "last_occurrence_gap",
]

PROB_EPS = 1e-6
"""Probabilities are clipped to [PROB_EPS, 1 - PROB_EPS] before taking the logit."""


# --------------------------------------------------------------------------- helpers


def _as_history(Y) -> np.ndarray:
    """Validate ``Y`` and return it as a (T, P) float64 0/1 array."""
    Y = np.asarray(Y)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2-D (days, parts), got shape {Y.shape}")
    if Y.shape[1] == 0:
        raise ValueError("Y has no parts (P == 0)")
    Yf = Y.astype(np.float64, copy=False)
    if Y.dtype != bool and Yf.size and not ((Yf == 0.0) | (Yf == 1.0)).all():
        raise ValueError("Y must hold only 0/1 (or bool) values")
    return Yf


def _base_rate(Y: np.ndarray, events_per_day: float | None) -> float:
    """Uninformed prior K/P; K inferred from Y's mean row sum when not given."""
    T, P = Y.shape
    if events_per_day is None:
        k = float(Y.sum(axis=1).mean()) if T else 1.0
    else:
        k = float(events_per_day)
        if not 0 < k <= P:
            raise ValueError(f"events_per_day must be in (0, {P}], got {events_per_day}")
    return float(np.clip(k / P, PROB_EPS, 1.0 - PROB_EPS))


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, PROB_EPS, 1.0 - PROB_EPS)
    return np.log(p) - np.log1p(-p)


_LOGIT_LO, _LOGIT_HI = float(_logit(np.float64(PROB_EPS))), float(_logit(np.float64(1 - PROB_EPS)))


def _shrink(count: np.ndarray, n: np.ndarray, smoothing, prior) -> np.ndarray:
    """(count + s * prior) / (n + s); the prior itself where n + s == 0 (s: scalar or array)."""
    num = count + smoothing * prior
    den = n + smoothing
    prior_b = np.broadcast_to(prior, np.broadcast_shapes(np.shape(num), np.shape(den)))
    out = np.array(prior_b, dtype=np.float64, copy=True)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _past_counts(Y: np.ndarray) -> np.ndarray:
    """(T + 1, P) float64 (exact integers): row t = occurrences in rows < t (exclusive cumsum)."""
    C = np.zeros((Y.shape[0] + 1, Y.shape[1]), dtype=np.float64)
    np.cumsum(Y, axis=0, out=C[1:])
    return C


def _window_counts(C: np.ndarray, window: int | None) -> tuple[np.ndarray, np.ndarray]:
    """Occurrences and day counts over rows [max(0, t - window), t) for every t.

    Returns ``(counts (T, P) float64, n (T, 1) float64)``; ``window=None`` = expanding.
    """
    T = C.shape[0] - 1
    t = np.arange(T)
    if window is None:
        return C[:-1], t[:, None].astype(np.float64)
    start = np.maximum(t - window, 0)
    return C[t] - C[start], (t - start)[:, None].astype(np.float64)


def _check_window(window, name: str = "window", allow_none: bool = True) -> int | None:
    if window is None and allow_none:
        return None
    if (
        isinstance(window, bool)
        or not isinstance(window, (int, np.integer, float, np.floating))
        or not np.isfinite(window)
        or int(window) != window
        or window < 1
    ):
        raise ValueError(f"{name} must be a positive integer{' or None' if allow_none else ''}, got {window!r}")
    return int(window)


def _check_smoothing(smoothing: float) -> float:
    smoothing = float(smoothing)
    if not np.isfinite(smoothing) or smoothing < 0:
        raise ValueError(f"smoothing must be a finite number >= 0, got {smoothing}")
    return smoothing


def last_occurrence_gap(Y) -> np.ndarray:
    """Days since each part last occurred, as known before each day.

    Args:
        Y: (T, P) multi-hot history.
    Returns:
        (T, P) int64 ``gap[t, p] = t - (last s < t with Y[s, p])``; a part not yet seen
        counts as seen on the virtual day -1, so ``gap = t + 1`` (row 0 is all 1).
    """
    Y = np.asarray(Y)
    T, P = Y.shape
    idx = np.where(Y.astype(bool), np.arange(T)[:, None], -1)
    last = np.full((T, P), -1, dtype=np.int64)
    if T > 1:
        last[1:] = np.maximum.accumulate(idx[:-1], axis=0)
    return np.arange(T)[:, None] - last


# --------------------------------------------------------------------------- baselines


def uniform(Y, events_per_day: float | None = None) -> np.ndarray:
    """Constant logit of K/P for every day and part: the random reference.

    Args:
        Y: (T, P) multi-hot history (only its shape, and its mean row sum when
            ``events_per_day`` is None, are used).
        events_per_day: K; None = inferred from the mean row sum of Y.
    Returns:
        (T, P) float64 logits, all equal to ``logit(K / P)``.
    """
    Y = _as_history(Y)
    q = _base_rate(Y, events_per_day)
    return np.full(Y.shape, _logit(np.float64(q)), dtype=np.float64)


def frequency(Y, window: int | None = None, smoothing: float = 1.0, events_per_day: float | None = None) -> np.ndarray:
    """Per-part occurrence rate over earlier days, shrunk toward K/P.

    ``p[t, p] = (c + s * K/P) / (n + s)`` with ``c`` the occurrences of part p in rows
    ``[t - window, t)`` (all rows ``< t`` when ``window`` is None), ``n`` the number of those
    rows, ``s = smoothing`` pseudo-days. Row 0 is ``K/P``.

    Args:
        Y: (T, P) multi-hot history.
        window: days looked back; None = expanding (all history).
        smoothing: pseudo-days of the K/P prior (>= 0).
        events_per_day: K; None = inferred from Y.
    Returns:
        (T, P) float64 logits.
    """
    Y = _as_history(Y)
    window = _check_window(window)
    smoothing = _check_smoothing(smoothing)
    q = _base_rate(Y, events_per_day)
    counts, n = _window_counts(_past_counts(Y), window)
    return _logit(_shrink(counts, n, smoothing, q))


def frequency_window(Y, window: int = 100, smoothing: float = 1.0, events_per_day: float | None = None) -> np.ndarray:
    """``frequency`` over the last ``window`` days (default 100). Returns (T, P) float64 logits."""
    return frequency(
        Y, window=_check_window(window, allow_none=False), smoothing=smoothing, events_per_day=events_per_day
    )


def recency(Y, max_gap: int = 60, smoothing: float = 1.0, events_per_day: float | None = None) -> np.ndarray:
    """P(part occurs today | days since it last occurred), an expanding empirical hazard.

    Gap: ``g[t, p] = t - (last day < t the part occurred)`` (``t + 1`` if never seen, see
    ``last_occurrence_gap``), bucketed as ``b = min(g, max_gap)`` (buckets 1..max_gap; the last
    pools every gap >= max_gap). Each (day s, part p) is one observed transition
    "bucket b[s, p] -> occurred Y[s, p]". The hazard table for day t counts the transitions
    of days ``s < t`` only, pooled over parts:

        N[t, b] = #{(s, p): s < t, b[s, p] = b},   O[t, b] = #{... and Y[s, p] = 1}
        p[t, p] = (O[t, b] + s * f[t, p]) / (N[t, b] + s),   b = b[t, p]

    where ``s = smoothing`` pseudo-counts pull toward the part's own base rate ``f[t, p]``
    (the expanding ``frequency`` with 1 pseudo-day toward K/P). Row 0 is ``K/P``.

    Args:
        Y: (T, P) multi-hot history.
        max_gap: gaps at or beyond this many days share one bucket (>= 1).
        smoothing: pseudo-counts toward the part's base rate (>= 0).
        events_per_day: K; None = inferred from Y.
    Returns:
        (T, P) float64 logits.
    """
    Y = _as_history(Y)
    max_gap = _check_window(max_gap, "max_gap", allow_none=False)
    smoothing = _check_smoothing(smoothing)
    q = _base_rate(Y, events_per_day)
    T, P = Y.shape
    bucket = np.minimum(last_occurrence_gap(Y), max_gap) - 1  # (T, P) in 0..max_gap-1
    flat = (np.arange(T)[:, None] * max_gap + bucket).ravel()
    seen_day = np.bincount(flat, minlength=T * max_gap).reshape(T, max_gap)
    hit_day = np.bincount(flat, weights=Y.ravel(), minlength=T * max_gap).reshape(T, max_gap)
    N = np.zeros((T, max_gap), dtype=np.float64)  # transitions of rows < t
    O = np.zeros((T, max_gap), dtype=np.float64)
    if T > 1:
        np.cumsum(seen_day[:-1], axis=0, out=N[1:])
        np.cumsum(hit_day[:-1], axis=0, out=O[1:])
    rows = np.arange(T)[:, None]
    counts, n = _window_counts(_past_counts(Y), None)
    base = _shrink(counts, n, 1.0, q)
    return _logit(_shrink(O[rows, bucket], N[rows, bucket], smoothing, base))


def ewma(Y, halflife: float = 30.0, smoothing: float = 1.0, events_per_day: float | None = None) -> np.ndarray:
    """Exponentially weighted average of each part's past occurrences.

    With ``w = 0.5 ** (1 / halflife)``, a day ``a`` days before yesterday weighs ``w ** a``,
    and the prior K/P is a pseudo-observation of mass ``s = smoothing`` on the virtual day -1
    (so it decays like any old day):

        p[t, p] = (s * w**t * K/P + sum_{u<t} w**(t-1-u) Y[u, p]) / (s * w**t + sum_{u<t} w**(t-1-u))

    Row 0 is ``K/P``; as ``halflife -> 0`` row t tends to ``Y[t-1]``. Computed with
    ``scipy.signal.lfilter`` along time.

    Args:
        Y: (T, P) multi-hot history.
        halflife: days for a past day's weight to halve (> 0).
        smoothing: initial pseudo-mass of the K/P prior (>= 0).
        events_per_day: K; None = inferred from Y.
    Returns:
        (T, P) float64 logits.
    """
    Y = _as_history(Y)
    halflife = float(halflife)
    if not np.isfinite(halflife) or halflife <= 0:
        raise ValueError(f"halflife must be a finite number > 0, got {halflife}")
    smoothing = _check_smoothing(smoothing)
    q = _base_rate(Y, events_per_day)
    T, P = Y.shape
    w = 0.5 ** (1.0 / halflife)
    num = np.zeros((T, P), dtype=np.float64)
    if T > 1:
        num[1:] = lfilter([1.0], [1.0, -w], Y[:-1], axis=0)
    t = np.arange(T, dtype=np.float64)[:, None]
    wt = w**t  # (T, 1), 0**0 == 1
    mass = (1.0 - wt) / (1.0 - w) if w < 1.0 else t
    return _logit(_shrink(num, mass, smoothing * wt, q))


def hot_cold(
    Y,
    window: int = 30,
    long_window: int | None = None,
    hot_weight: float = 1.0,
    cold_weight: float = 0.0,
    smoothing: float = 1.0,
    events_per_day: float | None = None,
) -> np.ndarray:
    """Long-run rate moved up for hot (recently frequent) parts and, optionally, overdue ones.

    With ``L`` the long-run rate (``frequency`` over ``long_window`` days, expanding when None,
    shrunk toward K/P by ``smoothing`` pseudo-days), ``R`` the recent rate over the last
    ``window`` days shrunk toward ``L`` by ``smoothing`` pseudo-days, and ``g`` the gap since
    the part last occurred (``last_occurrence_gap``):

        logit[t, p] = logit(L) + hot_weight * log(R / L) + cold_weight * log(g * L)

    ``log(R / L) > 0`` for a hot part (``< 0`` cold); ``g * L`` is the gap over its expected
    value ``1 / L``, so ``cold_weight > 0`` favours overdue parts (``< 0`` penalises them).
    ``hot_weight < 0`` is contrarian. Row 0 is ``logit(K/P)``. The result is clipped to the
    logits of ``[1e-6, 1 - 1e-6]``.

    Args:
        Y: (T, P) multi-hot history.
        window: days counted as "recent" (>= 1).
        long_window: days of the long-run rate; None = expanding.
        hot_weight: weight of ``log(R / L)``.
        cold_weight: weight of ``log(g * L)`` (default 0: off).
        smoothing: pseudo-days of each rate's prior (>= 0).
        events_per_day: K; None = inferred from Y.
    Returns:
        (T, P) float64 logits.
    """
    Y = _as_history(Y)
    window = _check_window(window, allow_none=False)
    long_window = _check_window(long_window, "long_window")
    smoothing = _check_smoothing(smoothing)
    hot_weight, cold_weight = float(hot_weight), float(cold_weight)
    q = _base_rate(Y, events_per_day)
    C = _past_counts(Y)
    L = np.clip(_shrink(*_window_counts(C, long_window), smoothing, q), PROB_EPS, 1 - PROB_EPS)
    counts, n = _window_counts(C, window)
    R = np.clip(_shrink(counts, n, smoothing, L), PROB_EPS, 1 - PROB_EPS)
    score = _logit(L)
    if hot_weight:
        score = score + hot_weight * (np.log(R) - np.log(L))
    if cold_weight:
        score = score + cold_weight * np.log(last_occurrence_gap(Y) * L)
    return np.clip(score, _LOGIT_LO, _LOGIT_HI)


# --------------------------------------------------------------------------- registry

BASELINES: dict[str, Callable[..., np.ndarray]] = {
    "uniform": uniform,
    "frequency": frequency,
    "frequency_window": frequency_window,
    "recency": recency,
    "ewma": ewma,
    "hot_cold": hot_cold,
}


def score_baseline(kind: str, Y, /, **params) -> np.ndarray:
    """Score every day of ``Y`` with the baseline ``kind``.

    Args:
        kind: a key of ``BASELINES``.
        Y: (T, P) multi-hot history (bool or 0/1).
        **params: that baseline's keyword parameters (names as in ``core.config``). A
            ``kind`` entry (as in a dumped config section) is accepted if it names the same
            baseline, so ``score_baseline(m.kind, Y, **m.model_dump())`` works.
    Returns:
        (T, P) float64 logits; row t depends on rows < t of Y only.
    Raises:
        ValueError: unknown kind, unknown or invalid parameter.
    """
    try:
        fn = BASELINES[kind]
    except (KeyError, TypeError):
        raise ValueError(f"unknown baseline {kind!r}; choose one of {', '.join(BASELINES)}") from None
    params = dict(params)
    if "kind" in params:
        if params.pop("kind") != kind:
            raise ValueError(f"params name a different kind than {kind!r}")
    accepted = [n for n in inspect.signature(fn).parameters if n != "Y"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise ValueError(
            f"baseline {kind!r} takes no parameter(s) {', '.join(unknown)}; it accepts {', '.join(accepted)}"
        )
    return fn(Y, **params)
