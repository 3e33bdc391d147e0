"""The one attention resolver: every name builds dlzoo's class with the right configuration."""

from __future__ import annotations

import functools

import pytest
import torch

import dlzoo
from dlzoo.nn import (
    AdditiveAttention,
    Attention,
    DifferentialMultiheadAttention,
    DotProductAttention,
    GroupedQueryAttention,
    HopfieldAttention,
    MultiheadAttention,
    NonLocalAttention,
    SparseMultiheadAttention,
    WindowAttention,
)
from dlzoo.nn.create_attn import ATTENTIONS, create_attn, get_attn
from dlzoo.registry import UnknownNameError

CASES = [
    ("multihead", {"num_heads": 2}, MultiheadAttention),
    ("mha", {"num_heads": 2}, MultiheadAttention),
    ("self_attention", {"num_heads": 2}, Attention),
    ("vit", {"num_heads": 2}, Attention),
    ("gqa", {"num_heads": 4, "num_kv_heads": 2}, GroupedQueryAttention),
    ("mqa", {"num_heads": 4}, GroupedQueryAttention),
    ("sparse", {"num_heads": 2, "pattern": "fixed", "stride": 4}, SparseMultiheadAttention),
    ("window", {"num_heads": 2, "window_size": 2}, WindowAttention),
    ("dot_product", {"dropout": 0.1}, DotProductAttention),
    ("additive", {}, AdditiveAttention),
    ("bahdanau", {"attn_dim": 5}, AdditiveAttention),
    ("differential", {"num_heads": 2, "layer_idx": 3}, DifferentialMultiheadAttention),
    ("hopfield", {"num_heads": 2, "update_steps": 2}, HopfieldAttention),
    ("non_local", {"dimension": 1, "mode": "dot_product"}, NonLocalAttention),
]


def test_every_registered_name_is_covered_and_has_a_paper():
    assert sorted(ATTENTIONS.names()) == sorted(name for name, _, _ in CASES)
    for name in ATTENTIONS.names():
        card = ATTENTIONS.card(name)
        assert card.family == "attention" and card.paper and card.year and card.arxiv


@pytest.mark.parametrize("name,kw,cls", CASES, ids=[c[0] for c in CASES])
def test_names_build_the_class_with_dim_and_kwargs(name, kw, cls):
    m = create_attn(name, 8, **kw)
    assert type(m) is cls
    dim_attr = {MultiheadAttention: "embed_dim", SparseMultiheadAttention: "embed_dim",
                GroupedQueryAttention: "embed_dim", Attention: "dim", WindowAttention: "dim",
                AdditiveAttention: "query_dim"}.get(cls)
    if dim_attr:
        assert getattr(m, dim_attr) == 8
    for k, v in kw.items():
        if k == "dropout":
            assert m.dropout.p == v
        elif k not in ("pattern",):
            assert getattr(m, k) == v
    if name == "mqa":
        assert m.num_kv_heads == 1 and m.k_proj.weight.shape == (2, 8)  # one K head of width 8 / 4


def test_loose_names_and_passthrough():
    assert get_attn("Multi-Head") is MultiheadAttention
    assert get_attn("DOT-PRODUCT")(8).scaled is True
    assert get_attn(WindowAttention) is WindowAttention
    factory = functools.partial(SparseMultiheadAttention, pattern="local", window=3)
    assert get_attn(factory) is factory
    assert create_attn(factory, 8, num_heads=2).pattern == "local"
    assert get_attn(None) is None
    assert dlzoo.nn.create_attn is create_attn and dlzoo.nn.ATTENTIONS is ATTENTIONS


def test_resolved_modules_compute_their_reference():
    """Names resolve to working modules with torch's defaults: 'mha' equals torch.nn.MultiheadAttention,
    'mqa' equals 'gqa' with one KV head on the same weights."""
    ours = create_attn("mha", 8, num_heads=2).double()
    ref = torch.nn.MultiheadAttention(8, 2).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(5, 3, 8, dtype=torch.float64)  # torch's default (L, N, E) layout
    torch.testing.assert_close(ours(x, x, x)[0], ref(x, x, x)[0], rtol=1e-12, atol=1e-12)
    mqa = create_attn("mqa", 8, num_heads=4).double()
    gqa = create_attn("gqa", 8, num_heads=4, num_kv_heads=1).double()
    gqa.load_state_dict(mqa.state_dict())
    y = torch.randn(2, 6, 8, dtype=torch.float64)
    torch.testing.assert_close(mqa(y), gqa(y), rtol=0, atol=0)


def test_bad_input():
    with pytest.raises(UnknownNameError, match="unknown attention 'multihed'; did you mean 'multihead'"):
        create_attn("multihed", 8, num_heads=2)
    with pytest.raises(ValueError, match="create_attn: dim must be a positive int, got 0"):
        create_attn("gqa", 0, num_heads=2)
    with pytest.raises(ValueError, match="create_attn: spec is None"):
        create_attn(None, 8)
    with pytest.raises(TypeError, match="attn_layer must be a name, a class or a callable"):
        get_attn(3)
