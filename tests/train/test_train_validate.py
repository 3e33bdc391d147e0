"""Configs whose sections do not fit together are refused before anything is written.

Each case goes through ``dlzoo train`` (exit 2, one paragraph on stderr, no traceback, no run directory);
before the dry run (``dlzoo.train.validate.check_fit``) most of them crashed in the first training step
with a traceback, after the run directory had been created.
"""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
import torch

from dlzoo.cli import main
from dlzoo.errors import UsageError
from dlzoo.train import load_config, train
from dlzoo.train.build import build_data, build_model
from dlzoo.train.validate import check_fit


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"name: v\noutput_dir: {tmp_path / 'runs'}\nmodel: {{name: mlp_digits}}\n"
                    "train: {epochs: 1, log_every: 1000}\ncheckpoint: {every_epochs: 0}\n")
    return path


@pytest.mark.parametrize("overrides,pattern", [
    # model vs data (8x8 single-channel digits, 10 classes)
    (["model.name=vit_tiny_digits", "model.kwargs.img_size=16"],
     r"model 'vit_tiny_digits' on data 'digits' .*does not fit the data: PatchEmbed: expected input"),
    (["model.name=vit_tiny_digits", "model.kwargs.patch_size=3"], r"must be divisible by patch_size"),
    (["model.kwargs.in_chans=3"], r"does not fit the data: MlpClassifier: expected input \(B, 3, 8, 8\)"),
    (["model.name=resnet18", "model.kwargs.in_chans=3"], r"does not fit the data: ResNet: expected input"),
    (["model.kwargs.num_classes=5"], r"returns \(2, 5\).*set model.kwargs.num_classes=10"),
    (["model.kwargs.num_classes=0"], r"returns \(2, 128\)"),  # 0 classes: pooled features, not logits
    # loss vs augmentation: focal loss takes class indices only
    (["data.augment.mixup_alpha=0.2", "loss.name=focal"], r"loss.name='focal' cannot take the soft targets"),
    (["data.augment.cutmix_alpha=1.0", "loss.name=focal"], r"loss.name='focal' cannot take the soft targets"),
    # names
    (["model.kwargs.norm_layer=bogus"], r"unknown norm 'bogus'"),
    (["model.name=vit_tiny_digits", "model.kwargs.norm_layer=layernrom"], r"unknown norm 'layernrom'"),
    (["model.name=resnet9000"], r"model.name: unknown model 'resnet9000'"),
    # typed cross-section rules
    (["schedule.warmup_epochs=3"], r"schedule.warmup_epochs=3.0 is longer than train.epochs=1"),
    (["data.val_fraction=0.6", "data.test_fraction=0.5"], r"val_fraction \+ test_fraction must be < 1"),
])
def test_mismatched_sections_exit_2_before_any_run_directory_exists(overrides, pattern, config, tmp_path,
                                                                     capsys):
    code = main(["train", str(config), *overrides, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, captured.err
    assert captured.err.startswith("dlzoo train: error: ")
    assert len(captured.err.strip().splitlines()) == 1  # one paragraph
    assert re.search(pattern, captured.err), captured.err
    assert "Traceback" not in captured.err + captured.out
    assert not (tmp_path / "runs").exists()  # nothing written: no run directory, not even runs/v/


def test_an_explicit_run_dir_is_not_created_either(tmp_path):
    cfg = load_config(None, ["model.name=mlp_digits", "model.kwargs.in_chans=3", "train.epochs=1"])
    with pytest.raises(UsageError, match="does not fit the data"):
        train(cfg, run_dir=tmp_path / "a" / "b", progress=False)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("built", [False, True], ids=["meta-model", "trainer-model"])
def test_dry_run_leaves_every_rng_state_and_the_model_untouched(built):
    # Mixup + CutMix + flips draw from torch's generator and the model runs a forward: all must be undone
    cfg = load_config(None, ["model.name=mlp_digits", "model.kwargs.drop_rate=0.5", "data.augment.hflip=0.5",
                             "data.augment.mixup_alpha=0.2", "data.augment.cutmix_alpha=1.0"])
    data = build_data(cfg.data, cfg.seed)
    model = build_model(cfg.model, data.splits).train() if built else None
    weights = {k: v.clone() for k, v in model.state_dict().items()} if built else {}
    torch.manual_seed(5)
    random.seed(5)
    np.random.seed(5)  # noqa: NPY002
    before = (torch.get_rng_state(), random.getstate(), np.random.get_state()[1].copy())  # noqa: NPY002
    check_fit(cfg, data, model)
    if built:
        assert model.training
        assert all(torch.equal(v, weights[k]) for k, v in model.state_dict().items())
    assert torch.equal(torch.get_rng_state(), before[0])
    assert random.getstate() == before[1]
    assert np.array_equal(np.random.get_state()[1], before[2])  # noqa: NPY002
