"""Scorers: baselines (numpy, `baselines.py`) and learned models (torch, one file each)."""

from __future__ import annotations

LEARNED = {
    "logistic": ("core.models.logistic", "LogisticScorer"),
    "hawkes": ("core.models.hawkes", "HawkesScorer"),
    "gru": ("core.models.rnn", "RNNScorer"),
    "lstm": ("core.models.rnn", "RNNScorer"),
    "transformer": ("core.models.transformer", "TransformerScorer"),
}


def build_scorer(model_cfg, parts: int):
    """The torch scorer for a learned model section of the config (imports torch lazily)."""
    import importlib

    try:
        module, cls = LEARNED[model_cfg.kind]
    except KeyError:
        raise ValueError(f"{model_cfg.kind!r} is not a learned model kind; learned: {', '.join(LEARNED)}") from None
    return getattr(importlib.import_module(module), cls).from_config(model_cfg, parts)
