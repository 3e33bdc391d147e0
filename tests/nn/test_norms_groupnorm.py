"""GroupNorm, InstanceNorm2d and LocalResponseNorm against torch.nn with transplanted state."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import GroupNorm, GroupNormChannelsLast, InstanceNorm2d, LocalResponseNorm, create_norm
from dlzoo.nn.factory import default_num_groups


def _tol(dtype):
    return {"atol": 1e-12, "rtol": 1e-10} if dtype == torch.float64 else {"atol": 1e-4, "rtol": 1e-4}


def _randomize(module):
    with torch.no_grad():
        for p in module.parameters():
            p.normal_()
    return module


def _compare(ours, ref, x, dtype, x_ref=None, unmap=lambda t: t):
    """Outputs, input grads and parameter grads of ours(x) vs unmap(ref(x_ref)), both paths."""
    x_ref = x if x_ref is None else x_ref
    for fused in (True, False):
        with dlzoo.reference_mode(not fused):
            out = ours(x)
        expected = unmap(ref(x_ref))
        torch.testing.assert_close(out, expected, **_tol(dtype))
        g = torch.randn_like(out)
        grads = torch.autograd.grad(out, [x, *ours.parameters()], g)
        ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
        assert len(grads) == len(ref_grads)
        for a, b in zip(grads, ref_grads):
            torch.testing.assert_close(a, b, **_tol(dtype))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("groups,channels,shape", [(3, 6, (2, 6, 5)), (2, 6, (3, 6, 3, 7)),
                                                   (1, 5, (2, 5, 2, 3, 3)), (5, 10, (4, 10))])
@pytest.mark.parametrize("affine", [True, False])
def test_groupnorm_matches_torch(groups, channels, shape, affine, dtype):
    ref = _randomize(torch.nn.GroupNorm(groups, channels, eps=1e-4, affine=affine, dtype=dtype))
    ours = GroupNorm(groups, channels, eps=1e-4, affine=affine, dtype=dtype)
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    x = (torch.randn(shape, dtype=dtype) * 3 + 1).requires_grad_()
    _compare(ours, ref, x, dtype)


def test_groupnorm_channels_last_and_factory():
    ref = _randomize(torch.nn.GroupNorm(4, 8, dtype=torch.float64))
    ours = create_norm("groupnorm", 8, num_groups=4, dtype=torch.float64)
    assert isinstance(ours, GroupNormChannelsLast)
    ours.load_state_dict(ref.state_dict())
    x = torch.randn(2, 5, 8, dtype=torch.float64, requires_grad=True)  # (B, N, C)
    _compare(ours, ref, x, torch.float64, x_ref=x.transpose(1, 2), unmap=lambda t: t.transpose(1, 2))
    assert create_norm("groupnorm", 64, channels_first=True).num_groups == 32
    assert create_norm("groupnorm", 48, channels_first=True).num_groups == default_num_groups(48) == 16
    assert create_norm("groupnorm1", 48, channels_first=True).num_groups == 1
    with pytest.raises(ValueError, match="divisible"):
        GroupNorm(4, 6)
    with pytest.raises(ValueError, match=r"GroupNorm: expected \(N, C, \*\) input with C=8"):
        GroupNorm(4, 8)(torch.randn(2, 6, 3))


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("kw", [{}, {"affine": True}, {"track_running_stats": True, "affine": True},
                                {"track_running_stats": True, "momentum": None}], ids=str)
def test_instancenorm2d_matches_torch(kw, dtype):
    ref = _randomize(torch.nn.InstanceNorm2d(3, dtype=dtype, **kw))
    ours = InstanceNorm2d(3, dtype=dtype, **kw)
    ours.load_state_dict(ref.state_dict())
    assert list(ours.state_dict()) == list(ref.state_dict())
    for step in range(3):
        x = (torch.randn(2, 3, 5, 4, dtype=dtype) * (step + 1) + step).requires_grad_()
        with dlzoo.reference_mode(step % 2 == 1):
            out = ours(x)
        expected = ref(x)
        torch.testing.assert_close(out, expected, **_tol(dtype))
    for a, b in zip(ours.state_dict().values(), ref.state_dict().values()):
        torch.testing.assert_close(a, b, **_tol(dtype))
    ours.eval()
    ref.eval()
    x = torch.randn(3, 5, 4, dtype=dtype, requires_grad=True)  # unbatched (C, H, W)
    _compare(ours, ref, x, dtype)


@pytest.mark.parametrize("size", [1, 2, 3, 5])
@pytest.mark.parametrize("shape", [(2, 7, 6), (2, 7, 4, 5), (1, 6, 2, 3, 4)])
def test_local_response_norm_matches_torch(size, shape):
    ref = torch.nn.LocalResponseNorm(size, alpha=0.3, beta=0.6, k=2.0)
    ours = LocalResponseNorm(size, alpha=0.3, beta=0.6, k=2.0)
    for dtype in (torch.float32, torch.float64):
        x = (torch.randn(shape, dtype=dtype) * 2).requires_grad_()
        _compare(ours, ref, x, dtype)


def test_gradcheck_float64_reference_paths():
    x4 = torch.randn(2, 4, 3, 3, dtype=torch.float64, requires_grad=True)
    w = torch.randn(4, dtype=torch.float64, requires_grad=True)
    b = torch.randn(4, dtype=torch.float64, requires_grad=True)
    gn = GroupNorm(2, 4, dtype=torch.float64)
    inn = InstanceNorm2d(4, affine=True, dtype=torch.float64)
    with dlzoo.reference_mode():
        for layer in (gn, inn):
            def f(x, w, b, layer=layer):
                return torch.func.functional_call(layer, {"weight": w, "bias": b}, (x,))

            assert torch.autograd.gradcheck(f, (x4, w, b))
        assert torch.autograd.gradcheck(LocalResponseNorm(3, alpha=0.5), (x4,))
