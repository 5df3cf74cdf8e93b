"""A sequence whose answer is known: part 1 occurs today exactly when part 0 occurred
yesterday. A sequence scorer trained on it must put that rule into its probabilities."""

import numpy as np
import torch


def pattern_y(T: int, P: int, K: int, seed: int) -> np.ndarray:
    """(T, P) float32, K events a day; part 1 today iff part 0 yesterday, the rest random."""
    rng = np.random.default_rng(seed)
    Y = np.zeros((T, P), dtype=np.float32)
    others = [p for p in range(P) if p != 1]
    for t in range(T):
        if t > 0 and Y[t - 1, 0] == 1:
            Y[t, 1] = 1
            Y[t, rng.choice(others, K - 1, replace=False)] = 1
        else:
            Y[t, rng.choice(others, K, replace=False)] = 1
    return Y


def assert_learns_yesterday_pattern(m, Y: np.ndarray, dates: np.ndarray, *, chunks: int, lr: float, steps: int) -> None:
    """Train `m` on Y cut into `chunks` contiguous pieces side by side (as the loop batches
    them), then check P(part 1) is high after part 0 and low otherwise, when scored."""
    P = Y.shape[1]
    inp = m.prepare(Y, dates)
    n = len(Y) // chunks
    x, wd = inp.x.view(chunks, n, P), inp.wd.view(chunks, n)
    y = torch.from_numpy(Y).view(chunks, n, P)
    opt = torch.optim.AdamW(m.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        logits, _ = m(x, wd)
        loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.8 * losses[0]
    p1 = torch.sigmoid(m.score(inp, 0, len(Y))[:, 1])
    had0 = inp.x[:, 0] == 1
    assert float(p1[had0].mean()) > 0.8 and float(p1[~had0].mean()) < 0.2
