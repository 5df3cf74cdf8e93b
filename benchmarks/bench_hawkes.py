"""Hawkes maximum-likelihood fit on the sample: 11,000 days x 39 parts, the shipped decays.

`case_hawkes_fit` times `HawkesScorer.fit_mle` (full-batch L-BFGS from a fresh start, every
row) with configs/hawkes.yaml's decays and l2, on one torch thread (tick's learner runs on
one too, and on the shared 2-core box two threads time erratically). The traces are built
once, outside the timing.

Optional reference: the `tick` library's `HawkesSumExpKern` (continuous-time sum-of-exp
kernels with the same time constants, its least-squares contrast, AGD solver) on the same
events, one timestamp per (day, part). tick is never installed into the project's venv (its
wheels pin old toolchains); give a separate interpreter that has it:

    python3 -m venv /tmp/tickvenv && /tmp/tickvenv/bin/pip install tick numpydoc six
    SYNAPSE_TICK_PYTHON=/tmp/tickvenv/bin/python python -m benchmarks.bench_hawkes

tick then runs in one long-lived subprocess that fits once per request, so the reference
time is the fit plus a pipe round trip (interpreter start and import are not counted).
It is comparable work, not the same estimator: tick fits a continuous-time linear-intensity
model by least squares; Synapse fits a discrete-time logistic model by likelihood.
"""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.harness import Case, run_and_print

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "sample_data" / "parts_daily.csv"
TICK_ENV = "SYNAPSE_TICK_PYTHON"

_TICK_WORKER = r"""
import sys, time
import numpy as np
from tick.hawkes import HawkesSumExpKern
Y = np.load(sys.argv[1])
taus = [float(x) for x in sys.argv[2].split(",")]
l2 = float(sys.argv[3])
stamps = [np.nonzero(Y[:, q])[0].astype(float) + 1.0 for q in range(Y.shape[1])]
learner = HawkesSumExpKern(decays=np.array([1.0 / t for t in taus]), penalty="l2",
                           C=1.0 / max(l2, 1e-12), solver="agd", max_iter=200, tol=1e-7)
print("ready", flush=True)
for line in sys.stdin:
    t0 = time.perf_counter()
    learner.fit(stamps)
    print(f"done {time.perf_counter() - t0:.6f}", flush=True)
"""


class _TickWorker:
    """A long-lived tick subprocess; `fit()` asks it for one fit and waits for the reply."""

    def __init__(self, python: str, Y: np.ndarray, taus, l2: float) -> None:
        fd, self.path = tempfile.mkstemp(prefix="synapse-tick-", suffix=".npy")
        os.close(fd)
        np.save(self.path, np.asarray(Y, dtype=bool))
        self.proc = subprocess.Popen(
            [python, "-c", _TICK_WORKER, self.path, ",".join(str(t) for t in taus), str(l2)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        line = self.proc.stdout.readline()
        if line.strip() != "ready":
            self.close()
            raise RuntimeError(f"the tick worker did not start (said {line!r})")
        atexit.register(self.close)

    def fit(self) -> float:
        self.proc.stdin.write("fit\n")
        self.proc.stdin.flush()
        reply = self.proc.stdout.readline().split()
        if not reply or reply[0] != "done":
            raise RuntimeError(f"the tick worker failed (said {reply!r})")
        return float(reply[1])

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        Path(self.path).unlink(missing_ok=True)


def case_hawkes_fit() -> Case:
    from core.config import load_config
    from core.data import load_dataset
    from core.models import build_scorer

    cfg = load_config(ROOT / "configs" / "hawkes.yaml", data=str(SAMPLE))
    ds = load_dataset(SAMPLE, parts=39, events_per_day=5)
    model = build_scorer(cfg.model, ds.P)
    inputs = model.prepare(ds.Y, ds.dates)
    y = np.asarray(ds.Y)
    info: dict = {}

    def fit() -> None:
        import torch

        threads = torch.get_num_threads()
        torch.set_num_threads(1)  # like tick's learner; steady on a shared box
        try:
            info.update(model.fit_mle(inputs, y))
        finally:
            torch.set_num_threads(threads)

    reference, reference_name = None, ""
    tick_python = os.environ.get(TICK_ENV)
    if tick_python:
        worker = _TickWorker(tick_python, ds.Y, cfg.model.decays, cfg.model.l2)
        reference, reference_name = worker.fit, "tick HawkesSumExpKern (least squares, AGD)"
    fit()
    taus = ", ".join(f"{t:g}" for t in cfg.model.decays)
    note = (
        f"{ds.T:,} days x {ds.P} parts, taus {taus}, l2 {cfg.model.l2:g}, 1 torch thread: "
        f"{info['iterations']} L-BFGS iterations, {info['evaluations']} evaluations, "
        f"NLL/day {info['nll']:.4f}"
    )
    if not tick_python:
        note += f"; set {TICK_ENV} to a python with tick for the reference"
    return Case(
        f"hawkes fit_mle {ds.T:,}x{ds.P}, {len(cfg.model.decays)} decays",
        fit,
        reference=reference,
        reference_name=reference_name,
        repeat=5,
        note=note,
    )


CASES = {"hawkes_fit": case_hawkes_fit}


def main() -> int:
    return run_and_print(CASES)


if __name__ == "__main__":
    sys.exit(main())
