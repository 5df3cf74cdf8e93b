"""The sequence models' per-part skip path (``model.skip: own``).

A GRU, LSTM or Transformer that sees only yesterday's multi-hot has to learn to count —
how long since part p last came, how often it came lately — in its hidden state, from a
few thousand days. The per-part logistic reference gets those counts for free and beats
it. With ``skip: own`` the sequence model's input row t carries them too, and its logits
are

    logits[t, p] = neural(x[..t])[p] + sum_g w[g, p] * f[t, g, p] + c[weekday(t), p]

where f[t, :, p] are part p's own causal features (yesterday's indicator, then the scaled
gap and unseen flag, the 7/30/90/365-day rates and the 7/30/120-day EWMAs of
`core.models.features`, all in [0, 1] by construction), w (G, P) and c (7, P) per part.

Training starts from the per-part model, not from zero: before the first epoch
`warm_start` fits w and c alone by L-BFGS on the training rows (a per-part logistic
regression, lightly L2-penalised) and zeroes the bias of the network's output layer, so
epoch 0 is that per-part model plus the network's small initial output, and the network
learns what the per-part model leaves. A stateful RNN gets three or so optimiser steps an
epoch; learned from zero at the network's learning rate, the skip path was still far from
its fit when early stopping ended training (on the quality suite, docs/QUALITY.md, the
GRU's median Brier skill over the oracle's went 0.62 -> 0.64 with a skip path learned from
zero, 0.62 -> 0.76 warm-started as shipped). Zeroing the whole output layer as well (so epoch 0 is
exactly the per-part model) did worse where only cross-part effects are planted: the
network's gradients start at zero, and early stopping ends training before it has learned
them (pairs_only: Transformer 0.08 of the oracle's Brier skill, against 0.68 without).

Layout of an input row: ``x[t] = [Y[t-1] (P), f[t, 1, :] (P), ..., f[t, G-1, :] (P)]``, so
``x.reshape(..., G, P)`` gives the groups and ``x[..., :P]`` is the multi-hot the network
reads. Row t is a function of Y[:t] only (the features' causality contract).
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from core.models.base import Inputs, shifted_inputs
from core.models.features import ewmas, frequencies, recency
from core.models.lbfgs import minimise

__all__ = [
    "SKIPS",
    "SKIP_WINDOWS",
    "SKIP_HALFLIVES",
    "SKIP_CAP",
    "skip_groups",
    "skip_features",
    "sequence_inputs",
    "OwnSkip",
    "warm_start",
    "SkipPath",
]

SKIPS = ("none", "own")
SKIP_WINDOWS = (7, 30, 90, 365)
SKIP_HALFLIVES = (7.0, 30.0, 120.0)
SKIP_CAP = 60


def skip_groups() -> int:
    """G, the per-part feature groups of an input row (yesterday included)."""
    return 1 + 2 + len(SKIP_WINDOWS) + len(SKIP_HALFLIVES)


def skip_features(Y: np.ndarray) -> np.ndarray:
    """(T, (G-1) * P) float32: every part's own features after yesterday, group-major
    (gap, unseen, rates, EWMAs), row t from Y[:t] only."""
    Y = np.asarray(Y, dtype=np.float64)
    blocks = [recency(Y, SKIP_CAP), frequencies(Y, SKIP_WINDOWS), ewmas(Y, SKIP_HALFLIVES)]
    return np.concatenate(blocks, axis=1).astype(np.float32)


def sequence_inputs(Y: np.ndarray, dates: np.ndarray, skip: bool) -> Inputs:
    """The sequence regimes' inputs: x[t] = Y[t-1] (T, P), and with ``skip`` every part's
    own features after it (T, G * P)."""
    inputs = shifted_inputs(Y, dates)
    if skip:
        inputs.x = torch.cat([inputs.x, torch.from_numpy(skip_features(Y))], dim=1)
    return inputs


class OwnSkip(nn.Module):
    """(..., G * P) input rows and (...) weekdays -> (..., P) logits: a separate linear map
    per part over its own G features, plus a per-part weekday term; zero at initialisation."""

    def __init__(self, parts: int) -> None:
        super().__init__()
        self.parts = parts
        self.weight = nn.Parameter(torch.zeros(skip_groups(), parts))
        self.weekday = nn.Parameter(torch.zeros(7, parts))

    def forward(self, x: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        f = x.reshape(*x.shape[:-1], skip_groups(), self.parts)
        return (f * self.weight.to(x.dtype)).sum(dim=-2) + self.weekday.to(x.dtype)[wd]


WARM_L2 = 1e-4  # per weight, on the mean loss: a light touch, as the logistic family's weight decay
WARM_ITERS = 200


def warm_start(skip: OwnSkip, out: nn.Linear, x: torch.Tensor, wd: torch.Tensor, y: torch.Tensor, loss_fn) -> dict:
    """Fit `skip` alone on rows x (N, G * P), wd (N,), y (N, P) by L-BFGS on ``loss_fn(logits,
    y)`` + WARM_L2 * |w|^2, then zero the bias of the network's output layer `out` (the
    base rates now live in the skip path's weekday term). The rows must be training rows
    only (the caller passes them; validation and test never reach this). Returns {loss,
    iterations}."""
    with torch.no_grad():
        skip.weight.zero_()
        skip.weekday.zero_()
    x, y = x.float(), y.float()
    info = minimise(
        [skip.weight, skip.weekday],
        lambda: loss_fn(skip(x, wd), y) + WARM_L2 * skip.weight.pow(2).sum(),
        max_iter=WARM_ITERS,
        tolerance_grad=1e-6,
        tolerance_change=1e-10,
    )
    with torch.no_grad():
        out.bias.zero_()
        loss = float(loss_fn(skip(x, wd), y))
    return {"loss": loss, "iterations": info["iterations"]}


class SkipPath:
    """What a sequence scorer with an optional skip path shares (GRU/LSTM, Transformer):
    mixed into a `Scorer` that has an output layer ``self.out``."""

    skip: OwnSkip | None

    def _init_skip(self, parts: int, skip: str) -> None:
        if skip not in SKIPS:
            raise ValueError(f"skip must be one of {', '.join(SKIPS)}, got {skip!r}")
        self.skip = OwnSkip(parts) if skip == "own" else None
        self.input_width = parts * skip_groups() if self.skip is not None else parts

    def _plus_skip(self, logits: torch.Tensor, x: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        """The network's logits (B, L, P) plus the skip path's over the full rows x (B, L, G * P)."""
        return logits if self.skip is None else logits + self.skip(x, wd)

    def prepare(self, Y: np.ndarray, dates: np.ndarray) -> Inputs:
        return sequence_inputs(Y, dates, self.skip is not None)

    def warm_start(self, inputs: Inputs, y: torch.Tensor, rows: slice, loss_fn) -> dict | None:
        """Before the first epoch: fit the skip path alone on the training `rows` and zero the
        network's output bias (`warm_start` above); None without a skip path."""
        if self.skip is None:
            return None
        return warm_start(self.skip, self.out, inputs.x[rows], inputs.wd[rows], y[rows], loss_fn)
