"""Cross-entropy and BCE-with-logits against torch.nn.functional (values AND gradients), both code paths."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.losses import (
    BCEWithLogitsLoss,
    CrossEntropyLoss,
    binary_cross_entropy_with_logits,
    create_loss,
    cross_entropy,
)
from dlzoo.nn.mode import reference_mode

DT = torch.float64


def _compare(ours_fn, ref_fn, *inputs, atol=1e-12, rtol=1e-10):
    """Same inputs -> same value and same gradients w.r.t. every floating input that requires grad."""
    a = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    b = [x.detach().clone().requires_grad_(x.requires_grad) for x in inputs]
    out_a, out_b = ours_fn(*a), ref_fn(*b)
    torch.testing.assert_close(out_a, out_b, atol=atol, rtol=rtol)
    g = torch.randn_like(out_a)
    ga = torch.autograd.grad(out_a, [x for x in a if x.requires_grad], g)
    gb = torch.autograd.grad(out_b, [x for x in b if x.requires_grad], g)
    for x, y in zip(ga, gb):
        torch.testing.assert_close(x, y, atol=atol, rtol=rtol)


def _logits(*shape):
    return (torch.randn(*shape, dtype=DT) * 3).requires_grad_()


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 1.0])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("fused", [True, False])
def test_ce_index_targets(reduction, smoothing, weighted, fused):
    x = _logits(13, 5)
    y = torch.randint(0, 5, (13,))
    y[[2, 7]] = -100  # ignored positions
    w = torch.rand(5, dtype=DT) + 0.2 if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    with reference_mode(not fused):
        _compare(lambda a: cross_entropy(a, y, **kw), lambda a: F.cross_entropy(a, y, **kw), x)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
def test_ce_probability_targets_and_spatial(reduction, smoothing, weighted):
    x = _logits(4, 6, 3, 2)  # (N, C, d1, d2)
    t = torch.softmax(torch.randn(4, 6, 3, 2, dtype=DT), 1)  # soft targets (mixup/cutmix)
    w = torch.rand(6, dtype=DT) + 0.2 if weighted else None
    kw = dict(weight=w, reduction=reduction, label_smoothing=smoothing)
    _compare(lambda a: cross_entropy(a, t, **kw), lambda a: F.cross_entropy(a, t, **kw), x)
    y = torch.randint(0, 6, (4, 3, 2))
    y[0, 1, 1] = 3  # a custom ignore_index below
    kw["ignore_index"] = 3
    _compare(lambda a: cross_entropy(a, y, **kw), lambda a: F.cross_entropy(a, y, **kw), x)


def test_ce_unbatched_and_module_mirror():
    x = _logits(7)
    y = torch.tensor(4)
    _compare(lambda a: cross_entropy(a, y), lambda a: F.cross_entropy(a, y), x)
    w = torch.rand(7, dtype=DT)
    ours = CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.05)
    ref = torch.nn.CrossEntropyLoss(weight=w, ignore_index=1, label_smoothing=0.05)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    xb, yb = _logits(9, 7), torch.randint(0, 7, (9,))
    _compare(lambda a: ours(a, yb), lambda a: ref(a, yb), xb)
    assert isinstance(create_loss("CrossEntropyLoss"), CrossEntropyLoss)
    assert create_loss("cross-entropy", label_smoothing=0.1).label_smoothing == 0.1


def test_ce_float32_close_to_torch():
    x = torch.randn(64, 10) * 5
    y = torch.randint(0, 10, (64,))
    ours = cross_entropy(x, y, label_smoothing=0.1)
    torch.testing.assert_close(ours, F.cross_entropy(x, y, label_smoothing=0.1))


def test_ce_bad_inputs():
    x = torch.randn(4, 3)
    with pytest.raises(ValueError, match=r"target must have shape \[4\]"):
        cross_entropy(x, torch.zeros(5, dtype=torch.long))
    with pytest.raises(ValueError, match=r"in \[0, 3\)"):
        cross_entropy(x, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(ValueError, match="probability targets"):
        cross_entropy(x, torch.rand(4, 4))
    with pytest.raises(ValueError, match="weight must have shape"):
        cross_entropy(x, torch.zeros(4, dtype=torch.long), weight=torch.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        cross_entropy(x, torch.zeros(4, dtype=torch.long), reduction="avg")
    with pytest.raises(KeyError, match="did you mean"):
        create_loss("cross_entropyy")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_pos_weight", [False, True])
@pytest.mark.parametrize("with_weight", [False, True])
def test_bce_with_logits(reduction, with_pos_weight, with_weight):
    x = _logits(8, 4)
    x.data[0, 0] = 0.0  # the kink-free point: gradient must be sigmoid(0) - y exactly
    x.data[1, 1] = 60.0  # large logits: no overflow
    x.data[1, 2] = -60.0
    y = torch.rand(8, 4, dtype=DT)  # soft labels are allowed
    y[:4] = y[:4].round()
    pw = torch.rand(4, dtype=DT) * 3 if with_pos_weight else None
    w = torch.rand(8, 1, dtype=DT) if with_weight else None
    kw = dict(weight=w, pos_weight=pw, reduction=reduction)
    _compare(lambda a: binary_cross_entropy_with_logits(a, y, **kw),
             lambda a: F.binary_cross_entropy_with_logits(a, y, **kw), x)
    ours, ref = BCEWithLogitsLoss(w, pos_weight=pw, reduction=reduction), torch.nn.BCEWithLogitsLoss(
        w, pos_weight=pw, reduction=reduction)
    assert ours.state_dict().keys() == ref.state_dict().keys()
    torch.testing.assert_close(ours(x, y), ref(x, y))


def test_bce_shape_mismatch():
    with pytest.raises(ValueError, match="target shape"):
        binary_cross_entropy_with_logits(torch.zeros(3, 2), torch.zeros(3))


def test_reference_mode_is_public():
    x, y = _logits(5, 4), torch.randint(0, 4, (5,))
    a = cross_entropy(x, y)
    with dlzoo.reference_mode():
        b = cross_entropy(x, y)
    torch.testing.assert_close(a, b)
