"""LLaMA family: published parameter counts on meta, LLaMA-DyT per the paper, KV cache, input errors.

Parity with transformers' LlamaForCausalLM (logits, gradients, generate, export) is in
tests/interop/test_hf_llama.py.
"""

from __future__ import annotations

import contextlib
import math

import pytest
import torch

import dlzoo
from dlzoo.nn import DyT, LayerNorm, RMSNorm


@contextlib.contextmanager
def float64_default():
    """Build in float64 (RotaryEmbedding tabulates cos/sin in the default dtype at construction)."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        yield
    finally:
        torch.set_default_dtype(previous)


SMALL = dict(vocab_size=61, num_layers=2, embed_dim=32, num_heads=4, num_kv_heads=2, intermediate_dim=40,
             max_seq_len=24)


def _llama_count(V, d, L, kv_hd, F, tied=False):
    """REFERENCES.md: LLaMA = 2 V d + L (2 d^2 + 2 d kv hd + 3 d F + 2 d) + d (minus V d when tied)."""
    return (1 if tied else 2) * V * d + L * (2 * d * d + 2 * d * kv_hd + 3 * d * F + 2 * d) + d


@pytest.mark.parametrize("name, published, numbers", [
    ("llama1_7b", 6_738_415_616, (32000, 4096, 32, 4096, 11008)),
    ("llama2_7b", 6_738_415_616, (32000, 4096, 32, 4096, 11008)),
    ("llama2_13b", 13_015_864_320, (32000, 5120, 40, 5120, 13824)),
    ("llama3_8b", 8_030_261_248, (128256, 4096, 32, 8 * 128, 14336)),
    ("tinyllama_1_1b", 1_100_048_384, (32000, 2048, 22, 4 * 64, 5632)),
])
def test_published_counts_on_meta(name, published, numbers):
    assert _llama_count(*numbers) == published  # the formula reproduces the published figure
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    params = list(model.parameters())
    assert all(p.is_meta for p in params)
    assert sum(p.numel() for p in params) == published
    assert not model.tie_word_embeddings and model.lm_head.weight is not model.embed_tokens.weight


def test_architecture_numbers():
    with torch.device("meta"):
        l3 = dlzoo.create_model("llama3_8b")
        tiny = dlzoo.create_model("tinyllama_1_1b")
        l1 = dlzoo.create_model("llama1_7b")
    assert l3.rotary_emb.base == 500_000.0 and l3.max_seq_len == 8192 and l3.vocab_size == 128_256
    attn = l3.layers[0].self_attn
    assert (attn.num_heads, attn.num_kv_heads, attn.head_dim) == (32, 8, 128) and attn.q_proj.bias is None
    assert tiny.layers[0].self_attn.num_kv_heads == 4 and len(tiny.layers) == 22
    assert l1.max_seq_len == 2048 and l1.norm.eps == 1e-6 and l3.norm.eps == 1e-5
    assert isinstance(l3.norm, RMSNorm) and l3.embed_scale is None


def test_llama_tiny_is_small_tied_and_gqa():
    model = dlzoo.create_model("llama_tiny")
    assert model.lm_head.weight is model.embed_tokens.weight
    expected = _llama_count(4096, 256, 4, 2 * 64, 688, tied=True)
    assert sum(p.numel() for p in model.parameters()) == expected
    assert expected == dlzoo.model_info("llama_tiny").reference_params
    assert model.layers[0].self_attn.num_kv_heads == 2 and model.max_seq_len == 256


# ----------------------------------------------------------------------------- LLaMA-DyT


@pytest.mark.parametrize("name, attn_alpha, other_alpha", [
    ("llama2_7b", 0.8, 0.2),        # paper Table 12: 7B (width 4096)
    ("llama2_13b", 0.6, 0.15),      # 13B (5120)
    ("llama3_8b", 0.8, 0.2),        # width 4096
    ("tinyllama_1_1b", 1.0, 0.5),   # width 2048 (Table 11)
])
def test_llama_dyt_alpha_inits_follow_the_table(name, attn_alpha, other_alpha):
    with torch.device("meta"):
        model = dlzoo.create_model(name, norm_layer="dyt")
    for layer in model.layers:
        assert isinstance(layer.input_layernorm, DyT) and layer.input_layernorm.alpha_init == attn_alpha
        assert layer.post_attention_layernorm.alpha_init == other_alpha
    assert isinstance(model.norm, DyT) and model.norm.alpha_init == other_alpha
    assert model.embed_scale is not None
    # weight-only DyT: gamma, no beta; one alpha each; one extra scalar after the embedding
    with torch.device("meta"):
        base = dlzoo.create_model(name)
    n_norms = 2 * len(model.layers) + 1
    extra = sum(p.numel() for p in model.parameters()) - sum(p.numel() for p in base.parameters())
    assert extra == n_norms + 1


def test_llama_dyt_values_bias_and_embedding_scalar():
    model = dlzoo.create_model("llama_tiny", norm_layer="dyt", **{**SMALL, "embed_dim": 2048, "num_layers": 1,
                                                                  "intermediate_dim": 8, "vocab_size": 16})
    norms = [model.layers[0].input_layernorm, model.layers[0].post_attention_layernorm, model.norm]
    assert all(isinstance(n, DyT) and n.bias is None for n in norms)
    assert all(sorted(dict(n.named_parameters())) == ["alpha", "weight"] for n in norms)
    assert [n.alpha.item() for n in norms] == [1.0, 0.5, 0.5]  # width 2048: Table 11
    assert all(torch.equal(n.weight, torch.ones(2048)) for n in norms)
    assert model.embed_scale.shape == (1,) and model.embed_scale.item() == pytest.approx(math.sqrt(2048))
    assert model.embed_scale.requires_grad


def test_llama_dyt_alpha_overrides_and_final_alpha():
    model = dlzoo.create_model("llama_tiny", norm_layer="dyt", dyt_alpha_attn=0.3, dyt_alpha_other=0.1,
                               dyt_alpha_final=0.7, **SMALL)
    assert model.layers[1].input_layernorm.alpha.item() == pytest.approx(0.3)
    assert model.layers[1].post_attention_layernorm.alpha.item() == pytest.approx(0.1)
    assert model.norm.alpha.item() == pytest.approx(0.7)
    with pytest.raises(ValueError, match="norm_layer='dyt'"):
        dlzoo.create_model("llama_tiny", dyt_alpha_attn=0.3, **SMALL)


def _equation_forward(model, ids):
    """LLaMA-DyT written out from the paper's equations with the model's tensors (a loop over heads)."""
    def dyt(norm, x):
        return norm.weight * torch.tanh(norm.alpha * x)  # weight-only DyT

    d = model.hidden_size
    T = ids.shape[1]
    h = model.embed_tokens.weight[ids] * model.embed_scale  # (B, T, d)
    pos = torch.arange(T, dtype=torch.float64)
    for layer in model.layers:
        a = layer.self_attn
        hd, H, Hk = a.head_dim, a.num_heads, a.num_kv_heads
        inv = 1.0 / (model.rotary_emb.base ** (torch.arange(0, hd, 2, dtype=torch.float64) / hd))
        ang = pos[:, None] * inv[None]  # (T, hd/2)
        cos, sin = torch.cat([ang.cos()] * 2, -1), torch.cat([ang.sin()] * 2, -1)

        def rope(x, hd=hd, cos=cos, sin=sin):
            x1, x2 = x[..., : hd // 2], x[..., hd // 2:]
            return x * cos + torch.cat([-x2, x1], -1) * sin

        x = dyt(layer.input_layernorm, h)
        q, k, v = x @ a.q_proj.weight.T, x @ a.k_proj.weight.T, x @ a.v_proj.weight.T
        heads = []
        for i in range(H):
            g = i // (H // Hk)
            qi, ki = rope(q[..., i * hd:(i + 1) * hd]), rope(k[..., g * hd:(g + 1) * hd])
            vi = v[..., g * hd:(g + 1) * hd]
            s = qi @ ki.transpose(-1, -2) / math.sqrt(hd)
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool).triu(1), float("-inf"))
            heads.append(s.softmax(-1) @ vi)
        h = h + torch.cat(heads, -1) @ a.o_proj.weight.T
        x = dyt(layer.post_attention_layernorm, h)
        m = layer.mlp
        gated = torch.nn.functional.silu(x @ m.gate_proj.weight.T) * (x @ m.up_proj.weight.T)
        h = h + gated @ m.down_proj.weight.T
    assert d == h.shape[-1]
    return dyt(model.norm, h) @ model.lm_head.weight.T


def test_llama_dyt_forward_and_grads_equal_the_equations():
    with float64_default():
        model = dlzoo.create_model("llama_tiny", norm_layer="dyt", **SMALL)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)  # DyT weights/alphas and the scalar off their init
    ids = torch.randint(0, SMALL["vocab_size"], (2, 9))
    for mode in (False, True):
        with dlzoo.reference_mode(mode):
            model.zero_grad()
            out = model(ids)
            (out ** 2).mean().backward()
            grads = {n: p.grad.clone() for n, p in model.named_parameters()}
        model.zero_grad()
        ref = _equation_forward(model, ids)
        (ref ** 2).mean().backward()
        torch.testing.assert_close(out, ref, rtol=1e-10, atol=1e-10)
        for n, p in model.named_parameters():
            torch.testing.assert_close(grads[n], p.grad, rtol=1e-8, atol=1e-10, msg=n)


def test_other_norm_layers():
    ln = dlzoo.create_model("llama_tiny", norm_layer="layernorm", **SMALL)
    assert isinstance(ln.norm, LayerNorm) and isinstance(ln.layers[0].input_layernorm, LayerNorm)
    assert ln.norm.eps == 1e-5 and ln.embed_scale is None
    assert ln(torch.randint(0, 61, (1, 5))).shape == (1, 5, 61)


# ----------------------------------------------------------------------------- KV cache, reference path


def test_kv_cached_chunks_equal_full_forward_float64():
    with float64_default():
        model = dlzoo.create_model("llama_tiny", **SMALL).eval()
    ids = torch.randint(0, 61, (3, 17))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_kv_caches(3, 24)
        parts = [model(ids[:, a:b], kv_caches=caches) for a, b in ((0, 5), (5, 6), (6, 13), (13, 17))]
        assert caches[0].seq_len == 17
        torch.testing.assert_close(torch.cat(parts, 1), full, rtol=1e-12, atol=1e-12)
        with dlzoo.reference_mode():
            torch.testing.assert_close(model(ids), full, rtol=1e-12, atol=1e-12)


def test_generate_cached_equals_uncached_and_extends_greedily():
    model = dlzoo.create_model("llama_tiny", **SMALL).eval()
    ids = torch.randint(0, 61, (2, 4))
    out = model.generate(ids, max_new_tokens=6)
    assert torch.equal(out, model.generate(ids, max_new_tokens=6, use_cache=False))
    with torch.no_grad():
        for t in range(4, 10):  # each new token is the argmax of the logits of the prefix
            assert torch.equal(out[:, t], model(out[:, :t])[:, -1].argmax(-1))


def test_tied_weights_survive_save_and_load(tmp_path):
    model = dlzoo.create_model("llama_tiny", **SMALL, tie_word_embeddings=True).eval()
    dlzoo.save_pretrained(model, tmp_path)
    loaded = dlzoo.from_pretrained(tmp_path)
    assert loaded.lm_head.weight is loaded.embed_tokens.weight
    ids = torch.randint(0, 61, (1, 6))
    with torch.no_grad():
        torch.testing.assert_close(loaded(ids), model(ids), rtol=0, atol=0)


# ----------------------------------------------------------------------------- bad input


def test_bad_input_is_a_one_line_error():
    model = dlzoo.create_model("llama_tiny", **SMALL)
    with pytest.raises(ValueError, match=r"vocab_size=61\), got 61") as err:
        model(torch.tensor([[1, 61]]))
    assert "\n" not in str(err.value)
    with pytest.raises(ValueError, match="vocab_size"):
        model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match=r"25 tokens .* max_seq_len=24"):
        model(torch.zeros(1, 25, dtype=torch.long))
    caches = model.new_kv_caches(1, 24)
    model(torch.zeros(1, 20, dtype=torch.long), kv_caches=caches)
    with pytest.raises(ValueError, match=r"20 cached \+ 5 new\) exceeds the context length max_seq_len=24"):
        model(torch.zeros(1, 5, dtype=torch.long), kv_caches=caches)
    with pytest.raises(TypeError, match="integer tensor"):
        model(torch.zeros(1, 3))
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        model(torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="max_seq_len"):
        model.generate(torch.zeros(1, 20, dtype=torch.long), max_new_tokens=5)
    with pytest.raises(ValueError, match="num_heads"):
        dlzoo.create_model("llama_tiny", **{**SMALL, "num_kv_heads": 3})
