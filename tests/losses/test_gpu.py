"""CUDA parity (skipped without a GPU): losses and clipping agree with torch on device tensors."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.losses import cross_entropy, focal_loss
from dlzoo.optim.clip import clip_grad_norm_


@pytest.mark.gpu
def test_cross_entropy_and_focal_on_cuda():
    x = torch.randn(64, 10, device="cuda", requires_grad=True)
    y = torch.randint(0, 10, (64,), device="cuda")
    ours = cross_entropy(x, y, label_smoothing=0.1)
    torch.testing.assert_close(ours, F.cross_entropy(x, y, label_smoothing=0.1))
    torch.testing.assert_close(focal_loss(x, y, gamma=0.0), F.cross_entropy(x, y))


@pytest.mark.gpu
@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_norm_on_cuda(norm_type):
    ps = [torch.nn.Parameter(torch.randn(5, 7, device="cuda")) for _ in range(20)]
    qs = [torch.nn.Parameter(p.detach().clone()) for p in ps]
    for p, q in zip(ps, qs):
        p.grad = torch.randn_like(p)
        q.grad = p.grad.clone()
    total = clip_grad_norm_(ps, 0.5, norm_type)
    assert torch.equal(total, torch.nn.utils.clip_grad_norm_(qs, 0.5, norm_type))
    for p, q in zip(ps, qs):
        assert torch.equal(p.grad, q.grad)
