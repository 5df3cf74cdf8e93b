"""Causal Transformer scorer over the shifted daily multi-hot sequence (regime "windows").

Position t: Linear(P -> d_model) of x[t] = Y[t-1], plus (if ``weekday_embedding``) an
embedding of the weekday of day t -> ``layers`` pre-norm blocks (LayerNorm -> causal
multi-head self-attention -> residual; LayerNorm -> MLP(d_model -> ffn_mult*d_model ->
d_model, GELU) -> residual) -> final LayerNorm -> Linear(d_model, P), one logit per part.

Positions are relative: RoPE (rotary on q and k per head) or ALiBi (a per-head linear
distance penalty). Attention is `scaled_dot_product_attention`: with ``is_causal=True``
for RoPE (flash attention on CUDA); ALiBi passes its own additive causal+distance mask
(is_causal and attn_mask cannot be combined), built in q's dtype so it also runs under
`torch.autocast("cuda", dtype=torch.bfloat16)`. Dropout (``dropout``) applies to the input
embedding, each attention output and each MLP output, and to the attention probabilities
on CUDA only (on CPU that would force SDPA's slow, quadratic-memory math path).

Training reads random windows of ``context`` days, so a position is trained with 1 to
``context`` days of history. `score` keeps every day in that range, deterministically
(see `TransformerScorer.window_start`): days t < context read x[0..t]; later days are
scored in blocks of ``stride`` = context // 2 days, each block from one forward over the
``context`` inputs ending with the block, so day t reads between context - stride + 1
and context inputs (x[window_start(t)..t]), never x[>t], at ~2x the cost of one pass.

ONNX (exported elsewhere): `forward(x, wd)` has no data-dependent Python control flow;
positions are built from the dynamic sequence length.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from core.models.base import Inputs, Scorer
from core.models.skip import SkipPath

SCORE_BATCH = 16  # context-length windows run side by side when scoring


def alibi_slopes(heads: int) -> torch.Tensor:
    """The ALiBi paper's per-head slopes (geometric; interpolated when heads is not a power of 2)."""

    def pow2(n: int) -> list[float]:
        start = 2.0 ** (-8.0 / n)
        return [start ** (i + 1) for i in range(n)]

    if math.log2(heads).is_integer():
        s = pow2(heads)
    else:
        closest = 2 ** math.floor(math.log2(heads))
        s = pow2(closest) + pow2(2 * closest)[0::2][: heads - closest]
    return torch.tensor(s, dtype=torch.float32)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


class Block(nn.Module):
    """Pre-norm Transformer block with causal self-attention (RoPE or ALiBi)."""

    def __init__(self, d_model: int, heads: int, ffn_mult: int, dropout: float) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = d_model // heads
        self.dropout = dropout
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, ffn_mult * d_model), nn.GELU(), nn.Linear(ffn_mult * d_model, d_model)
        )
        self.drop = nn.Dropout(dropout)

    def forward(
        self, h: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None, alibi: torch.Tensor | None
    ) -> torch.Tensor:
        B, L, D = h.shape
        q, k, v = self.qkv(self.ln1(h)).view(B, L, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        # Attention-probability dropout only where a fused kernel supports it (CUDA): on CPU
        # any dropout_p > 0 sends SDPA to the math path, which materialises the (L, L)
        # scores (10x slower at L = 512, ~8 GB at L = 11,000). On CPU the embedding,
        # attention-output and MLP dropouts still apply.
        p = self.dropout if self.training and q.is_cuda else 0.0
        if alibi is not None:
            mask = alibi.to(q.dtype)
            a = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        else:
            cos, sin = rope
            cos, sin = cos.to(q.dtype), sin.to(q.dtype)
            q = q * cos + rotate_half(q) * sin
            k = k * cos + rotate_half(k) * sin
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True, dropout_p=p)
        h = h + self.drop(self.proj(a.transpose(1, 2).reshape(B, L, D)))
        return h + self.drop(self.mlp(self.ln2(h)))


class TransformerScorer(SkipPath, Scorer):
    """Causal Transformer; regime "windows", trained on random windows of ``context`` days."""

    regime = "windows"

    def __init__(
        self,
        parts: int,
        d_model: int = 128,
        heads: int = 4,
        layers: int = 2,
        ffn_mult: int = 4,
        dropout: float = 0.1,
        context: int = 512,
        positions: str = "rope",
        weekday_embedding: bool = True,
        head: str = "sigmoid",
        skip: str = "none",
    ) -> None:
        super().__init__(parts, head)
        if d_model % heads:
            raise ValueError(f"heads ({heads}) must divide d_model ({d_model})")
        if positions not in ("rope", "alibi"):
            raise ValueError(f"positions must be rope or alibi, got {positions!r}")
        if positions == "rope" and (d_model // heads) % 2:
            raise ValueError(f"positions 'rope' needs an even head size; d_model/heads = {d_model // heads}")
        if context < 2:
            raise ValueError(f"context must be >= 2, got {context}")
        self.d_model = d_model
        self.heads = heads
        self.context = context
        self.stride = max(1, context // 2)
        self.positions = positions
        self.inp = nn.Linear(parts, d_model)
        self.weekday = nn.Embedding(7, d_model) if weekday_embedding else None
        self.drop = nn.Dropout(dropout)
        self.blocks = nn.ModuleList(Block(d_model, heads, ffn_mult, dropout) for _ in range(layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.out = nn.Linear(d_model, parts)
        self._init_skip(parts, skip)
        hd = d_model // heads
        self.register_buffer(
            "inv_freq", 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd)), persistent=False
        )
        self.register_buffer("slopes", alibi_slopes(heads), persistent=False)

    @classmethod
    def from_config(cls, cfg: Any, parts: int) -> TransformerScorer:
        return cls(
            parts,
            d_model=cfg.d_model,
            heads=cfg.heads,
            layers=cfg.layers,
            ffn_mult=cfg.ffn_mult,
            dropout=cfg.dropout,
            context=cfg.context,
            positions=cfg.positions,
            weekday_embedding=cfg.weekday_embedding,
            head=cfg.head,
            skip=cfg.skip,
        )

    # ------------------------------------------------------------------ torch API
    def _rope(self, L: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape (L, head_dim), float32 (cast to q's dtype in the block)."""
        pos = torch.arange(L, device=device, dtype=torch.float32)
        ang = pos[:, None] * self.inv_freq[None, :]
        ang = torch.cat([ang, ang], dim=-1)
        return ang.cos(), ang.sin()

    def _alibi(self, L: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
        """(1, heads, L, L) additive mask: -slope_h * (i - j) for j <= i, -inf for j > i.

        4-D on purpose: SDPA on CPU takes its fused kernel for a 4-D mask, the math path for 3-D."""
        pos = torch.arange(L, device=device)
        dist = (pos[:, None] - pos[None, :]).to(dtype)  # i - j
        bias = -self.slopes.to(dtype)[:, None, None] * dist
        return bias.masked_fill((pos[None, :] > pos[:, None])[None], float("-inf"))[None]

    def forward(self, x: torch.Tensor, wd: torch.Tensor, state: Any = None) -> tuple[torch.Tensor, None]:
        """x (B, L, input_width) float, wd (B, L) int64 -> (logits (B, L, P), None); causal
        along L. The network reads the multi-hot x[..., :P], the skip path (if any) all of x.

        ``state`` is accepted and ignored so every sequence scorer has the same call."""
        h = self.inp(x[..., : self.parts])
        if self.weekday is not None:
            h = h + self.weekday(wd).to(h.dtype)
        h = self.drop(h)
        L = x.shape[1]
        rope = alibi = None
        if self.positions == "rope":
            rope = self._rope(L, x.device)
        else:
            alibi = self._alibi(L, x.device, h.dtype)
        for blk in self.blocks:
            h = blk(h, rope, alibi)
        return self._plus_skip(self.out(self.ln_f(h)), x, wd), None

    # ------------------------------------------------------------------ scoring

    def window_start(self, t: int) -> int:
        """First input day read by `score` for day t: 0 for t < context, else the start of
        the context-long window that ends with t's block (t reads context-stride+1..context days)."""
        C, S = self.context, self.stride
        if t < C:
            return 0
        block_end = C + ((t - C) // S + 1) * S  # exclusive end of t's block
        return block_end - C

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        """Day t's logits are the last output of a forward over x[window_start(t)..t]
        (computed block-wise; blocks are anchored at day 0, independent of start/stop)."""
        dev = self.out.weight.device
        C, S = self.context, self.stride
        out = [torch.zeros(0, self.parts, device=dev)]
        early = min(stop, C)
        if start < early:  # days 0..C-1: one causal pass from day 0
            logits, _ = self(inputs.x[:early].to(dev).unsqueeze(0), inputs.wd[:early].to(dev).unsqueeze(0))
            out.append(logits[0, start:])
        if stop > C:
            # Block k covers days [C + k*S, C + (k+1)*S) and reads x[(k+1)*S .. C + (k+1)*S).
            k0 = max(0, (start - C) // S)
            k1 = (stop - C - 1) // S  # last block (inclusive), possibly cut at stop
            full = [k for k in range(k0, k1 + 1) if C + (k + 1) * S <= stop]
            for b in range(0, len(full), SCORE_BATCH):
                ks = full[b : b + SCORE_BATCH]
                xw = torch.stack([inputs.x[(k + 1) * S : C + (k + 1) * S] for k in ks]).to(dev)
                ww = torch.stack([inputs.wd[(k + 1) * S : C + (k + 1) * S] for k in ks]).to(dev)
                logits, _ = self(xw, ww)
                for i, k in enumerate(ks):
                    lo = C + k * S
                    out.append(logits[i, C - S + max(0, start - lo) :])
            if not full or full[-1] != k1:  # the last block ends after stop: shorter window
                k = k1
                lo, a = C + k * S, (k + 1) * S
                logits, _ = self(inputs.x[a:stop].to(dev).unsqueeze(0), inputs.wd[a:stop].to(dev).unsqueeze(0))
                out.append(logits[0, lo - a + max(0, start - lo) :])
        return torch.cat(out, dim=0)
