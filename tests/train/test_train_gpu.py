"""CUDA paths: device auto-selection, bf16 autocast, fp16 autocast with GradScaler (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch

from dlzoo.train import load_config, train


@pytest.mark.gpu
@pytest.mark.parametrize("amp", ["none", "bf16", "fp16"])
def test_cuda_training_with_autocast(tmp_path, amp):
    cfg = load_config(None, ["model.name=mlp_digits", "train.epochs=3", "optim.lr=3e-3", f"train.amp={amp}",
                             f"output_dir={tmp_path}", "checkpoint.every_epochs=1"])
    result = train(cfg, run_dir=tmp_path / amp, progress=False)
    assert next(result.model.parameters()).device.type == "cuda"
    assert result.history[-1]["val_acc"] > 0.85
    assert torch.isfinite(torch.tensor(result.history[-1]["train_loss"]))
