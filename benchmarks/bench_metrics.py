"""Full evaluation of a 1,000-day test window (budget < 30 ms, docs/ARCHITECTURE.md "Budgets").

`evaluate` computes everything for one (split, model): per-part AUC and PR-AUC, Brier and
Brier skill, pooled and classwise ECE, the reliability table, tier rates with Wilson
intervals for K = 20..27, the random reference, the raw-ranking tier rates and the oracle
(truth-ranked) tier rates with lift capture. The reference is the scikit-learn per-part
loop for AUC + AP + Brier only (about 144 ms on the design machine).
"""

from __future__ import annotations

import numpy as np

from benchmarks.harness import Case

T_DAYS, PARTS, EVENTS = 1000, 39, 5


def window(seed: int = 0):
    """A random 1,000 x 39 window with exactly 5 events a day, calibrated-ish
    probabilities, raw logits, a truth matrix and a training base rate."""
    rng = np.random.default_rng(seed)
    y = np.zeros((T_DAYS, PARTS), dtype=bool)
    np.put_along_axis(y, np.argsort(rng.random((T_DAYS, PARTS)), axis=1)[:, :EVENTS], True, axis=1)
    truth = np.clip(EVENTS / PARTS + 0.15 * (y - EVENTS / PARTS) + 0.05 * rng.standard_normal(y.shape), 0, 1)
    p = np.clip(truth + 0.08 * rng.standard_normal(y.shape), 0, 1)
    raw = np.log(p + 1e-3) - np.log1p(1e-3 - p) + rng.standard_normal(y.shape)
    base_rate = np.full(PARTS, EVENTS / PARTS)
    return y, p, raw, truth, base_rate


def sklearn_loop(y, p):
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    return [
        (roc_auc_score(y[:, j], p[:, j]), average_precision_score(y[:, j], p[:, j]), brier_score_loss(y[:, j], p[:, j]))
        for j in range(y.shape[1])
    ]


def case_evaluate() -> Case:
    from core.evaluation.metrics import evaluate

    y, p, raw, truth, base_rate = window()
    ks = range(20, 28)
    return Case(
        "evaluate 1,000x39, K=20..27",
        lambda: evaluate(y, p, ks=ks, base_rate=base_rate, p_raw=raw, truth=truth),
        budget_s=0.030,
        reference=lambda: sklearn_loop(y, p),
        reference_name="sklearn per-part AUC+AP+Brier",
        repeat=15,
        note="all metrics incl. raw ranking and oracle; reference covers AUC+AP+Brier only",
    )
