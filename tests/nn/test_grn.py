"""GlobalResponseNorm vs the ConvNeXt-V2 paper's Eq. 1-3 (written out here) and HF ConvNextV2GRN."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import create_norm
from dlzoo.nn.grn import GlobalResponseNorm


def _paper_grn(x: torch.Tensor, gamma: torch.Tensor, beta: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Eq. 1-3 of arXiv:2301.00808 for channels-last x of shape (N, H, W, C), one sample/channel at a time."""
    n, h, w, c = x.shape
    out = torch.empty_like(x)
    for b in range(n):
        g = torch.stack([torch.sqrt((x[b, :, :, i] ** 2).sum()) for i in range(c)])  # Eq. 1: (C,)
        nx = g / (g.mean() + eps)  # Eq. 2
        for i in range(c):
            out[b, :, :, i] = gamma[i] * (x[b, :, :, i] * nx[i]) + beta[i] + x[b, :, :, i]  # Eq. 3
    return out


def _randomize(layer: GlobalResponseNorm) -> None:
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()


@pytest.mark.parametrize("fused", [True, False])
def test_grn_matches_paper_equation(fused):
    layer = GlobalResponseNorm(5).double()
    _randomize(layer)
    x = torch.randn(2, 3, 4, 5, dtype=torch.float64)
    with dlzoo.reference_mode(not fused):
        out = layer(x)
    torch.testing.assert_close(out, _paper_grn(x, layer.weight, layer.bias))


def test_grn_is_identity_at_init():
    x = torch.randn(2, 3, 3, 4)
    torch.testing.assert_close(GlobalResponseNorm(4)(x), x)


def test_grn_channels_first_matches_channels_last():
    last = GlobalResponseNorm(6).double()
    _randomize(last)
    first = GlobalResponseNorm(6, channels_last=False).double()
    first.load_state_dict(last.state_dict())
    x = torch.randn(2, 6, 5, 3, dtype=torch.float64, requires_grad=True)
    out_first = first(x)
    out_last = last(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(out_first, out_last)
    g = torch.randn_like(out_first)
    ga = torch.autograd.grad(out_first, [x, *first.parameters()], g)
    gb = torch.autograd.grad(out_last, [x, *last.parameters()], g)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b)


def test_grn_fused_and_reference_agree_with_gradients():
    layer = GlobalResponseNorm(8)
    _randomize(layer)
    x = torch.randn(3, 4, 4, 8, requires_grad=True)
    outs, grads = [], []
    for ref in (False, True):
        with dlzoo.reference_mode(ref):
            out = layer(x)
        outs.append(out)
        grads.append(torch.autograd.grad(out.square().sum(), [x, layer.weight, layer.bias]))
    torch.testing.assert_close(outs[0], outs[1])
    for a, b in zip(*grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


def test_grn_gradcheck_float64():
    layer = GlobalResponseNorm(3).double()
    _randomize(layer)
    x = torch.randn(2, 3, 2, 3, dtype=torch.float64, requires_grad=True)
    for ref in (False, True):
        with dlzoo.reference_mode(ref):
            assert torch.autograd.gradcheck(lambda t: layer(t), (x,))


def test_grn_matches_hf_convnextv2():
    hf = pytest.importorskip("transformers.models.convnextv2.modeling_convnextv2")
    ref = hf.ConvNextV2GRN(7)
    with torch.no_grad():
        ref.weight.normal_()
        ref.bias.normal_()
    ours = GlobalResponseNorm(7)
    ours.load_state_dict({"weight": ref.weight.reshape(-1), "bias": ref.bias.reshape(-1)})
    x = torch.randn(2, 5, 6, 7, requires_grad=True)
    out, expected = ours(x), ref(x)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
    g = torch.randn_like(out)
    (gx,) = torch.autograd.grad(out, x, g)
    (gx_ref,) = torch.autograd.grad(expected, x, g)
    torch.testing.assert_close(gx, gx_ref, atol=1e-5, rtol=1e-5)


def test_grn_factory_and_errors():
    layer = create_norm("grn", 4, channels_first=True)
    assert isinstance(layer, GlobalResponseNorm) and not layer.channels_last
    with pytest.raises(ValueError, match="GlobalResponseNorm.*C=4"):
        GlobalResponseNorm(4)(torch.randn(2, 3, 3, 5))
    with pytest.raises(ValueError, match="GlobalResponseNorm"):
        GlobalResponseNorm(4)(torch.randn(2, 4))
