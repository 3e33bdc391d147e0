"""ECE / MCE / reliability bins against a hand-computed example from the definition (Guo et al. 2017)."""

from __future__ import annotations

import pytest
import torch

from dlzoo.analysis.calibration import expected_calibration_error, max_calibration_error, reliability_bins


def _example():
    # 6 predictions, 2 classes, 4 bins of width 0.25. Confidences (max prob) and correctness:
    #   0.55 correct, 0.60 wrong      -> bin 3 ((0.5, 0.75]): acc 1/2, conf 0.575, gap 0.075
    #   0.75 correct                  -> bin 3 too (right-closed): acc 2/3, conf (0.55+0.6+0.75)/3
    #   0.80 correct, 0.90 correct, 1.0 wrong -> bin 4 ((0.75, 1]): acc 2/3, conf 0.9
    p = torch.tensor([0.55, 0.60, 0.75, 0.80, 0.90, 1.00], dtype=torch.float64)
    probs = torch.stack([p, 1 - p], dim=1)  # class 0 is always the prediction
    labels = torch.tensor([0, 1, 0, 0, 0, 1])
    return probs, labels


def test_reliability_bins_by_hand():
    probs, labels = _example()
    bins = reliability_bins(probs, labels, n_bins=4)
    assert bins.count.tolist() == [0, 0, 3, 3]
    assert torch.isnan(bins.accuracy[:2]).all()
    torch.testing.assert_close(bins.accuracy[2:], torch.tensor([2 / 3, 2 / 3], dtype=torch.float64))
    torch.testing.assert_close(bins.confidence[2:], torch.tensor([1.9 / 3, 2.7 / 3], dtype=torch.float64))


def test_ece_and_mce_by_hand():
    probs, labels = _example()
    gap3 = abs(2 / 3 - 1.9 / 3)  # 0.0333...
    gap4 = abs(2 / 3 - 0.9)  # 0.2333...
    assert expected_calibration_error(probs, labels, n_bins=4) == pytest.approx(3 / 6 * gap3 + 3 / 6 * gap4)
    assert max_calibration_error(probs, labels, n_bins=4) == pytest.approx(gap4)


def test_from_logits_and_perfect_calibration():
    probs, labels = _example()
    logits = probs.log()
    assert expected_calibration_error(logits, labels, 4, from_logits=True) == pytest.approx(
        expected_calibration_error(probs, labels, 4))
    # confidence 1 and always right -> ECE 0
    onehot = torch.eye(3, dtype=torch.float64)[[0, 1, 2, 1]]
    assert expected_calibration_error(onehot, torch.tensor([0, 1, 2, 1])) == 0.0


def test_shape_errors():
    with pytest.raises(ValueError, match=r"expected probs of shape \(N, K\), got \[4\]"):
        expected_calibration_error(torch.rand(4), torch.zeros(4, dtype=torch.long))
    with pytest.raises(ValueError, match=r"expected labels of shape \(4,\), got \[3\]"):
        expected_calibration_error(torch.rand(4, 2), torch.zeros(3, dtype=torch.long))


def test_reliability_bins_match_sklearn_calibration_curve():
    from sklearn.calibration import calibration_curve

    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(500, 5, generator=gen, dtype=torch.float64) * 2
    labels = torch.randint(0, 5, (500,), generator=gen)
    bins = reliability_bins(logits, labels, n_bins=10, from_logits=True)
    conf, pred = logits.softmax(-1).max(-1)
    correct = (pred == labels).numpy().astype(int)
    prob_true, prob_pred = calibration_curve(correct, conf.numpy(), n_bins=10, strategy="uniform")
    nonempty = bins.count > 0
    torch.testing.assert_close(bins.accuracy[nonempty], torch.from_numpy(prob_true))
    torch.testing.assert_close(bins.confidence[nonempty], torch.from_numpy(prob_pred))
