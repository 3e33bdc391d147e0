"""Activations vs torch.nn (outputs and input grads, fused and reference paths)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import activations as A

CASES = [
    (A.ReLU(), torch.nn.ReLU()),
    (A.ReLU6(), torch.nn.ReLU6()),
    (A.LeakyReLU(0.2), torch.nn.LeakyReLU(0.2)),
    (A.GELU(), torch.nn.GELU()),
    (A.GELU("tanh"), torch.nn.GELU("tanh")),
    (A.SiLU(), torch.nn.SiLU()),
    (A.Hardswish(), torch.nn.Hardswish()),
    (A.Hardsigmoid(), torch.nn.Hardsigmoid()),
    (A.Sigmoid(), torch.nn.Sigmoid()),
    (A.Tanh(), torch.nn.Tanh()),
]


@pytest.mark.parametrize("ours,ref", CASES, ids=lambda m: type(m).__name__)
def test_activation_matches_torch(ours, ref):
    # values spread over the kinks (0, +-3, 6) but never exactly on them
    x = (torch.linspace(-8, 8, 301, dtype=torch.float64) + 1e-3).reshape(7, 43).requires_grad_()
    expected = ref(x)
    (g_ref,) = torch.autograd.grad(expected.sum(), x)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        # torch's float64 hardsigmoid kernel multiplies by a float32-rounded 1/6 (error ~3e-8)
        tol = 1e-7 if isinstance(ours, A.Hardsigmoid) else 1e-12
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
        (g,) = torch.autograd.grad(out.sum(), x)
        torch.testing.assert_close(g, g_ref, atol=tol, rtol=tol)


def test_inplace_and_resolver():
    x = torch.randn(10)
    y = x.clone()
    out = A.ReLU(inplace=True)(y)
    assert out.data_ptr() == y.data_ptr() and (y >= 0).all()
    with pytest.raises(ValueError, match="GELU"):
        A.GELU("fast")
