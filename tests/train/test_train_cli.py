"""``dlzoo train``: exit codes, one-paragraph errors (no traceback), progress lines, last line = run dir."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from dlzoo.cli import main
from dlzoo.train import load_config
from dlzoo.train.metrics import Progress


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"name: cli\noutput_dir: {tmp_path / 'runs'}\nmodel: {{name: mlp_digits}}\n"
                    "train: {epochs: 1, log_every: 5}\ncheckpoint: {every_epochs: 0}\n")
    return path


@pytest.mark.parametrize("argv,pattern", [
    ([], "give exactly one of CONFIG.yaml or --resume"),
    (["{config}", "optim.lrr=1"], "unknown key 'optim.lrr'; did you mean 'optim.lr'"),
    (["{config}", "train.epochs=-1"], "train.epochs: Input should be greater than or equal to 1"),
    (["missing.yaml"], "config file 'missing.yaml' does not exist"),
    (["--resume", "{tmp}"], "not a run directory"),
    (["{config}", "--bogus"], "unknown option '--bogus'"),
    (["{config}", "model.name=resnet9000"], "model.name: unknown model 'resnet9000'"),
])
def test_usage_errors_exit_2_with_one_message_and_no_traceback(argv, pattern, config, tmp_path, capsys):
    argv = [a.format(config=config, tmp=tmp_path) for a in argv]
    assert main(["train", *argv]) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("dlzoo train: error: ")
    assert pattern in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_success_prints_progress_and_ends_with_the_run_directory(config, tmp_path, capsys):
    assert main(["train", str(config), "seed=4", "optim.lr=3e-3"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    run_dir = lines[-1]
    assert run_dir.startswith(str(tmp_path / "runs" / "cli"))
    # stdout is not a terminal here: plain periodic lines with throughput and ETA
    assert any(line.startswith("epoch 1/1 batch 5/20 ") and "img/s eta 0:" in line for line in lines)
    assert any("val_acc" in line for line in lines) and any(line.startswith("test_acc") or "test_acc" in line
                                                            for line in lines)
    resolved = load_config(f"{run_dir}/config.yaml")
    assert resolved.seed == 4 and resolved.optim.lr == 3e-3 and resolved.model.name == "mlp_digits"
    # --resume of a finished run says so and trains nothing; stdout still ends with the run dir
    weights = (Path(run_dir) / "model.safetensors").read_bytes()
    assert main(["train", "--resume", run_dir, "--quiet"]) == 0
    captured = capsys.readouterr()
    assert captured.out.strip().splitlines() == [run_dir]
    assert f"{run_dir} is already complete (1 epochs" in captured.err and "nothing to do" in captured.err
    assert (Path(run_dir) / "model.safetensors").read_bytes() == weights
    assert len((Path(run_dir) / "metrics.jsonl").read_text().splitlines()) == 1
    # an interrupted run without checkpoints (every_epochs: 0) starts over
    (Path(run_dir) / "status.json").write_text('{"state": "running", "pid": 0}')
    assert main(["train", "--resume", run_dir]) == 0
    assert f"resuming {run_dir} from the start (no checkpoint)" in capsys.readouterr().out


def test_progress_uses_tqdm_on_a_terminal():
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    stream = Tty()
    bar = Progress(enabled=True, stream=stream, mininterval=0)
    bar.start_epoch(1, 2, total=3)
    for _ in range(3):
        bar.update(32, loss=0.5, lr=1e-3)
    bar.end_epoch({"epoch": 1, "train_loss": 0.5, "train_acc": 0.9, "val_loss": None, "epoch_time": 1.0})
    text = stream.getvalue()
    assert "epoch 1/2" in text and "3/3" in text and "img_s=" in text  # tqdm bar with throughput
    quiet = io.StringIO()
    off = Progress(enabled=False, stream=quiet)
    off.start_epoch(1, 1, total=1)
    off.update(1, 0.1, 0.1)
    off.message("x")
    assert quiet.getvalue() == ""


def test_a_fresh_run_refuses_a_directory_that_already_holds_one(config, tmp_path, capsys):
    run_dir = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run_dir), "--quiet"]) == 0
    assert main(["train", str(config), "--run-dir", str(run_dir), "--quiet"]) == 2
    assert "already holds a run; resume it" in capsys.readouterr().err
