"""NonLocalAttention (Wang et al. 2018) vs Eq. 1-6 written with einsum in float64 (outputs and grads),
identity at init, 1D/2D/3D, sub-sampling."""

import pytest
import torch

from dlzoo.nn import NonLocalAttention, create_attn


def _reference(m, x):
    b, c = x.shape[:2]
    conv = {1: torch.nn.functional.conv1d, 2: torch.nn.functional.conv2d, 3: torch.nn.functional.conv3d}
    f = conv[m.dimension]
    th = f(x, m.theta.weight, m.theta.bias).flatten(2)  # (B, d, N)
    ph, gg = f(x, m.phi.weight, m.phi.bias), f(x, m.g.weight, m.g.bias)
    if m.sub_sample:
        pool = [None, torch.nn.functional.max_pool1d, torch.nn.functional.max_pool2d,
                torch.nn.functional.max_pool3d][m.dimension]
        ph, gg = pool(ph, 2), pool(gg, 2)
    ph, gg = ph.flatten(2), gg.flatten(2)
    n_phi = ph.shape[-1]
    if m.mode == "embedded_gaussian":
        a = torch.softmax(torch.einsum("bdi,bdj->bij", th, ph), -1)
    elif m.mode == "dot_product":
        a = torch.einsum("bdi,bdj->bij", th, ph) / n_phi
    else:
        w = m.concat_project.weight.flatten()
        pairs = torch.cat([th[:, :, :, None].expand(-1, -1, -1, n_phi),
                           ph[:, :, None, :].expand(-1, -1, th.shape[-1], -1)], 1)  # (B, 2d, N, M)
        a = torch.relu(torch.einsum("k,bkij->bij", w, pairs)) / n_phi
    y = torch.einsum("bij,bdj->bdi", a, gg).reshape(b, m.inter_channels, *x.shape[2:])
    conv_w, bn = m.W_z[0], m.W_z[1]
    z = f(y, conv_w.weight, conv_w.bias)
    z = torch.nn.functional.batch_norm(z, None, None, bn.weight, bn.bias, training=True, eps=bn.eps)
    return z + x


@pytest.mark.parametrize("mode", ["embedded_gaussian", "dot_product", "concatenation"])
@pytest.mark.parametrize("dimension,sub", [(1, False), (2, True), (3, False)])
def test_matches_equations_float64(mode, dimension, sub):
    torch.manual_seed(0)
    m = NonLocalAttention(6, mode=mode, dimension=dimension, sub_sample=sub).double()
    with torch.no_grad():
        m.W_z[1].weight.uniform_(0.5, 1.5)  # leave the identity init so the attention path is visible
        m.W_z[1].bias.uniform_(-0.5, 0.5)
    x = torch.randn(2, 6, *([4] * dimension), dtype=torch.float64, requires_grad=True)
    y, y_ref = m(x), _reference(m, x)
    torch.testing.assert_close(y, y_ref)
    g = torch.randn_like(y)
    params = [x, *m.parameters()]
    for a, b in zip(torch.autograd.grad(y, params, g), torch.autograd.grad(y_ref, params, g)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("bn_layer", [True, False])
def test_starts_as_identity(bn_layer):
    m = NonLocalAttention(4, mode="concatenation", bn_layer=bn_layer)
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(m(x), x, rtol=0, atol=0)


def test_registered_and_bad_input():
    assert isinstance(create_attn("non_local", 8, dimension=1), NonLocalAttention)
    with pytest.raises(ValueError, match="NonLocalAttention: mode"):
        NonLocalAttention(4, mode="gaussianish")
    with pytest.raises(ValueError, match="NonLocalAttention: expected"):
        NonLocalAttention(4, dimension=2)(torch.randn(2, 4, 5))
