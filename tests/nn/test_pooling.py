"""Pooling layers vs torch.nn (outputs, indices and input grads; fused and reference paths)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import pooling as P

DT = torch.float64


def _check(ours, ref, shape):
    x = torch.randn(shape, dtype=DT, requires_grad=True)  # continuous: no ties in max pooling
    expected = ref(x)
    exp_vals = expected[0] if isinstance(expected, tuple) else expected
    g = torch.randn_like(exp_vals)
    (g_ref,) = torch.autograd.grad(exp_vals, x, g)
    for reference in (False, True):
        with dlzoo.reference_mode(reference):
            out = ours(x)
        vals = out[0] if isinstance(out, tuple) else out
        assert vals.shape == exp_vals.shape
        torch.testing.assert_close(vals, exp_vals, atol=1e-12, rtol=1e-12)
        if isinstance(expected, tuple):
            assert torch.equal(out[1], expected[1])
        (grad,) = torch.autograd.grad(vals, x, g)
        torch.testing.assert_close(grad, g_ref, atol=1e-12, rtol=1e-12)


MAX_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2),
    dict(kernel_size=3, stride=2, ceil_mode=True),  # GoogLeNet's pools
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(2, 1), padding=(1, 0), dilation=(2, 1), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, return_indices=True),
    dict(kernel_size=2, stride=3, ceil_mode=True, return_indices=True),
]


@pytest.mark.parametrize("kw", MAX_CASES)
def test_maxpool2d_matches_torch(kw):
    _check(P.MaxPool2d(**kw), torch.nn.MaxPool2d(**kw), (2, 3, 9, 8))


SMALL_CASES = [dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)]


@pytest.mark.parametrize("kw", SMALL_CASES)
def test_maxpool1d_3d_match_torch(kw):
    _check(P.MaxPool3d(**kw), torch.nn.MaxPool3d(**kw), (2, 2, 5, 6, 7))
    _check(P.MaxPool1d(**kw), torch.nn.MaxPool1d(**kw), (2, 2, 11))


AVG_CASES = [
    dict(kernel_size=2),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, count_include_pad=False),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False),
    dict(kernel_size=(3, 2), stride=(2, 3), ceil_mode=True),
    dict(kernel_size=3, stride=2, padding=1, divisor_override=5),
]


@pytest.mark.parametrize("kw", AVG_CASES)
def test_avgpool2d_matches_torch(kw):
    _check(P.AvgPool2d(**kw), torch.nn.AvgPool2d(**kw), (2, 3, 9, 8))


@pytest.mark.parametrize("kw", AVG_CASES[:5])
def test_avgpool3d_matches_torch(kw):
    _check(P.AvgPool3d(**kw), torch.nn.AvgPool3d(**kw), (2, 2, 5, 6, 7))


def test_avgpool1d_matches_torch():
    kw = dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)
    _check(P.AvgPool1d(**kw), torch.nn.AvgPool1d(**kw), (2, 3, 10))


@pytest.mark.parametrize("size", [1, 3, (2, 5), (None, 4), 7])
def test_adaptive_pools_2d_match_torch(size):
    _check(P.AdaptiveAvgPool2d(size), torch.nn.AdaptiveAvgPool2d(size), (2, 3, 9, 7))
    _check(P.AdaptiveMaxPool2d(size), torch.nn.AdaptiveMaxPool2d(size), (2, 3, 9, 7))
    ours, ref = P.AdaptiveMaxPool2d(size, return_indices=True), torch.nn.AdaptiveMaxPool2d(size, True)
    _check(ours, ref, (2, 3, 9, 7))


def test_adaptive_pools_1d_3d_match_torch():
    _check(P.AdaptiveAvgPool3d((1, 3, 2)), torch.nn.AdaptiveAvgPool3d((1, 3, 2)), (2, 2, 4, 7, 5))
    _check(P.AdaptiveAvgPool1d(3), torch.nn.AdaptiveAvgPool1d(3), (2, 2, 10))
    _check(P.AdaptiveMaxPool1d(4, return_indices=True), torch.nn.AdaptiveMaxPool1d(4, True), (2, 2, 10))


def test_unbatched_input_and_errors():
    x = torch.randn(3, 8, 8)
    torch.testing.assert_close(P.MaxPool2d(2)(x), torch.nn.MaxPool2d(2)(x))
    with pytest.raises(ValueError, match=r"MaxPool2d: expected \(N, C, L0, L1\)"):
        P.MaxPool2d(2)(torch.randn(8))
    with pytest.raises(ValueError, match="AvgPool2d: padding"):
        P.AvgPool2d(2, padding=2)
