"""MSE / L1 / Huber / SmoothL1 against torch.nn.functional (values and gradients)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.losses import (
    HuberLoss,
    L1Loss,
    MSELoss,
    SmoothL1Loss,
    create_loss,
    huber_loss,
    l1_loss,
    mse_loss,
    smooth_l1_loss,
)

CASES = [
    (mse_loss, F.mse_loss, {}),
    (l1_loss, F.l1_loss, {}),
    (huber_loss, F.huber_loss, {"delta": 1.0}),
    (huber_loss, F.huber_loss, {"delta": 0.3}),
    (smooth_l1_loss, F.smooth_l1_loss, {"beta": 1.0}),
    (smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.25}),
    (smooth_l1_loss, F.smooth_l1_loss, {"beta": 0.0}),
]


@pytest.mark.parametrize("ours,ref,kw", CASES)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_matches_torch(ours, ref, kw, reduction):
    x = (torch.randn(6, 5, dtype=torch.float64) * 2).requires_grad_()
    y = torch.randn(6, 5, dtype=torch.float64)
    y[0, :2] = x[0, :2].detach()  # d == 0 exactly (L1 subgradient 0)
    y[1, 0] = x[1, 0].detach() - 0.3  # d exactly at the Huber/SmoothL1 knee for 0.3
    a = ours(x, y, reduction=reduction, **kw)
    b = ref(x, y, reduction=reduction, **kw)
    torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(a)
    (ga,) = torch.autograd.grad(a, x, g)
    (gb,) = torch.autograd.grad(b, x, g)
    torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_modules_and_factory():
    x, y = torch.randn(3, 4), torch.randn(3, 4)
    pairs = [(MSELoss(), torch.nn.MSELoss()), (L1Loss(reduction="sum"), torch.nn.L1Loss(reduction="sum")),
             (HuberLoss(delta=2.0), torch.nn.HuberLoss(delta=2.0)),
             (SmoothL1Loss(beta=0.5), torch.nn.SmoothL1Loss(beta=0.5))]
    for ours, ref in pairs:
        torch.testing.assert_close(ours(x, y), ref(x, y))
    assert isinstance(create_loss("smooth_l1", beta=0.1), SmoothL1Loss)
    assert isinstance(create_loss("MSELoss"), MSELoss)


def test_smooth_l1_is_scaled_huber():
    x, y = torch.randn(50, dtype=torch.float64), torch.randn(50, dtype=torch.float64)
    torch.testing.assert_close(smooth_l1_loss(x, y, beta=0.7), huber_loss(x, y, delta=0.7) / 0.7)


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match=r"mse_loss: .*input \[3, 1\].*target \[3\]"):
        mse_loss(torch.zeros(3, 1), torch.zeros(3))
