"""Logistic scorer: hand-built causal features (core.models.features) -> one logit per part.

Regime ``rows``: `prepare` builds the (T, F) feature matrix once (row t from days < t
only), and `forward` is a ``Linear(F, P)`` with a per-part bias, shaped by `coupling`:

- ``dense``    every part's logit reads every part's features (~400 x P weights: on a few
               thousand days it fits noise);
- ``own``      a part reads only its own recency/frequency/EWMA features, the weekday, and
               its own yesterday;
- ``yesterday`` ``own`` plus every part's yesterday to every part (the "a yesterday lifts b
               today" effects, P x P weights);
- ``lowrank``  ``own`` plus a rank-`rank` map from all parts' yesterday to every part (those
               effects with 2 x P x rank weights).

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

__all__ = ["COUPLINGS", "LogisticScorer"]

COUPLINGS = ("dense", "own", "yesterday", "lowrank")


class LogisticScorer(Scorer):
    """``logits = x @ W.T + b`` over the features of `core.models.features.feature_matrix`.

    Args:
        parts: P.
        head: ``sigmoid`` (multi-label), ``softmax`` (over parts) or ``kofp`` (K-of-P sets).
        features: feature groups, in column order.
        frequency_windows, ewma_halflives, recency_cap: the groups' parameters.
        coupling: ``dense``, ``own`` or ``lowrank`` (see the module doc); rank: its rank.
    """

    regime = "rows"

    def __init__(self, parts: int, head: str = "sigmoid",
                 features: Sequence[str] = FEATURE_GROUPS,
                 frequency_windows: Sequence[int] = (7, 30, 90, 365),
                 ewma_halflives: Sequence[float] = (7.0, 30.0, 120.0),
                 recency_cap: int = 60, coupling: str = "own", rank: int = 4) -> None:
        super().__init__(parts, head)
        if coupling not in COUPLINGS:
            raise ValueError(f"coupling must be one of {', '.join(COUPLINGS)}, got {coupling!r}")
        self.coupling = coupling
        self.features = tuple(features)
        self.frequency_windows = tuple(int(w) for w in frequency_windows)
        self.ewma_halflives = tuple(float(h) for h in ewma_halflives)
        self.recency_cap = int(recency_cap)
        self.feature_names = feature_names(parts, self.features, self.frequency_windows,
                                           self.ewma_halflives)
        self.linear = nn.Linear(len(self.feature_names), parts)
        # Which (part, feature) weights exist: a buffer, so it travels with the checkpoint.
        mask = (_own_mask(self.feature_names, parts) if coupling != "dense"
                else torch.ones(parts, len(self.feature_names)))
        self.yesterday_cols = [i for i, n in enumerate(self.feature_names) if n.startswith("yesterday[")]
        if coupling == "yesterday":
            mask[:, self.yesterday_cols] = 1.0
        self.register_buffer("mask", mask, persistent=False)
        if coupling == "lowrank" and self.yesterday_cols:
            self.down = nn.Linear(len(self.yesterday_cols), int(rank), bias=False)
            self.up = nn.Linear(int(rank), parts, bias=False)
            nn.init.zeros_(self.up.weight)  # starts as `own`; the coupling is learned from there

    @classmethod
    def from_config(cls, cfg, parts: int) -> "LogisticScorer":
        """Build from a ``core.config.LogisticModel`` section."""
        return cls(parts, head=cfg.head, features=cfg.features,
                   frequency_windows=cfg.frequency_windows, ewma_halflives=cfg.ewma_halflives,
                   recency_cap=cfg.recency_cap, coupling=cfg.coupling, rank=cfg.rank)

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
        if self.coupling == "dense":
            return self.linear(x)
        out = nn.functional.linear(x, self.linear.weight * self.mask, self.linear.bias)
        if hasattr(self, "up"):
            out = out + self.up(self.down(x[:, self.yesterday_cols]))
        return out

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        return self.forward(inputs.x[start:stop].to(self.linear.weight.device, self.linear.weight.dtype))

    def coefficients(self) -> dict[str, np.ndarray]:
        """The effective ``weight`` (P, F) and ``bias`` (P,) as numpy; columns follow
        `feature_names` (a low-rank coupling is folded into the yesterday columns)."""
        with torch.no_grad():
            w = self.linear.weight * self.mask
            if hasattr(self, "up"):
                w = w.clone()
                w[:, self.yesterday_cols] += self.up.weight @ self.down.weight
        return {"weight": w.cpu().numpy().copy(), "bias": self.linear.bias.detach().cpu().numpy().copy()}


def _own_mask(names: Sequence[str], parts: int) -> torch.Tensor:
    """(P, F): 1 where part p may read feature f — its own per-part features and every
    weekday column."""
    mask = torch.zeros(parts, len(names))
    for f, name in enumerate(names):
        if "[part_" in name:
            mask[int(name[name.index("[part_") + 6:-1]) - 1, f] = 1.0
        else:
            mask[:, f] = 1.0
    return mask
