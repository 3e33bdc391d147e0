"""affine_grid / grid_sample equal torch.nn.functional's (float64 values and gradients w.r.t. input, grid and
theta; zeros and border padding; align_corners both ways); SpatialTransformer starts as the identity and its
fused and reference paths agree."""

from __future__ import annotations

import warnings

import pytest
import torch
from torch.nn import functional as F

import dlzoo
from dlzoo.nn.spatial_transformer import SpatialTransformer, affine_grid, grid_sample


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("size", [(2, 3, 5, 7), (1, 1, 1, 4)])
def test_affine_grid_equals_torch_values_and_theta_grad(align_corners, size):
    theta = torch.randn(size[0], 2, 3, dtype=torch.float64, requires_grad=True)
    ours = affine_grid(theta, size, align_corners=align_corners)
    with warnings.catch_warnings():  # torch warns about unit-size grids with align_corners=True
        warnings.simplefilter("ignore")
        ref = F.affine_grid(theta, list(size), align_corners=align_corners)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn_like(ref)
    (g_ours,) = torch.autograd.grad((ours * w).sum(), theta)
    (g_ref,) = torch.autograd.grad((ref * w).sum(), theta)
    torch.testing.assert_close(g_ours, g_ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("align_corners", [False, True])
@pytest.mark.parametrize("padding_mode", ["zeros", "border"])
def test_grid_sample_equals_torch_values_and_grads(padding_mode, align_corners):
    g = torch.Generator().manual_seed(0)
    x = torch.randn(2, 3, 6, 5, dtype=torch.float64, generator=g).requires_grad_()
    # points well inside, near the edges and outside the image (exercises both padding rules)
    grid = (torch.rand(2, 4, 7, 2, dtype=torch.float64, generator=g) * 3 - 1.5).requires_grad_()
    ours = grid_sample(x, grid, padding_mode=padding_mode, align_corners=align_corners)
    ref = F.grid_sample(x, grid, mode="bilinear", padding_mode=padding_mode, align_corners=align_corners)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    w = torch.randn(ref.shape, dtype=torch.float64, generator=g)
    g_ours = torch.autograd.grad((ours * w).sum(), (x, grid))
    g_ref = torch.autograd.grad((ref * w).sum(), (x, grid))
    for a, b in zip(g_ours, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("align_corners", [False, True])
def test_affine_pipeline_grad_wrt_theta_equals_torch(align_corners):
    x = torch.randn(2, 2, 8, 8, dtype=torch.float64)
    theta = (torch.eye(2, 3, dtype=torch.float64) + 0.3 * torch.randn(2, 2, 3, dtype=torch.float64))
    theta.requires_grad_()
    ours = grid_sample(x, affine_grid(theta, x.shape, align_corners), align_corners=align_corners)
    ref = F.grid_sample(x, F.affine_grid(theta, list(x.shape), align_corners=align_corners),
                        align_corners=align_corners)
    torch.testing.assert_close(ours, ref, rtol=1e-12, atol=1e-12)
    (a,) = torch.autograd.grad(ours.square().sum(), theta)
    (b,) = torch.autograd.grad(ref.square().sum(), theta)
    torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_identity_theta_reproduces_the_image_and_a_flip_reverses_it():
    x = torch.randn(1, 1, 4, 6, dtype=torch.float64)
    eye = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]], dtype=torch.float64)
    for ac in (False, True):
        torch.testing.assert_close(grid_sample(x, affine_grid(eye, x.shape, ac), align_corners=ac), x)
    flip = torch.tensor([[[-1.0, 0, 0], [0, 1.0, 0]]], dtype=torch.float64)
    torch.testing.assert_close(grid_sample(x, affine_grid(flip, x.shape, False)), x.flip(-1))


def test_spatial_transformer_identity_init_and_fused_equals_reference():
    torch.manual_seed(0)
    loc = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 16), torch.nn.ReLU())
    stn = SpatialTransformer(loc, 16).double()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    torch.testing.assert_close(stn(x), x)  # identity init: theta = [[1, 0, 0], [0, 1, 0]]
    torch.nn.init.normal_(stn.fc_loc.weight, std=0.1)
    fused = stn(x)
    fused.sum().backward()
    g_fused = [p.grad.clone() for p in stn.parameters()]
    stn.zero_grad()
    with dlzoo.reference_mode():
        ref = stn(x)
    ref.sum().backward()
    torch.testing.assert_close(ref, fused, rtol=1e-12, atol=1e-12)
    for a, p in zip(g_fused, stn.parameters()):
        torch.testing.assert_close(p.grad, a, rtol=1e-10, atol=1e-12)


def test_bad_inputs_are_one_line_errors():
    with pytest.raises(ValueError, match=r"affine_grid: expected theta of shape \(N, 2, 3\)"):
        affine_grid(torch.zeros(2, 3, 3), (2, 1, 4, 4))
    with pytest.raises(ValueError, match="grid_sample: padding_mode"):
        grid_sample(torch.zeros(1, 1, 4, 4), torch.zeros(1, 2, 2, 2), padding_mode="reflection")
    with pytest.raises(ValueError, match="grid_sample: expected input"):
        grid_sample(torch.zeros(1, 4, 4), torch.zeros(1, 2, 2, 2))
    with pytest.raises(ValueError, match="SpatialTransformer: expected input"):
        SpatialTransformer(torch.nn.Flatten(), 16)(torch.zeros(16))


def test_spatial_transformer_net_starts_as_its_cnn_on_the_unwarped_image_and_trains_theta():
    torch.manual_seed(0)
    net = dlzoo.create_model("spatial_transformer_net").double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    plain = net.forward_head(net.features(x))  # the classifier without the transformer
    torch.testing.assert_close(net(x), plain, rtol=1e-12, atol=1e-12)
    torch.nn.functional.cross_entropy(net(x), torch.tensor([0, 1, 2, 3])).backward()
    assert net.stn.fc_loc.weight.grad.abs().sum() > 0  # theta gets a gradient through the sampler
    assert all(p.grad is not None for p in net.stn.localization.parameters())
