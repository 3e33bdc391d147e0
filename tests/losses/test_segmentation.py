"""Dice / IoU / Tversky: hard predictions equal scikit-learn's F1 and Jaccard; Tversky(0.5,0.5) == Dice."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import f1_score, jaccard_score

from dlzoo.losses import create_loss
from dlzoo.losses.segmentation import DiceLoss, IoULoss, TverskyLoss, dice_loss, iou_loss, tversky_loss

DT = torch.float64


def _hard(n=2, c=3, h=6, w=5):
    y = torch.randint(0, c, (n, h, w))
    pred = torch.where(torch.rand(n, h, w) < 0.7, y, torch.randint(0, c, (n, h, w)))
    probs = F.one_hot(pred, c).movedim(-1, 1).to(DT)  # (N, C, H, W)
    return y, pred, probs


def test_hard_predictions_match_sklearn():
    y, pred, probs = _hard()
    labels = [0, 1, 2]
    yt, yp = y.flatten().numpy(), pred.flatten().numpy()
    dice = 1 - dice_loss(probs, y, from_logits=False).item()
    iou = 1 - iou_loss(probs, y, from_logits=False).item()
    assert dice == pytest.approx(f1_score(yt, yp, average="macro", labels=labels), abs=1e-12)
    assert iou == pytest.approx(jaccard_score(yt, yp, average="macro", labels=labels), abs=1e-12)


def test_binary_sigmoid_channel():
    y = torch.randint(0, 2, (3, 1, 4, 4)).to(DT)
    logits = torch.where(y > 0, 50.0, -50.0).to(DT)  # saturated -> hard
    logits[0, 0, 0, 0] *= -1  # one error
    pred = (logits > 0).long().flatten().numpy()
    assert 1 - dice_loss(logits, y).item() == pytest.approx(f1_score(y.flatten().numpy(), pred), abs=1e-12)
    y_idx = y[:, 0].long()  # index target (N, H, W) for C = 1
    torch.testing.assert_close(dice_loss(logits, y_idx), dice_loss(logits, y))


@pytest.mark.parametrize("per_image", [False, True])
def test_tversky_special_cases_soft(per_image):
    logits = torch.randn(2, 4, 5, 3, dtype=DT, requires_grad=True)
    y = torch.randint(0, 4, (2, 5, 3))
    t = tversky_loss(logits, y, 0.5, 0.5, per_image=per_image)
    d = dice_loss(logits, y, per_image=per_image)
    torch.testing.assert_close(t, d)
    torch.testing.assert_close(torch.autograd.grad(t, logits)[0], torch.autograd.grad(d, logits)[0])
    torch.testing.assert_close(tversky_loss(logits, y, 1.0, 1.0, per_image=per_image),
                               iou_loss(logits, y, per_image=per_image))


def test_tversky_beta_penalises_false_negatives_more():
    y = torch.zeros(1, 8, dtype=torch.long)
    y[0, :4] = 1  # 4 positives
    probs = torch.zeros(1, 2, 8, dtype=DT)
    probs[0, 1, :2] = 1  # predict 2 of them (2 FN) ...
    probs[0, 1, 4:6] = 1  # ... and 2 false positives
    probs[0, 0] = 1 - probs[0, 1]
    fn_heavy = tversky_loss(probs, y, alpha=0.3, beta=0.7, from_logits=False)
    fp_heavy = tversky_loss(probs, y, alpha=0.7, beta=0.3, from_logits=False)
    torch.testing.assert_close(fn_heavy, fp_heavy)  # symmetric errors: same score
    probs2 = probs.clone()
    probs2[0, 1, 4:6] = 0  # remove the FPs; now only FNs
    probs2[0, 0] = 1 - probs2[0, 1]
    assert tversky_loss(probs2, y, 0.3, 0.7, from_logits=False) > tversky_loss(probs2, y, 0.7, 0.3,
                                                                                   from_logits=False)


def test_modules_factory_errors():
    x, y = torch.randn(2, 3, 4, 4), torch.randint(0, 3, (2, 4, 4))
    for name, cls in [("dice", DiceLoss), ("iou", IoULoss), ("jaccard", IoULoss), ("tversky", TverskyLoss)]:
        m = create_loss(name)
        assert isinstance(m, cls)
        assert 0 <= m(x, y).item() <= 1
    with pytest.raises(ValueError, match="index target must have shape"):
        dice_loss(x, torch.randint(0, 3, (2, 4)))
