"""Where jobs run: worker processes, and the supervisor that starts queued ones.

worker      `python -m core.jobs.worker RUN_DIR`: one job, SIGTERM saves last.pt and ends cancelled
launch      start a worker detached or in the foreground; cancel and the resume check
run_queue   hand a queued run to the supervisor; claim it exactly once
supervisor  one process per runs root starting queued runs N at a time
sweep       several configs times a grid through that queue, one report
"""
