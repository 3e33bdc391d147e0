"""Fully masked attention rows (a query whose keys are all blocked) against torch 2.13's own behaviour.

torch's ``F.scaled_dot_product_attention`` (math and flash kernels on CPU) returns a zero output row and
finite gradients there; ``nn.MultiheadAttention`` does the same with ``need_weights=False`` (it runs SDPA)
but returns NaN with ``need_weights=True`` (a plain softmax over -inf). dlzoo returns the SDPA result on every
path (fused, ``dlzoo.reference_mode()``, with or without weights), and zero weights for such rows.
"""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import Attention, MultiheadAttention, scaled_dot_product_attention
from dlzoo.nn.attention.window import WindowAttention

MODES = pytest.mark.parametrize("reference", [False, True], ids=["fused", "reference"])


def _qkv(b=2, h=2, lq=4, s=5, e=8, dtype=torch.float64):
    return [torch.randn(b, h, n, e, dtype=dtype, requires_grad=True) for n in (lq, s, s)]


def _keep_mask_with_blocked_row(lq=4, s=5):
    keep = torch.rand(lq, s) > 0.3
    keep[:, 0] = True
    keep[1] = False  # query 1 sees no key
    return keep


def _assert_same_and_finite(out, expected, params_ours, params_ref, g, tol=1e-10):
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
    ref_grads = torch.autograd.grad(expected, params_ref, g, retain_graph=True)
    for a, b in zip(torch.autograd.grad(out, params_ours, g), ref_grads, strict=True):
        assert torch.isfinite(a).all()
        torch.testing.assert_close(a, b, atol=tol, rtol=tol)


@MODES
@pytest.mark.parametrize("kind", ["bool", "float"])
def test_sdpa_fully_masked_row_is_zero_like_torch(kind, reference):
    q, k, v = _qkv()
    keep = _keep_mask_with_blocked_row()
    additive = torch.zeros(keep.shape, dtype=q.dtype).masked_fill(~keep, float("-inf"))
    mask = keep if kind == "bool" else additive
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert torch.equal(expected[:, :, 1], torch.zeros_like(expected[:, :, 1]))  # torch's behaviour
    with dlzoo.reference_mode(reference):
        out = scaled_dot_product_attention(q, k, v, attn_mask=mask)
    _assert_same_and_finite(out, expected, [q, k, v], [q, k, v], torch.randn_like(out))


def test_attention_weights_of_a_fully_masked_row_are_zero_and_others_sum_to_one():
    q, k, _ = _qkv()
    keep = _keep_mask_with_blocked_row()
    w = dlzoo.nn.attention.attention_weights(q, k, keep)
    assert torch.equal(w[:, :, 1], torch.zeros_like(w[:, :, 1]))
    rows = torch.ones(4, dtype=torch.bool)
    rows[1] = False
    torch.testing.assert_close(w[:, :, rows].sum(-1), torch.ones(2, 2, 3, dtype=w.dtype))


def _mha_pair(**kw):
    torch.manual_seed(3)
    ref = torch.nn.MultiheadAttention(8, 2, dtype=torch.float64, **kw)
    with torch.no_grad():
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))  # non-zero biases: a zero row must come from the attention
    ours = MultiheadAttention(8, 2, dtype=torch.float64, **kw)
    ours.load_state_dict(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("mask_name", ["key_padding_mask", "attn_mask"])
def test_multihead_attention_fully_masked_rows_match_torch_sdpa_path(mask_name):
    """Batch element 1 has every key padded (key_padding_mask), or query 2 blocks every key (attn_mask)."""
    ours, ref = _mha_pair(batch_first=True)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)
    if mask_name == "key_padding_mask":
        mask = torch.zeros(3, 5, dtype=torch.bool)
        mask[1] = True
        mask[2, 3:] = True
        blocked = (slice(1, 2), slice(None))  # (batch, query) positions with no key
    else:
        mask = torch.zeros(5, 5, dtype=torch.bool)
        mask[2] = True
        mask[0, 1] = True
        blocked = (slice(None), slice(2, 3))
    expected, _ = ref(x, x, x, need_weights=False, **{mask_name: mask})  # torch's SDPA path: finite
    _, torch_weights = ref(x, x, x, need_weights=True, **{mask_name: mask})
    assert torch.isnan(torch_weights[blocked]).all()  # torch's softmax path gives NaN here; we do not
    g = torch.randn_like(expected)
    for need, reference in itertools.product((True, False), (False, True)):
        with dlzoo.reference_mode(reference):
            out, w = ours(x, x, x, need_weights=need, **{mask_name: mask})
        _assert_same_and_finite(out, expected, [x, *ours.parameters()], [x, *ref.parameters()], g)
        if need:
            assert torch.equal(w[blocked], torch.zeros_like(w[blocked]))
            keep = torch.isfinite(torch_weights)
            torch.testing.assert_close(w[keep], torch_weights[keep], atol=1e-12, rtol=1e-12)


@MODES
def test_vit_attention_fully_masked_row_is_zero(reference):
    attn = Attention(8, num_heads=2).double()
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)
    keep = _keep_mask_with_blocked_row(5, 5)
    with dlzoo.reference_mode(reference):
        out = attn(x, attn_mask=keep)
    q, k, v = attn.qkv(x).reshape(2, 5, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=keep)  # torch's kernel, same weights
    expected = attn.proj(heads.transpose(1, 2).reshape(2, 5, 8))
    _assert_same_and_finite(out, expected, [x, *attn.parameters()], [x, *attn.parameters()],
                            torch.randn_like(out))


@MODES
def test_window_attention_fully_masked_token_is_finite_and_bool_mask_refused(reference):
    attn = WindowAttention(8, num_heads=2, window_size=2).double()
    x = torch.randn(2, 4, 8, dtype=torch.float64, requires_grad=True)  # B=1, nW=2 windows of 2x2
    mask = torch.zeros(2, 4, 4, dtype=torch.float64)
    mask[0, 3] = float("-inf")  # token 3 of window 0 attends to nothing
    with dlzoo.reference_mode(reference):
        out = attn(x, mask)
    bias = attn.relative_position_bias().unsqueeze(0) + mask.unsqueeze(1)  # (nW, heads, N, N)
    q, k, v = attn.qkv(x).view(2, 4, 3, 2, 4).permute(2, 0, 3, 1, 4).unbind(0)
    heads = F.scaled_dot_product_attention(q, k, v, attn_mask=bias, scale=attn.scale)
    expected = attn.proj(heads.transpose(1, 2).reshape(2, 4, 8))
    _assert_same_and_finite(out, expected, [x, *attn.parameters()], [x, *attn.parameters()],
                            torch.randn_like(out))
    with pytest.raises(TypeError, match="WindowAttention: mask must be an additive float mask"):
        attn(x, mask == 0)
