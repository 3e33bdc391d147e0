"""Dropout (vs torch's statistics and train/eval behaviour) and DropPath (per-sample stochastic depth)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import Dropout, DropPath


@pytest.mark.parametrize("reference", [False, True])
@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics_and_scaling(reference, p):
    layer = Dropout(p)
    x = torch.full((200_000,), 3.0)
    with dlzoo.reference_mode(reference):
        y = layer(x)
    dropped = y == 0
    # every survivor is scaled by exactly 1/(1-p); the dropped fraction is p within 5 sigma
    torch.testing.assert_close(y[~dropped], torch.full_like(y[~dropped], 3.0 / (1 - p)))
    sigma = (p * (1 - p) / x.numel()) ** 0.5
    assert abs(dropped.float().mean().item() - p) < 5 * sigma
    # the expectation is preserved (inverted dropout)
    assert abs(y.mean().item() - 3.0) < 5 * 3.0 * (p / (1 - p) / x.numel()) ** 0.5


@pytest.mark.parametrize("reference", [False, True])
def test_dropout_gradient_is_mask_over_keep(reference):
    x = torch.randn(1000, dtype=torch.float64, requires_grad=True)
    with dlzoo.reference_mode(reference):
        y = Dropout(0.3)(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    mask = (y != 0).double()
    torch.testing.assert_close(g, mask / 0.7)
    torch.testing.assert_close(y, x.detach() * mask / 0.7)


def test_dropout_eval_edge_cases_and_torch_mirror():
    x = torch.randn(4, 5)
    layer = Dropout(0.5).eval()
    assert torch.equal(layer(x), x)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            assert torch.equal(Dropout(1.0)(x), torch.zeros_like(x))
            assert torch.equal(Dropout(0.0)(x), x)
            z = x.clone()
            out = Dropout(0.5, inplace=True)(z)
            assert out.data_ptr() == z.data_ptr()
    # same RNG stream as torch on the fused path
    torch.manual_seed(3)
    a = Dropout(0.4)(x)
    torch.manual_seed(3)
    b = torch.nn.Dropout(0.4)(x)
    assert torch.equal(a, b)
    assert repr(Dropout(0.2)) == repr(torch.nn.Dropout(0.2))
    with pytest.raises(ValueError, match="Dropout: probability"):
        Dropout(1.5)


def test_drop_path_is_per_sample():
    p = 0.25
    layer = DropPath(p)
    x = torch.rand(20_000, 3, 4) + 1.0  # strictly positive so a zero means "dropped"
    y = layer(x)
    dropped = (y == 0).flatten(1)
    # a sample is dropped entirely or kept entirely
    assert torch.equal(dropped.all(1), dropped.any(1))
    frac = dropped.all(1).float().mean().item()
    assert abs(frac - p) < 5 * (p * (1 - p) / x.shape[0]) ** 0.5
    kept = ~dropped.all(1)
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))


def test_drop_path_eval_identity_and_no_scaling_option():
    x = torch.rand(64, 8) + 1.0
    layer = DropPath(0.5)
    assert torch.equal(layer.eval()(x), x)
    assert torch.equal(DropPath(0.0)(x), x)
    y = DropPath(0.5, scale_by_keep=False)(x)
    kept = y.abs().sum(1) > 0
    assert torch.equal(y[kept], x[kept])
    assert torch.equal(DropPath(1.0)(x), torch.zeros_like(x))
    with pytest.raises(ValueError, match="DropPath"):
        DropPath(-0.1)
