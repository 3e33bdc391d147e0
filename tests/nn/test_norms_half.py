"""float16 / bfloat16 inputs: every norm computes in float32 and returns the input dtype, as torch's fused
kernels do, in the fused path AND under ``dlzoo.reference_mode()``.

References are torch's own ops on the same half tensors (``F.rms_norm``, ``F.layer_norm``, ``F.group_norm``,
``F.batch_norm``, ``F.instance_norm``), or, where torch has no such layer, the paper's equation written here
with torch ops on the float32 upcast input, rounded to the input dtype once at the end. The inputs are the
cases half arithmetic gets wrong: values ~300 (a float16 square overflows above 256, a bfloat16 mean of
values ~300 is off by up to 1 while their std is ~4) and values ~0.01 (RMSNorm's default eps is float32's,
not float16's ~1e-3 / bfloat16's ~8e-3).
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import BatchNorm2d, DyT, GroupNorm, LayerNorm, LayerNorm2d, RMSNorm
from dlzoo.nn.derf import Derf
from dlzoo.nn.grn import GlobalResponseNorm
from dlzoo.nn.groupnorm import InstanceNorm2d
from dlzoo.nn.norms_extra import BandRMS, LogitNorm, PartialRMSNorm

HALF = [torch.float16, torch.bfloat16]
MODES = pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
PARAMS = pytest.mark.parametrize("param_dtype", ["input", "float32"])  # module in the input dtype, or mixed


def _x(shape, dtype, kind, seed=0):
    gen = torch.Generator().manual_seed(seed)
    base = torch.randn(shape, generator=gen, dtype=torch.float64)
    x = base * 4 + 300 if kind == "offset" else base * 0.01
    return x.to(dtype)


def _assert_half_close(out, expected, dtype):
    """Within one unit in the last place of the half dtype (float32 rounding may flip the last bit)."""
    assert out.dtype == dtype, f"output dtype {out.dtype}, expected the input dtype {dtype}"
    eps = torch.finfo(dtype).eps
    torch.testing.assert_close(out.float(), expected.float(), atol=eps, rtol=eps)


def _module(layer, dtype, param_dtype):
    layer = layer.to(dtype if param_dtype == "input" else torch.float32)
    with torch.no_grad():
        for p in layer.parameters():
            if p.dim() == 1 and p.numel() > 1:
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    return layer


def _run(layer, x, fused):
    with dlzoo.reference_mode(not fused):
        return layer(x)


@MODES
@PARAMS
@pytest.mark.parametrize("kind", ["offset", "small"])
@pytest.mark.parametrize("dtype", HALF)
def test_rmsnorm_half_matches_torch_rms_norm(dtype, kind, param_dtype, fused):
    layer = _module(RMSNorm(64), dtype, param_dtype)
    x = _x((4, 64), dtype, kind)
    _assert_half_close(_run(layer, x, fused), F.rms_norm(x, (64,), layer.weight), dtype)


@MODES
@PARAMS
@pytest.mark.parametrize("dtype", HALF)
def test_layernorm_half_matches_torch_layer_norm(dtype, param_dtype, fused):
    layer = _module(LayerNorm(64), dtype, param_dtype)
    x = _x((4, 64), dtype, "offset")
    _assert_half_close(_run(layer, x, fused), F.layer_norm(x, (64,), layer.weight, layer.bias), dtype)
    layer2d = _module(LayerNorm2d(8), dtype, param_dtype)
    x2d = _x((2, 8, 3, 3), dtype, "offset")
    expected = F.layer_norm(x2d.movedim(1, -1), (8,), layer2d.weight, layer2d.bias, 1e-6).movedim(-1, 1)
    _assert_half_close(_run(layer2d, x2d, fused), expected, dtype)


@MODES
@PARAMS
@pytest.mark.parametrize("dtype", HALF)
def test_groupnorm_and_instancenorm_half_match_torch(dtype, param_dtype, fused):
    x = _x((2, 8, 4, 4), dtype, "offset")
    gn = _module(GroupNorm(2, 8), dtype, param_dtype)
    _assert_half_close(_run(gn, x, fused), F.group_norm(x, 2, gn.weight, gn.bias), dtype)
    inorm = _module(InstanceNorm2d(8, affine=True), dtype, param_dtype)
    w, b = inorm.weight, inorm.bias
    if fused:  # the fused path is torch's F.instance_norm itself
        expected = F.instance_norm(x, weight=w, bias=b)
        torch.testing.assert_close(_run(inorm, x, fused), expected, atol=0, rtol=0)
    else:  # torch's half instance_norm keeps half intermediates; the truth is its float64 result, rounded
        expected = F.instance_norm(x.double(), weight=w.double(), bias=b.double())
        _assert_half_close(_run(inorm, x, fused), expected.to(dtype), dtype)


@MODES
@pytest.mark.parametrize("dtype", HALF)
def test_batchnorm_half_matches_torch_train_and_eval(dtype, fused):
    x = _x((4, 8, 3, 3), dtype, "offset")
    ours = _module(BatchNorm2d(8), dtype, "float32")
    ref = torch.nn.BatchNorm2d(8)
    ref.load_state_dict(ours.state_dict())
    _assert_half_close(_run(ours, x, fused), ref(x), dtype)
    torch.testing.assert_close(ours.running_mean, ref.running_mean, atol=1e-4, rtol=1e-5)
    torch.testing.assert_close(ours.running_var, ref.running_var, atol=1e-3, rtol=1e-4)
    ours.eval(), ref.eval()
    _assert_half_close(_run(ours, x, fused), ref(x), dtype)


@MODES
@PARAMS
@pytest.mark.parametrize("dtype", HALF)
def test_rmsnorm_layernorm_groupnorm_half_gradients(dtype, param_dtype, fused):
    """Gradients of half inputs: within an ulp of torch's op differentiated in float64 on the same values.

    Exception: torch's own backward with half *parameters* reuses a mean/rstd rounded to the half dtype (on
    these inputs GroupNorm's dx is off by up to 10% in float16, 50% in bfloat16); the fused path is that
    kernel, so there it is compared with torch on the same half tensors instead."""
    x = _x((4, 16), dtype, "offset").requires_grad_()
    g = _x((4, 16), dtype, "small", seed=2) * 100
    cases = [
        (_module(RMSNorm(16), dtype, param_dtype), lambda t, w, b: F.rms_norm(t, (16,), w)),
        (_module(LayerNorm(16), dtype, param_dtype), lambda t, w, b: F.layer_norm(t, (16,), w, b)),
        (_module(GroupNorm(4, 16), dtype, param_dtype), lambda t, w, b: F.group_norm(t, 4, w, b)),
    ]
    eps = torch.finfo(dtype).eps
    for layer, torch_fn in cases:
        params = [x, *layer.parameters()]
        got = torch.autograd.grad(_run(layer, x, fused), params, g)
        pad = [None] * (3 - len(params))
        if fused and param_dtype == "input":
            want = torch.autograd.grad(torch_fn(*params, *pad), params, g)
        else:
            ref_in = [p.detach().double().requires_grad_() for p in params]
            want = torch.autograd.grad(torch_fn(*ref_in, *pad), ref_in, g.double())
        for a, b, p in zip(got, want, params):
            assert a.dtype == p.dtype and torch.isfinite(a).all()
            torch.testing.assert_close(a.double(), b.double(), atol=eps * b.abs().max().item(), rtol=2 * eps)


def _float32_then_round(fn, x):
    return fn(x.float()).to(x.dtype)


@MODES
@PARAMS
@pytest.mark.parametrize("dtype", HALF)
def test_dyt_and_derf_half_compute_in_float32(dtype, param_dtype, fused):
    x = _x((4, 16), dtype, "offset") / 100  # tanh/erf are not saturated at ~3
    dyt = _module(DyT(16, alpha_init=0.7), dtype, param_dtype)
    a, w, b = (p.detach().float() for p in (dyt.alpha, dyt.weight, dyt.bias))
    expected = _float32_then_round(lambda t: w * torch.tanh(a * t) + b, x)
    _assert_half_close(_run(dyt, x, fused), expected, dtype)
    derf = _module(Derf(16, alpha_init=0.7, shift_init=0.1), dtype, param_dtype)
    a, s, w, b = (p.detach().float() for p in (derf.alpha, derf.shift, derf.weight, derf.bias))
    expected = _float32_then_round(lambda t: w * torch.erf(a * t + s) + b, x)
    _assert_half_close(_run(derf, x, fused), expected, dtype)


@MODES
@PARAMS
@pytest.mark.parametrize("dtype", HALF)
def test_grn_half_computes_in_float32(dtype, param_dtype, fused):
    """GRN (ConvNeXt V2 Eq. 1-3, as timm writes it) on x ~5000 over 16x16 positions: the float16 L2 norm
    (~80000) overflows, the float32 one does not."""
    x = (_x((2, 16, 16, 4), torch.float64, "small") * 100 * 5000).clamp(-6e4, 6e4).to(dtype)
    layer = _module(GlobalResponseNorm(4), dtype, param_dtype)
    w, b = layer.weight.detach().float(), layer.bias.detach().float()

    def timm_grn(t):
        gx = t.norm(p=2, dim=(1, 2), keepdim=True)
        return t + torch.addcmul(b, w, t * (gx / (gx.mean(dim=-1, keepdim=True) + 1e-6)))

    _assert_half_close(_run(layer, x, fused), _float32_then_round(timm_grn, x), dtype)


@PARAMS
@pytest.mark.parametrize("kind", ["offset", "small"])
@pytest.mark.parametrize("dtype", HALF)
def test_partial_rms_bandrms_logitnorm_half(dtype, kind, param_dtype):
    x = _x((4, 32), dtype, kind)
    prms = _module(PartialRMSNorm(32, p=1.0), dtype, param_dtype)  # p = 1 is RMSNorm
    _assert_half_close(prms(x), F.rms_norm(x, (32,), prms.weight), dtype)
    band = BandRMS(32, eps=1e-7).to(dtype if param_dtype == "input" else torch.float32)
    expected = _float32_then_round(lambda t: F.rms_norm(t, (32,), eps=1e-7) * band.band_scale().float(), x)
    _assert_half_close(band(x), expected, dtype)
    expected = _float32_then_round(lambda t: F.normalize(t, dim=-1) / 0.5, x)
    _assert_half_close(LogitNorm(0.5)(x), expected, dtype)
