"""Planted data for the rule miner's tests: exactly K of P parts a day, every part equally
likely except where a planted delayed pair fires.

A pair (p, q, lo, hi, factor) multiplies q's weight on day s by `factor` when part p occurred
on some day in [s - hi, s - lo] (factor > 1: a follow-within rule; < 1: an inhibition). Each
day's K parts are drawn without replacement in proportion to weight (successive sampling, as
the K largest of log(weight) + Gumbel noise), so with no pair firing every K-subset is equally
likely: the uniform control is `planted_days(pairs=())`. Part ids are 1-based, as in rulebooks.
"""

from __future__ import annotations

import numpy as np

# (antecedent p, consequent q, window min, window max, weight factor)
PAIRS: tuple[tuple[int, int, int, int, float], ...] = (
    (3, 17, 1, 1, 2.0),  # lag exactly 1
    (8, 25, 2, 3, 1.8),  # lag 2-3
    (12, 37, 4, 6, 1.6),  # lag 4-6
    (20, 5, 1, 2, 0.3),  # inhibition at lag 1-2
    (30, 30, 1, 1, 2.0),  # a part that repeats
)


def planted_days(
    T: int = 11_000,
    P: int = 39,
    K: int = 5,
    pairs=PAIRS,
    seed: int = 0,
    start: str = "1995-01-02",
) -> tuple[np.ndarray, np.ndarray]:
    """(dates, Y): T consecutive days from `start`, Y (T, P) bool with exactly K a day."""
    rng = np.random.default_rng(seed)
    gumbel = rng.gumbel(size=(T, P))
    Y = np.zeros((T, P), dtype=bool)
    logw0 = np.zeros(P)
    for s in range(T):
        logw = logw0.copy()
        for p, q, lo, hi, factor in pairs:
            a, b = max(0, s - hi), s - lo + 1
            if b > a and Y[a:b, p - 1].any():
                logw[q - 1] += np.log(factor)
        keys = logw + gumbel[s]
        Y[s, np.argpartition(-keys, K - 1)[:K]] = True
    dates = np.datetime64(start, "D") + np.arange(T)
    return dates, Y


def uniform_days(T: int = 11_000, P: int = 39, K: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Every K-subset equally likely, days independent (vectorised)."""
    rng = np.random.default_rng(seed)
    Y = np.zeros((T, P), dtype=bool)
    np.put_along_axis(Y, np.argsort(rng.random((T, P)), axis=1)[:, :K], True, axis=1)
    return np.datetime64("1995-01-02", "D") + np.arange(T), Y


def matches(rule, pairs=PAIRS) -> bool:
    """A kept rule is true when it names a planted pair, in its direction, with an overlapping window."""
    if rule.kind not in ("follow_within", "inhibition") or rule.window is None:
        return False
    for p, q, lo, hi, factor in pairs:
        direction = 1 if factor > 1 else -1
        if rule.antecedent == (p,) and rule.consequent == (q,) and rule.direction == direction:
            a, b = rule.window
            if a <= hi and lo <= b:
                return True
    return False


def recall(rules, pairs=PAIRS) -> float:
    found = sum(any(matches(r, [pair]) for r in rules) for pair in pairs)
    return found / len(pairs)
