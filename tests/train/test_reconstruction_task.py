"""The trainer's reconstruction task: a short `train` run of the linear autoencoder on the digits reaches
scikit-learn PCA's subspace and error, the task's PCA numbers equal scikit-learn's and scipy's computed here,
principal_angles equals scipy.linalg.subspace_angles, and bad input is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlzoo.analysis.subspace import principal_angles
from dlzoo.errors import UsageError
from dlzoo.train import load_config
from dlzoo.train.entry import train
from dlzoo.train.tasks import create_task, task_name

scipy_linalg = pytest.importorskip("scipy.linalg")
from sklearn.decomposition import PCA  # noqa: E402


def _cfg(*overrides: str):
    base = {
        "name": "lae",
        "model": {"name": "linear_autoencoder", "kwargs": {"latent_dim": 4}},
        "data": {"name": "digits", "batch_size": 64},
        "optim": {"name": "adam", "lr": 1e-2, "weight_decay": 0.0},
        "schedule": {"name": "constant"},
        "train": {"epochs": 60, "grad_clip": None},
        "checkpoint": {"every_epochs": 0},
    }
    return load_config(base, overrides=list(overrides))


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    return train(_cfg(f"output_dir={tmp_path_factory.mktemp('lae')}"), progress=False)


def test_linear_autoencoder_run_reaches_the_pca_subspace(run):
    test = json.loads((run.run_dir / "results.json").read_text())["test"]
    assert {"loss", "mse", "pca_loss", "angle_max_deg", "angle_mean_deg"} <= set(test)
    # computed here from the saved model, scikit-learn's PCA on the same training rows and scipy's angles
    train_x = run.data.splits.train.x.double().numpy()  # (N, 64): the task flattened the images
    test_x = run.data.splits.test.x.double().numpy()
    assert train_x.shape[1] == 64
    pca = PCA(4).fit(train_x)
    pca_loss = 0.5 * np.square(test_x - pca.inverse_transform(pca.transform(test_x))).sum(1).mean()
    assert test["pca_loss"] == pytest.approx(pca_loss, rel=1e-9)
    basis = run.model.principal_subspace().double().numpy()
    angles = np.degrees(scipy_linalg.subspace_angles(basis, pca.components_.T))
    assert test["angle_max_deg"] == pytest.approx(angles.max(), abs=1e-6)
    assert test["angle_mean_deg"] == pytest.approx(angles.mean(), abs=1e-6)
    with torch.no_grad():
        x_hat = run.model(torch.from_numpy(test_x).float()).double().numpy()
    assert test["loss"] == pytest.approx(0.5 * np.square(test_x - x_hat).sum(1).mean(), rel=1e-5)
    # Baldi & Hornik: gradient training reaches PCA's subspace (60 Adam epochs: within a few degrees)
    # and, within 1 %, PCA's error; PCA is the optimum, so the model is not below it (up to float error)
    assert angles.max() < 5.0, angles
    assert pca_loss * (1 - 1e-4) <= test["loss"] <= pca_loss * 1.01
    assert run.history[-1]["train_loss"] < 0.5 * run.history[0]["train_loss"]
    assert "val_angle_max_deg" in run.history[-1]


@pytest.mark.parametrize("p, q", [(3, 3), (4, 2), (2, 5)])
def test_principal_angles_equal_scipys(p, q):
    g = torch.Generator().manual_seed(p * 10 + q)
    a = torch.randn(12, p, generator=g, dtype=torch.float64)
    b = torch.randn(12, q, generator=g, dtype=torch.float64)
    want = np.sort(scipy_linalg.subspace_angles(a.numpy(), b.numpy()))
    np.testing.assert_allclose(principal_angles(a, b).numpy(), want, rtol=0, atol=1e-12)
    # nearly equal subspaces: tiny angles, resolved through the sines (arccos would give 0 or ~1e-8 noise)
    near = a + 1e-9 * torch.randn(12, p, generator=g, dtype=torch.float64)
    want = np.sort(scipy_linalg.subspace_angles(a.numpy(), near.numpy()))
    np.testing.assert_allclose(principal_angles(a, near).numpy(), want, rtol=1e-4, atol=1e-15)
    assert principal_angles(a, near).max() < 1e-7


def test_selection_and_bad_input():
    assert task_name(_cfg()) == "reconstruction"
    with pytest.raises(UsageError, match="data.augment: the reconstruction task"):
        create_task(_cfg("data.augment.mixup_alpha=0.2")).build_data()
    task = create_task(_cfg("model.kwargs.in_features=10"))
    data = task.build_data()
    with pytest.raises(UsageError, match=r"does not fit the data: LinearAutoencoder: expected float input"):
        task.check_fit(data, task.build_model(data))
    with pytest.raises(ValueError, match=r"principal_angles: a must be a \(n, k\) matrix"):
        principal_angles(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="same number of rows, got 4 and 3"):
        principal_angles(torch.randn(4, 2), torch.randn(3, 1))
