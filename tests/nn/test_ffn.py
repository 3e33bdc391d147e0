"""Mlp and SwiGLU against compositions of torch built-ins with transplanted weights."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import GlobalResponseNormMlp, LayerNorm, Mlp, SwiGLU


def _randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_mlp_matches_torch_sequential(dtype):
    ours = Mlp(6, 12, 5).to(dtype)
    ref = torch.nn.Sequential(torch.nn.Linear(6, 12), torch.nn.GELU(), torch.nn.Linear(12, 5)).to(dtype)
    assert list(ours.state_dict()) == ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]
    ref.load_state_dict({k.replace("fc1", "0").replace("fc2", "2"): v for k, v in ours.state_dict().items()})
    x = torch.randn(3, 4, 6, dtype=dtype, requires_grad=True)
    expected = ref(x)
    g = torch.randn_like(expected)
    ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
    tol = 1e-12 if dtype == torch.float64 else 1e-5
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
        for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g), ref_grads, strict=True):
            torch.testing.assert_close(a, b, atol=tol, rtol=tol)


def test_mlp_with_norm_and_activation_names():
    ours = Mlp(4, 8, act_layer="relu", norm_layer="layernorm", bias=False)
    _randomize(ours)
    assert isinstance(ours.norm, LayerNorm)
    x = torch.randn(5, 4, dtype=torch.float64)
    ours = ours.double()
    h = F.layer_norm(F.relu(x @ ours.fc1.weight.T), (8,), ours.norm.weight, ours.norm.bias)
    torch.testing.assert_close(ours(x), h @ ours.fc2.weight.T)
    with pytest.raises(ValueError, match=r"Mlp: expected input \(\*, 4\)"):
        ours(torch.randn(2, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="unknown activation"):
        Mlp(4, act_layer="gelu2")


def test_mlp_dropout_only_in_training():
    ours = Mlp(4, 16, drop=0.5)
    x = torch.randn(8, 4)
    ours.eval()
    torch.testing.assert_close(ours(x), ours(x))
    ours.train()
    assert not torch.allclose(ours(x), ours(x))


def test_swiglu_matches_paper_equation():
    # FFN_SwiGLU(x) = (Swish_1(x W) * x V) W_2  (Shazeer 2020, eq. 6), here with biases
    ours = SwiGLU(6, 10, 4).double()
    _randomize(ours)
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    gate = F.linear(x, ours.fc1_g.weight, ours.fc1_g.bias)
    val = F.linear(x, ours.fc1_x.weight, ours.fc1_x.bias)
    expected = F.linear(gate * torch.sigmoid(gate) * val, ours.fc2.weight, ours.fc2.bias)
    out = ours(x)
    torch.testing.assert_close(out, expected)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g),
                    torch.autograd.grad(expected, [x, *ours.parameters()], g), strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("use_conv", [False, True])
def test_grn_mlp_and_conv_mlp_match_timm(use_conv):
    """Mlp / GlobalResponseNormMlp with 1x1-conv or Linear projections equal timm's (keys fc1, grn, fc2),
    outputs and gradients, with the weights loaded strictly."""
    timm_layers = pytest.importorskip("timm.layers")
    pairs = ((Mlp, timm_layers.Mlp), (GlobalResponseNormMlp, timm_layers.GlobalResponseNormMlp))
    for ours_cls, ref_cls in pairs:
        ref = ref_cls(6, 12, use_conv=use_conv).double()
        with torch.no_grad():
            for p in ref.parameters():
                p.normal_()
        ours = ours_cls(6, 12, use_conv=use_conv).double()
        ours.load_state_dict(ref.state_dict(), strict=True)
        x = torch.randn(2, 6, 3, 3, dtype=torch.float64)
        x = x if use_conv else x.permute(0, 2, 3, 1)  # (N, C, H, W) for convs, (N, H, W, C) for Linear
        xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
        out_ref, out = ref(xr), ours(xo)
        torch.testing.assert_close(out, out_ref)
        out_ref.sum().backward()
        out.sum().backward()
        torch.testing.assert_close(xo.grad, xr.grad)
        for (name, a), b in zip(ours.named_parameters(), ref.parameters()):
            torch.testing.assert_close(a.grad, b.grad, msg=name)
    with pytest.raises(ValueError, match=r"expected input \(N, 6, H, W\)"):
        Mlp(6, use_conv=True)(torch.randn(2, 3, 3, 6))
