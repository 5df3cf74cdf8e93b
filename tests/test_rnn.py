"""GRU / LSTM scorers (core/models/rnn.py): stateful and window scoring against direct
forwards, eval-mode scoring, a learnable pattern, shipped configs. Causality by
perturbation, shapes and state round trip: test_scorer_contract.py."""

import pytest
import torch

from helpers import dates_for, random_y
from known_pattern import assert_learns_yesterday_pattern, pattern_y

import core.models.rnn as rnn_mod
from core.config import load_config
from core.models import build_scorer
from core.models.rnn import RNNScorer

torch.set_num_threads(2)

T, P, K = 300, 10, 3
KINDS = ["gru", "lstm"]
MODES = ["stateful", "window"]
CASES = [(k, m) for k in KINDS for m in MODES]


def make(kind: str, mode: str, seed: int = 0, **kw) -> RNNScorer:
    torch.manual_seed(seed)
    args = dict(kind=kind, hidden=12, layers=2, dropout=0.3, mode=mode, window=25)
    args.update(kw)
    return RNNScorer(P, **args)


@pytest.mark.parametrize("kind,mode", CASES)
def test_forward_shapes_and_state(kind, mode):
    m = make(kind, mode)
    assert m.regime == ("stateful" if mode == "stateful" else "windows")
    x = torch.rand(3, 7, P)
    wd = torch.randint(0, 7, (3, 7))
    logits, state = m(x, wd)
    assert logits.shape == (3, 7, P)
    zero = m.init_state(3, "cpu")
    if kind == "lstm":
        assert isinstance(state, tuple) and len(state) == 2 and isinstance(zero, tuple)
        assert all(s.shape == (2, 3, 12) for s in state + zero)
        assert all(float(z.abs().sum()) == 0 for z in zero)
    else:
        assert state.shape == zero.shape == (2, 3, 12) and float(zero.abs().sum()) == 0
    m.eval()
    a, _ = m(x, wd)
    b, _ = m(x, wd, zero)
    assert torch.equal(a, b)


def test_class_regime_untouched():
    """regime is per instance: a window model does not change the class or other instances."""
    s, w = make("gru", "stateful"), make("gru", "window")
    assert (s.regime, w.regime) == ("stateful", "windows")
    assert w.context == w.window == 25


@pytest.mark.parametrize("kind", KINDS)
def test_stateful_score_equals_two_halves(kind, monkeypatch):
    m = make(kind, "stateful")
    inp = m.prepare(random_y(2, T, P, K), dates_for(T))
    full = m.score(inp, 0, T)
    m.eval()
    with torch.no_grad():
        h = 137
        a, st = m(inp.x[None, :h], inp.wd[None, :h])
        b, _ = m(inp.x[None, h:], inp.wd[None, h:], st)
    ref = torch.cat([a[0], b[0]])
    assert torch.allclose(full, ref, atol=1e-6)
    # Block-wise scoring (small blocks) and sub-ranges agree with the whole pass.
    monkeypatch.setattr(rnn_mod, "SCORE_BLOCK", 64)
    assert torch.allclose(m.score(inp, 0, T), full, atol=1e-6)
    for start, stop in [(0, 1), (63, 65), (100, 257), (T - 1, T), (10, 10)]:
        got = m.score(inp, start, stop)
        assert got.shape == (stop - start, P)
        assert torch.allclose(got, full[start:stop], atol=1e-6)


@pytest.mark.parametrize("kind", KINDS)
def test_window_score_equals_forward_on_last_w(kind):
    W = 25
    m = make(kind, "window", window=W)
    inp = m.prepare(random_y(3, T, P, K), dates_for(T))
    full = m.score(inp, 0, T)
    m.eval()
    with torch.no_grad():
        for t in (0, 5, W - 2, W - 1, W, 100, T - 1):
            lo = max(0, t - W + 1)
            ref, _ = m(inp.x[None, lo : t + 1], inp.wd[None, lo : t + 1])
            assert torch.allclose(full[t], ref[0, -1], atol=1e-6), t
    # It really is windowed: with W = 3 a longer history would change the answer.
    short = make(kind, "window", window=3)
    got = short.score(inp, 0, 20)
    short.eval()
    with torch.no_grad():
        ref, _ = short(inp.x[None, 7:10], inp.wd[None, 7:10])
        longer, _ = short(inp.x[None, :10], inp.wd[None, :10])
    assert torch.allclose(got[9], ref[0, -1], atol=1e-6)
    assert not torch.allclose(got[9], longer[0, -1], atol=1e-4)
    for start, stop in [(0, 3), (20, 30), (24, 25), (200, T), (7, 7)]:
        got = m.score(inp, start, stop)
        assert got.shape == (stop - start, P)
        assert torch.allclose(got, full[start:stop], atol=1e-6)


@pytest.mark.parametrize("kind,mode", CASES)
def test_score_is_eval_and_deterministic(kind, mode):
    m = make(kind, mode, dropout=0.5)
    m.train()
    inp = m.prepare(random_y(4, T, P, K), dates_for(T))
    a = m.score(inp, 0, T)
    b = m.score(inp, 0, T)
    assert torch.equal(a, b)
    assert m.training, "score must restore the training flag"
    assert not a.requires_grad
    with pytest.raises(ValueError):
        m.score(inp, 5, T + 1)


@pytest.mark.parametrize("kind", KINDS)
def test_learns_yesterday_pattern(kind):
    torch.manual_seed(0)
    m = RNNScorer(P, kind=kind, hidden=16, dropout=0.0)
    Y = pattern_y(400, P, K, 5)
    assert_learns_yesterday_pattern(m, Y, dates_for(len(Y)), chunks=4, lr=0.02, steps=60)


@pytest.mark.parametrize("name", ["gru", "lstm"])
@pytest.mark.parametrize("mode", MODES)
def test_shipped_configs_build(name, mode):
    cfg = load_config(f"configs/{name}.yaml", overrides=[f"model.mode={mode}"])
    m = build_scorer(cfg.model, 39)
    assert isinstance(m, RNNScorer) and m.kind == name
    assert m.regime == ("stateful" if mode == "stateful" else "windows")
    n = sum(p.numel() for p in m.parameters())
    print(f"{name} ({mode}) parameters: {n:,}")
    assert n < 5_000_000
    T2 = 40
    inp = m.prepare(random_y(0, T2, 39, 5), dates_for(T2))
    assert inp.x.shape == (T2, 390)  # the shipped skip path: 10 groups of 39 columns
    assert m.score(inp, 10, T2).shape == (T2 - 10, 39)
