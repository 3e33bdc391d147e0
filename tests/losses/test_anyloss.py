"""AnyLoss: at hard 0/1 predictions each loss is 1 - the scikit-learn metric; gradients exist elsewhere."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    fbeta_score,
    recall_score,
)

from dlzoo.losses import AnyLoss, anyloss, approximation, create_loss, soft_confusion_matrix

DT = torch.float64


def _binary_reference(metric, y, pred, beta=1.0):
    if metric == "accuracy":
        return accuracy_score(y, pred)
    if metric == "f1":
        return f1_score(y, pred, zero_division=0)
    if metric == "fbeta":
        return fbeta_score(y, pred, beta=beta, zero_division=0)
    if metric == "balanced_accuracy":
        return balanced_accuracy_score(y, pred)
    if metric == "gmean":  # sqrt(sensitivity * specificity) from sklearn's recall of each class
        r = recall_score(y, pred, average=None, labels=[0, 1], zero_division=0)
        return float(np.sqrt(r[0] * r[1]))
    raise AssertionError(metric)


def _multiclass_reference(metric, y, pred, n_classes, beta=1.0):
    labels = list(range(n_classes))
    if metric == "accuracy":
        return accuracy_score(y, pred)
    if metric == "f1":
        return f1_score(y, pred, average="macro", labels=labels, zero_division=0)
    if metric == "fbeta":
        return fbeta_score(y, pred, beta=beta, average="macro", labels=labels, zero_division=0)
    if metric == "balanced_accuracy":
        return balanced_accuracy_score(y, pred)
    if metric == "gmean":
        r = recall_score(y, pred, average=None, labels=labels, zero_division=0)
        return float(np.prod(r) ** (1.0 / n_classes))
    raise AssertionError(metric)


METRICS = ["accuracy", "f1", "fbeta", "gmean", "balanced_accuracy"]


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_binary_hard_predictions_equal_sklearn(metric, seed):
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (40,), generator=g)
    y[:2] = torch.tensor([0, 1])  # both classes present
    pred = torch.where(torch.rand(40, generator=g) < 0.7, y, 1 - y)  # ~70% correct
    p = pred.to(DT)  # hard 0/1 probabilities
    ours = 1.0 - anyloss(p, y, metric=metric, beta=2.0).item()
    ref = _binary_reference(metric, y.numpy(), pred.numpy(), beta=2.0)
    assert ours == pytest.approx(ref, abs=1e-12)
    # probabilities that are merely on the right side of 0.5 by a margin (A(p) amplifies them)
    soft = torch.where(pred == 1, 0.97, 0.03).to(DT)
    assert 1.0 - anyloss(soft, y, metric=metric, beta=2.0).item() == pytest.approx(ref, abs=1e-9)


@pytest.mark.parametrize("metric", METRICS)
def test_multiclass_hard_predictions_equal_sklearn(metric):
    n, c = 60, 4
    y = torch.arange(n) % c
    pred = torch.where(torch.rand(n) < 0.6, y, torch.randint(0, c, (n,)))
    probs = torch.nn.functional.one_hot(pred, c).to(DT)  # hard one-hot probabilities
    ours = 1.0 - anyloss(probs, y, metric=metric, beta=0.5).item()
    ref = _multiclass_reference(metric, y.numpy(), pred.numpy(), c, beta=0.5)
    assert ours == pytest.approx(ref, abs=1e-12)


def test_soft_confusion_matrix_hard_equals_sklearn():
    y = torch.randint(0, 2, (30,))
    pred = torch.randint(0, 2, (30,))
    tn, fp, fn, tp = (v.item() for v in soft_confusion_matrix(pred.to(DT), y))
    assert (tn, fp, fn, tp) == tuple(confusion_matrix(y.numpy(), pred.numpy(), labels=[0, 1]).ravel())


def test_approximation_function_properties():
    p = torch.linspace(0, 1, 101, dtype=DT)
    a = approximation(p, L=73)
    assert a[50].item() == pytest.approx(0.5)  # A(0.5) = 0.5
    assert torch.all(a[1:51] > a[:50]) and torch.all(a[1:] >= a[:-1])  # increasing (saturates in fp64)
    assert 0 < a[0].item() < 1e-15 and 1 - a[-1].item() < 1e-15  # within 1e-15 of 0 / 1
    assert a[1].item() < 1e-15 * 3 and 1 - a[-10].item() < 1e-12  # p = 0.01 / 0.91 are already 'hard'
    torch.testing.assert_close(a, 1 / (1 + torch.exp(-73 * (p - 0.5))))


@pytest.mark.parametrize("metric", METRICS)
def test_gradients_flow_and_loss_decreases_under_sgd(metric):
    torch.manual_seed(0)
    x = torch.randn(64, 2, dtype=DT)
    y = (x[:, 0] + 0.3 * x[:, 1] > 0.4).long()  # imbalanced linear problem
    lin = torch.nn.Linear(2, 1).double()
    loss_fn = AnyLoss(metric=metric, L=10.0, from_logits=True)
    opt = torch.optim.SGD(lin.parameters(), lr=0.5)
    first = None
    for _ in range(40):
        loss = loss_fn(lin(x)[:, 0], y)
        first = loss.item() if first is None else first
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() for p in lin.parameters())
        opt.step()
    assert loss.item() < first


def test_factory_and_input_checks():
    m = create_loss("anyloss_gmean")
    assert isinstance(m, AnyLoss) and m.metric == "gmean" and m.L == 73.0
    assert create_loss("anyloss", metric="fbeta", beta=2.0).beta == 2.0
    with pytest.raises(ValueError, match="from_logits=True"):
        anyloss(torch.tensor([-1.0, 2.0]), torch.tensor([0, 1]))
    with pytest.raises(ValueError, match="metric must be one of"):
        AnyLoss(metric="auc")
    with pytest.raises(ValueError, match="multi-class target"):
        anyloss(torch.rand(4, 3), torch.rand(4, 3))


@pytest.mark.parametrize("metric", METRICS)
def test_gradcheck_binary_and_multiclass(metric):
    """Autograd gradients of the composed expression agree with finite differences (float64)."""
    p = torch.rand(12, dtype=DT).mul(0.6).add(0.2).requires_grad_()
    y = torch.tensor([0, 1] * 6)
    assert torch.autograd.gradcheck(lambda q: anyloss(q, y, metric=metric, L=5.0), (p,))
    logits = torch.randn(10, 3, dtype=DT, requires_grad=True)
    yc = torch.arange(10) % 3
    fn = lambda z: anyloss(z, yc, metric=metric, L=5.0, from_logits=True)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (logits,))
