"""The one fit loop for every learned scorer (docs/ARCHITECTURE.md, "Training").

AdamW, dropout and weight decay from the config, optional label smoothing, early stopping
with patience on the validation monitor, the best weights kept, and a resume state written
every epoch, so that training 10 epochs straight and training 4, stopping and resuming to
10 give the same weights. Batching follows the scorer's regime (see core/models/base.py):
random rows, random windows, or contiguous chunks with truncated backpropagation.

Validation never sees the test window: the monitor, the early-stopping epoch and the best
checkpoint are all chosen on the validation rows only.
"""

from __future__ import annotations

import copy
import io
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Callable, Iterator

import numpy as np
import torch

from core.evaluation import metrics
from core.data.splits import Split
from core.fsutil import atomic_open
from core.models.base import Inputs, Scorer, head_logits, head_loss
from core.models.checkpoint import check_state, read_checkpoint

EpochCallback = Callable[[dict], None]


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("train.device is cuda but no CUDA device is available; use -o train.device=cpu or auto")
    return torch.device(name)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def save_torch(obj: Any, path: Path) -> None:
    """torch.save through a temp file and rename: a reader never sees half a checkpoint.

    Serialised in memory first: torch's zip writer turns a failed write into "[enforce fail
    at inline_container.cc]", while our own write raises the OS's error (ENOSPC: "No space
    left on device") that the run's failure message then names.
    """
    buf = io.BytesIO()
    torch.save(obj, buf)
    with atomic_open(path, "wb") as fh:
        fh.write(buf.getbuffer())


def load_torch(path: Path, map_location: str | torch.device = "cpu") -> Any:
    """weights_only=True; a damaged or crafted file is an InputError saying what is wrong."""
    return read_checkpoint(path, map_location)


@dataclass
class FitResult:
    best_epoch: int
    best_metric: float
    epochs: list[dict] = field(default_factory=list)
    stopped: str = ""
    best_state: dict[str, torch.Tensor] = field(default_factory=dict)


class Trainer:
    """Fits `scorer` on the train rows of `split`, early-stopping on its val rows.

    inputs: what `scorer.prepare` returned for the whole sequence; Y: (T, P) labels.
    `last_path`/`best_path`: where the resume state and the best weights go (optional).
    """

    def __init__(
        self,
        scorer: Scorer,
        inputs: Inputs,
        Y: np.ndarray,
        split: Split,
        train_cfg,
        eval_cfg,
        *,
        model_cfg,
        seed: int = 0,
        on_epoch: EpochCallback | None = None,
        last_path: Path | None = None,
        best_path: Path | None = None,
        extra_checkpoint: dict | None = None,
        stop_flag: Callable[[], bool] | None = None,
        overlap: bool | None = None,
    ):
        self.cfg, self.eval_cfg, self.model_cfg = train_cfg, eval_cfg, model_cfg
        self.device = resolve_device(train_cfg.device)
        self.scorer = scorer.to(self.device)
        self.inputs = inputs.to(self.device)
        self.Y = torch.as_tensor(np.asarray(Y, dtype=np.float32), device=self.device)
        self.split = split
        self.seed = seed
        self.on_epoch = on_epoch or (lambda e: None)
        self.last_path, self.best_path = last_path, best_path
        self.extra_checkpoint = extra_checkpoint or {}
        self.stop_flag = stop_flag or (lambda: False)
        self.autocast = self.device.type == "cuda" and bool(train_cfg.bf16)
        self.events = inputs.events
        self.overlap = overlap  # validate while the next epoch trains; None = auto (overlaps_validation)

    # ------------------------------------------------------------------ batching

    def _window_length(self) -> int:
        m = self.model_cfg
        length = getattr(m, "context", None) or getattr(m, "window", None) or 256
        return int(min(length, self.split.train[1] - self.split.train[0]))

    def steps_per_epoch(self) -> int:
        if self.cfg.steps_per_epoch:
            return int(self.cfg.steps_per_epoch)
        n = self.split.train[1] - self.split.train[0]
        regime = self.scorer.regime
        if regime == "rows":
            return max(1, math.ceil(n / self.cfg.batch_size))
        if regime == "windows":
            return max(1, n // (self._window_length() * self.cfg.batch_size))
        chunks, tbptt = self.model_cfg.chunks, self.model_cfg.tbptt
        return max(1, math.ceil((n // chunks) / tbptt))

    def _loss(self, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return head_loss(logits.float(), y, self.scorer.head, self.events, self.cfg.label_smoothing)

    def _autocast(self):
        # The device's own type, so a CPU test can switch `autocast` on and run this same path.
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=self.autocast)

    def _train_epoch(self, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> float:
        self.scorer.train()
        t0, t1 = self.split.train
        x, wd, Y = self.inputs.x, self.inputs.wd, self.Y
        steps = self.steps_per_epoch()
        total = 0.0
        regime = self.scorer.regime
        if regime == "stateful":
            B, tbptt = self.model_cfg.chunks, self.model_cfg.tbptt
            C = (t1 - t0) // B
            if C < 1:
                raise ValueError(f"{t1 - t0} training days cannot be cut into {B} chunks")
            starts = (t1 - B * C) + torch.arange(B, device=self.device) * C  # the newest days are all used
            state = self.scorer.init_state(B, self.device)
            per_pass = math.ceil(C / tbptt)
        for step in range(steps):
            if regime == "rows":
                idx = torch.randint(t0, t1, (self.cfg.batch_size,), generator=gen).to(self.device)
                with self._autocast():
                    logits = self.scorer(x[idx])
                loss = self._loss(logits, Y[idx])
            elif regime == "windows":
                L = self._window_length()
                s = torch.randint(t0, t1 - L + 1, (self.cfg.batch_size,), generator=gen).to(self.device)
                idx = s[:, None] + torch.arange(L, device=self.device)[None, :]
                with self._autocast():
                    logits, _ = self.scorer(x[idx], wd[idx])
                loss = self._loss(logits, Y[idx])
            else:
                j = step % per_pass
                if j == 0 and step:
                    state = self.scorer.init_state(B, self.device)
                lo, hi = j * tbptt, min((j + 1) * tbptt, C)
                idx = starts[:, None] + torch.arange(lo, hi, device=self.device)[None, :]
                with self._autocast():
                    logits, state = self.scorer(x[idx], wd[idx], state)
                loss = self._loss(logits, Y[idx])
                state = _detach(state)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if self.cfg.grad_clip:
                torch.nn.utils.clip_grad_norm_(self.scorer.parameters(), self.cfg.grad_clip)
            optimizer.step()
            total += float(loss.detach())
        return total / steps

    # ------------------------------------------------------------------ validation

    @torch.no_grad()
    def validate(self, scorer: Scorer | None = None) -> dict:
        """Validation metrics of `scorer` (default: the one being fitted) on the val rows."""
        scorer = self.scorer if scorer is None else scorer
        scorer.eval()
        v0, v1 = self.split.val
        with self._autocast():
            logits = scorer.score(self.inputs, v0, v1).float()
        y = self.Y[v0:v1]
        val_loss = float(head_loss(logits, y, scorer.head, self.events))
        z = head_logits(logits, scorer.head, self.events).cpu().numpy().astype(np.float64)
        yb = y.cpu().numpy().astype(bool)
        out = {"val_loss": val_loss, "val_auc": metrics.macro(metrics.roc_auc_per_part(yb, z), yb)}
        k = getattr(self.cfg, "monitor_k", None)
        if k:
            ind = metrics.day_indicators(yb, z, [k], dict(self.eval_cfg.tiers), self.eval_cfg.good_tier)
            out[self.cfg.monitor] = float(ind.mean())
        return out

    def overlaps_validation(self) -> bool:
        """Whether `fit` validates epoch e on a worker thread while epoch e+1 trains.

        ``overlap`` None (auto): for stateful models on CPU. Their validation replays the
        whole history as one batch-1 recurrence that more threads cannot speed up, so it
        runs beside the next epoch instead of after it. With ``train.num_threads`` set, only
        if that allows two threads (they are split); left to the default, whenever the
        machine has two cores, even if the job got one thread because workers share them:
        alone on 2 cores ten GRU epochs take 2.7 s instead of 3.9, while two such jobs side
        by side take 4.0-4.2 s instead of 3.8 (the same work, time-sliced). The batched
        regimes use every core for both and lose by the split (Transformer, 8 epochs:
        8.0 s -> 11.6 s), so they validate in line, as on CUDA."""
        if self.overlap is not None:
            return self.overlap
        if self.device.type != "cpu" or self.scorer.regime != "stateful":
            return False
        if self.cfg.num_threads:
            return self.cfg.num_threads >= 2
        return (os.cpu_count() or 1) >= 2

    # ------------------------------------------------------------------ fit

    def fit(self, *, resume: bool = False) -> FitResult:
        with deterministic_torch(bool(getattr(self.cfg, "deterministic", False))):
            return self._fit(resume=resume)

    def _fit(self, *, resume: bool) -> FitResult:
        cfg = self.cfg
        seed_everything(self.seed)
        if getattr(self.scorer, "fits_by_likelihood", False):
            # A fit to the optimum has nothing to resume from: a resumed run fits again, to the same weights.
            return self._fit_mle()
        optimizer = torch.optim.AdamW(self.scorer.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        gen = torch.Generator().manual_seed(self.seed)
        maximise = cfg.monitor != "val_loss"
        best = -math.inf if maximise else math.inf
        best_epoch, bad, start_epoch, history = 0, 0, 1, []
        resuming = resume and self.last_path is not None and self.last_path.exists()
        if not resuming and hasattr(self.scorer, "warm_start"):
            # A skip path starts from its per-part fit on the training rows (core/models/skip.py).
            self.scorer.warm_start(self.inputs, self.Y, slice(*self.split.train), self._loss)
        best_state = _cpu_state(self.scorer)
        if resuming:
            assert self.last_path is not None  # resuming says so
            # On CPU whatever device wrote it: RNG states must be CPU tensors, and
            # load_state_dict copies weights and optimizer moments onto the model's device.
            st = load_torch(self.last_path, "cpu")
            check_state(self.scorer, st["model_state"], self.last_path)
            self.scorer.load_state_dict(st["model_state"])
            optimizer.load_state_dict(st["optimizer_state"])
            self._set_rng_state(gen, st["rng"])
            best, best_epoch, bad = st["best_metric"], st["best_epoch"], st["bad_epochs"]
            history, start_epoch = list(st["history"]), st["epoch"] + 1
            if self.best_path is not None and self.best_path.exists():
                best_state = load_torch(self.best_path, "cpu")["model_state"]
        t_start = time.monotonic()
        stopped = "max epochs"
        if bad >= cfg.patience and start_epoch > 1:
            stopped = f"early stop: no improvement in {cfg.patience} epochs"
            start_epoch = cfg.epochs + 1
        with _Validator(self) as validator:
            t_row = time.monotonic()
            trained = self._timed_epoch(optimizer, gen) if start_epoch <= cfg.epochs else None
            for epoch in range(start_epoch, cfg.epochs + 1):
                train_loss, train_seconds = trained
                # Epoch e's weights, optimizer and RNG states as they are now: with overlap the
                # live model moves on to epoch e+1 while e is validated, and the checkpoints,
                # the best weights and a stop must all refer to epoch e.
                model_state, rng = _cpu_state(self.scorer), self._rng_state(gen)
                optimizer_state = copy.deepcopy(optimizer.state_dict())
                pending = validator.submit(model_state)
                trained = None
                if validator.overlapping and epoch < cfg.epochs:
                    trained = self._timed_epoch(optimizer, gen)  # exact: it reads nothing of epoch e's validation
                val = pending()
                metric = val[cfg.monitor]
                improved = (metric > best + cfg.min_delta) if maximise else (metric < best - cfg.min_delta)
                if improved:
                    best, best_epoch, bad, best_state = metric, epoch, 0, model_state
                    if self.best_path is not None:
                        save_torch(self.best_checkpoint(best_state, epoch, metric), self.best_path)
                else:
                    bad += 1
                now = time.monotonic()
                row = {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    **val,
                    "lr": optimizer_state["param_groups"][0]["lr"],
                    "seconds": now - t_row,
                    "train_seconds": train_seconds,
                    "best_epoch": best_epoch,
                    "improved": improved,
                }
                t_row = now
                history.append(row)
                if self.last_path is not None:
                    save_torch(
                        {
                            "model_state": model_state,
                            "optimizer_state": optimizer_state,
                            "epoch": epoch,
                            "best_metric": best,
                            "best_epoch": best_epoch,
                            "bad_epochs": bad,
                            "history": history,
                            "rng": rng,
                        },
                        self.last_path,
                    )
                self.on_epoch(row)
                if bad >= cfg.patience:
                    stopped = f"early stop: no improvement in {cfg.patience} epochs"
                elif cfg.max_minutes is not None and time.monotonic() - t_start > 60 * cfg.max_minutes:
                    stopped = f"time limit: {cfg.max_minutes} minutes"
                elif self.stop_flag():
                    stopped = "cancelled"
                else:
                    if trained is None and epoch < cfg.epochs:
                        trained = self._timed_epoch(optimizer, gen)
                    continue
                if trained is not None:
                    # An epoch trained ahead is dropped: leave every RNG where epoch e left it,
                    # as a fit that never trained ahead would.
                    self._set_rng_state(gen, rng)
                break
        self.scorer.load_state_dict(best_state)
        if history and stopped != "cancelled":  # a cancelled fit is resumed, and ends, later
            best, best_state, stopped = self._network_or_skip_alone(best, best_epoch, best_state, stopped)
        return FitResult(best_epoch, best, history, stopped, best_state)

    def _network_or_skip_alone(
        self, best: float, best_epoch: int, best_state: dict, stopped: str
    ) -> tuple[float, dict, str]:
        """A scorer with a skip path also has a candidate without its network: the skip path
        fitted alone on the training rows (`warm_start`) with the network's output layer at
        zero. It is kept if its validation monitor beats the best epoch's. Where the network
        finds nothing beyond each part's own history (inhibition alone on the quality suite)
        every epoch of it adds noise, and early stopping can only pick among those epochs.
        Training rows fit it and validation chooses, like any epoch."""
        if getattr(self.scorer, "skip", None) is None:
            return best, best_state, stopped
        alone = copy.deepcopy(self.scorer)
        alone.warm_start(self.inputs, self.Y, slice(*self.split.train), self._loss)
        with torch.no_grad():
            alone.out.weight.zero_()
        metric = self.validate(alone)[self.cfg.monitor]
        if not ((metric > best) if self.cfg.monitor != "val_loss" else (metric < best)):
            return best, best_state, stopped
        self.scorer.load_state_dict(alone.state_dict())
        state = _cpu_state(self.scorer)
        if self.best_path is not None:
            save_torch({**self.best_checkpoint(state, best_epoch, metric), "network": "off"}, self.best_path)
        return (
            metric,
            state,
            (
                f"{stopped}; network off: the skip path alone has the better validation "
                f"{self.cfg.monitor} ({metric:.6g} against epoch {best_epoch}'s {best:.6g})"
            ),
        )

    def _timed_epoch(self, optimizer: torch.optim.Optimizer, gen: torch.Generator) -> tuple[float, float]:
        t0 = time.monotonic()
        loss = self._train_epoch(optimizer, gen)
        return loss, time.monotonic() - t0

    def _rng_state(self, gen: torch.Generator) -> dict:
        st = {
            "sampler": gen.get_state(),
            "torch": torch.get_rng_state(),
            "numpy": _np_state_to(np.random.get_state()),
            "python": _py_state_to(random.getstate()),
        }
        if self.device.type == "cuda":  # dropout on CUDA draws from the device's generator
            st["cuda"] = torch.cuda.get_rng_state(self.device)
        return st

    def _set_rng_state(self, gen: torch.Generator, st: dict) -> None:
        gen.set_state(st["sampler"])
        torch.set_rng_state(st["torch"])
        np.random.set_state(_np_state_from(st["numpy"]))
        random.setstate(_py_state_from(st["python"]))
        if "cuda" in st and self.device.type == "cuda":
            torch.cuda.set_rng_state(st["cuda"], self.device)

    def _fit_mle(self) -> FitResult:
        """Models with a likelihood optimiser of their own (full-batch L-BFGS: Hawkes, and
        logistic with ``optimizer: lbfgs``) are fit
        on the training rows once per point of the penalty path (``penalty_scales``, strongest
        first, each warm-started from the last), and the point with the best validation monitor
        is kept: how much to shrink is data-dependent (a short or faint history wants several
        times the penalty a long, strong one does), so it is chosen like an early-stopping epoch,
        on validation only. Each point is one "epoch" row of the history."""
        maximise = self.cfg.monitor != "val_loss"
        scales = sorted(getattr(self.model_cfg, "penalty_scales", None) or [1.0], reverse=True)
        penalties = self.scorer.penalties()
        best, best_epoch, best_state, history, converged = None, 0, None, [], True
        for epoch, scale in enumerate(scales, start=1):
            t0 = time.monotonic()
            info = self.scorer.fit_mle(
                self.inputs,
                self.Y,
                rows=slice(*self.split.train),
                reset=epoch == 1,
                **{name: value * scale for name, value in penalties.items()},
            )
            val = self.validate()
            metric = val[self.cfg.monitor]
            improved = best is None or (metric > best if maximise else metric < best)
            if improved:
                best, best_epoch, best_state = metric, epoch, _cpu_state(self.scorer)
                converged = bool(info["converged"])
                if self.best_path is not None:
                    save_torch(self.best_checkpoint(best_state, epoch, metric), self.best_path)
            row = {
                "epoch": epoch,
                "train_loss": float(info["nll"]) / self.scorer.parts,
                **val,
                "lr": 0.0,
                "seconds": time.monotonic() - t0,
                "train_seconds": info["seconds"],
                "best_epoch": best_epoch,
                "improved": improved,
                "optimizer": "lbfgs",
                "iterations": info["iterations"],
                "penalty_scale": scale,
            }
            history.append(row)
            self.on_epoch(row)
            if self.stop_flag():
                break
        self.scorer.load_state_dict(best_state)
        chosen = scales[best_epoch - 1]
        how = "converged" if converged else "hit max_iter"
        path = f", penalty x{chosen:g} chosen on validation of {len(scales)}" if len(scales) > 1 else ""
        return FitResult(best_epoch, best, history, f"maximum likelihood (L-BFGS) {how}{path}", best_state)

    def best_checkpoint(self, state: dict, epoch: int, metric: float) -> dict:
        return {
            "model_state": state,
            "epoch": epoch,
            "metric": metric,
            "monitor": self.cfg.monitor,
            "kind": self.model_cfg.kind,
            "parts": self.scorer.parts,
            "events": self.events,
            **self.extra_checkpoint,
        }


class _Validator:
    """Validates a snapshot of the weights, inline or on one worker thread (overlap).

    With overlap the torch threads are split between the two (the worker takes half,
    training keeps the rest, each at least one) for the duration of the fit and restored
    afterwards: two full-width thread teams on the same cores slow each other down several
    times (OpenMP threads spin while they wait)."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.overlapping = trainer.overlaps_validation()
        self.pool: ThreadPoolExecutor | None = None
        self.shadow: Scorer | None = None
        self.threads = torch.get_num_threads()

    def __enter__(self) -> _Validator:
        if self.overlapping:
            worker = max(1, self.threads // 2)
            self.pool = ThreadPoolExecutor(
                1, thread_name_prefix="synapse-validate", initializer=torch.set_num_threads, initargs=(worker,)
            )
            self.shadow = copy.deepcopy(self.trainer.scorer)
            torch.set_num_threads(max(1, self.threads - worker))
        return self

    def __exit__(self, *exc) -> None:
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            torch.set_num_threads(self.threads)

    def submit(self, model_state: dict[str, torch.Tensor]) -> Callable[[], dict]:
        """Start validating `model_state`; the returned callable waits for the metrics."""
        if self.pool is None:
            val = self.trainer.validate()
            return lambda: val
        self.shadow.load_state_dict(model_state)
        future = self.pool.submit(self.trainer.validate, self.shadow)
        return future.result


def _detach(state):
    if state is None:
        return None
    if isinstance(state, tuple):
        return tuple(s.detach() for s in state)
    return state.detach()


def _cpu_state(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().to("cpu", copy=True) for k, v in module.state_dict().items()}


# numpy's and python's RNG states as plain tensors/ints, so weights_only=True loads them.
def _np_state_to(st) -> dict:
    return {
        "name": st[0],
        "keys": torch.from_numpy(st[1].astype(np.int64)),
        "pos": int(st[2]),
        "has_gauss": int(st[3]),
        "gauss": float(st[4]),
    }


def _np_state_from(d) -> tuple:
    return (d["name"], d["keys"].numpy().astype(np.uint32), d["pos"], d["has_gauss"], d["gauss"])


def _py_state_to(st) -> dict:
    return {"version": st[0], "state": list(st[1]), "gauss": st[2]}


def _py_state_from(d) -> tuple:
    return (d["version"], tuple(d["state"]), d["gauss"])


@contextmanager
def deterministic_torch(enabled: bool) -> Iterator[None]:
    """`train.deterministic` (docs/ARCHITECTURE.md, "Training"): one torch thread and
    torch's deterministic algorithms for the fit, restored after. With several threads a
    CPU fit (GRU: the recurrent matmuls' reductions) sums in an order that depends on the
    thread split, so two runs agree only to about 1e-7; with one they agree to the byte.
    warn_only: an op without a deterministic kernel (some CUDA ones) warns instead of failing."""
    if not enabled:
        yield
        return
    threads = torch.get_num_threads()
    was, was_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        torch.set_num_threads(threads)


def set_threads(num_threads: int | None, parallel_workers: int = 1) -> int:
    """torch threads = configured, else cores / parallel workers (at least 1)."""
    n = num_threads or max(1, (os.cpu_count() or 1) // max(1, parallel_workers))
    torch.set_num_threads(n)
    return n
