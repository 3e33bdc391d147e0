"""Attention layers against torch: F.scaled_dot_product_attention, nn.MultiheadAttention (same weights)."""

from __future__ import annotations

import itertools

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import Attention, MultiheadAttention, scaled_dot_product_attention


def _tol(dtype):
    return 1e-10 if dtype == torch.float64 else 2e-5


def _grads(out, inputs, g):
    return torch.autograd.grad(out, inputs, g)


def _bool_keep_mask(*shape):
    m = torch.rand(shape) > 0.4
    m[..., 0] = True  # every query keeps at least one key (no all -inf rows)
    return m


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "mask_kind,is_causal,scale",
    [(None, False, None), (None, True, None), ("bool", False, None), ("float", False, 0.3),
     ("bool_bcast", False, None), (None, True, 0.5)],
)
def test_sdpa_reference_matches_torch(dtype, mask_kind, is_causal, scale):
    B, H, L, S, E, Ev = 2, 3, 5, 5 if is_causal else 7, 4, 6
    q = torch.randn(B, H, L, E, dtype=dtype, requires_grad=True)
    k = torch.randn(B, H, S, E, dtype=dtype, requires_grad=True)
    v = torch.randn(B, H, S, Ev, dtype=dtype, requires_grad=True)
    mask = {None: None, "bool": _bool_keep_mask(B, H, L, S), "float": torch.randn(B, 1, L, S, dtype=dtype),
            "bool_bcast": _bool_keep_mask(L, S)}[mask_kind]
    expected = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)
    g = torch.randn_like(expected)
    ref_grads = _grads(expected, [q, k, v], g)
    for reference in (True, False):
        with dlzoo.reference_mode(reference):
            out = scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal, scale=scale)
        torch.testing.assert_close(out, expected, atol=_tol(dtype), rtol=_tol(dtype))
        for a, b in zip(_grads(out, [q, k, v], g), ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=_tol(dtype), rtol=_tol(dtype))


def test_sdpa_causal_is_the_paper_equation_and_gqa():
    q, k, v = (torch.randn(1, 4, 6, 8, dtype=torch.float64) for _ in range(3))
    # explicit eq. 1 with a lower-triangular mask, written out here independently
    scores = q @ k.transpose(-1, -2) / 8**0.5
    scores = scores.masked_fill(torch.ones(6, 6, dtype=torch.bool).triu(1), float("-inf"))
    expected = torch.softmax(scores, -1) @ v
    with dlzoo.reference_mode():
        torch.testing.assert_close(scaled_dot_product_attention(q, k, v, is_causal=True), expected)
    kg, vg = torch.randn(1, 2, 6, 8), torch.randn(1, 2, 6, 8)
    qg = torch.randn(1, 4, 6, 8)
    ref = F.scaled_dot_product_attention(qg, kg, vg, enable_gqa=True)
    with dlzoo.reference_mode():
        torch.testing.assert_close(scaled_dot_product_attention(qg, kg, vg, enable_gqa=True), ref)


def test_sdpa_dropout_is_unbiased_and_bad_input():
    q, k, v = torch.randn(1, 1, 3, 4), torch.randn(1, 1, 5, 4), torch.randn(1, 1, 5, 2)
    clean = F.scaled_dot_product_attention(q, k, v)
    n = 20_000
    with dlzoo.reference_mode():
        out = scaled_dot_product_attention(q.expand(n, 1, 3, 4), k.expand(n, 1, 5, 4), v.expand(n, 1, 5, 2),
                                           dropout_p=0.3)
    assert not torch.allclose(out[0], out[1])
    torch.testing.assert_close(out.mean(0, keepdim=True), clean, atol=0.03, rtol=0)
    with pytest.raises(ValueError, match="scaled_dot_product_attention"):
        scaled_dot_product_attention(q, torch.randn(1, 1, 5, 3), v)


def _transplant(ref, ours):
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    "kw", [{}, {"batch_first": True}, {"bias": False}, {"add_bias_kv": True}, {"add_zero_attn": True},
           {"kdim": 5, "vdim": 3, "batch_first": True}, {"add_bias_kv": True, "add_zero_attn": True}],
)
def test_multihead_attention_matches_torch(dtype, kw):
    E, H, L, S, N = 8, 2, 4, 6, 3
    torch.manual_seed(1)
    ref = torch.nn.MultiheadAttention(E, H, dtype=dtype, **kw)
    torch.manual_seed(1)
    ours = MultiheadAttention(E, H, dtype=dtype, **kw)
    # same constructor -> same RNG draws in the same order -> identical initial weights
    for (name, a), b in zip(ours.state_dict().items(), ref.state_dict().values(), strict=True):
        assert torch.equal(a, b), name
    with torch.no_grad():  # non-zero biases so they are exercised
        for p in ref.parameters():
            p.add_(0.1 * torch.randn_like(p))
    _transplant(ref, ours)
    bf = kw.get("batch_first", False)
    kd, vd = kw.get("kdim", E), kw.get("vdim", E)
    shape = (lambda s, d: (N, s, d)) if bf else (lambda s, d: (s, N, d))
    q = torch.randn(shape(L, E), dtype=dtype, requires_grad=True)
    k = torch.randn(shape(S, kd), dtype=dtype, requires_grad=True)
    v = torch.randn(shape(S, vd), dtype=dtype, requires_grad=True)
    masks = [
        {},
        {"attn_mask": _bool_keep_mask(L, S).logical_not()},
        {"attn_mask": torch.randn(N * H, L, S, dtype=dtype),
         "key_padding_mask": torch.randn(N, S, dtype=dtype)},
        {"key_padding_mask": torch.tensor([[False] * S, [False] * (S - 2) + [True] * 2, [False] * S])},
    ]
    for mk, need, avg, reference in itertools.product(masks, (True, False), (True, False), (False, True)):
        if not need and not avg:
            continue
        expected, ew = ref(q, k, v, need_weights=need, average_attn_weights=avg, **mk)
        with dlzoo.reference_mode(reference):
            out, w = ours(q, k, v, need_weights=need, average_attn_weights=avg, **mk)
        torch.testing.assert_close(out, expected, atol=_tol(dtype), rtol=_tol(dtype))
        if need:
            torch.testing.assert_close(w, ew, atol=_tol(dtype), rtol=_tol(dtype))
        else:
            assert w is None and ew is None
        g = torch.randn_like(out)
        inputs = [q, k, v]
        for a, b in zip(_grads(out, [*inputs, *ours.parameters()], g),
                        _grads(expected, [*inputs, *ref.parameters()], g), strict=True):
            torch.testing.assert_close(a, b, atol=_tol(dtype) * 10, rtol=_tol(dtype) * 10)


@pytest.mark.parametrize("batch_first,bias", [(False, True), (True, True), (True, False)])
def test_multihead_self_attention_fast_path_matches_torch(batch_first, bias):
    ref = torch.nn.MultiheadAttention(8, 2, bias=bias, batch_first=batch_first, dtype=torch.float64)
    ours = MultiheadAttention(8, 2, bias=bias, batch_first=batch_first, dtype=torch.float64)
    _transplant(ref, ours)
    x = torch.randn(3, 5, 8, dtype=torch.float64, requires_grad=True)  # the same tensor as q, k and v
    g = torch.randn(3, 5, 8, dtype=torch.float64)
    for need in (True, False):
        expected, ew = ref(x, x, x, need_weights=need)
        out, w = ours(x, x, x, need_weights=need)
        torch.testing.assert_close(out, expected)
        if need:
            torch.testing.assert_close(w, ew)
        for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g),
                        torch.autograd.grad(expected, [x, *ref.parameters()], g), strict=True):
            torch.testing.assert_close(a, b)


def test_multihead_attention_unbatched_causal_and_errors():
    ref = torch.nn.MultiheadAttention(8, 4)
    ours = MultiheadAttention(8, 4)
    _transplant(ref, ours)
    x = torch.randn(5, 8)
    causal = torch.ones(5, 5, dtype=torch.bool).triu(1)
    expected, ew = ref(x, x, x, attn_mask=causal, average_attn_weights=False)
    out, w = ours(x, x, x, is_causal=True, average_attn_weights=False)
    torch.testing.assert_close(out, expected)
    torch.testing.assert_close(w, ew)
    assert w.shape == (4, 5, 5) and torch.all(w.triu(1) == 0)
    with pytest.raises(ValueError, match="divisible|multiple"):
        MultiheadAttention(10, 4)
    with pytest.raises(ValueError, match="expected query feature size 8"):
        ours(torch.randn(5, 2, 7), torch.randn(5, 2, 8), torch.randn(5, 2, 8))
    with pytest.raises(ValueError, match="attn_mask must have shape"):
        ours(torch.randn(5, 2, 8), torch.randn(5, 2, 8), torch.randn(5, 2, 8), attn_mask=torch.zeros(4, 4))


def test_multihead_attention_dropout_train_vs_eval():
    ours = MultiheadAttention(8, 2, dropout=0.5)
    x = torch.randn(4, 2, 8)
    a, _ = ours(x, x, x)
    b, _ = ours(x, x, x)
    assert not torch.allclose(a, b)
    ours.eval()
    torch.testing.assert_close(ours(x, x, x)[0], ours(x, x, x, need_weights=False)[0])


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("qkv_bias", [True, False])
def test_vit_attention_matches_torch_mha(dtype, qkv_bias):
    dim, heads = 12, 3
    ours = Attention(dim, heads, qkv_bias=qkv_bias).to(dtype)
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    ref = torch.nn.MultiheadAttention(dim, heads, bias=True, batch_first=True, dtype=dtype)
    with torch.no_grad():
        ref.in_proj_weight.copy_(ours.qkv.weight)
        ref.in_proj_bias.copy_(ours.qkv.bias if qkv_bias else torch.zeros(3 * dim, dtype=dtype))
        ref.out_proj.weight.copy_(ours.proj.weight)
        ref.out_proj.bias.copy_(ours.proj.bias)
    x = torch.randn(2, 5, dim, dtype=dtype, requires_grad=True)
    expected, _ = ref(x, x, x, need_weights=False)
    g = torch.randn_like(expected)
    ref_grads = _grads(expected, [x, ref.in_proj_weight, ref.out_proj.weight, ref.out_proj.bias], g)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        torch.testing.assert_close(out, expected, atol=_tol(dtype), rtol=_tol(dtype))
        grads = _grads(out, [x, ours.qkv.weight, ours.proj.weight, ours.proj.bias], g)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=_tol(dtype) * 10, rtol=_tol(dtype) * 10)
    assert list(ours.state_dict()) == (["qkv.weight", "qkv.bias"] if qkv_bias else ["qkv.weight"]) + [
        "proj.weight", "proj.bias"]
    with pytest.raises(ValueError, match=r"Attention: expected input \(B, N, 12\)"):
        ours(torch.randn(2, 5, 8, dtype=dtype))


def test_vit_attention_qk_norm_is_layernorm_on_heads():
    ours = Attention(8, 2, qk_norm=True).double()
    with torch.no_grad():
        for p in ours.parameters():
            p.copy_(torch.randn_like(p) * 0.5)
    x = torch.randn(2, 3, 8, dtype=torch.float64)
    q, k, v = F.linear(x, ours.qkv.weight, ours.qkv.bias).reshape(2, 3, 3, 2, 4).permute(2, 0, 3, 1, 4)
    q = F.layer_norm(q, (4,), ours.q_norm.weight, ours.q_norm.bias, ours.q_norm.eps)
    k = F.layer_norm(k, (4,), ours.k_norm.weight, ours.k_norm.bias, ours.k_norm.eps)
    y = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(2, 3, 8)
    expected = F.linear(y, ours.proj.weight, ours.proj.bias)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            torch.testing.assert_close(ours(x), expected)


def test_reference_attention_gradcheck_float64():
    q, k, v = (torch.randn(1, 2, 3, 4, dtype=torch.float64, requires_grad=True) for _ in range(3))
    mask = torch.randn(3, 3, dtype=torch.float64)

    def f(q, k, v):
        with dlzoo.reference_mode():
            return scaled_dot_product_attention(q, k, v, attn_mask=mask)

    assert torch.autograd.gradcheck(f, (q, k, v))
    mha = MultiheadAttention(4, 2, add_bias_kv=True, dtype=torch.float64)
    x = torch.randn(3, 2, 4, dtype=torch.float64, requires_grad=True)
    with dlzoo.reference_mode():
        assert torch.autograd.gradcheck(lambda x: mha(x, x, x)[0], (x,))


@pytest.mark.gpu
def test_attention_cuda_matches_cpu():
    q, k, v = (torch.randn(2, 4, 33, 16) for _ in range(3))
    expected = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = scaled_dot_product_attention(q.cuda(), k.cuda(), v.cuda(), is_causal=True)
        torch.testing.assert_close(out.cpu(), expected, atol=1e-4, rtol=1e-4)
    model = dlzoo.create_model("vit_tiny_digits").eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        on_gpu = model.cuda()(x.cuda()).cpu()
        # cuDNN may use TF32 for the patch-embedding conv: a looser tolerance than the float32 kernels
        torch.testing.assert_close(on_gpu, model.cpu()(x), atol=1e-2, rtol=1e-2)
