"""The nn.Module wrappers that torch.onnx traces (one per graph layout), the layout of a
scorer, and the example inputs / dynamic shapes of its export."""

from __future__ import annotations

import torch
from torch import nn

from core.errors import InputError
from core.export.load import EXPORTABLE

# --------------------------------------------------------------------------- export adapters


class RowsExport(nn.Module):
    """x (B, F) -> logits (B, P): logistic and hawkes (`forward` already is the graph)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scorer(x)


class SequenceExport(nn.Module):
    """x (B, L, P), wd (B, L) -> logits (B, L, P): transformer, window-mode GRU/LSTM (zero
    initial state); drops the scorer's second output (None / the final state)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor, wd: torch.Tensor) -> torch.Tensor:
        if self.scorer.regime == "windows" and hasattr(self.scorer, "init_state") and hasattr(self.scorer, "rnn"):
            # An explicit zero state: with state=None torch.export specialises the time dim.
            h0 = x.new_zeros(self.scorer.layers, x.shape[0], self.scorer.hidden)
            return self.scorer(x, wd, (h0, torch.zeros_like(h0)) if self.scorer.kind == "lstm" else h0)[0]
        return self.scorer(x, wd)[0]


class GRUStepExport(nn.Module):
    """x (B, L, P), wd (B, L), h0 (layers, B, H) -> (logits (B, L, P), h1)."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(self, x: torch.Tensor, wd: torch.Tensor, h0: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits, h1 = self.scorer(x, wd, h0)
        return logits, h1


class LSTMStepExport(nn.Module):
    """x, wd, h0, c0 -> (logits, h1, c1); the LSTM's (h, c) tuple as two flat tensors."""

    def __init__(self, scorer: nn.Module) -> None:
        super().__init__()
        self.scorer = scorer

    def forward(
        self, x: torch.Tensor, wd: torch.Tensor, h0: torch.Tensor, c0: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        logits, (h1, c1) = self.scorer(x, wd, (h0, c0))
        return logits, h1, c1


def _layout(scorer: nn.Module) -> str:
    """rows | stateful-gru | stateful-lstm | windows."""
    if scorer.regime == "rows":
        return "rows"
    if scorer.regime == "stateful":
        return f"stateful-{scorer.kind}"
    return "windows"


def _adapter(scorer: nn.Module, export_length: int) -> tuple[nn.Module, tuple, dict, list[str], list[str]]:
    """(module, example args, dynamic_shapes, input names, output names)."""
    from torch.export import Dim

    layout = _layout(scorer)
    batch = Dim("batch")
    if layout == "rows":
        F = _row_features(scorer)
        args = (torch.zeros(export_length, F),)
        return RowsExport(scorer), args, {"x": {0: batch}}, ["x"], ["logits"]
    B = 2  # sizes 0 and 1 would be specialised by torch.export
    x = torch.zeros(B, export_length, scorer.input_width)
    wd = torch.zeros(B, export_length, dtype=torch.int64)
    if layout == "windows":
        # The transformer reads at most `context` days (its graph takes any length, but
        # positions beyond the trained window are out of distribution); an RNN any.
        max_time = scorer.context if _is_transformer(scorer) else None
        time_dim = Dim("time", min=1, max=max_time) if max_time else Dim("time", min=1)
        return (
            SequenceExport(scorer),
            (x, wd),
            {"x": {0: batch, 1: time_dim}, "wd": {0: batch, 1: time_dim}},
            ["x", "wd"],
            ["logits"],
        )
    time_dim = Dim("time", min=1)
    h0 = torch.zeros(scorer.layers, B, scorer.hidden)
    ds = {"x": {0: batch, 1: time_dim}, "wd": {0: batch, 1: time_dim}, "h0": {1: batch}}
    if layout == "stateful-gru":
        return GRUStepExport(scorer), (x, wd, h0), ds, ["x", "wd", "h0"], ["logits", "h1"]
    ds["c0"] = {1: batch}
    return (
        LSTMStepExport(scorer),
        (x, wd, h0, torch.zeros_like(h0)),
        ds,
        ["x", "wd", "h0", "c0"],
        ["logits", "h1", "c1"],
    )


def _is_transformer(scorer: nn.Module) -> bool:
    from core.models.transformer import TransformerScorer

    return isinstance(scorer, TransformerScorer)


def _row_features(scorer: nn.Module) -> int:
    """F, the width of a rows scorer's `prepare` features."""
    if hasattr(scorer, "n_features"):  # logistic, hawkes
        return int(scorer.n_features)
    raise InputError(f"{type(scorer).__name__}: unknown feature width; exportable: {', '.join(EXPORTABLE)}")


def effective_export_length(scorer: nn.Module, export_length: int) -> int:
    """The trace length actually used: >= 2 (torch.export specialises sizes 0 and 1) and,
    for the transformer, at most its context."""
    n = max(2, int(export_length))
    if _is_transformer(scorer):
        n = min(n, scorer.context)
    return n
