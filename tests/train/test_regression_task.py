"""The trainer's regression task: metrics equal scikit-learn's, and the 3-D U-Net learns to forecast the
advection-diffusion frames better than the persistence baseline."""

from __future__ import annotations

import json

import pytest
import torch
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

from dlzoo.cli import main as cli_main
from dlzoo.train import train
from dlzoo.train.tasks.regression import regression_metrics


def test_regression_metrics_equal_sklearn():
    g = torch.Generator().manual_seed(0)
    target = torch.randn(5, 1, 3, 4, 4, generator=g)
    pred = target + 0.3 * torch.randn(5, 1, 3, 4, 4, generator=g)
    m = regression_metrics(pred, target)
    t, p = target.flatten().numpy(), pred.flatten().numpy()
    assert m["mse"] == pytest.approx(mean_squared_error(t, p), rel=1e-6)
    assert m["mae"] == pytest.approx(mean_absolute_error(t, p), rel=1e-6)
    assert m["r2"] == pytest.approx(r2_score(t, p), rel=1e-6)
    frame2 = mean_squared_error(target[:, :, 1].flatten().numpy(), pred[:, :, 1].flatten().numpy())
    assert m["mse_frame2"] == pytest.approx(frame2, rel=1e-6)


@pytest.mark.slow
def test_unet3d_beats_persistence_on_advection(tmp_path):
    cfg = {
        "model": {"name": "unet3d_tiny", "kwargs": {"base_channels": 8}},
        "data": {
            "name": "advection",
            "batch_size": 16,
            "kwargs": {"num_samples": 160, "past": 4, "future": 4, "size": 8},
        },
        "loss": {"name": "mse"},
        "optim": {"name": "adamw", "lr": 0.003, "weight_decay": 0.0},
        "train": {"epochs": 6},
    }
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    assert result.test["mse"] < result.test["persistence_mse"], result.test
    assert result.test["r2"] > result.test["persistence_r2"]


def test_a_classifier_on_regression_data_exits_2(tmp_path, capsys):
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps({"model": {"name": "resnet18"}, "data": {"name": "advection"}}))
    assert cli_main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "needs a segmentation model such as unet3d_tiny" in err and "Traceback" not in err
