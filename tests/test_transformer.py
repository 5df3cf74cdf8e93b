"""Causal Transformer scorer (core/models/transformer.py): block-wise scoring against direct
forwards, eval-mode scoring, bf16 autocast, a learnable pattern, shipped configs and their
parameter counts. Causality by perturbation (RoPE and ALiBi, block-wise and in one pass),
shapes and state round trip: test_scorer_contract.py."""

import pytest
import torch

from helpers import dates_for, random_y
from known_pattern import assert_learns_yesterday_pattern, pattern_y

from core.config import load_config
from core.models import build_scorer
from core.models.transformer import TransformerScorer, alibi_slopes

torch.set_num_threads(2)

T, P, K = 300, 10, 3
POSITIONS = ["rope", "alibi"]


def make(positions: str, seed: int = 0, **kw) -> TransformerScorer:
    torch.manual_seed(seed)
    args = dict(d_model=16, heads=2, layers=2, ffn_mult=2, dropout=0.2, context=64, positions=positions)
    args.update(kw)
    return TransformerScorer(P, **args)


@pytest.mark.parametrize("positions", POSITIONS)
def test_forward_shapes(positions):
    m = make(positions)
    assert m.regime == "windows" and m.context == 64
    logits, state = m(torch.rand(3, 7, P), torch.randint(0, 7, (3, 7)))
    assert logits.shape == (3, 7, P) and state is None
    assert m.init_state(3, "cpu") is None


@pytest.mark.parametrize("positions", POSITIONS)
def test_score_equals_forward_when_t_within_context(positions):
    m = make(positions, context=T)
    inp = m.prepare(random_y(2, T, P, K), dates_for(T))
    got = m.score(inp, 0, T)
    m.eval()
    with torch.no_grad():
        ref, _ = m(inp.x[None], inp.wd[None])
    assert torch.allclose(got, ref[0], atol=1e-5)
    assert torch.allclose(m.score(inp, 40, 200), ref[0, 40:200], atol=1e-5)


@pytest.mark.parametrize("positions", POSITIONS)
def test_blockwise_score_reads_bounded_context(positions):
    C = 64
    m = make(positions, context=C)
    S = m.stride
    inp = m.prepare(random_y(3, T, P, K), dates_for(T))
    full = m.score(inp, 0, T)
    m.eval()
    with torch.no_grad():
        for t in list(range(0, T, 7)) + [C - 1, C, C + S - 1, C + S, T - 1]:
            a = m.window_start(t)
            n = t - a + 1
            assert (n == t + 1) if t < C else (C - S + 1 <= n <= C)
            ref, _ = m(inp.x[None, a : t + 1], inp.wd[None, a : t + 1])
            assert torch.allclose(full[t], ref[0, -1], atol=1e-5), t
    # Sub-ranges (including a last block cut by stop) agree with the whole pass.
    for start, stop in [(0, 1), (63, 65), (64, 96), (70, 101), (100, 257), (T - 1, T), (10, 10), (0, T)]:
        got = m.score(inp, start, stop)
        assert got.shape == (stop - start, P)
        assert torch.allclose(got, full[start:stop], atol=1e-5), (start, stop)


@pytest.mark.parametrize("positions", POSITIONS)
def test_score_is_eval_and_deterministic(positions):
    m = make(positions, dropout=0.5)
    m.train()
    inp = m.prepare(random_y(4, T, P, K), dates_for(T))
    a = m.score(inp, 0, T)
    assert torch.equal(a, m.score(inp, 0, T))
    assert m.training and not a.requires_grad
    # Training mode really is stochastic (so the check above means something).
    x, wd = inp.x[None, :50], inp.wd[None, :50]
    assert not torch.equal(m(x, wd)[0], m(x, wd)[0])
    with pytest.raises(ValueError):
        m.score(inp, 3, 2)


@pytest.mark.parametrize("positions", POSITIONS)
def test_without_weekday_embedding(positions):
    """weekday_embedding: false -> no embedding, and the weekday input is ignored."""
    m = make(positions, weekday_embedding=False).eval()
    assert m.weekday is None
    x = torch.rand(1, 20, P).round()
    with torch.no_grad():
        a, _ = m(x, torch.zeros(1, 20, dtype=torch.long))
        b, _ = m(x, torch.randint(0, 7, (1, 20)))
    assert torch.equal(a, b)
    w = make(positions).eval()
    with torch.no_grad():
        c, _ = w(x, torch.zeros(1, 20, dtype=torch.long))
        d, _ = w(x, torch.full((1, 20), 3))
    assert not torch.allclose(c, d)


def test_alibi_slopes_and_mask():
    assert torch.allclose(alibi_slopes(8), torch.tensor([2.0 ** -(i + 1) for i in range(8)]))
    assert alibi_slopes(6).shape == (6,)
    m = make("alibi", heads=4, d_model=16)
    mask = m._alibi(5, torch.device("cpu"), torch.bfloat16)
    assert mask.dtype == torch.bfloat16 and mask.shape == (1, 4, 5, 5)
    mask = mask[0]
    assert torch.isinf(mask[:, 0, 1:]).all() and (mask[:, 4, 0] < mask[:, 4, 3]).all()
    assert (mask.diagonal(dim1=1, dim2=2) == 0).all()
    assert torch.allclose(mask[:, 3, 1].float(), -2 * alibi_slopes(4))


@pytest.mark.parametrize("positions", POSITIONS)
def test_runs_in_bf16(positions):
    """No float32 assumptions: a bf16 model and a bf16 autocast run (CPU stands in for CUDA)."""
    m = make(positions).eval()
    x, wd = torch.rand(2, 12, P).round(), torch.randint(0, 7, (2, 12))
    with torch.no_grad():
        ref, _ = m(x, wd)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            auto, _ = m(x, wd)
        half, _ = m.to(torch.bfloat16)(x.bfloat16(), wd)
    assert auto.shape == half.shape == ref.shape and half.dtype == torch.bfloat16
    assert torch.isfinite(auto).all() and torch.isfinite(half).all()
    assert torch.allclose(auto.float(), ref, atol=0.1) and torch.allclose(half.float(), ref, atol=0.1)


def test_rejects_bad_shapes():
    with pytest.raises(ValueError):
        TransformerScorer(P, d_model=12, heads=4, positions="rope")  # head size 3 is odd
    with pytest.raises(ValueError):
        TransformerScorer(P, d_model=10, heads=4)
    TransformerScorer(P, d_model=12, heads=4, positions="alibi")  # odd head size is fine for ALiBi


@pytest.mark.parametrize("positions", POSITIONS)
def test_learns_yesterday_pattern(positions):
    torch.manual_seed(0)
    m = TransformerScorer(P, d_model=16, heads=2, layers=1, ffn_mult=2, dropout=0.0, context=50, positions=positions)
    Y = pattern_y(400, P, K, 5)
    assert_learns_yesterday_pattern(m, Y, dates_for(len(Y)), chunks=8, lr=0.01, steps=80)


@pytest.mark.parametrize("name,cpu", [("transformer", True), ("transformer_h200", False)])
def test_shipped_configs_build(name, cpu):
    cfg = load_config(f"configs/{name}.yaml")
    m = build_scorer(cfg.model, 39)
    assert isinstance(m, TransformerScorer) and m.context == cfg.model.context
    n = sum(p.numel() for p in m.parameters())
    print(f"{name} parameters: {n:,}")
    if cpu:
        assert n < 5_000_000
        T2 = 40
        inp = m.prepare(random_y(0, T2, 39, 5), dates_for(T2))
        assert inp.x.shape == (T2, 390)  # the shipped skip path: 10 groups of 39 columns
        assert m.score(inp, 10, T2).shape == (T2 - 10, 39)
    alibi = build_scorer(load_config(f"configs/{name}.yaml", overrides=["model.positions=alibi"]).model, 39)
    assert alibi.positions == "alibi"


def test_rope_attention_qualifies_for_flash(monkeypatch):
    """What CUDA's flash kernel needs from every attention call: bf16 q/k/v under autocast,
    is_causal and no mask. Checked on each call, then the kernel is forced (CPU has one)."""
    import torch.nn.functional as F
    from torch.nn.attention import SDPBackend, sdpa_kernel

    from core.models import transformer

    calls = []
    real = F.scaled_dot_product_attention

    def recording(q, k, v, **kw):
        calls.append((q.dtype, k.dtype, v.dtype, kw.get("attn_mask"), kw.get("is_causal")))
        return real(q, k, v, **kw)

    monkeypatch.setattr(transformer.F, "scaled_dot_product_attention", recording)
    m = make("rope").train()
    x, wd = torch.rand(2, 64, P), torch.randint(0, 7, (2, 64))
    with sdpa_kernel([SDPBackend.FLASH_ATTENTION]), torch.autocast("cpu", dtype=torch.bfloat16):
        logits, _ = m(x, wd)
    logits.float().mean().backward()
    assert len(calls) == 2  # one per layer
    assert all(c == (torch.bfloat16, torch.bfloat16, torch.bfloat16, None, True) for c in calls)
