"""Task-contract helpers of models/_base.py: how any model output becomes the training loss."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from dlzoo.models._base import main_output, training_loss
from dlzoo.models.googlenet import GoogLeNetOutputs
from dlzoo.train import train


def test_training_loss_adds_auxiliary_terms_as_the_paper():
    y = torch.tensor([1, 0, 2])
    main, aux2, aux1 = torch.randn(3, 3), torch.randn(3, 3), torch.randn(3, 3)
    out = GoogLeNetOutputs(main, aux2, aux1)
    expected = F.cross_entropy(main, y) + 0.3 * (F.cross_entropy(aux1, y) + F.cross_entropy(aux2, y))
    torch.testing.assert_close(training_loss(out, F.cross_entropy, y), expected)
    torch.testing.assert_close(training_loss(main, F.cross_entropy, y), F.cross_entropy(main, y))
    assert main_output(out) is main and main_output(main) is main
    with pytest.raises(TypeError, match="expected logits"):
        main_output({"logits": main})


def test_trainer_trains_googlenet_with_aux_heads(tmp_path, monkeypatch):
    calls = []
    original = GoogLeNetOutputs.loss

    def counting(self, criterion, target, *args, **kwargs):
        calls.append(self.aux_logits1 is not None and self.aux_logits2 is not None)
        return original(self, criterion, target, *args, **kwargs)

    monkeypatch.setattr(GoogLeNetOutputs, "loss", counting)
    cfg = {"name": "g", "output_dir": str(tmp_path),
           "model": {"name": "googlenet", "kwargs": {"aux_logits": True}},
           "data": {"name": "digits", "batch_size": 256, "img_size": 16}, "train": {"epochs": 1},
           "checkpoint": {"every_epochs": 0}}
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    assert calls and all(calls)  # every training step used the aux heads' terms
    assert 0.0 <= result.test["acc"] <= 1.0
