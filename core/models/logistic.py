"""Logistic scorer: hand-built causal features (core.models.features) -> one logit per part.

Regime ``rows``: `prepare` builds the (T, F) feature matrix once (row t from days < t
only), and `forward` is a single ``Linear(F, P)`` with a per-part bias, so every part's
logit can read every part's features (e.g. the weight from ``yesterday[part_a]`` to part
b is the learned "a yesterday lifts b today" effect).

Features are not standardised with data statistics (a mean/std over all T would leak
later days into earlier rows); every feature is on a fixed scale in [0, 1] by
construction (see core.models.features), which keeps plain AdamW well conditioned.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from core.models.features import FEATURE_GROUPS, feature_matrix, feature_names
from core.models.base import Inputs, Scorer, weekdays

__all__ = ["LogisticScorer"]


class LogisticScorer(Scorer):
    """``logits = x @ W.T + b`` over the features of `core.models.features.feature_matrix`.

    Args:
        parts: P.
        head: ``sigmoid`` (multi-label) or ``softmax`` (over parts).
        features: feature groups, in column order.
        frequency_windows, ewma_halflives, recency_cap: the groups' parameters.
    """

    regime = "rows"

    def __init__(self, parts: int, head: str = "sigmoid",
                 features: Sequence[str] = FEATURE_GROUPS,
                 frequency_windows: Sequence[int] = (7, 30, 90, 365),
                 ewma_halflives: Sequence[float] = (7.0, 30.0, 120.0),
                 recency_cap: int = 60) -> None:
        super().__init__(parts, head)
        self.features = tuple(features)
        self.frequency_windows = tuple(int(w) for w in frequency_windows)
        self.ewma_halflives = tuple(float(h) for h in ewma_halflives)
        self.recency_cap = int(recency_cap)
        self.feature_names = feature_names(parts, self.features, self.frequency_windows,
                                           self.ewma_halflives)
        self.linear = nn.Linear(len(self.feature_names), parts)

    @classmethod
    def from_config(cls, cfg, parts: int) -> "LogisticScorer":
        """Build from a ``core.config.LogisticModel`` section."""
        return cls(parts, head=cfg.head, features=cfg.features,
                   frequency_windows=cfg.frequency_windows, ewma_halflives=cfg.ewma_halflives,
                   recency_cap=cfg.recency_cap)

    @property
    def n_features(self) -> int:
        """F, the width of the feature matrix."""
        return len(self.feature_names)

    def prepare(self, Y: np.ndarray, dates: np.ndarray) -> Inputs:
        """Inputs(x = (T, F) float32 features, wd = (T,) weekday, events = K per day)."""
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[1] != self.parts:
            raise ValueError(f"Y must have shape (T, {self.parts}), got {Y.shape}")
        x = feature_matrix(Y, dates, self.features, self.frequency_windows, self.ewma_halflives,
                           self.recency_cap)
        events = int(round(float(Y.sum(axis=1).mean()))) if len(Y) else 0
        return Inputs(torch.from_numpy(x), torch.from_numpy(weekdays(np.asarray(dates))), events)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, F) features -> (B, P) logits."""
        return self.linear(x)

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        return self.forward(inputs.x[start:stop].to(self.linear.weight.device, self.linear.weight.dtype))

    def coefficients(self) -> dict[str, np.ndarray]:
        """``weight`` (P, F) and ``bias`` (P,) as numpy; columns follow `feature_names`."""
        return {"weight": self.linear.weight.detach().cpu().numpy().copy(),
                "bias": self.linear.bias.detach().cpu().numpy().copy()}
