"""``tensor_fit``: a non-finite loss raises :class:`FitDiverged` naming where, and the helpers that turn a
diverged job into a reported row (split, sentence, per-run row, every-run-diverged error)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlzoo.experiments.tensor_fit import (
    FitDiverged,
    diverged_result,
    diverged_sentence,
    fit,
    per_run_row,
    require_finished,
    split_diverged,
)


def _mse(m: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return (m(x) - y).pow(2).mean()


def test_a_huge_lr_raises_fit_diverged_and_a_sane_one_fits():
    x = torch.randn(32, 4, generator=torch.Generator().manual_seed(0))
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])[:, None]  # (32, 1), exactly linear
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    # AdamW moves every weight by about lr per step: 1e30 squared overflows float32 (max 3.4e38)
    with pytest.raises(FitDiverged, match=r"training diverged: the loss is (inf|nan) at epoch \d+, step \d+"):
        fit(model, _mse, (x, y), epochs=3, batch_size=8, lr=1e30, seed=0, warmup_fraction=0.0)
    assert issubclass(FitDiverged, FloatingPointError)
    torch.manual_seed(0)
    model = nn.Linear(4, 1)
    res = fit(model, _mse, (x, y), epochs=100, batch_size=32, lr=0.1, seed=0, warmup_fraction=0.0)
    assert res.history[-1]["train_loss"] < 1e-3 * res.history[0]["train_loss"]


def test_a_diverged_job_becomes_a_listed_row_left_out_of_the_finished_runs():
    job = {"label": "mlp sigma_c=5", "seed": 1, "run_dir": "out/runs/mlp_cm5_seed1"}
    bad = diverged_result(job, FitDiverged("training diverged: the loss is nan at epoch 2, step 1"), params=7)
    assert bad == {
        "params": 7,
        "label": "mlp sigma_c=5",
        "seed": 1,
        "run_dir": "out/runs/mlp_cm5_seed1",
        "error": "training diverged: the loss is nan at epoch 2, step 1",
        "diverged": True,
    }
    good = {"label": "mlp sigma_c=5", "seed": 0, "acc": 0.5}
    assert split_diverged([good, bad]) == ([good], [bad])
    assert require_finished("x", [good, bad]) == [good]
    with pytest.raises(RuntimeError, match=r"^x: every run diverged \(1 of 1\); first: training diverged"):
        require_finished("x", [bad])
    assert diverged_sentence([good]) is None
    assert diverged_sentence([good, bad]) == (
        "1 of 2 runs diverged (non-finite training loss) and are left out of every mean, test and figure; "
        "the per-run table lists them as diverged: mlp sigma_c=5 seed 1 (training diverged: the loss is nan "
        "at epoch 2, step 1)."
    )

    def cells(r):
        return [f"{100 * r['acc']:.2f}", "x"]

    assert per_run_row(good, ["mlp", "0"], cells, 4) == ["mlp", "0", "50.00", "x"]
    assert per_run_row(bad, ["mlp", "1"], cells, 4) == ["mlp", "1", "diverged", ""]  # cells(bad) not called
