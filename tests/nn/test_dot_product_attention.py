"""DotProductAttention against torch's scaled_dot_product_attention (float64, outputs and gradients).

The weights are checked with SDPA too: attention over values = the identity matrix returns the weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import DotProductAttention

PATHS = pytest.mark.parametrize("reference", [False, True], ids=["default", "reference_mode"])


def _qkv(b=3, lq=4, s=5, d=6, dv=7, lead=()):
    shapes = ((*lead, b, lq, d), (*lead, b, s, d), (*lead, b, s, dv))
    return [torch.randn(sh, dtype=torch.float64, requires_grad=True) for sh in shapes]


def _weights_by_sdpa(q, k, **kw):
    eye = torch.eye(k.shape[-2], dtype=q.dtype).expand(*k.shape[:-1], k.shape[-2])  # V = I_S
    return F.scaled_dot_product_attention(q, k, eye, **kw)


def _check(attn, args, kwargs, sdpa_kwargs, reference):
    q, k, v = args
    with dlzoo.reference_mode(reference):
        out, w = attn(q, k, v, **kwargs)
        out_fast, none = attn(q, k, v, need_weights=False, **kwargs)
    expected = F.scaled_dot_product_attention(q, k, v, **sdpa_kwargs)
    assert none is None and torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out_fast, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w, _weights_by_sdpa(q, k, **sdpa_kwargs), rtol=1e-12, atol=1e-12)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, (q, k, v), g, retain_graph=True)
    grads_fast = torch.autograd.grad(out_fast, (q, k, v), g, retain_graph=True)
    ref = torch.autograd.grad(expected, (q, k, v), g)
    for a, c, r in zip(grads, grads_fast, ref, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, r, rtol=1e-11, atol=1e-12)
        torch.testing.assert_close(c, r, rtol=1e-11, atol=1e-12)
    return w


@PATHS
@pytest.mark.parametrize("scaled", [True, False])
def test_unmasked_equals_sdpa(scaled, reference):
    qkv = _qkv()
    scale = None if scaled else 1.0
    w = _check(DotProductAttention(scaled=scaled), qkv, {}, {"scale": scale}, reference)
    torch.testing.assert_close(w.sum(-1), torch.ones(3, 4, dtype=torch.float64))


@PATHS
def test_leading_head_dims_and_causal(reference):
    qkv = _qkv(b=2, lq=5, s=5, lead=(2,))
    _check(DotProductAttention(), qkv, {"is_causal": True}, {"is_causal": True}, reference)


@PATHS
@pytest.mark.parametrize("per_query", [False, True])
def test_valid_lens_with_empty_rows_equal_sdpa(per_query, reference):
    """d2l's valid_lens; a length of 0 gives zero weights/output and finite gradients, like torch's SDPA."""
    q, k, v = _qkv(b=3, lq=4, s=5)
    lens = torch.tensor([[2, 5, 0, 1], [0, 0, 3, 4], [5, 5, 5, 5]]) if per_query else torch.tensor([3, 0, 5])
    keep = torch.zeros(3, 4, 5, dtype=torch.bool)  # written out: query (b, i) keeps keys j < len
    for b in range(3):
        for i in range(4):
            n = lens[b, i] if per_query else lens[b]
            keep[b, i, :n] = True
    w = _check(DotProductAttention(), (q, k, v), {"valid_lens": lens}, {"attn_mask": keep}, reference)
    empty = ~keep.any(-1)
    assert empty.any() and (w[empty] == 0).all()


@PATHS
def test_key_padding_mask_combined_with_valid_lens_and_causal(reference):
    q, k, v = _qkv(b=2, lq=5, s=5)
    pad = torch.tensor([[False, False, True, False, True], [True, False, False, False, False]])
    lens = torch.tensor([4, 5])
    causal = torch.ones(5, 5).tril().bool()
    keep = ~pad[:, None, :] & (torch.arange(5)[None, None, :] < lens[:, None, None]) & causal
    kwargs = {"valid_lens": lens, "key_padding_mask": pad, "is_causal": True}
    _check(DotProductAttention(), (q, k, v), kwargs, {"attn_mask": keep}, reference)


def test_dropout_acts_on_weights_in_training_only():
    q, k, v = _qkv()
    attn = DotProductAttention(dropout=0.4).train()
    torch.manual_seed(1)
    out, w = attn(q, k, v)
    torch.manual_seed(1)
    expected = F.dropout(_weights_by_sdpa(q, k), 0.4, training=True) @ v
    torch.testing.assert_close(out, expected, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(w, _weights_by_sdpa(q, k), rtol=1e-12, atol=1e-12)  # returned before dropout
    attn.eval()
    expected = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(attn(q, k, v)[0], expected, rtol=1e-12, atol=1e-12)


def test_bad_input():
    attn = DotProductAttention()
    q, k, v = _qkv()
    with pytest.raises(ValueError, match="DotProductAttention: queries and keys need the same width"):
        attn(q, torch.randn(3, 5, 2, dtype=torch.float64), v)
    with pytest.raises(ValueError, match="DotProductAttention: batch dims and key/value lengths"):
        attn(q, k, torch.randn(3, 6, 7, dtype=torch.float64))
    msg = r"DotProductAttention: valid_lens must be an integer tensor of shape \(3,\)"
    with pytest.raises(ValueError, match=msg):
        attn(q, k, v, valid_lens=torch.tensor([1, 2]))
    with pytest.raises(TypeError, match="key_padding_mask must be bool"):
        attn(q, k, v, key_padding_mask=torch.zeros(3, 5))
    with pytest.raises(ValueError, match="key_padding_mask must have shape"):
        attn(q, k, v, key_padding_mask=torch.zeros(3, 4, dtype=torch.bool))
    with pytest.raises(ValueError, match="Dropout"):
        DotProductAttention(dropout=1.5)
