"""The contract every learned scorer follows, so one training loop serves them all.

A scorer gives, for day t, one logit per part from days < t only. It is an `nn.Module`
with a `regime` that tells the training loop how to batch it:

- ``rows``      every day is an independent row of causal features (logistic, hawkes):
                `prepare` builds X (T, F) where row t uses Y[:t] only; `forward(x)` maps
                (B, F) -> (B, P) logits.
- ``windows``   a sequence model trained on random windows of the inputs (transformer,
                GRU/LSTM with mode=window): `forward(x, wd)` maps (B, L, P) -> (B, L, P).
- ``stateful``  a recurrent model run over the whole sequence, cut into contiguous chunks
                with truncated backpropagation: `forward(x, wd, state)` returns the new
                state as well.

For the sequence regimes `prepare` gives x (T, P) with x[t] = Y[t-1] (x[0] = 0) and
wd (T,) the weekday (0 = Monday) of day t, so output position t only ever sees Y[:t].

`score(inputs, start, stop)` returns the (stop - start, P) logits of days start..stop-1,
in eval mode, without gradients, reading inputs[:stop] only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from core.models.kofp import kofp_inclusion, kofp_loss

HEADS = ("sigmoid", "softmax", "kofp")


@dataclass
class Inputs:
    """What `prepare` returns. x: (T, F) features for ``rows``, (T, P) shifted multi-hot for
    the sequence regimes; wd: (T,) int64 weekday of each target day; events: K per day."""

    x: torch.Tensor
    wd: torch.Tensor
    events: int

    def to(self, device: torch.device | str) -> Inputs:
        return Inputs(self.x.to(device), self.wd.to(device), self.events)

    def __len__(self) -> int:
        return int(self.x.shape[0])


def weekdays(dates: np.ndarray) -> np.ndarray:
    """(T,) int64 weekday, 0 = Monday, of datetime64[D] dates."""
    return ((dates.astype("datetime64[D]").astype(np.int64) + 3) % 7).astype(np.int64)


def shifted_inputs(Y: np.ndarray, dates: np.ndarray) -> Inputs:
    """Sequence-regime inputs: x[t] = Y[t-1] (x[0] = 0), wd[t] = weekday of day t. (T, P)"""
    Y = np.asarray(Y, dtype=np.float32)
    x = np.zeros_like(Y)
    x[1:] = Y[:-1]
    events = int(round(float(Y.sum(axis=1).mean()))) if len(Y) else 0
    return Inputs(torch.from_numpy(x), torch.from_numpy(weekdays(dates)), events)


class Scorer(nn.Module):
    """Base class: subclasses set `regime` and implement `prepare`, `forward` and `score`."""

    regime: ClassVar[str] = "rows"

    def __init__(self, parts: int, head: str = "sigmoid") -> None:
        super().__init__()
        if head not in HEADS:
            raise ValueError(f"head must be one of {', '.join(HEADS)}, got {head!r}")
        self.parts = parts
        self.head = head
        # Columns of a sequence model's input row (P, more with a skip path; see core/models/skip.py).
        self.input_width = parts

    def prepare(self, Y: np.ndarray, dates: np.ndarray) -> Inputs:  # pragma: no cover - abstract
        raise NotImplementedError

    @torch.no_grad()
    def score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        """(stop - start, P) logits of days start..stop-1: eval mode, no gradients, reading
        inputs[:stop] only; the training flag is restored afterwards."""
        T = len(inputs)
        if not 0 <= start <= stop <= T:
            raise ValueError(f"need 0 <= start <= stop <= {T}, got start={start} stop={stop}")
        was_training = self.training
        self.eval()
        try:
            return self._score(inputs, start, stop)
        finally:
            self.train(was_training)

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def init_output_bias(self, base_rate: np.ndarray) -> None:
        """Start the output layer at the training base rates (P,) so the first epochs learn
        structure instead of the marginal. Models whose last layer is `out` or `linear`."""
        layer = getattr(self, "out", None) or getattr(self, "linear", None)
        if not isinstance(layer, nn.Linear) or layer.bias is None:
            return
        q = torch.as_tensor(np.clip(base_rate, 1e-4, 1 - 1e-4), dtype=layer.bias.dtype)
        with torch.no_grad():
            layer.bias.copy_(torch.log(q) if self.head == "softmax" else torch.log(q) - torch.log1p(-q))

    def init_state(self, batch: int, device: torch.device | str) -> Any:
        """Initial recurrent state for ``stateful`` models (None for the others)."""
        return None


def head_probabilities(logits: torch.Tensor, head: str, events: int) -> torch.Tensor:
    """Per-part probabilities before calibration: sigmoid, min(1, events x softmax), or the
    exact inclusion probabilities of the K-of-P design (kofp, K = events)."""
    if head == "softmax":
        return torch.clamp(events * torch.softmax(logits, dim=-1), max=1.0)
    if head == "kofp":
        return kofp_inclusion(logits.double(), events).to(logits.dtype)
    return torch.sigmoid(logits)


def head_logits(logits: torch.Tensor, head: str, events: int) -> torch.Tensor:
    """Logits of `head_probabilities`, the common currency of calibration and evaluation."""
    if head == "sigmoid":
        return logits
    p = head_probabilities(logits, head, events).clamp(1e-7, 1 - 1e-7)
    return torch.log(p) - torch.log1p(-p)


def head_loss(
    logits: torch.Tensor, y: torch.Tensor, head: str, events: int, label_smoothing: float = 0.0
) -> torch.Tensor:
    """Mean loss over (rows, parts): BCE for sigmoid, cross-entropy on y / events for softmax,
    the K-of-P set likelihood for kofp (per row, divided by P). logits, y: (..., P)."""
    if head == "kofp":
        return kofp_loss(logits, y, label_smoothing)
    if head == "softmax":
        target = y / y.sum(dim=-1, keepdim=True).clamp(min=1.0)
        if label_smoothing:
            target = (1 - label_smoothing) * target + label_smoothing / y.shape[-1]
        return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean()
    if label_smoothing:
        y = y * (1 - label_smoothing) + 0.5 * label_smoothing
    return nn.functional.binary_cross_entropy_with_logits(logits, y)
