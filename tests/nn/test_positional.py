"""Positional encodings checked against HF transformers (LLaMA RoPE, BLOOM ALiBi) and the papers' formulas."""

from __future__ import annotations

import math

import pytest
import torch

from dlzoo.nn.positional import ALiBi, LearnedPositionalEmbedding, SinusoidalPositionalEncoding, alibi_slopes
from dlzoo.nn.rotary import RotaryEmbedding, apply_rotary_pos_emb

llama = pytest.importorskip("transformers.models.llama.modeling_llama")
rope_utils = pytest.importorskip("transformers.modeling_rope_utils")
bloom = pytest.importorskip("transformers.models.bloom.modeling_bloom")
from transformers import LlamaConfig  # noqa: E402

HEAD_DIM, MAX_POS = 16, 32


@pytest.fixture
def f64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def _config(theta: float, scaling: dict | None) -> LlamaConfig:
    params = {"rope_type": "default", "rope_theta": theta, **(scaling or {})}
    return LlamaConfig(
        hidden_size=HEAD_DIM * 4,
        num_attention_heads=4,
        head_dim=HEAD_DIM,
        max_position_embeddings=MAX_POS,
        rope_parameters=params,
    )


SCALINGS = [
    None,
    {"rope_type": "linear", "factor": 4.0},
    {"rope_type": "dynamic", "factor": 2.0},
    {
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8,
    },
]


def _hf_inv_freq(cfg: LlamaConfig, scaling: dict | None, seq_len: int | None = None) -> torch.Tensor:
    if scaling is None:
        inv, _ = llama.LlamaRotaryEmbedding.compute_default_rope_parameters(cfg)
    else:
        inv, _ = rope_utils.ROPE_INIT_FUNCTIONS[scaling["rope_type"]](cfg, None, seq_len=seq_len)
    return inv.double()


@pytest.mark.parametrize("scaling", SCALINGS, ids=lambda s: s["rope_type"] if s else "default")
def test_rope_matches_hf_llama(f64, scaling):
    theta = 500000.0 if scaling and scaling["rope_type"] == "llama3" else 10000.0
    cfg = _config(theta, scaling)
    ours = RotaryEmbedding(HEAD_DIM, MAX_POS, base=theta, scaling=scaling)
    # HF computes inv_freq in float32: compare at float32 precision.
    torch.testing.assert_close(ours.inv_freq, _hf_inv_freq(cfg, scaling), rtol=1e-6, atol=0)
    # Full pipeline: HF's module (float32 cos/sin) and HF's apply_rotary_pos_emb in float64 vs ours.
    hf = llama.LlamaRotaryEmbedding(cfg)
    pos = torch.tensor([[0, 3, 7, 31], [1, 2, 30, 5]])
    q, k = torch.randn(2, 4, 4, HEAD_DIM), torch.randn(2, 2, 4, HEAD_DIM)
    cos, sin = ours(q, pos)
    hcos, hsin = hf(q.float(), pos)
    torch.testing.assert_close(cos, hcos.double(), atol=2e-5, rtol=0)
    torch.testing.assert_close(sin, hsin.double(), atol=2e-5, rtol=0)
    qh, kh = llama.apply_rotary_pos_emb(q, k, cos, sin)  # float64 through HF's rotate_half
    qo, ko = apply_rotary_pos_emb(q, k, cos, sin)
    torch.testing.assert_close(qo, qh, atol=1e-12, rtol=0)
    torch.testing.assert_close(ko, kh, atol=1e-12, rtol=0)


def test_rope_dynamic_ntk_beyond_context_matches_hf(f64):
    scaling = {"rope_type": "dynamic", "factor": 2.0}
    cfg = _config(10000.0, scaling)
    ours = RotaryEmbedding(HEAD_DIM, MAX_POS, scaling=scaling)
    hf = llama.LlamaRotaryEmbedding(cfg)  # fresh module: its cached growth state starts at MAX_POS
    pos = torch.arange(3 * MAX_POS)[None]
    x = torch.randn(1, 3 * MAX_POS, HEAD_DIM)
    cos, sin = ours(x, pos)
    hcos, hsin = hf(x.float(), pos)
    torch.testing.assert_close(hf.inv_freq.double(), _hf_inv_freq(cfg, scaling, seq_len=3 * MAX_POS))
    assert not torch.allclose(hf.inv_freq.double(), ours.inv_freq)  # the base really changed
    torch.testing.assert_close(cos, hcos.double(), atol=1e-4, rtol=0)
    torch.testing.assert_close(sin, hsin.double(), atol=1e-4, rtol=0)


def _hf_permute(w: torch.Tensor, n_heads: int, dim1: int, dim2: int) -> torch.Tensor:
    # transformers/models/llama/convert_llama_weights_to_hf.py::permute (Meta interleaved -> rotate_half rows)
    return w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)


def test_interleaved_equals_rotate_half_after_hf_permute(f64):
    n_heads, hidden, T = 2, 2 * HEAD_DIM, 5
    w_meta = torch.randn(n_heads * HEAD_DIM, hidden)
    w_hf = _hf_permute(w_meta, n_heads, n_heads * HEAD_DIM, hidden)
    x = torch.randn(1, T, hidden)
    pos = torch.arange(T)[None]
    q_meta = (x @ w_meta.T).view(1, T, n_heads, HEAD_DIM).transpose(1, 2)  # (B, H, T, D)
    q_hf = (x @ w_hf.T).view(1, T, n_heads, HEAD_DIM).transpose(1, 2)
    il = RotaryEmbedding(HEAD_DIM, MAX_POS, interleaved=True)
    rh = RotaryEmbedding(HEAD_DIM, MAX_POS)
    qm, km = apply_rotary_pos_emb(q_meta, q_meta, *il(x, pos), interleaved=True)
    qr, kr = apply_rotary_pos_emb(q_hf, q_hf, *rh(x, pos))
    # Feature 2i / 2i+1 of Meta's layout is feature i / i+D/2 of HF's.
    perm = torch.cat([torch.arange(0, HEAD_DIM, 2), torch.arange(1, HEAD_DIM, 2)])
    torch.testing.assert_close(qm[..., perm], qr, atol=1e-12, rtol=0)
    # Meta's reference: complex multiplication by exp(i * m * theta).
    theta = 1.0 / 10000.0 ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM)
    rot = torch.polar(torch.ones(T, HEAD_DIM // 2), torch.arange(T)[:, None] * theta)
    ref = torch.view_as_real(torch.view_as_complex(q_meta.reshape(1, n_heads, T, -1, 2).contiguous()) * rot)
    torch.testing.assert_close(qm, ref.flatten(-2), atol=1e-12, rtol=0)


@pytest.mark.parametrize("interleaved", [False, True])
def test_rope_scores_depend_only_on_relative_position(f64, interleaved):
    rope = RotaryEmbedding(HEAD_DIM, 64, interleaved=interleaved)
    q, k = torch.randn(1, 1, 1, HEAD_DIM), torch.randn(1, 1, 1, HEAD_DIM)

    def score(m: int, n: int) -> torch.Tensor:
        qm, _ = apply_rotary_pos_emb(q, q, *rope(q, torch.tensor([[m]])), interleaved=interleaved)
        kn, _ = apply_rotary_pos_emb(k, k, *rope(k, torch.tensor([[n]])), interleaved=interleaved)
        return (qm * kn).sum()

    for m, n, shift in [(5, 2, 11), (0, 7, 20), (30, 30, 3)]:
        torch.testing.assert_close(score(m, n), score(m + shift, n + shift), atol=1e-12, rtol=0)
    assert not torch.isclose(score(5, 2), score(2, 5))  # but it does depend on m - n


def test_rope_bad_input():
    with pytest.raises(ValueError, match="head_dim"):
        RotaryEmbedding(15)
    with pytest.raises(ValueError, match="rope_type"):
        RotaryEmbedding(16, scaling={"rope_type": "yarnish", "factor": 2.0})
    with pytest.raises(ValueError, match="low_freq_factor"):
        RotaryEmbedding(16, scaling={"rope_type": "llama3", "factor": 2.0})
    with pytest.raises(TypeError, match="position_ids"):
        RotaryEmbedding(16)(torch.zeros(1), torch.zeros(1, 3))
    with pytest.raises(ValueError, match="last dim"):
        apply_rotary_pos_emb(
            torch.zeros(1, 1, 2, 8), torch.zeros(1, 1, 2, 8), torch.zeros(1, 2, 16), torch.zeros(1, 2, 16)
        )


def test_sinusoidal_matches_vaswani_formula(f64):
    d, L = 6, 20
    enc = SinusoidalPositionalEncoding(d, max_len=L)
    assert "pe" not in enc.state_dict()
    pos = torch.arange(L, dtype=torch.float64)
    for i in range(d // 2):
        angle = pos / 10000.0 ** (2 * i / d)
        torch.testing.assert_close(enc.pe[:, 2 * i], torch.sin(angle))
        torch.testing.assert_close(enc.pe[:, 2 * i + 1], torch.cos(angle))
    x = torch.randn(2, 7, d)
    torch.testing.assert_close(enc(x), x + enc.pe[:7])
    ids = torch.tensor([[3, 1], [0, 19]])
    torch.testing.assert_close(enc(x[:, :2], ids), x[:, :2] + enc.pe[ids])
    odd = SinusoidalPositionalEncoding(5, 4)  # odd d_model: last column is sin
    torch.testing.assert_close(odd.pe[:, 4], torch.sin(torch.arange(4.0) / 10000.0 ** (4 / 5)))
    with pytest.raises(ValueError, match="max_len"):
        enc(torch.zeros(1, L + 1, d))
    with pytest.raises(ValueError, match="last dim"):
        enc(torch.zeros(1, 3, d + 1))


def test_learned_positional_embedding_matches_nn_embedding(f64):
    ours = LearnedPositionalEmbedding(10, 4)
    ref = torch.nn.Embedding(10, 4)
    ref.weight.data.copy_(ours.weight.data)
    x = torch.randn(2, 6, 4)
    out = ours(x)
    torch.testing.assert_close(out, x + ref(torch.arange(6))[None])
    g = torch.randn_like(out)
    out.backward(g)
    (x + ref(torch.arange(6))[None]).backward(g)
    torch.testing.assert_close(ours.weight.grad, ref.weight.grad)
    with pytest.raises(ValueError, match="position_ids"):
        ours(x, torch.full((2, 6), 10))


@pytest.mark.parametrize("num_heads", [*range(1, 13), 16])
def test_alibi_slopes_and_bias_match_bloom(f64, num_heads):
    T = 6
    ref = bloom.build_alibi_tensor(
        torch.ones(1, T, dtype=torch.float32), num_heads, torch.float32
    ).double()  # (H, 1, T): m_h * j
    slopes = alibi_slopes(num_heads)
    torch.testing.assert_close(slopes.float().double(), ref[:, 0, 1], rtol=1e-6, atol=0)
    bias = ALiBi(num_heads)(T)  # (H, T, T): m_h * (j - i)
    # bloom's row is ours plus a per-query constant (softmax-invariant): m_h * j = m_h * (j - i) + m_h * i
    torch.testing.assert_close(
        bias + slopes[:, None, None] * torch.arange(T)[:, None],
        ref.expand(num_heads, T, T),
        rtol=1e-6,
        atol=1e-6,
    )
    scores = torch.randn(num_heads, T, T, dtype=torch.float64)
    torch.testing.assert_close((scores + bias).softmax(-1), (scores + ref).softmax(-1), rtol=1e-5, atol=1e-6)


def test_alibi_power_of_two_is_geometric_and_decode_alignment():
    torch.testing.assert_close(
        alibi_slopes(8), torch.tensor([2.0 ** (-k) for k in range(1, 9)], dtype=torch.float64)
    )
    torch.testing.assert_close(
        alibi_slopes(4), torch.tensor([2.0 ** (-2 * k) for k in range(1, 5)], dtype=torch.float64)
    )
    full = ALiBi(4)(5)
    torch.testing.assert_close(ALiBi(4)(2, 5), full[:, 3:])  # last queries of a cached decode
    assert math.isclose(float(full[0, 4, 0]), -4 * 0.25)
    with pytest.raises(ValueError, match="q_len"):
        ALiBi(4)(6, 5)
    with pytest.raises(TypeError, match="num_heads"):
        ALiBi(2.0)
