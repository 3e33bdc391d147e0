"""GroupedQueryAttention and KVCache against references we did not write: torch.nn.MultiheadAttention
(H = Hk), a per-head loop of the paper's equation written here (GQA/MQA, sliding window, RoPE), and HF's
LlamaAttention."""

from __future__ import annotations

import math

import pytest
import torch

import dlzoo
from dlzoo.nn import GroupedQueryAttention, KVCache, RotaryEmbedding
from dlzoo.nn.attention import causal_mask
from dlzoo.nn.rotary import rotate_half

B, T, C = 2, 7, 24


def _randomise(attn: GroupedQueryAttention, seed: int = 0) -> None:
    g = torch.Generator().manual_seed(seed)
    for p in attn.parameters():
        p.data = torch.randn(p.shape, generator=g, dtype=p.dtype) * 0.3


def _per_head_reference(attn, x, rope=None, window=None, causal=True):
    """Eq. of the module docstring, one head at a time, written from scratch (float64)."""
    H, Hk, d = attn.num_heads, attn.num_kv_heads, attn.head_dim
    Tq = x.shape[1]
    q = x @ attn.q_proj.weight.T + (attn.q_proj.bias if attn.q_proj.bias is not None else 0)
    k = x @ attn.k_proj.weight.T + (attn.k_proj.bias if attn.k_proj.bias is not None else 0)
    v = x @ attn.v_proj.weight.T + (attn.v_proj.bias if attn.v_proj.bias is not None else 0)
    heads = []
    for h in range(H):
        g = h // (H // Hk)
        qh, kh, vh = q[..., h * d : (h + 1) * d], k[..., g * d : (g + 1) * d], v[..., g * d : (g + 1) * d]
        if rope is not None:
            cos, sin = rope
            qh, kh = qh * cos + rotate_half(qh) * sin, kh * cos + rotate_half(kh) * sin
        scores = qh @ kh.transpose(-1, -2) / math.sqrt(d)  # (B, T, T)
        i, j = torch.arange(Tq)[:, None], torch.arange(Tq)[None, :]
        allowed = (j <= i) if causal else torch.ones(Tq, Tq, dtype=torch.bool)
        if window is not None:
            allowed = allowed & (j > i - window)
        scores = scores.masked_fill(~allowed, float("-inf"))
        heads.append(scores.softmax(-1) @ vh)
    out = torch.cat(heads, -1)
    return out @ attn.o_proj.weight.T + (attn.o_proj.bias if attn.o_proj.bias is not None else 0)


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize(
    "kv_heads, window, bias",
    [(4, None, True), (2, None, False), (1, None, False), (2, 3, False), (4, 1, True)],
)
def test_matches_per_head_equation_with_rope_and_grads(kv_heads, window, bias, reference):
    torch.manual_seed(0)
    attn = GroupedQueryAttention(C, 4, kv_heads, bias=bias, sliding_window=window).double()
    _randomise(attn)
    rope = RotaryEmbedding(C // 4, max_position_embeddings=16).double()
    x = torch.randn(B, T, C, dtype=torch.float64, requires_grad=True)
    cos_sin = rope(x, torch.arange(T))
    with dlzoo.reference_mode(reference):
        out = attn(x, rope=cos_sin)
    expected = _per_head_reference(attn, x, rope=cos_sin, window=window)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, *attn.parameters()], g)
    want = torch.autograd.grad(expected, [x, *attn.parameters()], g)
    for a, b in zip(grads, want):
        torch.testing.assert_close(a, b)


def test_equals_torch_multihead_attention_when_kv_heads_equal_heads():
    torch.manual_seed(1)
    ours = GroupedQueryAttention(C, 3, bias=True).double()
    ref = torch.nn.MultiheadAttention(C, 3, batch_first=True, dtype=torch.float64)
    wq, wk, wv = ref.in_proj_weight.detach().chunk(3)
    bq, bk, bv = ref.in_proj_bias.detach().chunk(3)
    ours.load_state_dict(
        {
            "q_proj.weight": wq,
            "k_proj.weight": wk,
            "v_proj.weight": wv,
            "q_proj.bias": bq,
            "k_proj.bias": bk,
            "v_proj.bias": bv,
            "o_proj.weight": ref.out_proj.weight.detach(),
            "o_proj.bias": ref.out_proj.bias.detach(),
        }
    )
    x = torch.randn(B, T, C, dtype=torch.float64)
    mask = torch.nn.Transformer.generate_square_subsequent_mask(T, dtype=torch.float64)
    expected, _ = ref(x, x, x, attn_mask=mask, need_weights=False)
    torch.testing.assert_close(ours(x), expected)
    ours.is_causal = False
    torch.testing.assert_close(ours(x), ref(x, x, x, need_weights=False)[0])


def test_equals_hf_llama_attention():
    transformers = pytest.importorskip("transformers")
    from transformers.models.llama.modeling_llama import LlamaAttention, LlamaRotaryEmbedding

    cfg = transformers.LlamaConfig(
        hidden_size=C,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=32,
        attn_implementation="eager",
    )
    torch.manual_seed(2)
    ref = LlamaAttention(cfg, layer_idx=0).double().eval()
    ours = GroupedQueryAttention(C, 4, 2).double()
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(B, T, C, dtype=torch.float64)
    pos = torch.arange(T)[None].expand(B, T)
    cos_sin = LlamaRotaryEmbedding(cfg).double()(x, pos)
    causal = torch.full((T, T), float("-inf"), dtype=torch.float64).triu(1)[None, None]
    expected, _ = ref(x, position_embeddings=cos_sin, attention_mask=causal)
    ours_rope = RotaryEmbedding(C // 4, max_position_embeddings=32).double()(x, pos)
    torch.testing.assert_close(ours(x, rope=ours_rope), expected)


@pytest.mark.parametrize("window", [None, 3])
@pytest.mark.parametrize("kv_heads", [2, 1])
def test_kv_cache_incremental_equals_full_forward(kv_heads, window):
    torch.manual_seed(3)
    attn = GroupedQueryAttention(C, 4, kv_heads, sliding_window=window).double().eval()
    rope = RotaryEmbedding(C // 4, max_position_embeddings=32).double()
    x = torch.randn(B, T, C, dtype=torch.float64)
    full = attn(x, rope=rope(x, torch.arange(T)))
    cache = KVCache(B, 16, kv_heads, C // 4, dtype=torch.float64)
    steps, start = [], 0
    for chunk in (3, 1, 2, 1):  # a prompt of 3, then single tokens and a chunk of 2
        xs = x[:, start : start + chunk]
        steps.append(attn(xs, rope=rope(xs, torch.arange(start, start + chunk)), kv_cache=cache))
        start += chunk
        assert cache.seq_len == start
    torch.testing.assert_close(torch.cat(steps, 1), full)


def test_padding_mask_combines_with_causality():
    torch.manual_seed(4)
    attn = GroupedQueryAttention(C, 4, 2).double()
    x = torch.randn(B, T, C, dtype=torch.float64)
    keep = torch.ones(B, T, dtype=torch.bool)
    keep[0, :2] = False  # left padding of the first sequence
    out = attn(x, attn_mask=keep[:, None, None, :])
    # the second sequence is unpadded: equal to the plain causal call
    torch.testing.assert_close(out[1], attn(x[1:])[0])
    # the first sequence's real tokens equal a call on its unpadded suffix
    torch.testing.assert_close(out[0, 2:], attn(x[:1, 2:])[0])
    additive = torch.zeros(B, 1, 1, T, dtype=torch.float64).masked_fill(
        ~keep[:, None, None, :], float("-inf")
    )
    torch.testing.assert_close(attn(x, attn_mask=additive)[:, 2:], out[:, 2:])


def test_causal_mask_definition_and_errors():
    m = causal_mask(2, 5, window=2)
    assert m.tolist() == [[False, False, True, True, False], [False, False, False, True, True]]
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        GroupedQueryAttention(24, 4, 3)
    with pytest.raises(ValueError, match=r"expected x of shape \(B, T, 24\)"):
        GroupedQueryAttention(24, 4)(torch.randn(2, 3, 8))
    cache = KVCache(1, 4, 2, 6)
    with pytest.raises(ValueError, match="exceed the cache's max_seq_len 4"):
        cache.update(torch.zeros(1, 2, 5, 6), torch.zeros(1, 2, 5, 6))
    with pytest.raises(ValueError, match="expected k and v of shape"):
        cache.update(torch.zeros(1, 3, 1, 6), torch.zeros(1, 3, 1, 6))
