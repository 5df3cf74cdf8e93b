"""GRU / LSTM scorers over the shifted daily multi-hot sequence.

Input at position t: x[t] = Y[t-1] (P multi-hot of yesterday) concatenated with a small
embedding of the weekday of day t (the target day), then a GRU or LSTM (batch_first),
dropout, and Linear(hidden, P) -> one logit per part.

Two regimes, chosen per instance from ``mode``:

- ``stateful`` (mode=stateful, the default): the model runs over the whole history; the
  training loop cuts it into ``chunks`` contiguous chunks run side by side and trains by
  truncated backpropagation over ``tbptt`` steps, carrying the state. `score` runs from
  day 0 to ``stop`` carrying the state (in blocks, to bound memory), so day t's logits
  depend on x[0..t] = Y[0..t-1].
- ``windows`` (mode=window): day t's logits come from the last ``window`` (W) inputs
  only, x[t-W+1..t], starting from a zero state; for t < W-1 the window is the whole prefix
  x[0..t].

ONNX (exported elsewhere): `forward` has no data-dependent Python control flow. The
stateful model exports with the state as an explicit input and output: ``forward(x, wd,
h0) -> (logits, h1)`` for a GRU and ``forward(x, wd, (h0, c0)) -> (logits, (h1, c1))``
for an LSTM, each state of shape (layers, batch, hidden); single-day scoring feeds the
previous call's state back in. The window model exports ``forward(x, wd)`` with a zero
state (state=None) and dynamic batch and time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from core.models.base import Inputs, Scorer
from core.models.skip import SkipPath

WEEKDAY_DIMS = 4
SCORE_BLOCK = 2048  # days per block when scoring a stateful model
WINDOW_BATCH = 256  # windows run side by side when scoring a window model


class RNNScorer(SkipPath, Scorer):
    """GRU or LSTM scorer; ``regime`` is "stateful" or "windows" (an instance attribute)."""

    def __init__(
        self,
        parts: int,
        kind: str = "gru",
        hidden: int = 128,
        layers: int = 1,
        dropout: float = 0.1,
        mode: str = "stateful",
        window: int = 180,
        chunks: int = 16,
        tbptt: int = 128,
        head: str = "sigmoid",
        weekday_dims: int = WEEKDAY_DIMS,
        skip: str = "none",
    ) -> None:
        super().__init__(parts, head)
        if kind not in ("gru", "lstm"):
            raise ValueError(f"kind must be gru or lstm, got {kind!r}")
        if mode not in ("stateful", "window"):
            raise ValueError(f"mode must be stateful or window, got {mode!r}")
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self.kind = kind
        self.mode = mode
        self.regime = "stateful" if mode == "stateful" else "windows"
        self.hidden = hidden
        self.layers = layers
        self.window = window
        # Window length L of a training batch in the ``windows`` regime (same name as the
        # Transformer's), and the stateful regime's chunking.
        self.context = window
        self.chunks = chunks
        self.tbptt = tbptt
        self.weekday = nn.Embedding(7, weekday_dims)
        rnn_cls = nn.GRU if kind == "gru" else nn.LSTM
        self.rnn = rnn_cls(
            parts + weekday_dims, hidden, num_layers=layers, batch_first=True, dropout=dropout if layers > 1 else 0.0
        )
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, parts)
        self._init_skip(parts, skip)

    @classmethod
    def from_config(cls, cfg: Any, parts: int) -> RNNScorer:
        return cls(
            parts,
            kind=cfg.kind,
            hidden=cfg.hidden,
            layers=cfg.layers,
            dropout=cfg.dropout,
            mode=cfg.mode,
            window=cfg.window,
            chunks=cfg.chunks,
            tbptt=cfg.tbptt,
            head=cfg.head,
            skip=cfg.skip,
        )

    # ------------------------------------------------------------------ torch API
    def init_state(self, batch: int, device: torch.device | str) -> Any:
        """Zero state: (layers, batch, hidden) for a GRU, a (h, c) tuple of those for an LSTM."""
        h = torch.zeros(self.layers, batch, self.hidden, device=device)
        if self.kind == "lstm":
            return (h, torch.zeros_like(h))
        return h

    def forward(self, x: torch.Tensor, wd: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, Any]:
        """x (B, L, input_width) float, wd (B, L) int64 -> (logits (B, L, P), new state).

        state None starts from zeros; position l's output depends on x[:, :l+1] only. The
        network reads the multi-hot x[..., :P]; the skip path (if any) all of x[:, l]."""
        inp = torch.cat([x[..., : self.parts], self.weekday(wd).to(x.dtype)], dim=-1)
        out, new_state = self.rnn(inp, state)
        return self._plus_skip(self.out(self.drop(out)), x, wd), new_state

    # ------------------------------------------------------------------ scoring

    def _device(self) -> torch.device:
        return self.out.weight.device

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        if start == stop:
            return torch.zeros(0, self.parts, device=self._device())
        if self.regime == "stateful":
            return self._score_stateful(inputs, start, stop)
        return self._score_windows(inputs, start, stop)

    def _score_stateful(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        dev = self._device()
        state = self.init_state(1, dev)
        parts = []
        for s in range(0, stop, SCORE_BLOCK):
            e = min(s + SCORE_BLOCK, stop)
            x = inputs.x[s:e].to(dev).unsqueeze(0)
            wd = inputs.wd[s:e].to(dev).unsqueeze(0)
            logits, state = self(x, wd, state)
            if e > start:
                parts.append(logits[0, max(start - s, 0) :])
        return torch.cat(parts, dim=0)

    def _score_windows(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        """Day t reads x[t-W+1..t] (or x[0..t] while t < W-1), from a zero state."""
        dev = self._device()
        W = self.window
        out = []
        # Days t < W-1: their window is the prefix x[0..t], i.e. one forward from day 0.
        early = min(stop, W - 1)
        if start < early:
            logits, _ = self(inputs.x[:early].to(dev).unsqueeze(0), inputs.wd[:early].to(dev).unsqueeze(0))
            out.append(logits[0, start:])
        # Days t >= W-1: full windows of exactly W inputs ending at t, batched.
        first = max(start, W - 1)
        if first < stop:
            xs = inputs.x[first - W + 1 : stop].to(dev)
            ws = inputs.wd[first - W + 1 : stop].to(dev)
            xw = xs.unfold(0, W, 1).transpose(1, 2)  # (n, W, P), window i ends at day first+i
            ww = ws.unfold(0, W, 1)  # (n, W)
            for b in range(0, xw.shape[0], WINDOW_BATCH):
                logits, _ = self(xw[b : b + WINDOW_BATCH].contiguous(), ww[b : b + WINDOW_BATCH].contiguous())
                out.append(logits[:, -1])
        return torch.cat(out, dim=0)
