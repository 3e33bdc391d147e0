"""The training loop end to end on the digits: it learns, logs, saves, clips, guards NaN and resumes."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

import dlzoo
from dlzoo.errors import UsageError
from dlzoo.train import TrainingDiverged, load_config, resume, train
from dlzoo.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint


def _cfg(tmp_path, *overrides):
    base = ["name=t", f"output_dir={tmp_path / 'runs'}", "model.name=mlp_digits", "train.epochs=3",
            "optim.lr=3e-3", "data.batch_size=64"]
    return load_config(None, [*base, *overrides])


def test_mlp_learns_digits_and_writes_a_complete_run_directory(tmp_path):
    result = train(_cfg(tmp_path, "train.epochs=5", "model.kwargs.norm_layer=dyt"), progress=False)
    run = result.run_dir
    assert run.parent == tmp_path / "runs" / "t"
    assert result.test["acc"] > 0.9 and result.history[-1]["val_acc"] > 0.9  # chance is 0.1
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4, 5]
    assert [r["step"] for r in result.history] == [20, 40, 60, 80, 100]  # ceil(1259 / 64) = 20 per epoch
    for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr", "epoch_time"):
        assert all(isinstance(r[key], float) for r in result.history), key
    # every scalar parameter is tracked: the DyT alphas, which move away from their 0.5 init
    alphas = [k for k in result.history[0] if k.startswith("param/")]
    assert alphas == ["param/blocks.1.alpha", "param/blocks.5.alpha"]
    assert result.history[-1]["param/blocks.1.alpha"] == result.model.blocks[1].alpha.item() != 0.5
    assert result.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # cosine to min_lr_ratio 0
    assert not result.model.training
    assert {"digits"} == {result.data.splits.name} and result.data.test.x.shape[1:] == (1, 8, 8)

    # final model: dlzoo.from_pretrained rebuilds it with the same outputs
    loaded = dlzoo.from_pretrained(run).eval()
    x = result.data.test.x[:16]
    torch.testing.assert_close(loaded(x), result.model(x), rtol=0, atol=0)
    assert load_config(run / "config.yaml") == _cfg(tmp_path, "train.epochs=5", "model.kwargs.norm_layer=dyt")
    assert json.loads((run / "results.json").read_text())["test"] == result.test

    # metrics.jsonl, metrics.csv and TensorBoard hold the same numbers as the returned history
    lines = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert lines == result.history
    import csv

    rows = list(csv.DictReader((run / "metrics.csv").open()))
    assert [float(r["val_acc"]) for r in rows] == [r["val_acc"] for r in result.history]
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(run / "tensorboard")).Reload()
    scalars = events.Scalars("val_acc")
    assert [e.step for e in scalars] == [20, 40, 60, 80, 100]
    assert [e.value for e in scalars] == pytest.approx([r["val_acc"] for r in result.history], rel=1e-6)
    # checkpoints: last two epochs kept
    assert [p.name for p in list_checkpoints(run / "checkpoints")] == ["step_00000080", "step_00000100"]


def test_same_seed_gives_bitwise_identical_weights_and_another_seed_does_not(tmp_path):
    args = ("train.epochs=1", "model.kwargs.drop_rate=0.2", "checkpoint.every_epochs=0")
    a = train(_cfg(tmp_path, *args), run_dir=tmp_path / "a", progress=False)
    b = train(_cfg(tmp_path, *args), run_dir=tmp_path / "b", progress=False)
    c = train(_cfg(tmp_path, *args, "seed=1"), run_dir=tmp_path / "c", progress=False)
    weights = lambda run: (tmp_path / run / "model.safetensors").read_bytes()
    assert weights("a") == weights("b")
    assert not torch.equal(a.model.head.weight, c.model.head.weight)
    assert a.history[0]["train_loss"] == b.history[0]["train_loss"]


def test_gradient_clipping_bounds_the_sgd_update(tmp_path):
    # one plain SGD step with lr=1 moves the weights by exactly the clipped gradient: ||dtheta|| = max_norm
    cfg = _cfg(tmp_path, "optim.name=sgd", "optim.lr=1.0", "optim.weight_decay=0", "schedule.name=none",
               "train.max_steps=1", "train.grad_clip=0.01", "checkpoint.every_epochs=0")
    torch.manual_seed(cfg.seed)
    initial = dlzoo.create_model("mlp_digits", num_classes=10, in_chans=1, img_size=8)
    result = train(cfg, run_dir=tmp_path / "clip", progress=False)
    delta = torch.cat([(p - q).flatten() for p, q in zip(result.model.parameters(), initial.parameters())])
    assert delta.norm().item() == pytest.approx(0.01, rel=1e-3)
    assert result.history[0]["step"] == 1


def test_nan_guard_stops_with_a_clear_message_and_keeps_the_last_good_checkpoint(tmp_path):
    cfg = _cfg(tmp_path, "optim.name=sgd", "optim.lr=1e6", "optim.weight_decay=0", "schedule.name=none",
               "train.grad_clip=null", "model.kwargs.norm_layer=identity", "checkpoint.every_steps=1",
               "checkpoint.every_epochs=0", "train.epochs=2")
    pattern = r"training diverged at epoch 1, step \d+: (loss|gradient norm) is"
    with pytest.raises(TrainingDiverged, match=pattern) as e:
        train(cfg, run_dir=tmp_path / "nan", progress=False)
    last = latest_checkpoint(tmp_path / "nan" / "checkpoints")
    assert last is not None and str(last) in str(e.value)
    assert all(torch.isfinite(t).all() for t in load_checkpoint(last).model_state.values())
    assert not (tmp_path / "nan" / "model.safetensors").exists()
    from dlzoo.cli import main

    (tmp_path / "c.yaml").write_text(open(tmp_path / "nan" / "config.yaml").read())
    assert main(["train", str(tmp_path / "c.yaml"), "--quiet", f"output_dir={tmp_path / 'cli'}"]) == 1


@pytest.mark.parametrize("augment", [(), ("data.augment.mixup_alpha=0.2", "data.augment.cutmix_alpha=1.0",
                                         "data.augment.hflip=0.5", "data.augment.crop_padding=1")])
def test_resume_mid_epoch_in_process_is_bitwise_identical(tmp_path, augment):
    args = ("train.epochs=2", "model.kwargs.drop_rate=0.1", "checkpoint.every_steps=7",
            "checkpoint.keep_last=10", *augment)
    full = train(_cfg(tmp_path, *args), run_dir=tmp_path / "full", progress=False)
    # pretend the run was killed just after step 28 (mid-epoch 2): keep only the checkpoints up to it
    part = tmp_path / "part"
    shutil.copytree(tmp_path / "full", part)
    for ckpt in list_checkpoints(part / "checkpoints"):
        if int(ckpt.name.split("_")[1]) > 28:
            shutil.rmtree(ckpt)
    (part / "model.safetensors").unlink()
    assert load_checkpoint(latest_checkpoint(part / "checkpoints")).state["batch"] == 8  # 28 - 20
    torch.manual_seed(12345)  # the resumed run must not depend on the caller's RNG
    resumed = resume(part, progress=False)
    assert (part / "model.safetensors").read_bytes() == (tmp_path / "full" / "model.safetensors").read_bytes()
    strip = lambda h: [{k: v for k, v in r.items() if k != "epoch_time"} for r in h]
    assert strip(resumed.history) == strip(full.history)
    assert len((part / "metrics.jsonl").read_text().splitlines()) == 2


def test_bf16_autocast_on_cpu_trains_and_fp16_needs_cuda(tmp_path):
    result = train(_cfg(tmp_path, "train.amp=bf16", "train.epochs=2", "checkpoint.every_epochs=0"),
                   run_dir=tmp_path / "bf16", progress=False)
    assert result.history[-1]["val_acc"] > 0.6
    if not torch.cuda.is_available():
        with pytest.raises(UsageError, match="fp16 needs a CUDA device"):
            train(_cfg(tmp_path, "train.amp=fp16"), run_dir=tmp_path / "fp16", progress=False)


def test_bad_component_names_are_usage_errors(tmp_path):
    for override, pattern in [("model.name=mlp_digit", "did you mean 'mlp_digits'"),
                              ("data.name=digit", "did you mean 'digits'"),
                              ("optim.name=adamx", "unknown optimizer"),
                              ("loss.name=crossentrpy", "did you mean 'cross_entropy'"),
                              ("model.kwargs.bogus=1", "bogus"),
                              ("data.val_fraction=0.6", "val_fraction \\+ test_fraction")]:
        with pytest.raises(UsageError, match=pattern):
            train(_cfg(tmp_path, override, "data.test_fraction=0.5" if "val_" in override else "seed=0"),
                  run_dir=tmp_path / "bad", progress=False)


def test_step_checkpoint_on_an_epoch_boundary_is_written_once_with_the_finished_epoch(tmp_path):
    cfg = _cfg(tmp_path, "train.epochs=2", "checkpoint.every_steps=10", "checkpoint.every_epochs=0",
               "checkpoint.keep_last=10")
    train(cfg, run_dir=tmp_path / "r", progress=False)
    found = list_checkpoints(tmp_path / "r" / "checkpoints")
    assert [p.name for p in found] == [f"step_{s:08d}" for s in (10, 20, 30, 40)]
    states = {int(p.name[5:]): load_checkpoint(p).state for p in found}
    assert (states[10]["epoch"], states[10]["batch"]) == (0, 10)  # mid-epoch: position inside epoch 0
    assert (states[20]["epoch"], states[20]["batch"]) == (1, 0)  # boundary: epoch 0 finished and logged
    assert len(states[20]["history"]) == 1 and len(states[10]["history"]) == 0


def test_extending_a_run_cut_by_max_steps_says_the_cut_epoch_is_not_revisited(tmp_path):
    """max_steps ends a run mid-epoch; that epoch is logged and checkpointed as done, so a resume with a
    larger max_steps starts the next epoch, and says so, rather than silently skipping batches."""
    from dlzoo.train.trainer import Trainer

    cfg = _cfg(tmp_path, "train.epochs=2", "train.max_steps=3", "checkpoint.every_epochs=1")
    first = train(cfg, run_dir=tmp_path / "run", progress=False)
    assert [r["step"] for r in first.history] == [3]
    extended = load_config(tmp_path / "run" / "config.yaml", ["train.max_steps=1000"])
    trainer = Trainer(extended, run_dir=tmp_path / "run", resume=True, progress=False)
    try:
        assert any("epoch 1 was cut short at step 3" in note for note in trainer.notes), trainer.notes
        result = trainer.fit()
    finally:
        trainer.close()
    assert [r["step"] for r in result.history] == [3, 3 + trainer.steps_per_epoch]
