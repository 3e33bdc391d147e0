"""`dlzoo train`'s start-up header, --dry-run, run-level ETA and run folder names.

The header's numbers are checked against closed forms we did not compute with dlzoo: the parameter count
of the digits MLP from its layer sizes, the digits data set's size from scikit-learn, the steps per epoch
as ceil(train / batch).
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from dlzoo.cli import main
from dlzoo.train import load_config
from dlzoo.train.rundir import run_name
from dlzoo.train.trainer import Trainer

CONFIG = str(Path(__file__).resolve().parents[2] / "configs" / "mlp_digits.yaml")
HEADER = re.compile(
    r"model +(?P<model>\S+): (?P<params>[\d,]+) parameters \((?P<trainable>[\d,]+) trainable\).*"
    r"data +digits: train (?P<train>[\d,]+) / val (?P<val>[\d,]+) / test (?P<test>[\d,]+) images, "
    r"batch (?P<batch>\d+).*steps +(?P<per_epoch>[\d,]+) per epoch x (?P<epochs>\d+) epochs = "
    r"(?P<total>[\d,]+) optimizer steps.*writes +(?P<dir>\S+)",
    re.S,
)


def _numbers(text: str) -> dict[str, str]:
    m = HEADER.search(text)
    assert m, text
    return {k: v.replace(",", "") for k, v in m.groupdict().items()}


def _mlp_params(norm_params_per_layer: int) -> int:
    """MLP 64 -> 128 -> 128 -> 10 (two hidden layers, each followed by a norm): weights + biases + norms."""
    linear = (64 * 128 + 128) + (128 * 128 + 128) + (128 * 10 + 10)
    return linear + 2 * norm_params_per_layer


@pytest.mark.parametrize("norm, norm_params",
                         [("layernorm", 2 * 128), ("rmsnorm", 128), ("dyt", 2 * 128 + 1)])  # w, b, alpha
def test_dry_run_header_numbers_and_nothing_written(norm, norm_params, tmp_path, capsys):
    from sklearn.datasets import load_digits

    rc = main(["train", CONFIG, f"model.kwargs.norm_layer={norm}", "train.epochs=3", "data.batch_size=100",
               f"output_dir={tmp_path}", "--dry-run"])
    out = capsys.readouterr().out
    assert rc == 0, out
    n = _numbers(out)
    assert int(n["params"]) == int(n["trainable"]) == _mlp_params(norm_params)
    sizes = [int(n[k]) for k in ("train", "val", "test")]
    assert sum(sizes) == len(load_digits().data)  # 1797 digits, split three ways
    assert int(n["batch"]) == 100 and int(n["epochs"]) == 3
    assert int(n["per_epoch"]) == math.ceil(sizes[0] / 100)
    assert int(n["total"]) == 3 * int(n["per_epoch"])
    assert Path(n["dir"]).parent.name == f"mlp-digits-{norm}-epochs3-batch_size100"
    assert list(tmp_path.iterdir()) == []  # a dry run writes nothing
    assert out.strip().splitlines()[-1].startswith("dry run:")


def test_header_sizes_are_the_built_splits(tmp_path):
    cfg = load_config(CONFIG, [f"output_dir={tmp_path}", "data.val_fraction=0.2", "data.test_fraction=0.1"])
    trainer = Trainer(cfg, progress=False, dry_run=True)
    n = _numbers(trainer.header())
    splits = trainer.data.splits
    assert [int(n[k]) for k in ("train", "val", "test")] == [len(splits.train), len(splits.val),
                                                             len(splits.test)]
    assert int(n["params"]) == sum(p.numel() for p in trainer.model.parameters())
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("args", [["optim.lr=-1"], ["model.name=no_such_model"], ["train.epochs=0"]])
def test_dry_run_of_an_invalid_config_exits_2_with_one_line(args, tmp_path, capsys):
    assert main(["train", CONFIG, *args, f"output_dir={tmp_path}", "--dry-run"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dlzoo train: error:") and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


def test_a_real_run_prints_the_header_and_the_run_eta(tmp_path, capsys):
    rc = main(["train", CONFIG, "train.epochs=2", "data.batch_size=256", "train.log_every=2",
               f"output_dir={tmp_path}"])
    out = capsys.readouterr().out
    assert rc == 0, out
    lines = out.strip().splitlines()
    n = _numbers(out)
    assert lines[-1] == n["dir"]  # the header names the directory the run wrote
    run_dir = Path(lines[-1])
    assert run_dir.parent.name == "mlp-digits-epochs2-batch_size256"
    assert (run_dir / "model.safetensors").is_file()
    epoch_lines = [line for line in lines if line.startswith("epoch ") and "train_loss" in line]
    assert len(epoch_lines) == 2 and all(re.search(r"run elapsed \d+:\d\d:\d\d eta \d+:\d\d:\d\d", line)
                                         for line in epoch_lines)
    assert epoch_lines[-1].endswith("eta 0:00:00")  # nothing left after the last step


def test_dry_run_of_resume_names_the_checkpoint_and_writes_nothing(tmp_path, capsys):
    assert main(["train", CONFIG, "train.epochs=1", "data.batch_size=512", f"output_dir={tmp_path}",
                 "--quiet"]) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    before = sorted(p.relative_to(run_dir) for p in run_dir.rglob("*"))
    assert main(["train", "--resume", str(run_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "finished after 1 epochs" in out and "checkpoints" in out
    assert sorted(p.relative_to(run_dir) for p in run_dir.rglob("*")) == before


def test_run_names():
    assert run_name("vit-digits", ["model.kwargs.norm_layer=dyt"]) == "vit-digits-dyt"
    assert run_name("vit-digits", ["model.kwargs.norm_layer=dyt", "optim.lr=3e-3"]) == "vit-digits-dyt-lr3e-3"
    assert run_name("vit-digits", ["output_dir=/tmp/x", "train.device=cpu", "checkpoint.keep_last=1"]) \
        == "vit-digits"
    odd = run_name("r", ["data.kwargs.classes=[0, 1]", "model.kwargs.act=a/b"])
    assert "/" not in odd and " " not in odd and re.fullmatch(r"[A-Za-z0-9._=+-]+", odd)
    assert run_name("r", ["optim.lr=1e-3"]) != run_name("r", ["optim.weight_decay=1e-3"])
    long_a = run_name("r", [f"model.kwargs.k{i}=value{i}" for i in range(20)])
    long_b = run_name("r", [f"model.kwargs.k{i}=value{i}" for i in range(21)])
    assert len(long_a) <= 80 and len(long_b) <= 80 and long_a != long_b


def test_run_eta_is_remaining_steps_times_mean_step_time(monkeypatch):
    import io

    from dlzoo.train import metrics

    clock = [100.0]
    monkeypatch.setattr(metrics.time, "perf_counter", lambda: clock[0])
    progress = metrics.Progress(stream=io.StringIO())
    assert progress.run_times() is None
    progress.start_run(total_steps=100, done_steps=20)  # resumed at step 20
    assert progress.run_times() == (0.0, None)
    progress.start_epoch(3, 10, 10)
    for _ in range(10):
        progress.update(8, 0.1, 1e-3)
    clock[0] += 5.0  # 10 steps in 5 s: 0.5 s/step, 70 steps left
    assert progress.run_times() == (5.0, 35.0)
    assert progress._run_text() == "run elapsed 0:00:05 eta 0:00:35"
