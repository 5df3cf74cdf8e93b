"""The service layer: what the CLI (`synapse`) and the dashboard (`synapse-tui`) call.

Plain data in, plain data out, no UI library: the two front ends parse input, call these
functions and show what comes back; they hold no engine logic and never import each
other (docs/ARCHITECTURE.md, "The service layer").

    runs     open a run, list/filter/sort runs, one run's view, follow a run, delete, reindex
    compare  config differences, metrics side by side, the paired test on the same days
    jobs     create and launch a run, run workers side by side, cancel, resume, evaluate again
    sweeps   start a sweep, find one again, where it stands, wait and report
    configs  the configs to launch, a preview, validation that creates nothing
    predict  tomorrow's calibrated probabilities and pool sizes; the pool backtest
    series   curves for plots: loss history, EMA smoothing, min/max downsampling

Heavy modules (torch, the training code) are imported inside the functions that need
them, so `synapse --help` and the dashboard's first screen stay fast.
"""
