"""Running a job: from a config to a complete run directory (docs/ARCHITECTURE.md, "Training").

    prepare     load and validate the data, splits, truth file; the manifest; baseline logits
    loop        the one fit loop for every learned scorer: early stopping, checkpoints, resume
    learned     the `train` job: fit, score validation and test, calibrate, judge
    baselines   the `baselines` job
    artifacts   what an evaluation leaves in the run directory
    lifecycle   one attempt: run_started ... run_finished, whatever happens
    run         create a run directory (validating first) and execute its job
    reevaluate  `synapse eval`: evaluate a finished run again from its predictions

Imports go one way: run -> learned/baselines -> artifacts/lifecycle -> prepare, loop.
`run` imports `learned` (and so torch) only for a train job.
"""
