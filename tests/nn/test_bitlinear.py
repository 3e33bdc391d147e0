"""BitLinear (BitNet b1.58) vs the paper's equations in float64 (outputs, straight-through gradients), and
the packed 2-bit inference path equal to the training path bit for bit."""

import pytest
import torch

from dlzoo.nn import BitLinear
from dlzoo.nn.bitlinear import pack_ternary, unpack_ternary


def _reference(layer, x):
    """Eq. 1-3 with the usual ``x + (q(x) - x).detach()`` straight-through estimator."""
    w = layer.weight
    gamma = w.abs().mean()
    w_q = (w / (gamma + layer.eps)).round().clamp(-1, 1) * gamma
    s = x.abs().amax(-1, keepdim=True).clamp_min(1e-5)
    x_q = (x * 127 / s).round().clamp(-128, 127) * s / 127
    w_ste = w + (w_q - w).detach()
    x_ste = x + (x_q - x).detach()
    return torch.nn.functional.linear(x_ste, w_ste, layer.bias), w_q, x_q


def test_forward_and_ste_gradients_match_equations_float64():
    torch.manual_seed(0)
    layer = BitLinear(24, 10).double()
    x = torch.randn(3, 5, 24, dtype=torch.float64, requires_grad=True)
    y = layer(x)
    y_ref, w_q, x_q = _reference(layer, x)
    torch.testing.assert_close(y, y_ref)
    assert set(torch.unique(w_q / w_q.abs().max()).tolist()) <= {-1.0, 0.0, 1.0}
    g = torch.randn_like(y)
    params = [x, layer.weight, layer.bias]
    ours = torch.autograd.grad(y, params, g, retain_graph=True)
    for a, b in zip(ours, torch.autograd.grad(y_ref, params, g)):
        torch.testing.assert_close(a, b)
    # straight-through: dL/dx = g W_q, dL/dW = g^T x_q (the quantisers count as identity)
    gx, gw = torch.autograd.grad(y, [x, layer.weight], g)
    torch.testing.assert_close(gx, g @ w_q)
    torch.testing.assert_close(gw, g.reshape(-1, 10).T @ x_q.reshape(-1, 24))


def test_activation_codes_are_int8_per_token():
    layer = BitLinear(8, 4)
    x = torch.randn(6, 8) * torch.logspace(-3, 3, 6)[:, None]
    xc, s = layer.activation_codes(x)
    assert torch.equal(xc, xc.round()) and xc.abs().max() <= 127
    torch.testing.assert_close(xc.abs().amax(-1), torch.full((6,), 127.0))  # the absmax maps to 127


@pytest.mark.parametrize("in_features", [16, 13])
def test_packed_inference_equals_training_path_exactly(in_features):
    torch.manual_seed(1)
    layer = BitLinear(in_features, 7)
    x = torch.randn(4, 9, in_features)
    with torch.no_grad():
        y_train = layer(x)
    layer.pack()
    assert layer.packed_weight.dtype == torch.uint8
    assert layer.packed_weight.shape == (7, (in_features + 3) // 4)  # 2 bits per weight
    layer.eval()
    torch.testing.assert_close(layer(x), y_train, rtol=0, atol=0)
    torch.testing.assert_close(layer.forward_packed(x), y_train, rtol=0, atol=0)


def test_pack_roundtrip():
    codes = torch.randint(-1, 2, (5, 11), dtype=torch.int8)
    assert torch.equal(unpack_ternary(pack_ternary(codes), 11), codes)


def test_loads_linear_state_dict_and_bad_input():
    lin = torch.nn.Linear(8, 3)
    layer = BitLinear(8, 3)
    layer.load_state_dict(lin.state_dict())
    with pytest.raises(ValueError, match="BitLinear: expected input"):
        layer(torch.randn(2, 9))
    with pytest.raises(RuntimeError, match="BitLinear: call pack"):
        layer.forward_packed(torch.randn(2, 8))
