"""Brier vs scikit-learn, ECE vs Guo et al.'s Eq. 3 in numpy, soft ECE -> hard ECE, GoodhartAware vs scipy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import entropy as scipy_entropy
from sklearn.metrics import brier_score_loss

from dlzoo.losses import create_loss
from dlzoo.losses.calibration import (
    BrierScoreLoss,
    CalibratedCrossEntropy,
    brier_score,
    expected_calibration_error,
    soft_binned_ece,
)
from dlzoo.losses.goodhart import GoodhartAwareLoss, batch_mutual_information, entropy

DT = torch.float64


def _numpy_ece(probs: np.ndarray, y: np.ndarray, n_bins: int) -> float:
    """Guo et al. 2017 Eq. 3 with bins I_m = ((m-1)/M, m/M], written independently with a loop."""
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for m in range(1, n_bins + 1):
        in_bin = (conf > (m - 1) / n_bins) & (conf <= m / n_bins)
        if in_bin.any():
            ece += in_bin.mean() * abs((pred[in_bin] == y[in_bin]).mean() - conf[in_bin].mean())
    return ece


def test_brier_matches_sklearn_binary_and_multiclass():
    y = torch.randint(0, 4, (50,))
    y[:4] = torch.arange(4)
    p = torch.softmax(torch.randn(50, 4, dtype=DT) * 2, 1)
    ref = brier_score_loss(y.numpy(), p.numpy(), labels=[0, 1, 2, 3])
    assert brier_score(p, y).item() == pytest.approx(ref, rel=1e-12)
    yb = torch.randint(0, 2, (30,))
    pb = torch.rand(30, dtype=DT)
    assert brier_score(pb, yb).item() == pytest.approx(brier_score_loss(yb.numpy(), pb.numpy()), rel=1e-12)
    logits = torch.randn(50, 4, dtype=DT)
    assert BrierScoreLoss()(logits, y).item() == pytest.approx(
        brier_score_loss(y.numpy(), logits.softmax(1).numpy(), labels=[0, 1, 2, 3]), rel=1e-12)


def test_ece_matches_numpy_and_soft_ece_tends_to_it():
    probs = torch.softmax(torch.randn(200, 5, dtype=DT) * 2, 1)
    y = torch.randint(0, 5, (200,))
    ref = _numpy_ece(probs.numpy(), y.numpy(), 10)
    assert expected_calibration_error(probs, y, 10).item() == pytest.approx(ref, abs=1e-12)
    assert soft_binned_ece(probs, y, 10, temperature=1e-7).item() == pytest.approx(ref, abs=1e-6)
    # a perfectly calibrated toy: all confidences 0.75 and 3 of 4 correct -> ECE 0
    p = torch.tensor([[0.75, 0.25]] * 4, dtype=DT)
    assert expected_calibration_error(p, torch.tensor([0, 0, 0, 1])).item() == pytest.approx(0.0, abs=1e-15)


def test_soft_ece_is_differentiable_and_pushes_confidence_down_when_overconfident():
    logits = (torch.randn(64, 3, dtype=DT) * 4).requires_grad_()
    y = torch.randint(0, 3, (64,))  # random labels: the model is over-confident
    soft_binned_ece(logits.softmax(1), y, 15, 0.01).backward()
    assert torch.isfinite(logits.grad).all() and logits.grad.abs().sum() > 0
    with torch.no_grad():
        before = soft_binned_ece(logits.softmax(1), y).item()
        after = soft_binned_ece((logits - 0.5 * logits.grad / logits.grad.norm()).softmax(1), y).item()
    assert after < before


def test_calibrated_cross_entropy():
    x = torch.randn(20, 4, dtype=DT)
    y = torch.randint(0, 4, (20,))
    assert torch.equal(CalibratedCrossEntropy(0.0, 0.0)(x, y), F.cross_entropy(x, y))
    got = CalibratedCrossEntropy(brier_weight=0.5)(x, y)
    ref = F.cross_entropy(x, y) + 0.5 * brier_score_loss(y.numpy(), x.softmax(1).numpy(), labels=[0, 1, 2, 3])
    assert got.item() == pytest.approx(ref.item(), rel=1e-12)
    m = create_loss("calibrated_cross_entropy", brier_weight=0.1, ece_weight=0.2)
    x.requires_grad_()
    m(x, y).backward()
    assert torch.isfinite(x.grad).all()


def test_goodhart_components_against_scipy():
    x = torch.randn(16, 5, dtype=DT) * 2
    y = torch.randint(0, 5, (16,))
    p = x.softmax(1).numpy()
    h_cond = scipy_entropy(p, axis=1).mean()
    joint = p / p.shape[0]  # P(x_i, y) with X uniform over the batch
    outer = np.full(p.shape[0], 1 / p.shape[0])[:, None] * joint.sum(0)[None, :]
    mi = scipy_entropy(joint.ravel(), outer.ravel())  # KL(P(X,Y) || P(X)P(Y)) = I(X; Y)
    assert entropy(x.softmax(1)).mean().item() == pytest.approx(h_cond, rel=1e-6)
    assert batch_mutual_information(x.softmax(1)).item() == pytest.approx(mi, rel=1e-5, abs=1e-7)
    loss = GoodhartAwareLoss(entropy_weight=0.3, mi_weight=0.2)
    expected = F.cross_entropy(x, y).item() - 0.3 * h_cond + 0.2 * max(mi, 0.0)
    assert loss(x, y).item() == pytest.approx(expected, rel=1e-6)


def test_goodhart_zero_weights_is_cross_entropy_and_soft_targets():
    x = torch.randn(8, 3, dtype=DT, requires_grad=True)
    y = torch.randint(0, 3, (8,))
    m = create_loss("goodhart_aware", entropy_weight=0.0, mi_weight=0.0, label_smoothing=0.1)
    a, b = m(x, y), F.cross_entropy(x, y, label_smoothing=0.1)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(torch.autograd.grad(a, x)[0], torch.autograd.grad(b, x)[0])
    t = torch.softmax(torch.randn(8, 3, dtype=DT), 1)
    torch.testing.assert_close(m(x, t), F.cross_entropy(x, t, label_smoothing=0.1))
    with pytest.raises(ValueError, match="weights must be >= 0"):
        GoodhartAwareLoss(entropy_weight=-1)
