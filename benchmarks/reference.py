"""A per-part scikit-learn reference for the quality suite (`benchmarks.quality`).

For each part p, one `LogisticRegression` on that part's own features, each computed
causally from days < t only:

- days since p last occurred (capped at ``GAP_CAP``; an unseen part counts as the cap),
  and log(1 + that);
- p's frequency over the last 7 and 28 days and over all earlier days;
- p's indicator yesterday;
- the weekday of day t, one-hot (known in advance, as in the project's features).

(The count of other parts yesterday is left out: with exactly K events a day it is
K - yesterday's indicator, which is already there.)

Fit on the training days, it predicts the validation window; there the raw probabilities
and the same probabilities rescaled so each day sums to K are compared by Brier score,
and the better one is the variant used on test (chosen on validation, never on test).
Then the models are refitted on training + validation days and predict the test window.
It is the "30-line baseline" every family should beat; `benchmarks.quality` scores it
with the project's own metric functions on exactly the test window the runs use.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

GAP_CAP = 60
WINDOWS = (7, 28)
EPS = 1e-6


def part_features(Y: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """(T, P, F) features; row t reads Y[:t] only (plus day t's weekday).

    F = 2 (gap, log gap) + len(WINDOWS) + 1 (all-history frequency) + 1 (yesterday) + 7 (weekday).
    """
    Y = np.asarray(Y, dtype=bool)
    T, P = Y.shape
    y = Y.astype(np.float64)
    csum = np.vstack([np.zeros((1, P)), np.cumsum(y, axis=0)])  # csum[t] = sum of Y[:t]
    t = np.arange(T)
    # last occurrence strictly before t: the running max of the occurrence index, shifted by a day
    occ = np.where(Y, t[:, None], -1)
    last = np.vstack([np.full((1, P), -1), np.maximum.accumulate(occ, axis=0)[:-1]])
    gap = np.where(last >= 0, t[:, None] - last, GAP_CAP).astype(np.float64)
    gap = np.minimum(gap, GAP_CAP)
    cols = [gap, np.log1p(gap)]
    for w in WINDOWS:
        lo = np.maximum(t - w, 0)
        n = np.maximum(t - lo, 1)[:, None]
        cols.append((csum[t] - csum[lo]) / n)
    cols.append(csum[t] / np.maximum(t, 1)[:, None])
    cols.append(np.vstack([np.zeros((1, P)), y[:-1]]))
    wd = (np.asarray(dates, dtype="datetime64[D]").astype(np.int64) + 3) % 7  # Monday = 0
    onehot = np.eye(7)[wd]  # (T, 7), the same for every part
    feats = np.stack(cols, axis=2)  # (T, P, 6)
    return np.concatenate([feats, np.broadcast_to(onehot[:, None, :], (T, P, 7))], axis=2)


def _fit_predict(X: np.ndarray, Y: np.ndarray, fit_rows: np.ndarray, pred_rows: np.ndarray, C: float) -> np.ndarray:
    """One standardised LogisticRegression per part on fit_rows; probabilities on pred_rows."""
    from sklearn.linear_model import LogisticRegression

    P = Y.shape[1]
    out = np.empty((len(pred_rows), P))
    for p in range(P):
        Xf, yf = X[fit_rows, p, :], Y[fit_rows, p]
        mu, sd = Xf.mean(axis=0), Xf.std(axis=0)
        sd[sd == 0] = 1.0
        if yf.all() or not yf.any():  # one class: its frequency is all there is
            out[:, p] = yf.mean()
            continue
        clf = LogisticRegression(C=C, max_iter=1000)
        clf.fit((Xf - mu) / sd, yf)
        out[:, p] = clf.predict_proba((X[pred_rows, p, :] - mu) / sd)[:, 1]
    return np.clip(out, EPS, 1 - EPS)


def rescale(p: np.ndarray, K: float) -> np.ndarray:
    """Each day multiplied by one factor so it sums to K (then clipped to (0, 1))."""
    return np.clip(p * (K / p.sum(axis=1, keepdims=True)), EPS, 1 - EPS)


@dataclass
class Reference:
    p_test: np.ndarray  # (Tt, P) the chosen variant, fitted on train + validation
    variant: str  # "raw" or "sum-to-K", chosen on validation
    val_brier: dict = field(default_factory=dict)  # variant -> Brier on validation (fit on train)
    seconds: float = 0.0
    # (Tt, P) the same variant fitted on the training rows only: the days a run fits on
    # (a run holds validation out for early stopping and calibration)
    p_test_train_only: np.ndarray | None = None


def fit_reference(
    Y: np.ndarray,
    dates: np.ndarray,
    train: tuple[int, int],
    val: tuple[int, int],
    test: tuple[int, int],
    K: float,
    C: float = 1.0,
) -> Reference:
    """Fit on train, choose raw vs sum-to-K on validation, refit on train + val, predict test
    (and, for comparison with the runs, the test window from the train-only fit).

    train/val/test: (start, stop) row ranges of one forward-chaining split. Row 0 has no
    history and is never fitted on.
    """
    t0 = time.perf_counter()
    Y = np.asarray(Y, dtype=bool)
    X = part_features(Y, dates)
    fit_tr = np.arange(max(train[0], 1), train[1])
    rows_val, rows_test = np.arange(*val), np.arange(*test)
    p_both = _fit_predict(X, Y, fit_tr, np.concatenate([rows_val, rows_test]), C)
    p_val, p_train_only = p_both[: len(rows_val)], p_both[len(rows_val) :]
    y_val = Y[rows_val]
    val_brier = {
        "raw": float(np.mean((p_val - y_val) ** 2)),
        "sum-to-K": float(np.mean((rescale(p_val, K) - y_val) ** 2)),
    }
    variant = min(val_brier, key=lambda v: (val_brier[v], v != "raw"))
    fit_all = np.arange(max(train[0], 1), val[1])
    p_test = _fit_predict(X, Y, fit_all, rows_test, C)
    if variant == "sum-to-K":
        p_test, p_train_only = rescale(p_test, K), rescale(p_train_only, K)
    return Reference(p_test, variant, val_brier, time.perf_counter() - t0, p_train_only)
