"""Complex layers: real-pair arithmetic equals torch's complex conv2d / linear (outputs and gradients),
float64 gradcheck, activations against their closed forms, pooling against a window mean, Rayleigh init."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlzoo.nn.complex import (
    ComplexAvgPool2d,
    ComplexConv2d,
    ComplexLinear,
    ComplexReLU,
    ComplexToReal,
    ModReLU,
    complex_conv2d,
    complex_glorot_,
    complex_linear,
)


def _crandn(*shape, dtype=torch.complex128):
    return torch.randn(*shape, dtype=dtype)


@pytest.mark.parametrize("stride,padding", [(1, 0), (2, 1)])
def test_conv2d_equals_torch_complex_conv_outputs_and_gradients(stride, padding):
    torch.manual_seed(0)
    conv = ComplexConv2d(3, 4, 3, stride=stride, padding=padding).double()
    with torch.no_grad():
        conv.bias_real.normal_()
        conv.bias_imag.normal_()
    z = _crandn(2, 3, 7, 7).requires_grad_()
    ours = conv(z)
    w = torch.complex(conv.weight_real, conv.weight_imag)
    b = torch.complex(conv.bias_real, conv.bias_imag)
    z_ref = z.detach().clone().requires_grad_()
    ref = F.conv2d(z_ref, w, b, stride=stride, padding=padding)  # torch's complex convolution
    torch.testing.assert_close(ours, ref)
    g = _crandn(*ref.shape)
    (ours.real * g.real + ours.imag * g.imag).sum().backward()
    (ref.real * g.real + ref.imag * g.imag).sum().backward()
    torch.testing.assert_close(z.grad, z_ref.grad)


def test_linear_equals_torch_complex_linear_and_weight_gradients():
    torch.manual_seed(1)
    fc = ComplexLinear(5, 3).double()
    with torch.no_grad():
        fc.bias_real.normal_()
        fc.bias_imag.normal_()
    z = _crandn(4, 2, 5)
    wr = fc.weight_real.detach().clone().requires_grad_()
    wi = fc.weight_imag.detach().clone().requires_grad_()
    ref = F.linear(z, torch.complex(wr, wi), torch.complex(fc.bias_real, fc.bias_imag).detach())
    ours = fc(z)
    torch.testing.assert_close(ours, ref)
    ours.abs().pow(2).sum().backward()
    ref.abs().pow(2).sum().backward()
    torch.testing.assert_close(fc.weight_real.grad, wr.grad)
    torch.testing.assert_close(fc.weight_imag.grad, wi.grad)


def test_gradcheck_float64():
    torch.manual_seed(2)
    z = _crandn(1, 2, 5, 5).requires_grad_()
    wr, wi = (
        torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True),
        torch.randn(3, 2, 3, 3, dtype=torch.float64, requires_grad=True),
    )
    br, bi = (
        torch.randn(3, dtype=torch.float64, requires_grad=True),
        torch.randn(3, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(lambda *a: complex_conv2d(*a, padding=1), (z, wr, wi, br, bi))
    v = _crandn(2, 4).requires_grad_()
    lr, li = (
        torch.randn(3, 4, dtype=torch.float64, requires_grad=True),
        torch.randn(3, 4, dtype=torch.float64, requires_grad=True),
    )
    assert torch.autograd.gradcheck(complex_linear, (v, lr, li))
    act = ModReLU(4, bias_init=-0.3).double()
    assert torch.autograd.gradcheck(act, (v,))


def test_crelu_and_modrelu_closed_forms():
    z = _crandn(3, 6, 2, 2)
    torch.testing.assert_close(ComplexReLU()(z), torch.complex(z.real.clamp_min(0), z.imag.clamp_min(0)))
    act = ModReLU(6, dim=1, bias_init=-0.5, eps=0.0).double()
    mag = (z.abs() - 0.5).clamp_min(0)
    torch.testing.assert_close(act(z), torch.polar(mag, z.angle()))  # phase kept, magnitude thresholded
    assert (act(z).abs() == 0).any() and (act(z).abs() > 0).any()


def test_avg_pool_is_window_mean_and_to_real_concatenates():
    z = _crandn(2, 3, 6, 4)
    ref = z.reshape(2, 3, 3, 2, 2, 2).mean(dim=(3, 5))  # complex mean of each 2x2 window
    torch.testing.assert_close(ComplexAvgPool2d(2)(z), ref)
    v = _crandn(2, 5)
    torch.testing.assert_close(ComplexToReal()(v), torch.view_as_real(v).transpose(1, 2).reshape(2, 10))


def test_rayleigh_init_statistics():
    g = torch.Generator().manual_seed(0)
    wr, wi = torch.empty(400, 300), torch.empty(400, 300)
    complex_glorot_(wr, wi, "glorot", generator=g)
    sigma = 1 / math.sqrt(700)
    mag = torch.sqrt(wr**2 + wi**2)
    assert abs(mag.mean().item() / (sigma * math.sqrt(math.pi / 2)) - 1) < 0.01  # Rayleigh mean
    assert abs((mag**2).mean().item() / (2 * sigma**2) - 1) < 0.01  # Var(W) = 2 sigma^2 (Glorot)
    phase = torch.atan2(wi, wr)
    assert abs(torch.cos(phase).mean().item()) < 0.01 and abs(torch.sin(phase).mean().item()) < 0.01


def test_bad_inputs_name_the_layer():
    with pytest.raises(TypeError, match="ComplexConv2d: expected a complex tensor"):
        ComplexConv2d(2, 2, 3)(torch.randn(1, 2, 5, 5))
    with pytest.raises(ValueError, match=r"ComplexConv2d: expected input \(N, 2, H, W\)"):
        ComplexConv2d(2, 2, 3)(_crandn(1, 3, 5, 5).to(torch.complex64))
    with pytest.raises(ValueError, match="ComplexLinear: expected last dim 4"):
        ComplexLinear(4, 2)(_crandn(2, 5).to(torch.complex64))
    with pytest.raises(ValueError, match="ModReLU: expected 3 features"):
        ModReLU(3)(_crandn(2, 4))
    with pytest.raises(ValueError, match="criterion"):
        complex_glorot_(torch.empty(2, 2), torch.empty(2, 2), "lecun")
