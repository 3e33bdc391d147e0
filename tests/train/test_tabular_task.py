"""The trainer's tabular task: scikit-learn's data standardised exactly like StandardScaler on the same
training rows, full-batch only (the L2 term's scaling), and a short `train` run reporting scikit-learn's
fit."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlzoo.data.splits import stratified_split
from dlzoo.errors import UsageError
from dlzoo.train import load_config
from dlzoo.train.entry import train
from dlzoo.train.tasks import create_task, task_name

sklearn = pytest.importorskip("sklearn")
from sklearn import datasets  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def _cfg(*overrides: str, data: str = "iris"):
    base = {
        "name": "tab",
        "model": {"name": "softmax_regression"},
        "data": {"name": data, "batch_size": 4096},
        "optim": {"name": "adam", "lr": 0.1, "weight_decay": 0.0},
        "schedule": {"name": "none"},
        "train": {"epochs": 40, "grad_clip": None},
        "checkpoint": {"every_epochs": 0},
    }
    return load_config(base, overrides=list(overrides))


@pytest.mark.parametrize("name", ["digits", "breast_cancer"])
def test_splits_are_standardscaler_on_the_training_rows(name):
    task = create_task(_cfg(data=name))
    s = task.build_data().splits
    bunch = getattr(datasets, f"load_{name}")()
    train, _, test = stratified_split(bunch.target, 0.15, 0.15, 0)
    scaler = StandardScaler().fit(bunch.data[train])  # constant pixels: scale 1, as ours
    np.testing.assert_allclose(s.train.x.numpy(), scaler.transform(bunch.data[train]), atol=1e-5)
    np.testing.assert_allclose(s.test.x.numpy(), scaler.transform(bunch.data[test]), atol=1e-4)
    assert torch.equal(s.test.y, torch.from_numpy(bunch.target[test]).long())


def test_selection_and_bad_input():
    assert task_name(_cfg()) == "tabular"
    with pytest.raises(UsageError, match=r"data.batch_size=16 < \d+ training samples"):
        create_task(_cfg("data.batch_size=16")).build_data()
    task = create_task(_cfg("optim.weight_decay=0.05"))
    data = task.build_data()
    with pytest.raises(UsageError, match="optim.weight_decay=0.05: a shallow model's objective"):
        task.check_fit(data, task.build_model(data))
    with pytest.raises(UsageError, match="a tabular model trains on one of"):
        create_task(_cfg(data="cifar10")).build_data()


def test_train_reports_sklearn_next_to_the_model(tmp_path):
    result = train(_cfg(f"output_dir={tmp_path}"), progress=False)
    test = json.loads((result.run_dir / "results.json").read_text())["test"]
    assert {"acc", "sklearn_acc", "sklearn_coef_max_abs_diff"} <= set(test)
    assert result.history[-1]["train_loss"] < 0.5 * result.history[0]["train_loss"]
    assert test["acc"] >= test["sklearn_acc"] - 0.1  # 40 Adam steps: near, not at, the optimum
