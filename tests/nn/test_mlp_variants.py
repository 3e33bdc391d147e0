"""PowerMLP, GatedMLP (gMLP), DifferentialFFN, OrthoBlock and BandLogitNorm vs their equations written with
torch.nn.functional in float64 (outputs and gradients), init properties, bad input."""

import pytest
import torch
import torch.nn.functional as F

from dlzoo.nn import BandLogitNorm, DifferentialFFN, GatedMLP, OrthoBlock, PowerMLP

D = torch.float64


def _grads_match(module, x, y, y_ref):
    g = torch.randn_like(y)
    params = [x, *module.parameters()]
    ga = torch.autograd.grad(y, params, g, retain_graph=True, allow_unused=True)
    gb = torch.autograd.grad(y_ref, params, g, allow_unused=True)
    for a, b in zip(ga, gb):
        if a is None or b is None:
            assert a is None and b is None
        else:
            torch.testing.assert_close(a, b)


def test_power_mlp_equation():
    torch.manual_seed(0)
    m = PowerMLP(5, 4, k=3).double()
    x = torch.randn(6, 5, dtype=D, requires_grad=True)
    y = m(x)
    ref = F.relu(F.linear(x, m.main_dense.weight, m.main_dense.bias)) ** 3 + F.linear(x * torch.sigmoid(x),
                                                                                      m.basis_dense.weight)
    torch.testing.assert_close(y, ref)
    _grads_match(m, x, y, ref)


def test_gated_mlp_equation_and_near_identity_gate():
    torch.manual_seed(1)
    m = GatedMLP(6, 5, ffn_dim=8).double()
    with torch.no_grad():
        m.sgu.spatial_weight.normal_(0, 0.3)
    x = torch.randn(2, 5, 6, dtype=D, requires_grad=True)
    y = m(x)
    z = F.gelu(F.linear(F.layer_norm(x, (6,), m.norm.weight, m.norm.bias), m.proj_in.weight, m.proj_in.bias))
    z1, z2 = z[..., :4], z[..., 4:]
    z2 = F.layer_norm(z2, (4,), m.sgu.norm.weight, m.sgu.norm.bias)
    z2 = torch.einsum("mn,bnd->bmd", m.sgu.spatial_weight, z2) + m.sgu.spatial_bias[None, :, None]
    ref = x + F.linear(z1 * z2, m.proj_out.weight, m.proj_out.bias)
    torch.testing.assert_close(y, ref)
    _grads_match(m, x, y, ref)
    fresh = GatedMLP(6, 5, ffn_dim=8)
    assert fresh.sgu.spatial_weight.abs().max() <= 1e-3 / 5 and torch.equal(fresh.sgu.spatial_bias,
                                                                               torch.ones(5))


def test_differential_ffn_equation():
    torch.manual_seed(2)
    m = DifferentialFFN(5, 8, 3).double()
    x = torch.randn(4, 5, dtype=D, requires_grad=True)
    y = m(x)

    def branch(inp, dense, ln, proj):
        h = F.gelu(F.layer_norm(F.linear(inp, dense.weight, dense.bias), (8,), ln.weight, ln.bias))
        return torch.sigmoid(F.linear(h, proj.weight, proj.bias))

    diff = (branch(F.relu(x), m.positive_dense, m.layer_norm_pos, m.positive_proj)
            - branch(F.relu(-x), m.negative_dense, m.layer_norm_neg, m.negative_proj))
    ref = F.linear(F.layer_norm(diff, (4,), m.layer_norm_diff.weight, None), m.output_proj.weight,
                   m.output_proj.bias)
    torch.testing.assert_close(y, ref)
    _grads_match(m, x, y, ref)


def test_ortho_block_equation_and_penalty():
    torch.manual_seed(3)
    m = OrthoBlock(8, 5, act_layer="gelu").double()
    w = m.dense.weight
    torch.testing.assert_close(w @ w.T, torch.eye(5, dtype=D))  # orthonormal rows at init
    assert float(m.orthonormal_penalty().detach()) < 1e-12
    with torch.no_grad():
        m.scale.uniform_(-0.5, 1.5)
    x = torch.randn(4, 8, dtype=D, requires_grad=True)
    y = m(x)
    z = F.linear(x, w, m.dense.bias)
    c = z - z.mean(-1, keepdim=True)
    ref = F.gelu(F.normalize(c, dim=-1) * m.scale.clamp(0, 1))
    torch.testing.assert_close(y, ref)
    _grads_match(m, x, y, ref)
    with torch.no_grad():
        m.dense.weight.mul_(2)
    torch.testing.assert_close(m.orthonormal_penalty(), 0.01 * torch.tensor(5 * 9.0, dtype=D))  # ||4I - I||^2


def test_band_logit_norm_equals_l2_norm_then_layernorm_of_length_band():
    """The seed's definition, literally: LayerNorm over the size-1 length axis (torch's F.layer_norm) feeds
    tanh(4 .) -> band [1 - a, 1]."""
    torch.manual_seed(4)
    m = BandLogitNorm(6, max_band_width=0.2).double()
    with torch.no_grad():
        m.band_param.fill_(0.3)
    x = torch.randn(3, 4, 6, dtype=D, requires_grad=True)
    y = m(x)
    length = torch.sqrt((x * x).sum(-1, keepdim=True).clamp_min(1e-7))
    ln = F.layer_norm(length, (1,), torch.ones(1, dtype=D), m.band_param.reshape(1))
    ref = x / length * (0.8 + 0.2 * (torch.tanh(4 * ln) + 1) / 2)
    torch.testing.assert_close(y, ref)
    _grads_match(m, x, y, ref)
    n = y.norm(dim=-1)
    assert bool(((n >= 0.8 - 1e-12) & (n <= 1 + 1e-12)).all())


def test_bad_input():
    with pytest.raises(ValueError, match="PowerMLP: expected input"):
        PowerMLP(3, 2)(torch.randn(2, 4))
    with pytest.raises(ValueError, match="GatedMLP: expected"):
        GatedMLP(4, 3)(torch.randn(2, 4, 4))
    with pytest.raises(ValueError, match="DifferentialFFN: hidden_features must be even"):
        DifferentialFFN(4, 7, 2)
    with pytest.raises(ValueError, match="OrthoBlock: expected input"):
        OrthoBlock(4, 2)(torch.randn(3, 5))
    with pytest.raises(ValueError, match="BandLogitNorm: max_band_width"):
        BandLogitNorm(4, max_band_width=1.5)
