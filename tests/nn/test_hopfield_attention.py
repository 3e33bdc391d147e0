"""HopfieldAttention (Ramsauer et al. 2020): one update step == torch.nn.MultiheadAttention with the same
projections; more steps == the update rule xi <- softmax(beta xi K^T) K iterated, written here."""

import pytest
import torch

from dlzoo.nn import HopfieldAttention, create_attn


def _torch_mha(m):
    ref = torch.nn.MultiheadAttention(m.embed_dim, m.num_heads, batch_first=True, dtype=torch.float64)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([m.q_proj.weight, m.k_proj.weight, m.v_proj.weight]))
        ref.in_proj_bias.copy_(torch.cat([m.q_proj.bias, m.k_proj.bias, m.v_proj.bias]))
        ref.out_proj.weight.copy_(m.out_proj.weight)
        ref.out_proj.bias.copy_(m.out_proj.bias)
    return ref


def test_one_step_equals_torch_multihead_attention_float64():
    torch.manual_seed(0)
    m = HopfieldAttention(16, num_heads=4, normalize_patterns=False).double()
    ref = _torch_mha(m)
    q = torch.randn(2, 5, 16, dtype=torch.float64, requires_grad=True)
    kv = torch.randn(2, 7, 16, dtype=torch.float64, requires_grad=True)
    y = m(q, kv, kv)
    y_ref = ref(q, kv, kv, need_weights=False)[0]
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    ga = torch.autograd.grad(y, [q, kv, m.q_proj.weight, m.k_proj.weight], g)
    gb = torch.autograd.grad(y_ref, [q, kv, ref.in_proj_weight], g)
    torch.testing.assert_close(ga[0], gb[0])
    torch.testing.assert_close(ga[1], gb[1])
    torch.testing.assert_close(torch.cat([ga[2], ga[3]]), gb[2][:32])


def test_layer_norm_of_patterns_is_applied_first():
    torch.manual_seed(1)
    m = HopfieldAttention(8, num_heads=2).double()
    ref = _torch_mha(m)
    q, kv = torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 4, 8, dtype=torch.float64)
    ln = torch.nn.functional.layer_norm
    expect = ref(ln(q, (8,)), ln(kv, (8,)), ln(kv, (8,)), need_weights=False)[0]
    torch.testing.assert_close(m(q, kv), expect)


def test_update_steps_iterate_retrieval_rule():
    torch.manual_seed(2)
    m = HopfieldAttention(8, num_heads=1, beta=2.0, update_steps=3, normalize_patterns=False).double()
    r, y = torch.randn(2, 3, 8, dtype=torch.float64), torch.randn(2, 6, 8, dtype=torch.float64)
    xi, k, v = m.q_proj(r), m.k_proj(y), m.v_proj(y)
    for _ in range(2):
        xi = torch.softmax(2.0 * xi @ k.transpose(1, 2), -1) @ k  # Eq. 3
    expect = m.out_proj(torch.softmax(2.0 * xi @ k.transpose(1, 2), -1) @ v)
    torch.testing.assert_close(m(r, y), expect)


def test_retrieves_stored_pattern_with_large_beta():
    """Separated stored patterns: a noisy query converges to the nearest one in one step (Theorem 3)."""
    torch.manual_seed(3)
    m = HopfieldAttention(32, beta=8.0, normalize_patterns=False, bias=False).double()
    for lin in (m.q_proj, m.k_proj, m.v_proj, m.out_proj):
        torch.nn.init.eye_(lin.weight)
    stored = torch.nn.functional.normalize(torch.randn(1, 10, 32, dtype=torch.float64), dim=-1) * 3
    query = stored[:, 4:5] + 0.1 * torch.randn(1, 1, 32, dtype=torch.float64)
    torch.testing.assert_close(m(query, stored), stored[:, 4:5], atol=1e-3, rtol=0)


def test_registered_and_bad_input():
    assert isinstance(create_attn("hopfield", 8, num_heads=2), HopfieldAttention)
    with pytest.raises(ValueError, match="HopfieldAttention: update_steps"):
        HopfieldAttention(8, update_steps=0)
    with pytest.raises(ValueError, match="HopfieldAttention: expected key"):
        HopfieldAttention(8)(torch.randn(2, 3, 8), torch.randn(2, 3, 7))
