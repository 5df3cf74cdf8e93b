"""One attempt of a run: `run_started` ... `run_finished`, whatever happens in between."""

from __future__ import annotations

import contextlib
import traceback

from core.evaluation import report as rep
from core.runs import RunDir


class Cancelled(Exception):
    """The run was asked to stop (SIGTERM, `synapse cancel`); its resume state is saved."""


@contextlib.contextmanager
def run_lifecycle(run: RunDir, cfg_yaml: str, man: dict, device: str = "cpu", attempt: int = 1):
    """Open the event log, mark the attempt started, and on any exception end it failed (or
    cancelled) with the traceback in the log and in training_log.md, then re-raise."""
    with run.event_writer() as events:
        events.run_started(run.run_id, man["config_hash"], device, attempt)
        try:
            yield events
            events.run_finished("succeeded")
        except BaseException as exc:
            cancelled = isinstance(exc, (KeyboardInterrupt, Cancelled))
            tb = traceback.format_exc()
            events.log("warning" if cancelled else "error", str(exc) if cancelled else tb)
            # a cancel's message says so itself ("cancelled after epoch 3; ..."): no "Cancelled: " before it
            error = (str(exc) or "cancelled") if cancelled else f"{type(exc).__name__}: {exc}"
            events.run_finished("cancelled" if cancelled else "failed", error=error)
            if cancelled:
                raise
            with contextlib.suppress(Exception):  # the original error matters more than the summary
                rep.write_training_log(
                    run.training_log_md,
                    rep.training_log(
                        run_id=run.run_id,
                        config_yaml=cfg_yaml,
                        manifest=run.read_json("manifest.json"),
                        report={},
                        error=tb,
                    ),
                )
            raise
