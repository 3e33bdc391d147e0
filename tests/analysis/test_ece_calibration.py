"""ECE / MCE / Brier / reliability bins vs hand-computed examples (Guo et al. 2017), torchmetrics, sklearn."""

from __future__ import annotations

import pytest
import torch

from dlzoo.analysis.calibration import (
    brier_score,
    calibration_summary,
    confidences,
    expected_calibration_error,
    max_calibration_error,
    reliability_bins,
)


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


def _random_predictions(n: int = 600, k: int = 5, seed: int = 1):
    gen = torch.Generator().manual_seed(seed)
    logits = torch.randn(n, k, generator=gen) * 2.5
    noise = torch.randint(0, k, (n,), generator=gen)
    labels = torch.where(torch.rand(n, generator=gen) < 0.6, logits.argmax(-1), noise)
    return logits.softmax(-1), labels


@pytest.mark.parametrize("n_bins", [10, 15])
def test_ece_and_mce_equal_torchmetrics(n_bins):
    tm = pytest.importorskip("torchmetrics.functional.classification")
    probs, labels = _random_predictions()
    ref_ece = tm.multiclass_calibration_error(probs, labels, num_classes=5, n_bins=n_bins, norm="l1")
    ref_mce = tm.multiclass_calibration_error(probs, labels, num_classes=5, n_bins=n_bins, norm="max")
    assert expected_calibration_error(probs, labels, n_bins) == pytest.approx(float(ref_ece), abs=1e-6)
    assert max_calibration_error(probs, labels, n_bins) == pytest.approx(float(ref_mce), abs=1e-6)
    summary = calibration_summary(probs, labels, n_bins)
    assert summary.ece == pytest.approx(float(ref_ece), abs=1e-6)
    assert summary.mce == pytest.approx(float(ref_mce), abs=1e-6)


def test_summary_mce_bin_and_counts():
    probs, labels = _example()
    s = calibration_summary(probs, labels, n_bins=4)
    assert (s.mce_bin, s.mce_count, s.num_samples) == (3, 3, 6)
    assert s.mce == pytest.approx(abs(2 / 3 - 0.9))
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.mean_confidence == pytest.approx(float(probs.max(-1).values.mean()))


def test_brier_binary_equals_sklearn_and_multiclass_equation():
    from sklearn.metrics import brier_score_loss

    gen = torch.Generator().manual_seed(2)
    p1 = torch.rand(200, generator=gen, dtype=torch.float64)
    labels = (torch.rand(200, generator=gen, dtype=torch.float64) < p1).long()
    probs = torch.stack([1 - p1, p1], dim=1)
    # two-class Brier (sum over both classes) is twice sklearn's positive-class score
    assert brier_score(probs, labels) == pytest.approx(2 * brier_score_loss(labels.numpy(), p1.numpy()))
    probs, labels = _random_predictions(50, 4)
    by_loop = sum(sum((float(probs[i, k]) - (k == int(labels[i]))) ** 2 for k in range(4))
                  for i in range(50)) / 50
    assert brier_score(probs, labels) == pytest.approx(by_loop)
    assert brier_score(probs.log(), labels, from_logits=True) == pytest.approx(by_loop, rel=1e-6)
    with pytest.raises(ValueError, match=r"brier_score: labels must lie in \[0, 4\), got \[0, 7\]"):
        brier_score(probs, torch.tensor([7] + [0] * 49))


def test_reliability_diagram_draws_gap_bars_and_counts(tmp_path):
    import matplotlib.pyplot as plt

    from dlzoo.analysis.calibration_plots import (
        draw_confidence_histogram,
        draw_reliability,
        plot_confidence_histogram,
        plot_reliability_diagram,
    )

    probs, labels = _example()
    bins = reliability_bins(probs, labels, n_bins=4)
    fig, ax = plt.subplots()
    draw_reliability(ax, bins)
    acc_bars = [p for p in ax.patches if p.get_gid() == "accuracy"]
    gap_bars = [p for p in ax.patches if p.get_gid() == "gap"]
    assert [round(p.get_height(), 6) for p in acc_bars] == [round(2 / 3, 6)] * 2
    # gap bars start at the accuracy and end at the mean confidence of their bin
    for bar, conf in zip(gap_bars, bins.confidence[2:].tolist()):
        assert bar.get_y() == pytest.approx(2 / 3) and bar.get_y() + bar.get_height() == pytest.approx(conf)
    assert sorted(t.get_text() for t in ax.texts if t.get_text().isdigit()) == ["3", "3"]  # per-bin counts
    assert ax.get_xlabel().startswith("confidence") and ax.get_ylabel() == "accuracy"
    plt.close(fig)
    fig, ax = plt.subplots()
    conf, correct = confidences(probs, labels)
    draw_confidence_histogram(ax, conf.numpy(), correct.numpy(), n_bins=4)
    assert sum(p.get_height() for p in ax.patches) == pytest.approx(1.0)  # shares sum to 1
    plt.close(fig)
    assert plot_reliability_diagram(bins, tmp_path / "r.png").stat().st_size > 1000
    assert plot_confidence_histogram(conf.numpy(), correct.numpy(), tmp_path / "h.png").stat().st_size > 1000
