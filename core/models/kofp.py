"""The exact K-of-P likelihood head (`head: kofp`), in torch so it differentiates.

A day with exactly K events is modelled as a conditional Bernoulli draw: the scorer's
outputs x are log-weights, w = exp(x), and the day's set S has probability

    P(S) = prod_{i in S} w_i / e_K(w)

where e_K is the elementary symmetric polynomial of degree K. The loss is the negative
log-likelihood -sum_{i in S} x_i + log e_K(w); the per-part probabilities are the design's
exact inclusion probabilities pi_i = w_i e_{K-1}(w without i) / e_K(w) (the gradient of
log e_K with respect to x), which sum to K by construction. Everything is computed in log
space by the recursion e_j(w_1..i) = e_j(w_1..i-1) + w_i e_{j-1}(w_1..i-1), as
`core.cbern` does in numpy for the generator's truth.
"""

from __future__ import annotations

import torch

# Stands for log 0 in the tables. Finite, so gradients through logaddexp stay finite
# (logaddexp(-inf, -inf) has a NaN gradient); far below any real log e_j.
_LOG_ZERO = -1e9


def _add_part(table: torch.Tensor, x_i: torch.Tensor) -> torch.Tensor:
    """table (..., J) of log e_j, j = 0..J-1, with one more part of log-weight x_i (..., 1)."""
    return torch.cat([table[..., :1], torch.logaddexp(table[..., 1:], table[..., :-1] + x_i)], dim=-1)


def _empty(x: torch.Tensor, K: int) -> torch.Tensor:
    table = x.new_full((*x.shape[:-1], K + 1), _LOG_ZERO)
    table[..., 0] = 0.0
    return table


def log_esp(x: torch.Tensor, K: int) -> torch.Tensor:
    """(..., K+1): log e_j(exp(x)) for j = 0..K over the last dimension of x (..., P)."""
    table = _empty(x, K)
    for i in range(x.shape[-1]):
        table = _add_part(table, x[..., i : i + 1])
    return table


def kofp_nll(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """(...,) negative log-likelihood of each row's set under the conditional Bernoulli
    design with log-weights x (..., P); y (..., P) in [0, 1] (a 0/1 set, or a smoothed one:
    the loss is linear in y, so a smoothed y gives the expected NLL under the mixture).
    K is each row's own count (rounded sum of y)."""
    counts = torch.round(y.sum(dim=-1)).long()
    K = int(counts.max().item()) if counts.numel() else 0
    table = log_esp(x, K)
    log_eK = torch.gather(table, -1, counts.unsqueeze(-1)).squeeze(-1)
    return log_eK - (y * x).sum(dim=-1)


def kofp_loss(x: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Mean over rows of the NLL, divided by P so its scale reads like a per-part loss."""
    if label_smoothing:
        k = y.sum(dim=-1, keepdim=True)
        y = (1 - label_smoothing) * y + label_smoothing * k / y.shape[-1]
    return kofp_nll(x, y).mean() / x.shape[-1]


def kofp_inclusion(x: torch.Tensor, K: int) -> torch.Tensor:
    """(..., P) exact inclusion probabilities of the K-of-P design with log-weights x (..., P)."""
    P = x.shape[-1]
    if K <= 0:
        return torch.zeros_like(x)
    if K >= P:
        return torch.ones_like(x)
    prefix = [_empty(x, K)]  # prefix[i]: log e_j of parts 0..i-1
    for i in range(P):
        prefix.append(_add_part(prefix[-1], x[..., i : i + 1]))
    suffix = [_empty(x, K)]  # built from the end: suffix[i] covers parts P-i..P-1
    for i in range(P - 1, -1, -1):
        suffix.append(_add_part(suffix[-1], x[..., i : i + 1]))
    before = torch.stack(prefix[:P], dim=-2)[..., :K]  # (..., P, K): parts before i
    after = torch.stack(suffix[:P][::-1], dim=-2)[..., :K]  # (..., P, K): parts after i
    # e_{K-1}(w without i) = sum_j e_j(before i) e_{K-1-j}(after i)
    without = torch.logsumexp(before + after.flip(-1), dim=-1)
    log_eK = prefix[P][..., K : K + 1]
    return torch.exp(x + without - log_eK).clamp(0.0, 1.0)
