"""dlzoo.nn.Linear / Identity against torch.nn.Linear (same weights: outputs and gradients)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import Identity, Linear


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(7,), (3, 7), (2, 4, 7)])
def test_linear_matches_torch(dtype, bias, shape):
    ref = torch.nn.Linear(7, 5, bias=bias, dtype=dtype)
    ours = Linear(7, 5, bias=bias, dtype=dtype)
    assert list(ours.state_dict()) == list(ref.state_dict())
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(shape, dtype=dtype, requires_grad=True)
    expected = ref(x)
    g = torch.randn_like(expected)
    ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
        grads = torch.autograd.grad(out, [x, *ours.parameters()], g)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_linear_init_is_torch_init_bit_for_bit():
    for fan_in, fan_out in [(7, 5), (64, 192), (1, 3)]:
        torch.manual_seed(123)
        ref = torch.nn.Linear(fan_in, fan_out)
        torch.manual_seed(123)
        ours = Linear(fan_in, fan_out)
        assert torch.equal(ours.weight, ref.weight)
        assert torch.equal(ours.bias, ref.bias)


def test_linear_init_bound_statistics():
    # kaiming_uniform(a=sqrt(5)) is U(-1/sqrt(fan_in), 1/sqrt(fan_in)): max |w| near the bound, var = b^2/3
    layer = Linear(256, 512)
    bound = 1 / 16
    assert layer.weight.abs().max() <= bound
    assert layer.weight.abs().max() > 0.99 * bound
    assert abs(layer.weight.var().item() - bound**2 / 3) < 0.02 * bound**2


def test_linear_bad_input_and_repr():
    layer = Linear(4, 2)
    with pytest.raises(ValueError, match=r"Linear: expected input \(\*, 4\), got shape \[3, 5\]"):
        layer(torch.randn(3, 5))
    assert "in_features=4, out_features=2, bias=True" in repr(layer)
    x = torch.randn(2, 3)
    assert Identity(3, foo=1)(x) is x
