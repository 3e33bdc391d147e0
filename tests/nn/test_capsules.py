"""Capsule layers vs Sabour et al. 2017 written out here (Eq. 1-3, Procedure 1 with explicit loops),
float64 outputs and gradients; routing_iterations < 1 rejected."""

import pytest
import torch

from dlzoo.nn import PrimaryCapsules, RoutingCapsules, squash


def test_squash_length_and_direction():
    s = torch.randn(5, 7, dtype=torch.float64) * torch.logspace(-2, 2, 5, dtype=torch.float64)[:, None]
    v = squash(s)
    n = s.norm(dim=-1)
    torch.testing.assert_close(v.norm(dim=-1), n * n / (1 + n * n))
    torch.testing.assert_close(v / v.norm(dim=-1, keepdim=True), s / n[:, None])


def _procedure1(w, u, r):
    """Procedure 1 with explicit loops over parent capsules j."""
    b, n_in, _ = u.shape
    n_out = w.shape[1]
    u_hat = [[w[i, j] @ u[:, i].T for j in range(n_out)] for i in range(n_in)]  # each (D_out, B)
    logits = torch.zeros(b, n_in, n_out, dtype=u.dtype)
    for it in range(r):
        c = torch.exp(logits) / torch.exp(logits).sum(2, keepdim=True)
        vs = []
        for j in range(n_out):
            s_j = sum(c[:, i, j] * u_hat[i][j] for i in range(n_in)).T  # (B, D_out)
            n2 = (s_j ** 2).sum(-1, keepdim=True)
            vs.append(n2 / (1 + n2) * s_j / torch.sqrt(n2))
        if it < r - 1:
            agree = torch.stack([torch.stack([(u_hat[i][j].T * vs[j]).sum(-1) for j in range(n_out)], -1)
                                 for i in range(n_in)], 1)  # (B, N_in, N_out)
            logits = logits + agree
    return torch.stack(vs, 1)


@pytest.mark.parametrize("iters", [1, 3])
def test_routing_matches_procedure_1_float64(iters):
    torch.manual_seed(0)
    layer = RoutingCapsules(6, 4, 3, 5, routing_iterations=iters).double()
    with torch.no_grad():
        layer.weight.normal_(0, 0.5)
    u = squash(torch.randn(2, 6, 4, dtype=torch.float64)).requires_grad_(True)
    v, c = layer(u, return_coupling=True)
    ref = _procedure1(layer.weight, u, iters)
    torch.testing.assert_close(v, ref)
    torch.testing.assert_close(c.sum(2), torch.ones(2, 6, dtype=torch.float64))
    g = torch.randn_like(v)
    ga = torch.autograd.grad(v, [u, layer.weight], g, retain_graph=True)
    gb = torch.autograd.grad(ref, [u, layer.weight], g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b)


def test_primary_capsules_group_conv_channels_into_vectors():
    torch.manual_seed(1)
    layer = PrimaryCapsules(3, num_capsules=2, capsule_dim=4, kernel_size=3, stride=2).double()
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    u = layer(x)
    conv = torch.nn.functional.conv2d(x, layer.conv.weight, layer.conv.bias, stride=2)  # (2, 8, 3, 3)
    assert u.shape == (2, 2 * 3 * 3, 4)
    # capsule (map m, row h, col w) is channels m*4 .. m*4+3 at (h, w)
    m, h, w = 1, 2, 0
    torch.testing.assert_close(u[:, m * 9 + h * 3 + w], squash(conv[:, m * 4:(m + 1) * 4, h, w]))


def test_bad_input():
    with pytest.raises(ValueError, match="RoutingCapsules: routing_iterations must be an int >= 1"):
        RoutingCapsules(4, 2, 3, 2, routing_iterations=0)
    with pytest.raises(ValueError, match="RoutingCapsules: expected"):
        RoutingCapsules(4, 2, 3, 2)(torch.randn(1, 5, 2))
    with pytest.raises(ValueError, match="PrimaryCapsules: expected"):
        PrimaryCapsules(3)(torch.randn(1, 2, 20, 20))
