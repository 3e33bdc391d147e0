"""BinaryPreference / TriStatePreference (zeros at the preferred states, gradient descent reaches them),
ClusteringLoss (DEC, Xie et al. 2016) vs torch.nn.functional.kl_div on Eq. 1-3, DeepSupervisionLoss
schedules and weighted sum vs F.cross_entropy."""

import math

import pytest
import torch
import torch.nn.functional as F

from dlzoo.losses import (
    BinaryPreference,
    ClusteringLoss,
    DeepSupervisionLoss,
    TriStatePreference,
    soft_assignment,
)


def test_binary_preference_values_and_descent():
    r = BinaryPreference(multiplier=2.0)
    w = torch.tensor([0.0, 1.0, 0.5, 0.25], dtype=torch.float64)
    expect = 2.0 * (16 * w ** 2 * (1 - w) ** 2).mean()
    torch.testing.assert_close(r(w), expect)
    assert float(r(torch.tensor([0.0, 1.0]))) == 0 and float(BinaryPreference()(torch.tensor([0.5]))) == 1
    p = torch.tensor([0.1, 0.45, 0.55, 0.9], requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05)
    for _ in range(300):
        opt.zero_grad()
        r(p).backward()
        opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([0.0, 0.0, 1.0, 1.0]), atol=0.02, rtol=0)


def test_tri_state_preference_values_module_and_descent():
    r = TriStatePreference()
    assert float(r(torch.tensor([-1.0, 0.0, 1.0]))) == 0
    torch.testing.assert_close(r(torch.tensor([1 / math.sqrt(3)], dtype=torch.float64)),
                               torch.tensor(1.0, dtype=torch.float64))
    lin = torch.nn.Linear(3, 2)
    torch.testing.assert_close(r(lin), r(lin.weight))  # modules: weights (>= 2 dims) only
    p = torch.tensor([-0.8, -0.3, 0.2, 0.7], requires_grad=True)
    opt = torch.optim.SGD([p], lr=0.05)
    for _ in range(400):
        opt.zero_grad()
        r(p).backward()
        opt.step()
    torch.testing.assert_close(p.detach(), torch.tensor([-1.0, 0.0, 0.0, 1.0]), atol=0.02, rtol=0)
    with pytest.raises(ValueError, match="TriStatePreference: multiplier"):
        TriStatePreference(-1)


def test_clustering_loss_equals_kl_of_eq_1_to_3():
    torch.manual_seed(0)
    z = torch.randn(12, 3, dtype=torch.float64, requires_grad=True)
    mu = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    alpha = 1.0
    d2 = torch.cdist(z, mu) ** 2
    q = 1 / (1 + d2 / alpha)  # (alpha + 1) / 2 = 1
    q = q / q.sum(1, keepdim=True)
    f = q.sum(0)
    p = (q ** 2 / f) / (q ** 2 / f).sum(1, keepdim=True)
    ref = F.kl_div(q.log(), p.detach(), reduction="batchmean")
    loss = ClusteringLoss(alpha)(z, mu)
    torch.testing.assert_close(loss, ref)
    torch.testing.assert_close(soft_assignment(z, mu, alpha), q)
    for a, b in zip(torch.autograd.grad(loss, [z, mu]), torch.autograd.grad(ref, [z, mu])):
        torch.testing.assert_close(a, b)
    with pytest.raises(ValueError, match="ClusteringLoss: expected z"):
        ClusteringLoss()(torch.randn(3, 2), torch.randn(2, 3))


def test_deep_supervision_schedules():
    ds = DeepSupervisionLoss(F.cross_entropy, 3)
    torch.testing.assert_close(ds.weights(0.0), torch.full((3,), 1 / 3, dtype=torch.float64))
    torch.testing.assert_close(ds.weights(1.0), torch.tensor([1.0, 0, 0], dtype=torch.float64))
    torch.testing.assert_close(ds.weights(0.5), torch.tensor([2 / 3, 1 / 6, 1 / 6], dtype=torch.float64))
    cos = DeepSupervisionLoss(F.cross_entropy, 3, schedule="cosine")
    torch.testing.assert_close(cos.weights(0.5), ds.weights(0.5))
    torch.testing.assert_close(cos.weights(0.25), ds.weights((1 - math.cos(math.pi / 4)) / 2))
    step = DeepSupervisionLoss(F.cross_entropy, 2, schedule="step", weights=[3, 1], step_at=0.3)
    torch.testing.assert_close(step.weights(0.2), torch.tensor([0.75, 0.25], dtype=torch.float64))
    torch.testing.assert_close(step.weights(0.3), torch.tensor([1.0, 0.0], dtype=torch.float64))
    for t in (0.0, 0.3, 0.7, 1.0):
        assert float(ds.weights(t).sum()) == pytest.approx(1.0)


def test_deep_supervision_loss_is_weighted_sum_of_head_losses():
    torch.manual_seed(1)
    outs = [torch.randn(5, 4, requires_grad=True) for _ in range(3)]
    y = torch.randint(0, 4, (5,))
    ds = DeepSupervisionLoss(F.cross_entropy, 3, schedule="constant", weights=[2, 1, 1])
    expect = 0.5 * F.cross_entropy(outs[0], y) + 0.25 * F.cross_entropy(outs[1], y) \
        + 0.25 * F.cross_entropy(outs[2], y)
    torch.testing.assert_close(ds(outs, y), expect)
    ys = [y, y.flip(0), y]
    lin = DeepSupervisionLoss(F.cross_entropy, 3)
    lin.set_progress(0.5)
    expect = sum(w * F.cross_entropy(o, t) for w, o, t in zip([2 / 3, 1 / 6, 1 / 6], outs, ys))
    torch.testing.assert_close(lin(outs, ys), expect)
    with pytest.raises(ValueError, match="DeepSupervisionLoss: expected 3 outputs"):
        lin(outs[:2], y)
    with pytest.raises(ValueError, match="DeepSupervisionLoss: progress must be in"):
        lin.set_progress(1.5)
    with pytest.raises(ValueError, match="DeepSupervisionLoss: schedule"):
        DeepSupervisionLoss(F.cross_entropy, 3, schedule="exp")
