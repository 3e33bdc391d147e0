"""nn.DyT against the paper's equation y = gamma * tanh(alpha * x) + beta (arXiv 2503.10622).

The expected values are the equation evaluated here in float64 with torch.tanh; the layer runs its fused
kernel by default and the plain autograd math under dlzoo.reference_mode(); both must agree with it.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import DyT, create_norm
from dlzoo.nn.dyt import LLM_ALPHA_INIT, dyt_alpha_init

LAYOUTS = [(True, (3, 5, 6)), (True, (6,)), (False, (2, 6, 3, 5)), (False, (4, 6)), (False, (2, 6, 2, 3, 2))]


def _equation(x, alpha, weight, bias, channels_last):
    view = (-1,) if channels_last else (-1, *([1] * (x.dim() - 2)))
    y = torch.tanh(alpha * x)
    if weight is not None:
        y = y * weight.reshape(view)
    if bias is not None:
        y = y + bias.reshape(view)
    return y


def _random_dyt(channels_last, alpha_init=0.7, **kw):
    layer = DyT(6, alpha_init=alpha_init, channels_last=channels_last, dtype=torch.float64, **kw)
    with torch.no_grad():
        for name in ("weight", "bias"):
            if getattr(layer, name) is not None:
                getattr(layer, name).normal_()
    return layer


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"elementwise_affine": False}], ids=str)
@pytest.mark.parametrize("channels_last,shape", LAYOUTS)
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_dyt_matches_equation_and_its_gradients(channels_last, shape, kw, fused):
    layer = _random_dyt(channels_last, **kw)
    x = (torch.randn(shape, dtype=torch.float64) * 3).requires_grad_()
    with dlzoo.reference_mode(not fused):
        out = layer(x)
    params = [p for p in (layer.alpha, layer.weight, layer.bias) if p is not None]
    expected = _equation(x, layer.alpha, layer.weight, layer.bias, channels_last)
    torch.testing.assert_close(out, expected, atol=1e-12, rtol=1e-12)
    g = torch.randn_like(out)
    grads = torch.autograd.grad(out, [x, *params], g)
    ref_grads = torch.autograd.grad(expected, [x, *params], g)
    for a, b in zip(grads, ref_grads):
        torch.testing.assert_close(a, b, atol=1e-11, rtol=1e-11)


@pytest.mark.parametrize("channels_last,shape", [LAYOUTS[0], LAYOUTS[2]])
def test_dyt_gradcheck_float64_fused(channels_last, shape):
    layer = _random_dyt(channels_last)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)

    def f(x, alpha, weight, bias):
        return torch.func.functional_call(layer, {"alpha": alpha, "weight": weight, "bias": bias}, (x,))

    assert torch.autograd.gradcheck(f, (x, layer.alpha, layer.weight, layer.bias))


def test_dyt_init_state_dict_and_errors():
    layer = DyT(4)
    assert list(layer.state_dict()) == ["alpha", "weight", "bias"]
    assert layer.alpha.item() == 0.5 and layer.alpha.shape == (1,)
    assert torch.equal(layer.weight, torch.ones(4))
    assert torch.equal(layer.bias, torch.zeros(4))  # beta starts at 0 (a known public-code bug uses 1)
    assert list(DyT(4, elementwise_affine=False).state_dict()) == ["alpha"]
    assert list(DyT(4, bias=False).state_dict()) == ["alpha", "weight"]
    with pytest.raises(ValueError, match=r"DyT: expected \(\*, C\) input with C=4, got shape \[2, 5\]"):
        layer(torch.randn(2, 5))
    with pytest.raises(ValueError, match=r"DyT: expected \(N, C, \.\.\.\) input with C=4"):
        DyT(4, channels_last=False)(torch.randn(2, 3, 4))
    cf = create_norm("dyt", 4, channels_first=True, alpha_init=1.0)
    assert not cf.channels_last and cf.alpha.item() == 1.0


def test_dyt_output_allows_inplace_ops():
    # models apply in-place activations after the norm; the fused Function must not return a view
    for channels_last, shape in LAYOUTS:
        layer = DyT(6, channels_last=channels_last)
        x = torch.randn(shape, requires_grad=True)
        y = layer(x)
        y.relu_()
        y.sum().backward()
        expected = (torch.tanh(0.5 * x.detach()) > 0).float() * 0.5 * (1 - torch.tanh(0.5 * x.detach()) ** 2)
        torch.testing.assert_close(x.grad, expected)


def test_llm_alpha_init_table():
    # paper Table 11/12: width -> (attention-block alpha, other alpha)
    assert LLM_ALPHA_INIT == {1024: (1.0, 1.0), 2048: (1.0, 0.5), 4096: (0.8, 0.2), 5120: (0.6, 0.15),
                              8192: (0.2, 0.05)}
    # Table 12, LLaMA-2 by width: 7B 4096, 13B 5120, 34B and 70B 8192
    for width, (attn, other) in {4096: (0.8, 0.2), 5120: (0.6, 0.15), 8192: (0.2, 0.05)}.items():
        assert dyt_alpha_init(width, attention=True) == attn
        assert dyt_alpha_init(width, attention=False) == other
    assert dyt_alpha_init(512, attention=False) == 1.0  # below the table: 1024's entry
    assert dyt_alpha_init(4500, attention=True) == 0.8  # between entries: nearest in log2 (4096)
    assert dyt_alpha_init(6000, attention=False) == 0.15  # nearest is 5120
    assert dyt_alpha_init(16384, attention=True) == 0.2
    with pytest.raises(ValueError):
        dyt_alpha_init(0, attention=True)
