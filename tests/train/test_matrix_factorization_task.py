"""The trainer's matrix-factorization task: the seeded matrix is rank-r plus noise (numpy's rank), a short
run reaches the Eckart-Young bound computed here with numpy's SVD, the reported error is that of the saved
factors, and bad input is refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from dlzoo.errors import UsageError
from dlzoo.train import load_config
from dlzoo.train.entry import train
from dlzoo.train.tasks import create_task, task_name
from dlzoo.train.tasks.matrix_factorization import low_rank_matrix


def _cfg(*overrides: str):
    base = {
        "name": "mf",
        "model": {"name": "matrix_factorization"},
        "data": {
            "name": "low_rank",
            "batch_size": 8,
            "kwargs": {"num_rows": 30, "num_cols": 20, "rank": 3, "noise_std": 0.05},
        },
        "optim": {"name": "adam", "lr": 2e-2, "weight_decay": 0.0},
        "schedule": {"name": "warmup_cosine", "warmup_epochs": 2, "min_lr_ratio": 0.0},
        "train": {"epochs": 120, "grad_clip": None},
        "checkpoint": {"every_epochs": 0},
    }
    return load_config(base, overrides=list(overrides))


def test_low_rank_matrix_is_rank_r_plus_noise():
    m, signal = low_rank_matrix(30, 20, 3, 0.05, seed=0)
    assert np.linalg.matrix_rank(signal.numpy()) == 3
    assert np.std((m - signal).numpy()) == pytest.approx(0.05, rel=0.1)
    torch.testing.assert_close(low_rank_matrix(30, 20, 3, 0.05, seed=0)[0], m, rtol=0, atol=0)


def test_run_reaches_the_eckart_young_bound(tmp_path):
    torch.set_num_threads(1)
    result = train(_cfg(f"output_dir={tmp_path}"), progress=False)
    test = json.loads((result.run_dir / "results.json").read_text())["test"]
    m, signal = (t.numpy() for t in low_rank_matrix(30, 20, 3, 0.05, seed=0))
    s = np.linalg.svd(m, compute_uv=False)
    assert test["eckart_young_error"] == pytest.approx((s[3:] ** 2).sum(), rel=1e-9)
    recon = result.model.reconstruction().detach().double().numpy()  # P Q^T of the saved factors
    assert test["error"] == pytest.approx(((m - recon) ** 2).sum(), rel=1e-5)
    assert test["signal_rel_error"] == pytest.approx(
        ((signal - recon) ** 2).sum() / (signal**2).sum(), rel=1e-5
    )
    assert 1 - 1e-6 <= test["error_ratio"] < 1.02, test  # the bound is the optimum: reached, not beaten


def test_selection_and_bad_input():
    assert task_name(_cfg()) == "matrix-factorization"
    with pytest.raises(
        UsageError, match="data.name='digits': matrix_factorization trains on data.name: low_rank"
    ):
        create_task(_cfg("data.name=digits"))
    with pytest.raises(UsageError, match=r"data.kwargs \['rows'\]: the low_rank matrix takes"):
        create_task(_cfg("data.kwargs.rows=3"))
    with pytest.raises(UsageError, match="data.kwargs.rank must be an integer >= 1, got 0"):
        create_task(_cfg("data.kwargs.rank=0"))
    task = create_task(_cfg("model.kwargs.num_cols=7"))
    data = task.build_data()
    with pytest.raises(UsageError, match=r"factorizes a \(30, 7\) matrix, the data is \(30, 20\)"):
        task.check_fit(data, task.build_model(data))
