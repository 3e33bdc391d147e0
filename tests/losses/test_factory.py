"""create_loss: every registered loss builds from its name alone and has a card; name matching rules."""

from __future__ import annotations

import pytest
import torch

import dlzoo.losses as losses
from dlzoo.losses import LOSSES, create_loss, list_losses


@pytest.mark.parametrize("name", list_losses())
def test_every_registered_loss_builds_and_runs(name):
    m = create_loss(name)
    assert isinstance(m, torch.nn.Module)
    assert LOSSES.card(name).family == "loss"
    n, c = 6, 3
    if name == "clip":
        out = m(torch.randn(n, 8), torch.randn(n, 8))
    elif name == "mdn":
        out = m(torch.randn(n, 2), torch.randn(n, 2, 1), torch.rand(n, 2, 1) + 0.1, torch.randn(n, 1))
    elif name in ("dice", "iou", "jaccard", "tversky"):
        out = m(torch.randn(n, c, 4, 4), torch.randint(0, c, (n, 4, 4)))
    elif name == "capsule_margin":
        out = m(torch.rand(n, c, 4) * 0.5, torch.randint(0, c, (n,)))
    elif name.startswith("anyloss"):
        out = m(torch.rand(n, c).softmax(1), torch.randint(0, c, (n,)))
    elif name in ("bce_with_logits", "sigmoid_focal"):
        out = m(torch.randn(n, c), torch.randint(0, 2, (n, c)).float())
    elif name in ("mse", "l1", "huber", "smooth_l1"):
        out = m(torch.randn(n, c), torch.randn(n, c))
    else:
        out = m(torch.randn(n, c), torch.randint(0, c, (n,)))
    assert out.shape == () and torch.isfinite(out)


def test_name_normalisation_and_errors():
    assert type(create_loss("CrossEntropyLoss")) is losses.CrossEntropyLoss
    assert type(create_loss("Smooth-L1")) is losses.SmoothL1Loss
    assert type(create_loss("DiceLoss")) is losses.DiceLoss
    with pytest.raises(KeyError, match="unknown loss"):
        create_loss("no_such_loss")
    with pytest.raises(TypeError):
        create_loss(None)
    assert set(list_losses("anyloss_*")) == {f"anyloss_{m}" for m in losses.ANYLOSS_METRICS}
