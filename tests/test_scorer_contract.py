"""The contract every learned scorer keeps (core/models/base.py), checked for each kind in
core.models.LEARNED, built from a tiny config section as a run builds it: day t's logits
come from days < t only, the shapes of prepare/forward/score, and a saved state_dict that
loads into a fresh scorer and scores the same. What only one model does is tested in its
own file (test_logistic, test_hawkes, test_rnn, test_transformer)."""

from typing import NamedTuple

import numpy as np
import pytest
import torch

from helpers import dates_for, random_y

from core.config import LEARNED_KINDS, MODEL_CLASSES
from core.models import LEARNED, build_scorer
from core.train.loop import load_torch, save_torch

torch.set_num_threads(2)

T, P, K = 300, 10, 3
# Days from which the perturbation starts: the first days, the edges of an RNN window (25)
# and of the transformer's scoring blocks (context 64), the middle, the last days.
CUTS = (0, 1, 24, 25, 57, 63, 64, 95, 96, 150, T - 2, T - 1)


class Case(NamedTuple):
    section: dict  # the config's model section
    regime: str  # what core/models/base.py says this scorer is
    context: int | None  # days one prediction reads (``windows`` regime)


RNN = dict(hidden=12, layers=2, dropout=0.3, window=25)
TRANSFORMER = dict(d_model=16, heads=2, layers=2, ffn_mult=2, dropout=0.2)
CASES = [
    pytest.param(
        Case(
            dict(kind="logistic", frequency_windows=[3, 30, 90], ewma_halflives=[2.0, 30.0], recency_cap=20),
            "rows",
            None,
        ),
        id="logistic",
    ),
    pytest.param(Case(dict(kind="hawkes", decays=[1.0, 7.0, 30.0]), "rows", None), id="hawkes"),
    pytest.param(Case(dict(kind="hawkes", decays=[1.0, 7.0], yearly=2), "rows", None), id="hawkes-yearly"),
    *[
        pytest.param(
            Case(
                dict(kind=kind, mode=mode, **RNN),
                "stateful" if mode == "stateful" else "windows",
                None if mode == "stateful" else 25,
            ),
            id=f"{kind}-{mode}",
        )
        for kind in ("gru", "lstm")
        for mode in ("stateful", "window")
    ],
    *[
        pytest.param(
            Case(dict(kind=kind, mode="stateful", skip=skip, **RNN), "stateful", None),
            id=f"{kind}-stateful-skip-{skip}",
        )
        for kind in ("gru", "lstm")
        for skip in ("none", "own")
    ],
    pytest.param(
        Case(dict(kind="transformer", context=64, skip="own", **TRANSFORMER), "windows", 64),
        id="transformer-rope-64-skip-own",
    ),
    # context 64: scored block by block; 512 > T: one pass
    *[
        pytest.param(
            Case(dict(kind="transformer", positions=positions, context=context, **TRANSFORMER), "windows", context),
            id=f"transformer-{positions}-{context}",
        )
        for positions in ("rope", "alibi")
        for context in (64, 512)
    ],
]


def make(case: Case, seed: int = 0):
    """The scorer a run builds from this model section, its weights drawn from `seed`.
    A rows scorer's weights are all redrawn N(0, 1) (hawkes starts with no interactions), so
    every feature moves the logits and a leak could not hide behind a zero weight."""
    torch.manual_seed(seed)
    m = build_scorer(MODEL_CLASSES[case.section["kind"]](**case.section), P)
    if m.regime == "rows":
        with torch.no_grad():
            for w in m.parameters():
                w.normal_()
    if getattr(m, "skip", None) is not None:  # the skip path starts at zero: draw it too
        with torch.no_grad():
            for w in m.skip.parameters():
                w.normal_()
    return m


def test_every_learned_kind_has_a_case():
    kinds = {p.values[0].section["kind"] for p in CASES}
    assert kinds == set(LEARNED) == set(LEARNED_KINDS)


@pytest.mark.parametrize("case", CASES)
def test_the_prediction_for_day_t_ignores_days_from_t_on(case):
    m = make(case)
    Y, dates = random_y(1, T, P, K), dates_for(T)
    base = m.score(m.prepare(Y, dates), 0, T)
    for t in CUTS:
        Y2 = Y.copy()
        Y2[t:] = random_y(100 + t, T, P, K)[t:]  # change every day >= t
        assert not np.array_equal(Y2[t:], Y[t:])
        pert = m.score(m.prepare(Y2, dates), 0, T)
        assert torch.equal(pert[: t + 1], base[: t + 1]), f"day <= {t} saw a changed day >= {t}"
        if t + 1 < T:
            assert not torch.equal(pert[t + 1 :], base[t + 1 :]), "the perturbation changed nothing: test is blind"


@pytest.mark.parametrize("case", CASES)
def test_shapes_of_prepare_forward_and_score(case):
    m = make(case)
    assert m.regime == case.regime
    if case.regime == "windows":
        assert m.context == case.context
    inputs = m.prepare(random_y(2, T, P, K), dates_for(T))
    assert len(inputs) == T and inputs.wd.shape == (T,) and inputs.events == K
    full = m.score(inputs, 0, T)
    assert full.shape == (T, P) and full.dtype == torch.float32 and torch.isfinite(full).all()
    for start, stop in [(0, 1), (10, 10), (63, 65), (100, 257), (T - 1, T)]:
        got = m.score(inputs, start, stop)
        assert got.shape == (stop - start, P)
        assert torch.allclose(got, full[start:stop], atol=1e-5), (start, stop)
    with pytest.raises(ValueError):
        m.score(inputs, 5, T + 1)
    if case.regime == "rows":
        assert m(inputs.x[:8]).shape == (8, P)  # (B, F) -> (B, P)
        return
    assert inputs.x.shape == (T, m.input_width)  # P, or G x P with a skip path
    logits, state = m(torch.rand(3, 7, m.input_width), torch.randint(0, 7, (3, 7)))  # (B, L, in) -> (B, L, P)
    assert logits.shape == (3, 7, P)
    if case.regime == "stateful":
        assert state is not None and m.init_state(3, "cpu") is not None


@pytest.mark.parametrize("case", CASES)
def test_a_saved_state_loads_into_a_fresh_scorer_and_scores_the_same(case, tmp_path):
    """As a checkpoint does it: {"model_state": state_dict} saved, then read back with
    weights_only=True onto the CPU, into a scorer built from the same section."""
    m = make(case, seed=0)
    inputs = m.prepare(random_y(3, T, P, K), dates_for(T))
    want = m.score(inputs, 0, T)
    save_torch({"model_state": m.state_dict()}, tmp_path / "model.pt")
    fresh = make(case, seed=1)
    assert not torch.equal(fresh.score(inputs, 0, T), want), "another seed scores the same: test is blind"
    fresh.load_state_dict(load_torch(tmp_path / "model.pt")["model_state"])
    assert torch.equal(fresh.score(fresh.prepare(random_y(3, T, P, K), dates_for(T)), 0, T), want)
