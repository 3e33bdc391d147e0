"""Derf, pRMSNorm, BandRMS, LogitNorm against their papers' equations; LayerNorm/LayerNorm2d/RMSNorm variants
against torch; every registered norm builds from the factory in both layouts.

Independent references: Python's math.erf evaluated element by element (Derf), torch.nn.RMSNorm and
torch.linalg.vector_norm (pRMSNorm), F.normalize (LogitNorm), torch.nn.LayerNorm (LayerNorm2d via permute).
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import (
    NORMS,
    BandRMS,
    Derf,
    LayerNorm,
    LayerNorm2d,
    LogitNorm,
    PartialRMSNorm,
    RMSNorm,
    create_norm,
)


@pytest.mark.parametrize("channels_last,shape", [(True, (2, 3, 5)), (False, (2, 5, 3, 2))])
def test_derf_matches_equation_with_math_erf(channels_last, shape):
    layer = Derf(5, alpha_init=0.8, shift_init=0.3, channels_last=channels_last, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.normal_()
        layer.bias.normal_()
    x = torch.randn(shape, dtype=torch.float64) * 2
    out = layer(x)
    c_dim = -1 if channels_last else 1
    expected = torch.empty_like(x)
    for idx in torch.cartesian_prod(*[torch.arange(s) for s in shape]).tolist():
        c = idx[c_dim]
        expected[tuple(idx)] = layer.weight[c].item() * math.erf(0.8 * x[tuple(idx)].item() + 0.3) \
            + layer.bias[c].item()
    torch.testing.assert_close(out, expected, atol=1e-14, rtol=1e-13)
    assert list(layer.state_dict()) == ["alpha", "shift", "weight", "bias"]

    def f(x, a, s, w, b):
        return torch.func.functional_call(layer, {"alpha": a, "shift": s, "weight": w, "bias": b}, (x,))

    assert torch.autograd.gradcheck(
        f, (x[:1].clone().requires_grad_(), layer.alpha, layer.shift, layer.weight, layer.bias))
    with pytest.raises(ValueError, match="Derf: expected"):
        layer(torch.randn(2, 4, 4, dtype=torch.float64))


def test_partial_rmsnorm():
    x = torch.randn(3, 4, 16, dtype=torch.float64)
    full = PartialRMSNorm(16, p=1.0, eps=1e-6, dtype=torch.float64)
    ref = torch.nn.RMSNorm(16, eps=1e-6, dtype=torch.float64)
    with torch.no_grad():
        ref.weight.normal_()
    full.load_state_dict(ref.state_dict())
    torch.testing.assert_close(full(x), ref(x))  # p = 1 is RMSNorm
    part = PartialRMSNorm(16, p=0.25, eps=0.0, elementwise_affine=False, dtype=torch.float64)
    assert part.partial_size == 4
    rms = torch.linalg.vector_norm(x[..., :4], dim=-1, keepdim=True) / math.sqrt(4)  # paper eq., k = 4
    torch.testing.assert_close(part(x), x / rms)
    assert PartialRMSNorm(384).partial_size == 24  # 6.25% of 384
    assert torch.autograd.gradcheck(PartialRMSNorm(6, p=0.5, dtype=torch.float64),
                                    (torch.randn(2, 6, dtype=torch.float64, requires_grad=True),))
    with pytest.raises(ValueError, match="p must be"):
        PartialRMSNorm(8, p=0.0)


def test_bandrms_equation_and_band():
    x = torch.randn(4, 7, 32, dtype=torch.float64) * 5
    layer = BandRMS(32, max_band_width=0.1, dtype=torch.float64)
    out = layer(x)
    out_rms = out.pow(2).mean(-1).sqrt()
    torch.testing.assert_close(out_rms, torch.full_like(out_rms, 0.95))  # init: 1 - a/2
    for value, expected_rms in ((-50.0, 0.9), (50.0, 1.0), (0.3, 0.9 + 0.1 / (1 + math.exp(-1.5)))):
        with torch.no_grad():
            layer.band_param.fill_(value)
        out_rms = layer(x).pow(2).mean(-1).sqrt()
        torch.testing.assert_close(out_rms, torch.full_like(out_rms, expected_rms), atol=1e-6, rtol=1e-6)
    cf = create_norm("bandrms", 5, channels_first=True, dtype=torch.float64)
    y = torch.randn(2, 5, 3, 3, dtype=torch.float64)
    last = BandRMS(5, dtype=torch.float64)
    torch.testing.assert_close(cf(y), last(y.movedim(1, -1)).movedim(-1, 1))
    assert torch.autograd.gradcheck(
        lambda x, p: torch.func.functional_call(layer, {"band_param": p}, (x,)),
        (x[:1, :2].clone().requires_grad_(), layer.band_param.detach().clone().requires_grad_()))


def test_logitnorm_matches_f_normalize():
    x = torch.randn(5, 10, dtype=torch.float64) * 3
    torch.testing.assert_close(LogitNorm(0.04)(x), F.normalize(x, dim=-1) / 0.04)
    torch.testing.assert_close(create_norm("logitnorm", 10, temperature=0.5)(x), F.normalize(x, dim=-1) / 0.5)
    assert torch.autograd.gradcheck(LogitNorm(0.1), (x[:2].clone().requires_grad_(),))
    with pytest.raises(ValueError, match="temperature"):
        LogitNorm(0.0)


@pytest.mark.parametrize("kw", [{}, {"bias": False}, {"elementwise_affine": False}, {"eps": 1e-3}], ids=str)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_layernorm_variants_and_layernorm2d_match_torch(kw, dtype):
    tol = {"atol": 1e-12, "rtol": 1e-12} if dtype == torch.float64 else {"atol": 2e-5, "rtol": 2e-5}
    ref = torch.nn.LayerNorm(7, dtype=dtype, **kw)
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    for ours in (LayerNorm(7, dtype=dtype, **kw), LayerNorm2d(7, dtype=dtype, **{"eps": 1e-5, **kw})):
        ours.load_state_dict(ref.state_dict())
        assert list(ours.state_dict()) == list(ref.state_dict())
        channels_first = isinstance(ours, LayerNorm2d)
        x = torch.randn((3, 7, 5, 2) if channels_first else (3, 5, 7), dtype=dtype, requires_grad=True)
        for fused in (True, False):
            with dlzoo.reference_mode(not fused):
                out = ours(x)
            expected = ref(x.movedim(1, -1)).movedim(-1, 1) if channels_first else ref(x)
            torch.testing.assert_close(out, expected, **tol)
            g = torch.randn_like(out)
            for a, b in zip(torch.autograd.grad(out, [x, *ours.parameters()], g),
                            torch.autograd.grad(expected, [x, *ref.parameters()], g)):
                torch.testing.assert_close(a, b, **{k: v * 10 for k, v in tol.items()})


def test_layernorm_rmsnorm_gradcheck_reference_path():
    x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
    for layer in (LayerNorm(6, dtype=torch.float64), RMSNorm((3, 6), eps=1e-6, dtype=torch.float64)):
        with torch.no_grad():
            layer.weight.normal_()
        with dlzoo.reference_mode():
            assert torch.autograd.gradcheck(layer, (x,))
    with pytest.raises(ValueError, match=r"LayerNorm: expected input with trailing shape \[6\]"):
        LayerNorm(6)(torch.randn(2, 5))


@pytest.mark.parametrize("name", NORMS.names())
def test_every_registered_norm_builds_in_both_layouts(name):
    x_last = torch.randn(2, 5, 8)
    x_first = torch.randn(2, 8, 9) if name == "batchnorm1d" else torch.randn(2, 8, 3, 3)
    for channels_first, x in ((False, x_last), (True, x_first)):
        try:
            layer = create_norm(name, 8, channels_first=channels_first)
        except ValueError as err:  # a norm without this layout must say so clearly
            assert name in str(err)
            continue
        layer.train()
        out = layer(x)
        assert out.shape == x.shape and torch.isfinite(out).all()
