"""Full-batch L-BFGS to a minimum: the one optimiser loop behind every fit to an optimum
(Hawkes `fit_mle`, logistic ``optimizer: lbfgs``, the skip path's warm start)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch


def minimise(
    params: Sequence[torch.Tensor],
    objective: Callable[[], torch.Tensor],
    *,
    max_iter: int,
    tolerance_grad: float,
    tolerance_change: float = 1e-12,
) -> dict:
    """Minimise the scalar `objective()` over `params` by L-BFGS with a strong-Wolfe line
    search, in place. Returns {iterations, evaluations, converged}: converged when the
    largest gradient entry is within `tolerance_grad` or L-BFGS stopped before `max_iter`."""
    params = list(params)
    opt = torch.optim.LBFGS(
        params,
        lr=1.0,
        max_iter=max_iter,
        history_size=20,
        tolerance_grad=tolerance_grad,
        tolerance_change=tolerance_change,
        line_search_fn="strong_wolfe",
    )
    evaluations = 0

    def closure() -> torch.Tensor:
        nonlocal evaluations
        evaluations += 1
        opt.zero_grad()
        loss = objective()
        loss.backward()
        return loss

    opt.step(closure)
    iterations = int(opt.state[opt._params[0]].get("n_iter", 0))
    grads = [float(p.grad.abs().max()) for p in params if p.grad is not None and p.grad.numel()]
    grad_max = max(grads) if grads else 0.0
    return {
        "iterations": iterations,
        "evaluations": evaluations,
        "converged": bool(grad_max <= tolerance_grad or iterations < max_iter),
    }
