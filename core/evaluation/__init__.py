"""Honest evaluation (docs/ARCHITECTURE.md, "Evaluation").

    metrics      per-part ranking and calibration metrics, `evaluate()` over them all
    tiers        day-level pool statistics: tier rates, Wilson, random, McNemar + Holm, lift
    rows         an evaluate() result as long rows (metrics.csv)
    calibration  Platt, isotonic and temperature calibrators, global or per part, `auto`
    evaluate     one split's evaluation of a set of scorers: calibrate on validation,
                 choose on validation, judge on test, the verdict
    report       the run's artifacts: metrics.csv, training_log.md, the two PNGs

The package imports nothing itself, so `core.evaluation.metrics` stays light (no
scikit-learn, no torch).
"""
