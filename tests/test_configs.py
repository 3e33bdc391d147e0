"""Every shipped config under configs/ validates, builds its model on its data through its task (what
``dlzoo train`` runs), passes the trainer's dry run (``check_fit``: model vs data vs loss, checked before
anything is written), and runs one training batch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from dlzoo.nn import DyT
from dlzoo.train import load_config
from dlzoo.train.build import build_optimizer, build_scheduler
from dlzoo.train.tasks import create_task

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_configs_are_shipped():
    names = {p.name for p in CONFIGS}
    assert {"vit_digits.yaml", "mlp_digits.yaml", "vit_digits_dyt_a05.yaml", "vit_digits_dyt_a10.yaml",
            "vit_digits_rmsnorm.yaml", "resnet18_digits.yaml", "convnext_digits.yaml",
            "resnet18_cifar10.yaml", "convnext_cifar10.yaml"} <= names


def _write_cifar_folder(folder: Path, per_file: int = 8) -> None:
    """A tiny CIFAR-10 binary folder per the format spec: per record a label byte then 3x1024 pixel bytes."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    for name in ["data_batch_1", "data_batch_2", "test_batch"]:
        labels = np.arange(per_file) % 10
        pixels = rng.integers(0, 256, (per_file, 3 * 32 * 32), dtype=np.uint8)
        (folder / f"{name}.bin").write_bytes(b"".join(bytes([int(l)]) + p.tobytes()
                                                      for l, p in zip(labels, pixels)))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_config_validates_and_one_training_step_runs(path, tmp_path):
    cfg = load_config(path)
    if cfg.data.name == "cifar10":  # point the CIFAR configs at a tiny folder in the real binary format
        root = tmp_path / "cifar-10-batches-bin"
        _write_cifar_folder(root)
        cfg = load_config(path, overrides=[f"data.root={root}", "data.batch_size=4"])
    task = create_task(cfg)  # classification, language modelling, graph or regression, as `dlzoo train`
    data = task.build_data()
    model = task.build_model(data)
    task.check_fit(data, model)
    task.setup(data, torch.device("cpu"))
    optimizer = build_optimizer(cfg.optim, model)
    scheduler = build_scheduler(cfg.schedule, optimizer, len(data.train_loader),
                                cfg.train.epochs * len(data.train_loader))
    x, y = next(data.train_loader.iter_epoch(0))
    loss, _ = task.train_loss(model, x, y)
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
