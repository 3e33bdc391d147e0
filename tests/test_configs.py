"""Every shipped config under configs/ validates, builds its model on its data, and runs one batch."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from dlzoo.nn import DyT
from dlzoo.train import load_config
from dlzoo.train.build import build_data, build_loss, build_model, build_optimizer, build_scheduler

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_configs_are_shipped():
    names = {p.name for p in CONFIGS}
    assert {"vit_digits.yaml", "mlp_digits.yaml", "vit_digits_dyt_a05.yaml", "vit_digits_dyt_a10.yaml",
            "vit_digits_rmsnorm.yaml"} <= names


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_validates_and_one_training_step_runs(path):
    cfg = load_config(path)
    data = build_data(cfg.data, cfg.seed)
    model = build_model(cfg.model, data.splits)
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.schedule, optimizer, len(data.train_loader),
                                cfg.train.epochs * len(data.train_loader))
    x, y = next(data.train_loader.iter_epoch(0))
    loss = build_loss(cfg.loss)(model(x), y)
    assert torch.isfinite(loss)
    loss.backward()
    optimizer.step()
    scheduler.step()
    alpha = cfg.model.kwargs.get("norm_kwargs", {}).get("alpha_init")
    dyts = [m for m in model.modules() if isinstance(m, DyT)]
    if cfg.model.kwargs.get("norm_layer") == "dyt":
        assert dyts and all(m.alpha_init == alpha for m in dyts)
    else:
        assert not dyts
