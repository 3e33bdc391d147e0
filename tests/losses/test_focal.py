"""Focal loss against the paper's Eq. 5 written out element by element, and gamma=0 == cross-entropy."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from dlzoo.losses import FocalLoss, SigmoidFocalLoss, create_loss, focal_loss, sigmoid_focal_loss

DT = torch.float64


def _paper_softmax_focal(x, y, gamma, alpha):
    """-alpha_t (1 - p_t)^gamma log p_t with p_t = exp(x_y) / sum_c exp(x_c), one sample at a time."""
    out = []
    for n in range(x.shape[0]):
        row = [float(v) for v in x[n]]
        p_t = math.exp(row[int(y[n])]) / sum(math.exp(v) for v in row)
        a = 1.0 if alpha is None else float(alpha[int(y[n])])
        out.append(-a * (1 - p_t) ** gamma * math.log(p_t))
    return torch.tensor(out, dtype=DT)


def _paper_sigmoid_focal(x, y, gamma, alpha):
    out = []
    for xv, yv in zip(x.flatten().tolist(), y.flatten().tolist()):
        p = 1 / (1 + math.exp(-xv))
        p_t = p if yv == 1 else 1 - p
        a_t = 1.0 if alpha < 0 else (alpha if yv == 1 else 1 - alpha)
        out.append(-a_t * (1 - p_t) ** gamma * math.log(p_t))
    return torch.tensor(out, dtype=DT).reshape(x.shape)


@pytest.mark.parametrize("gamma", [0.0, 0.5, 2.0, 5.0])
@pytest.mark.parametrize("use_alpha", [False, True])
def test_softmax_focal_matches_paper(gamma, use_alpha):
    x = torch.randn(11, 4, dtype=DT) * 2
    y = torch.randint(0, 4, (11,))
    alpha = torch.rand(4, dtype=DT) if use_alpha else None
    expected = _paper_softmax_focal(x, y, gamma, alpha)
    torch.testing.assert_close(focal_loss(x, y, gamma, alpha, reduction="none"), expected)
    torch.testing.assert_close(focal_loss(x, y, gamma, alpha), expected.mean())


@pytest.mark.parametrize("gamma", [0.0, 2.0])
@pytest.mark.parametrize("alpha", [0.25, -1.0])
def test_sigmoid_focal_matches_paper(gamma, alpha):
    x = torch.randn(5, 3, dtype=DT) * 3
    y = torch.randint(0, 2, (5, 3)).to(DT)
    expected = _paper_sigmoid_focal(x, y, gamma, alpha)
    torch.testing.assert_close(sigmoid_focal_loss(x, y, alpha, gamma), expected)
    torch.testing.assert_close(SigmoidFocalLoss(alpha, gamma)(x, y), expected.mean())


def test_gamma_zero_is_cross_entropy_values_and_grads():
    x = (torch.randn(9, 5, 2, dtype=DT) * 2).requires_grad_()
    y = torch.randint(0, 5, (9, 2))
    y[0, 0] = -100
    a = focal_loss(x, y, gamma=0.0)
    b = F.cross_entropy(x, y)
    torch.testing.assert_close(a, b)
    torch.testing.assert_close(torch.autograd.grad(a, x)[0], torch.autograd.grad(b, x)[0])
    w = torch.rand(5, dtype=DT)
    torch.testing.assert_close(focal_loss(x, y, 0.0, w, reduction="sum"),
                               F.cross_entropy(x, y, weight=w, reduction="sum"))
    # binary: gamma=0, no alpha == BCE with logits
    z = torch.randn(20, dtype=DT)
    t = torch.randint(0, 2, (20,)).to(DT)
    torch.testing.assert_close(sigmoid_focal_loss(z, t, alpha=-1, gamma=0, reduction="mean"),
                               F.binary_cross_entropy_with_logits(z, t))


def test_focusing_down_weights_easy_examples():
    """Paper Sec. 3.2: with gamma=2 an example with p_t=0.9 gets 100x lower loss than CE."""
    x = torch.tensor([[math.log(9.0), 0.0]], dtype=DT)  # softmax -> p_t = 0.9
    y = torch.tensor([0])
    ratio = focal_loss(x, y, gamma=2.0) / F.cross_entropy(x, y)
    assert ratio.item() == pytest.approx(0.01, rel=1e-9)


def test_module_factory_and_errors():
    m = create_loss("focal", gamma=1.0, alpha=[0.2, 0.3, 0.5])
    assert isinstance(m, FocalLoss) and "alpha" in m.state_dict()
    m(torch.randn(4, 3), torch.randint(0, 3, (4,)))
    with pytest.raises(ValueError, match="target must be int64"):
        focal_loss(torch.randn(4, 3), torch.rand(4, 3))
    with pytest.raises(ValueError, match="alpha tensor"):
        focal_loss(torch.randn(4, 3), torch.zeros(4, dtype=torch.long), alpha=torch.ones(2))
