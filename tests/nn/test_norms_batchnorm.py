"""BatchNorm1d/2d/3d and the channels-last variant against torch.nn.BatchNorm* with transplanted state.

Each case trains both layers for several steps on the same inputs (fused and reference path), and
compares outputs, input and parameter gradients, the running buffers and then eval-mode outputs.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import BatchNorm1d, BatchNorm2d, BatchNorm3d, BatchNormChannelsLast, create_norm

CASES = [
    (BatchNorm1d, torch.nn.BatchNorm1d, (7, 3)),
    (BatchNorm1d, torch.nn.BatchNorm1d, (5, 3, 11)),
    (BatchNorm2d, torch.nn.BatchNorm2d, (3, 3, 5, 7)),
    (BatchNorm3d, torch.nn.BatchNorm3d, (2, 3, 3, 5, 2)),
]


def _tol(dtype: torch.dtype) -> dict:
    return {"atol": 1e-12, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 2e-5, "rtol": 2e-5}


def _pair(ours_cls, ref_cls, dtype, **kw):
    ref = ref_cls(3, dtype=dtype, **kw)
    if ref.affine:
        with torch.no_grad():
            ref.weight.normal_()
            ref.bias.normal_()
    ours = ours_cls(3, dtype=dtype, **kw)
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    return ours, ref


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw", [{}, {"momentum": None}, {"affine": False}, {"track_running_stats": False},
                                {"momentum": 0.3, "eps": 1e-3}], ids=str)
@pytest.mark.parametrize("ours_cls,ref_cls,shape", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_batchnorm_matches_torch(ours_cls, ref_cls, shape, kw, dtype, fused):
    ours, ref = _pair(ours_cls, ref_cls, dtype, **kw)
    tol = _tol(dtype)
    params, ref_params = list(ours.parameters()), list(ref.parameters())
    with dlzoo.reference_mode(not fused):
        for step in range(4):
            x = (torch.randn(shape, dtype=dtype) * (1 + step) + step).requires_grad_()
            out, expected = ours(x), ref(x)
            torch.testing.assert_close(out, expected, **tol)
            g = torch.randn_like(out)
            grads = torch.autograd.grad(out, [x, *params], g)
            ref_grads = torch.autograd.grad(expected, [x, *ref_params], g)
            for a, b in zip(grads, ref_grads):
                torch.testing.assert_close(a, b, **tol)
        for (k, a), (k2, b) in zip(ours.state_dict().items(), ref.state_dict().items()):
            assert k == k2
            torch.testing.assert_close(a, b, **tol)
        if kw.get("track_running_stats", True):
            assert int(ours.num_batches_tracked) == 4
        ours.eval()
        ref.eval()
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        out, expected = ours(x), ref(x)
        torch.testing.assert_close(out, expected, **tol)
        g = torch.randn_like(out)
        for a, b in zip(torch.autograd.grad(out, [x, *params], g),
                        torch.autograd.grad(expected, [x, *ref_params], g)):
            torch.testing.assert_close(a, b, **tol)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("ours_cls,ref_cls,shape", CASES, ids=lambda v: getattr(v, "__name__", str(v)))
def test_batchnorm_gradcheck_float64(ours_cls, ref_cls, shape, training):
    layer = ours_cls(3, dtype=torch.float64).train(training)
    with torch.no_grad():
        layer.running_mean.normal_()
        layer.running_var.uniform_(0.5, 2.0)
    x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
    w = torch.randn(3, dtype=torch.float64, requires_grad=True)
    b = torch.randn(3, dtype=torch.float64, requires_grad=True)

    def f(inp, weight, bias):
        return torch.func.functional_call(layer, {"weight": weight, "bias": bias}, (inp,))

    with dlzoo.reference_mode():
        assert torch.autograd.gradcheck(f, (x, w, b))


def test_channels_last_matches_torch_on_tokens():
    ref = torch.nn.BatchNorm1d(6, dtype=torch.float64)
    ours = BatchNormChannelsLast(6, dtype=torch.float64)
    ours.load_state_dict(ref.state_dict())
    for fused in (True, False):
        with dlzoo.reference_mode(not fused):
            x = torch.randn(2, 5, 6, dtype=torch.float64, requires_grad=True)  # (B, N, C)
            out = ours(x)
            expected = ref(x.transpose(1, 2)).transpose(1, 2)  # torch wants (B, C, N)
            torch.testing.assert_close(out, expected)
            g = torch.randn_like(out)
            grad, ref_grad = torch.autograd.grad(out, x, g)[0], torch.autograd.grad(expected, x, g)[0]
            torch.testing.assert_close(grad, ref_grad)
    torch.testing.assert_close(ours.running_var, ref.running_var)
    assert isinstance(create_norm("batchnorm", 6), BatchNormChannelsLast)
    assert isinstance(create_norm("batchnorm", 6, channels_first=True), BatchNorm2d)
    assert isinstance(create_norm("batchnorm", 6, channels_first=True, momentum=None), BatchNorm2d)


def test_batchnorm_errors_and_legacy_state_dict():
    bn = BatchNorm2d(4)
    with pytest.raises(ValueError, match=r"BatchNorm2d: expected \(N, C, H, W\)"):
        bn(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match="BatchNorm2d: expected 4 channels"):
        bn(torch.randn(2, 5, 3, 3))
    with dlzoo.reference_mode(), pytest.raises(ValueError, match="more than 1 value per channel"):
        BatchNorm1d(4)(torch.randn(1, 4))
    # a checkpoint without num_batches_tracked (torch's version-1 format) still loads, as in torch
    sd = {k: v for k, v in torch.nn.BatchNorm2d(4).state_dict().items() if k != "num_batches_tracked"}
    missing = bn.load_state_dict(sd, strict=False).missing_keys
    ref_missing = torch.nn.BatchNorm2d(4).load_state_dict(sd, strict=False).missing_keys
    assert missing == ref_missing


@pytest.mark.gpu
@pytest.mark.parametrize("fused", [True, False], ids=["fused", "reference"])
def test_batchnorm2d_cuda_matches_torch(fused):
    ref = torch.nn.BatchNorm2d(5, momentum=None).cuda()
    ours = BatchNorm2d(5, momentum=None).cuda()
    ours.load_state_dict(ref.state_dict())
    with dlzoo.reference_mode(not fused):
        for _ in range(3):
            x = torch.randn(4, 5, 6, 7, device="cuda", requires_grad=True)
            out, expected = ours(x), ref(x)
            torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-5)
            g = torch.randn_like(out)
            grad, ref_grad = torch.autograd.grad(out, x, g)[0], torch.autograd.grad(expected, x, g)[0]
            torch.testing.assert_close(grad, ref_grad, atol=1e-5, rtol=1e-5)
    for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
