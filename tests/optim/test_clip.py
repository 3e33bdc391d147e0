"""dlzoo.optim.clip against torch.nn.utils.clip_grad_norm_ / clip_grad_value_ (same grads, bitwise)."""

from __future__ import annotations

import math
import warnings

import pytest
import torch

import dlzoo.nn.mode as mode
from dlzoo.optim.clip import clip_grad_norm_, clip_grad_value_, get_total_norm


def _params(n: int = 7, dtype=torch.float32, scale: float = 3.0, none_at: int | None = None):
    """Two identical lists of parameters with identical random grads (varied shapes)."""
    gen = torch.Generator().manual_seed(n)
    ours, ref = [], []
    for i in range(n):
        shape = (i % 4 + 1, (i * 3) % 5 + 1, 2)
        p = torch.nn.Parameter(torch.randn(shape, generator=gen, dtype=dtype))
        q = torch.nn.Parameter(p.detach().clone())
        if i != none_at:
            g = torch.randn(shape, generator=gen, dtype=dtype) * scale
            p.grad, q.grad = g.clone(), g.clone()
        ours.append(p)
        ref.append(q)
    return ours, ref


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf, "inf"])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
@pytest.mark.parametrize("foreach", [None, False, True])
def test_clip_grad_norm_matches_torch(norm_type, max_norm, foreach):
    ours, ref = _params(n=40, none_at=5)
    t_ours = clip_grad_norm_(ours, max_norm, norm_type=norm_type, foreach=foreach)
    t_ref = torch.nn.utils.clip_grad_norm_(ref, max_norm, norm_type=norm_type, foreach=foreach)
    assert torch.equal(t_ours, t_ref)
    for p, q in zip(ours, ref):
        if q.grad is None:
            assert p.grad is None
        else:
            assert torch.equal(p.grad, q.grad)
    if max_norm < 1:  # clipping actually happened and the new norm is max_norm
        after = get_total_norm([p.grad for p in ours if p.grad is not None], norm_type)
        assert after == pytest.approx(max_norm, rel=1e-4)


def test_clip_grad_norm_independent_formula():
    """Against the definition written out here: one concatenated vector, scaled to max_norm."""
    ours, _ = _params(n=5, dtype=torch.float64)
    flat = torch.cat([p.grad.flatten() for p in ours])
    expected_norm = flat.pow(2).sum().sqrt()
    total = clip_grad_norm_(ours, 1.0)
    assert torch.allclose(total, expected_norm)
    scaled = torch.cat([p.grad.flatten() for p in ours])
    assert torch.allclose(scaled, flat * (1.0 / (expected_norm + 1e-6)))


def test_single_tensor_mixed_dtypes_and_generator():
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 4.0)
    q = torch.nn.Parameter(torch.ones(3))
    q.grad = p.grad.clone()
    assert torch.equal(clip_grad_norm_(p, 1.0), torch.nn.utils.clip_grad_norm_(q, 1.0))
    assert torch.equal(p.grad, q.grad)

    a, b = _params(n=3, dtype=torch.float64)
    c, d = _params(n=3, dtype=torch.float32)
    t1 = clip_grad_norm_(iter(a + c), 0.1)  # iterator consumed once
    t2 = torch.nn.utils.clip_grad_norm_(b + d, 0.1)
    assert torch.equal(t1, t2)
    for x, y in zip(a + c, b + d):
        assert torch.equal(x.grad, y.grad)


def test_empty_and_nonfinite():
    with pytest.warns(UserWarning, match="empty generator"):
        total = clip_grad_norm_((p for p in []), 1.0)
    assert total.item() == 0.0
    p = torch.nn.Parameter(torch.zeros(2))
    assert clip_grad_norm_([p], 1.0).item() == 0.0  # no grads at all
    p.grad = torch.tensor([1.0, float("nan")])
    with pytest.raises(RuntimeError, match="non-finite"):
        clip_grad_norm_([p], 1.0, error_if_nonfinite=True)
    p.grad = torch.tensor([1.0, float("inf")])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isinf(clip_grad_norm_([p], 1.0).item())


def test_reference_mode_agrees_with_fused():
    for norm_type in (2.0, 1.0, 3.0, math.inf):
        a, b = _params(n=9, dtype=torch.float64)
        t_fused = clip_grad_norm_(a, 0.7, norm_type=norm_type)
        with mode.reference_mode():
            t_ref = clip_grad_norm_(b, 0.7, norm_type=norm_type)
        torch.testing.assert_close(t_fused, t_ref)
        for p, q in zip(a, b):
            torch.testing.assert_close(p.grad, q.grad)


@pytest.mark.parametrize("foreach", [None, False])
def test_clip_grad_value_matches_torch(foreach):
    ours, ref = _params(n=12, none_at=3)
    clip_grad_value_(ours, 0.8, foreach=foreach)
    torch.nn.utils.clip_grad_value_(ref, 0.8, foreach=foreach)
    for p, q in zip(ours, ref):
        assert (p.grad is None) == (q.grad is None)
        if q.grad is not None:
            assert torch.equal(p.grad, q.grad)
            assert p.grad.abs().max() <= 0.8
    a, b = _params(n=4)
    with mode.reference_mode():
        clip_grad_value_(a, 0.3)
    torch.nn.utils.clip_grad_value_(b, 0.3)
    for p, q in zip(a, b):
        assert torch.equal(p.grad, q.grad)


def test_exported_from_optim():
    import dlzoo.optim

    assert dlzoo.optim.clip_grad_norm_ is clip_grad_norm_
    assert dlzoo.optim.clip_grad_value_ is clip_grad_value_
