"""Discrete-time multivariate Hawkes scorer with exponential kernels, fit by maximum likelihood.

Each part p occurs on day t with probability ``sigmoid(logit[t, p])``,

    logit[t, p] = mu_p + season[weekday(t), p] + year(t, p) + sum_q sum_d alpha[d, q, p] * h[t, q, d]
    h[t, q, d]  = sum_{s<t} exp(-(t - 1 - s) / tau_d) * Y[s, q]      (core.models.features.exp_traces)

so a past event of part q moves part p's log-odds by ``alpha[d, q, p]``, fading with time
constant ``tau_d`` days: ``alpha > 0`` excites, ``alpha < 0`` inhibits. With
``inhibition=False`` every alpha is kept >= 0 by a softplus parametrisation. The
weekday term (``seasonal=True``, the default) lets a part's baseline intensity follow the
week, which a self-exciting process would otherwise imitate with spurious kernels; with
``yearly=H`` > 0 it follows the year too, ``year(t, p) = sum_k a[k, p] sin(2 pi k d_t /
365.25) + b[k, p] cos(...)`` for k = 1..H, d_t day t's date in days (a calendar fact
known in advance, like the weekday), L2-penalised with ``l2``.
Cross-effects (q != p) carry a group lasso (``cross_l1``) over each pair's D kernels as
well as an L2 term (``cross_l2``; self-effects get ``l2``): of P x P possible pairs only
a few are real, and a dense fit spreads noise over all of them.

Regime ``rows``: `prepare` gives x = the (T, P * D) traces (row t from days < t only).
`fit_mle` maximises the Bernoulli log-likelihood of the given training rows (plus an L2
penalty on alpha) with full-batch L-BFGS; the generic training loop may also train it
through `forward` like any other rows model.

Internally alpha is stored per decay in units of the *normalised* trace
``h * (1 - exp(-1/tau))`` (a weighted average of past occurrences, on the same scale
whatever tau), a fixed reparametrisation that conditions L-BFGS well. The L2 penalty is
taken in those units too, ``l2 * sum_d (alpha_d / (1 - exp(-1/tau_d)))**2``, so it
restrains slow kernels (whose raw traces are large and collinear) as much as fast ones;
on the sample data this beats a penalty on raw alpha clearly (validation NLL per day
14.863 at l2=0.003 vs 14.886 at best). `interactions` returns alpha in the units of h.
"""

from __future__ import annotations

import math
import time
from typing import Any
from collections.abc import Sequence

import numpy as np
import torch
from torch import nn

from core.models.features import exp_traces, yearly_terms
from core.models.lbfgs import minimise
from core.models.base import Inputs, Scorer, weekdays

__all__ = ["HawkesScorer"]

_SOFTPLUS_INIT = -4.6  # softplus(-4.6) ~= 0.01: near-zero excitation when alpha >= 0
_GROUP_EPS = 1e-6  # smooths the group norm at 0: |w| ~ sqrt(w^2 + eps) - sqrt(eps)


class HawkesScorer(Scorer):
    """Discrete-time multivariate Hawkes process (excitation and inhibition).

    Args:
        parts: P.
        decays: D kernel time constants tau in days (distinct, > 0).
        inhibition: allow alpha < 0; False clamps alpha >= 0 via softplus.
        l2: default L2 penalty on alpha for `fit_mle`.
        head: ``sigmoid`` (the Bernoulli model; the default) or ``softmax``.
    """

    regime = "rows"

    def __init__(
        self,
        parts: int,
        decays: Sequence[float] = (1.0, 7.0, 30.0),
        inhibition: bool = True,
        l2: float = 1e-3,
        head: str = "sigmoid",
        seasonal: bool = True,
        cross_l2: float | None = None,
        cross_l1: float = 0.0,
        l1: float = 0.0,
        yearly: int = 0,
    ) -> None:
        super().__init__(parts, head)
        if int(yearly) != yearly or yearly < 0:
            raise ValueError(f"yearly must be a whole number >= 0, got {yearly}")
        self.yearly = int(yearly)
        decays = tuple(float(d) for d in decays)
        if not decays or any(not math.isfinite(d) or d <= 0 for d in decays):
            raise ValueError(f"decays must be positive numbers, got {decays}")
        if len(set(decays)) != len(decays):
            raise ValueError(f"decays must be distinct, got {decays}")
        if not l2 >= 0:
            raise ValueError(f"l2 must be >= 0, got {l2}")
        self.decays = decays
        self.inhibition = bool(inhibition)
        self.l2 = float(l2)
        self.cross_l2 = self.l2 if cross_l2 is None else float(cross_l2)
        if not self.cross_l2 >= 0:
            raise ValueError(f"cross_l2 must be >= 0, got {cross_l2}")
        if not cross_l1 >= 0:
            raise ValueError(f"cross_l1 must be >= 0, got {cross_l1}")
        self.cross_l1 = float(cross_l1)
        if not l1 >= 0:
            raise ValueError(f"l1 must be >= 0, got {l1}")
        self.l1 = float(l1)
        self.seasonal = bool(seasonal)
        D = len(decays)
        self.register_buffer(
            "trace_scale",
            torch.tensor([1.0 - math.exp(-1.0 / d) for d in decays], dtype=torch.float32),
            persistent=False,
        )
        self.mu = nn.Parameter(torch.zeros(parts))
        self.weight = nn.Parameter(torch.zeros(D, parts, parts))  # [d, q, p], normalised units
        self.season = nn.Parameter(torch.zeros(7 if self.seasonal else 0, parts))  # [weekday, p]
        # [sin_1, cos_1, ..., p]; absent when yearly = 0, so earlier checkpoints still load
        self.annual = nn.Parameter(torch.zeros(2 * self.yearly, parts)) if self.yearly else None
        self.register_buffer("cross_mask", 1.0 - torch.eye(parts), persistent=False)
        self.reset_parameters()

    @classmethod
    def from_config(cls, cfg, parts: int) -> HawkesScorer:
        """Build from a ``core.config.HawkesModel`` section."""
        return cls(
            parts,
            decays=cfg.decays,
            inhibition=cfg.inhibition,
            l2=cfg.l2,
            head=getattr(cfg, "head", "sigmoid"),
            seasonal=cfg.seasonal,
            cross_l2=cfg.cross_l2,
            cross_l1=getattr(cfg, "cross_l1", 0.0),
            l1=getattr(cfg, "l1", 0.0),
            yearly=getattr(cfg, "yearly", 0),
        )

    def reset_parameters(self, base_rate: torch.Tensor | np.ndarray | None = None) -> None:
        """mu = logit(base_rate) (0 when None), alpha ~= 0."""
        with torch.no_grad():
            if base_rate is None:
                self.mu.zero_()
            else:
                q = torch.as_tensor(base_rate, dtype=self.mu.dtype).clamp(1e-4, 1 - 1e-4)
                self.mu.copy_(torch.log(q) - torch.log1p(-q))
            self.weight.fill_(0.0 if self.inhibition else _SOFTPLUS_INIT)
            self.season.zero_()
            if self.annual is not None:
                self.annual.zero_()

    # ------------------------------------------------------------------ the model

    @property
    def n_features(self) -> int:
        """F, the width of `prepare`'s x: P x D traces, then 7 weekday columns when seasonal,
        then 2 x yearly sin/cos columns."""
        return self.parts * len(self.decays) + (7 if self.seasonal else 0) + 2 * self.yearly

    def alpha(self) -> torch.Tensor:
        """(D, P, P) interaction weights ``alpha[d, q, p]`` (differentiable)."""
        w = self.weight if self.inhibition else nn.functional.softplus(self.weight)
        return w * self.trace_scale[:, None, None]

    def _penalty(
        self,
        l2: float | None = None,
        cross_l2: float | None = None,
        cross_l1: float | None = None,
        l1: float | None = None,
    ) -> torch.Tensor:
        """l2 x the squared self-interaction weights + cross_l2 x the squared cross ones +
        cross_l1 x the group norm of each cross pair (q, p) over its D kernels, in
        normalised-trace units (see module doc). The group norm (a group lasso, smoothed at
        zero so L-BFGS can use it) shrinks a whole pair to ~0 unless the data insist."""
        l2 = self.l2 if l2 is None else l2
        cross_l2 = self.cross_l2 if cross_l2 is None else cross_l2
        cross_l1 = self.cross_l1 if cross_l1 is None else cross_l1
        l1 = self.l1 if l1 is None else l1
        w2 = (self.weight if self.inhibition else nn.functional.softplus(self.weight)).pow(2)
        cross = (w2 * self.cross_mask).sum()
        out = l2 * (w2.sum() - cross) + cross_l2 * cross
        if self.annual is not None:
            out = out + l2 * self.annual.pow(2).sum()
        if cross_l1 or l1:
            group = torch.sqrt(w2.sum(dim=0) + _GROUP_EPS) - math.sqrt(_GROUP_EPS)  # (P, P)
            cross_group = (group * self.cross_mask).sum()
            out = out + cross_l1 * cross_group + l1 * (group.sum() - cross_group)
        return out

    def _kernel(self) -> torch.Tensor:
        """(P * D, P) matrix with row ``q * D + d`` = alpha[d, q, :], matching exp_traces."""
        D, P = len(self.decays), self.parts
        return self.alpha().permute(1, 0, 2).reshape(P * D, P)

    def prepare(self, Y: np.ndarray, dates: np.ndarray) -> Inputs:
        """Inputs(x = (T, P * D [+ 7] [+ 2 * yearly]) float32 traces [, day t's weekday one-hot
        when seasonal] [, its yearly sin/cos], wd = (T,) weekday, events = K per day)."""
        Y = np.asarray(Y)
        if Y.ndim != 2 or Y.shape[1] != self.parts:
            raise ValueError(f"Y must have shape (T, {self.parts}), got {Y.shape}")
        x = exp_traces(Y, self.decays).astype(np.float32)
        wd = weekdays(np.asarray(dates))
        if self.seasonal:
            x = np.concatenate([x, np.eye(7, dtype=np.float32)[wd]], axis=1)
        if self.yearly:
            x = np.concatenate([x, yearly_terms(dates, self.yearly)], axis=1)
        events = int(round(float(Y.sum(axis=1).mean()))) if len(Y) else 0
        return Inputs(torch.from_numpy(x), torch.from_numpy(wd), events)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, P * D [+ 7] [+ 2 * yearly]) traces [, weekday one-hot] [, yearly sin/cos] -> (B, P) logits."""
        PD = self.parts * len(self.decays)
        out = x[:, :PD] @ self._kernel() + self.mu
        W = 7 if self.seasonal else 0
        if self.seasonal:
            out = out + x[:, PD : PD + W] @ self.season
        if self.yearly:
            out = out + x[:, PD + W :] @ self.annual
        return out

    def _score(self, inputs: Inputs, start: int, stop: int) -> torch.Tensor:
        return self.forward(inputs.x[start:stop].to(self.mu.device, self.mu.dtype))

    # ------------------------------------------------------------------ maximum likelihood

    def _nll(self, logits: torch.Tensor, y: torch.Tensor, events: int) -> torch.Tensor:
        """Negative log-likelihood per training day (summed over parts, mean over days)."""
        if self.head == "kofp":
            from core.models.kofp import kofp_nll

            return kofp_nll(logits, y).mean()
        if self.head == "softmax":
            target = y / y.sum(dim=-1, keepdim=True).clamp(min=1.0)
            return -(target * torch.log_softmax(logits, dim=-1)).sum(dim=-1).mean() * max(events, 1)
        return nn.functional.binary_cross_entropy_with_logits(logits, y, reduction="sum") / y.shape[0]

    fits_by_likelihood = True

    def penalties(self) -> dict[str, float]:
        """The penalties `fit_mle` takes, at the model's own values (the path scales them)."""
        return {"l2": self.l2, "cross_l2": self.cross_l2, "cross_l1": self.cross_l1, "l1": self.l1}

    def fit_mle(
        self,
        inputs: Inputs,
        y,
        rows=None,
        l2: float | None = None,
        max_iter: int = 200,
        tolerance: float = 1e-7,
        reset: bool = True,
        cross_l2: float | None = None,
        cross_l1: float | None = None,
        l1: float | None = None,
    ) -> dict[str, Any]:
        """Maximum-likelihood fit on the training rows with full-batch L-BFGS.

        Minimises ``NLL / n_rows + l2 * sum_d (alpha_d / (1 - exp(-1/tau_d))) ** 2`` where
        NLL is the Bernoulli negative log-likelihood summed over the rows and parts (so the
        data term is the mean over days of each day's summed log-loss; the penalty is per
        normalised trace, see the module doc). On the 39-part sample, l2 ~ 0.003-0.01 does
        best on validation; l2 = 0 is the plain MLE.

        Args:
            inputs: from `prepare` on the full history.
            y: (T, P) targets aligned with inputs (bool/0-1 numpy array or tensor).
            rows: training rows: None (all), a slice, an index array or a bool mask.
            l2: penalty on the self-interactions; None = the model's ``l2``.
            cross_l2: penalty on the cross-interactions; None = the model's ``cross_l2``
                (l2 = cross_l2 = cross_l1 = 0 is the plain MLE).
            cross_l1: group-lasso penalty on the cross pairs; None = the model's ``cross_l1``.
            max_iter: L-BFGS iterations at most.
            tolerance: stop when the gradient's max-abs falls below it.
            reset: start from mu = logit(training base rate), alpha ~= 0 (else warm start).
        Returns:
            dict: loss (penalised objective), nll (per day), iterations, evaluations,
            seconds, converged.
        """
        t0 = time.perf_counter()
        l2 = self.l2 if l2 is None else float(l2)
        cross_l2 = self.cross_l2 if cross_l2 is None else float(cross_l2)
        cross_l1 = self.cross_l1 if cross_l1 is None else float(cross_l1)
        l1 = self.l1 if l1 is None else float(l1)
        if not (l2 >= 0 and cross_l2 >= 0 and cross_l1 >= 0 and l1 >= 0):
            raise ValueError(f"l2, cross_l2, cross_l1 and l1 must be >= 0, got {l2}, {cross_l2}, {cross_l1}, {l1}")
        device, dtype = self.mu.device, self.mu.dtype
        y = y if isinstance(y, torch.Tensor) else torch.from_numpy(np.array(y, dtype=np.float32))
        if y.shape != (len(inputs), self.parts):
            raise ValueError(f"y must have shape ({len(inputs)}, {self.parts}), got {tuple(y.shape)}")
        if rows is None:
            rows = slice(None)
        elif not isinstance(rows, slice):
            rows = torch.as_tensor(np.asarray(rows))
        X = inputs.x[rows].to(device, dtype)
        Yt = y[rows].to(device, dtype)
        if X.shape[0] == 0:
            raise ValueError("no training rows")
        if reset:
            self.reset_parameters(Yt.mean(dim=0))
        was_training = self.training
        self.train()
        params = (
            [self.mu, self.weight] + ([self.season] if self.seasonal else []) + ([self.annual] if self.yearly else [])
        )

        def objective() -> torch.Tensor:
            loss = self._nll(self.forward(X), Yt, inputs.events)
            if l2 or cross_l2 or cross_l1 or l1:
                loss = loss + self._penalty(l2, cross_l2, cross_l1, l1)
            return loss

        info = minimise(params, objective, max_iter=max_iter, tolerance_grad=tolerance)
        self.train(was_training)
        with torch.no_grad():
            nll = float(self._nll(self.forward(X), Yt, inputs.events))
            loss = nll + float(self._penalty(l2, cross_l2, cross_l1, l1))
        return {"loss": loss, "nll": nll, **info, "seconds": time.perf_counter() - t0}

    # ------------------------------------------------------------------ inspection

    def base_rates(self) -> np.ndarray:
        """(P,) sigmoid(mu): each part's probability with no history."""
        return torch.sigmoid(self.mu.detach()).cpu().numpy().astype(np.float64)

    def interactions(self) -> np.ndarray:
        """(D, P, P) alpha as numpy, ``[d, q, p]`` = effect of a part-q event on part p's
        log-odds the next day through kernel d (decaying as exp(-lag / tau_d))."""
        with torch.no_grad():
            return self.alpha().cpu().numpy().astype(np.float64)
