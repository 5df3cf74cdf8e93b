"""`python -m core.jobs.worker RUN_DIR [--resume]`: run one job in its own process.

Every job runs here, never in the UI's process, so a crash cannot take the UI down.
SIGTERM asks the job to stop: a training run finishes its epoch, saves last.pt and ends
`cancelled` (resumable); a baselines run stops at once. A heartbeat event every
HEARTBEAT_S seconds lets a reader on another host (or after a pid check is impossible)
tell a live worker from a lost one.
"""
from __future__ import annotations

import argparse
import signal
import sys
import threading
from pathlib import Path

HEARTBEAT_S = 10.0
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m core.jobs.worker", description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from last.pt as a new attempt")
    args = parser.parse_args(argv)

    from core.errors import InputError
    from core.train.lifecycle import Cancelled
    from core.train.run import execute
    from core.runs import RunDir, is_run_id

    if not (args.run_dir.is_dir() and is_run_id(args.run_dir.name)):
        print(f"error: {args.run_dir}: not a run directory", file=sys.stderr)
        return EXIT_USAGE
    run = RunDir(args.run_dir)
    stop = threading.Event()
    job = run.read_json("manifest.json").get("job", "baselines")

    def on_sigterm(signum, frame):
        stop.set()
        if job != "train":  # nothing to save: stop now
            raise Cancelled("cancelled by SIGTERM")

    signal.signal(signal.SIGTERM, on_sigterm)
    done = threading.Event()

    def beat() -> None:
        with run.event_writer() as events:
            while not done.wait(HEARTBEAT_S):
                events.heartbeat()

    threading.Thread(target=beat, daemon=True, name="heartbeat").start()

    def progress(msg: str) -> None:
        print(msg, flush=True)

    try:
        execute(run, resume=args.resume, stop_flag=stop.is_set, progress=progress)
    except InputError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (Cancelled, KeyboardInterrupt) as exc:
        print(f"cancelled: {exc}", file=sys.stderr)
        return EXIT_CANCELLED
    except Exception as exc:  # the run directory holds the traceback
        print(f"run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        done.set()
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
