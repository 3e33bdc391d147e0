"""Runs on disk: a failed run says so and stays resumable, one process per run directory, resuming a
finished run or extending it, and wrong-typed arguments to the public entry points."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys

import pytest
import torch

from dlzoo.cli import main
from dlzoo.errors import UsageError
from dlzoo.train import load_config, resume, train
from dlzoo.train.checkpoint import latest_checkpoint, list_checkpoints, load_checkpoint
from dlzoo.train.rundir import LOCK_NAME, lock_is_live, read_status
from dlzoo.train.trainer import Trainer


def _cfg(tmp_path, *overrides):
    base = ["name=t", f"output_dir={tmp_path / 'runs'}", "model.name=mlp_digits", "train.epochs=2",
            "optim.lr=3e-3", "data.batch_size=64", "train.log_every=1000"]
    return load_config(None, [*base, *overrides])


def _status(run) -> dict:
    return json.loads((run / "status.json").read_text())


# --------------------------------------------------------------------------- failures leave no false finish


def test_nan_guard_marks_the_run_failed_and_writes_no_final_model(tmp_path):
    cfg = _cfg(tmp_path, "optim.name=sgd", "optim.lr=1e6", "optim.weight_decay=0", "schedule.name=none",
               "train.grad_clip=null", "model.kwargs.norm_layer=identity", "checkpoint.every_steps=1",
               "checkpoint.every_epochs=0")
    run = tmp_path / "nan"
    with pytest.raises(Exception, match="training diverged"):
        train(cfg, run_dir=run, progress=False)
    status = _status(run)
    assert status["state"] == "failed" and status["reason"] == "diverged"
    assert "TrainingDiverged: training diverged" in status["error"]
    last = latest_checkpoint(run / "checkpoints")
    assert last is not None and status["last_checkpoint"] == str(last)
    assert all(torch.isfinite(t).all() for t in load_checkpoint(last).model_state.values())
    assert not any((run / n).exists() for n in ("model.safetensors", "config.json", "results.json"))
    assert not (run / LOCK_NAME).exists()  # released
    assert read_status(run)["state"] == "failed"


# 10 steps per epoch, 2 epochs, a checkpoint every 7 steps (7, 14, and 20 at the end)
CRASH_ARGS = ("data.batch_size=128", "checkpoint.every_steps=7", "checkpoint.every_epochs=0",
              "checkpoint.keep_last=10", "model.kwargs.drop_rate=0.1")


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("full")
    return train(_cfg(tmp, *CRASH_ARGS), run_dir=tmp / "full", progress=False)


@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()],
                         ids=["exception", "ctrl-c"])
def test_a_crash_mid_run_is_marked_failed_and_resumes_to_the_uninterrupted_result(tmp_path, monkeypatch,
                                                                                  error, uninterrupted):
    original = Trainer._train_step
    calls = {"n": 0}

    def crashing(self, x, y):
        calls["n"] += 1
        if calls["n"] == 17:  # mid-epoch 2, after the checkpoint at step 14
            raise error
        return original(self, x, y)

    monkeypatch.setattr(Trainer, "_train_step", crashing)
    run = tmp_path / "crash"
    with pytest.raises(type(error)):
        train(_cfg(tmp_path, *CRASH_ARGS), run_dir=run, progress=False)
    status = _status(run)
    assert status["state"] == "failed" and status["step"] == 16
    assert status["reason"] == ("interrupted" if isinstance(error, KeyboardInterrupt) else "error")
    assert status["last_checkpoint"].endswith("step_00000014")
    assert status["resume"] == f"dlzoo train --resume {run}"
    assert not (run / "model.safetensors").exists() and not (run / "results.json").exists()
    assert not (run / LOCK_NAME).exists()

    monkeypatch.setattr(Trainer, "_train_step", original)
    resumed = resume(run, progress=False)
    weights = lambda d: (d / "model.safetensors").read_bytes()
    assert weights(run) == weights(uninterrupted.run_dir)
    assert resumed.test == uninterrupted.test
    assert _status(run)["state"] == "finished"


# --------------------------------------------------------------------------- one process per run directory


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    yield proc
    proc.kill()
    proc.wait()


def _write_lock(run, pid: int, host: str | None = None) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / LOCK_NAME).write_text(json.dumps({"pid": pid, "host": host or socket.gethostname(),
                                             "since": "2026-01-01T00:00:00+00:00"}))


@pytest.fixture
def config(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(f"name: lk\noutput_dir: {tmp_path / 'runs'}\nmodel: {{name: mlp_digits}}\n"
                    "train: {epochs: 1, log_every: 1000}\ncheckpoint: {every_epochs: 1}\n")
    return path


@pytest.mark.parametrize("holder", ["sleeping-subprocess", "this-process", "other-host"])
def test_a_second_run_into_a_locked_directory_is_refused(holder, sleeper, config, tmp_path, capsys):
    run = tmp_path / "run"
    pid = {"sleeping-subprocess": sleeper.pid, "this-process": os.getpid(), "other-host": 1}[holder]
    _write_lock(run, pid, host="elsewhere.example" if holder == "other-host" else None)
    assert main(["train", str(config), "--run-dir", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert f"{run} is in use by another run (pid {pid} on host" in err and "Traceback" not in err
    assert sorted(p.name for p in run.iterdir()) == [LOCK_NAME]  # nothing written, the lock kept
    assert json.loads((run / LOCK_NAME).read_text())["pid"] == pid


def test_resume_of_a_directory_in_use_is_refused_and_touches_nothing(sleeper, config, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(config), "--run-dir", str(run), "--quiet"]) == 0
    (run / "status.json").write_text('{"state": "running"}')  # as if killed; a live process holds it now
    _write_lock(run, sleeper.pid)
    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    assert main(["train", "--resume", str(run), "--quiet"]) == 2
    assert "is in use by another run" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before


def test_a_stale_lock_is_taken_over_and_the_lock_is_released_at_the_end(config, tmp_path, capsys):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    run = tmp_path / "run"
    _write_lock(run, dead.pid)
    assert not lock_is_live(json.loads((run / LOCK_NAME).read_text()))
    assert main(["train", str(config), "--run-dir", str(run), "--quiet"]) == 0
    assert capsys.readouterr().out.strip().splitlines() == [str(run)]
    assert not (run / LOCK_NAME).exists() and _status(run)["state"] == "finished"


def test_a_reused_pid_does_not_keep_a_lock_alive(tmp_path):
    # the lock names this process's pid but another process start time: the pid was reused
    info = {"pid": os.getpid(), "host": socket.gethostname(), "proc_start": -1}
    if not os.path.exists(f"/proc/{os.getpid()}/stat"):
        pytest.skip("needs /proc")
    assert not lock_is_live(info)
    assert lock_is_live({**info, "proc_start": None})  # unknown start time: a live pid counts


# --------------------------------------------------------------------------- resuming finished runs


def test_resume_with_more_epochs_rebuilds_the_schedule_for_the_new_total(tmp_path, capsys):
    transformers = pytest.importorskip("transformers")
    run = tmp_path / "ext"
    short = train(_cfg(tmp_path, "checkpoint.every_epochs=1"), run_dir=run, progress=False)
    assert short.history[-1]["lr"] == pytest.approx(0.0, abs=1e-12)  # 2-epoch cosine ended at 0
    two_epoch_weights = (run / "model.safetensors").read_bytes()

    assert main(["train", "--resume", str(run), "train.epochs=4"]) == 0
    out = capsys.readouterr().out
    assert "schedule rebuilt for 80 steps (was 40)" in out
    history = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in history] == [1, 2, 3, 4]
    assert history[:2] == json.loads(json.dumps(short.history))  # the first two epochs are kept as they were
    # reference: Hugging Face's warmup + cosine schedule over the new total (20 warmup steps, 80 in all)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=3e-3)
    ref = transformers.get_cosine_schedule_with_warmup(opt, num_warmup_steps=20, num_training_steps=80)
    expected = {}
    for step in range(1, 81):
        opt.step()
        ref.step()
        expected[step] = opt.param_groups[0]["lr"]
    assert history[2]["lr"] == pytest.approx(expected[60], rel=1e-9) and history[2]["lr"] > 1e-4
    assert history[3]["lr"] == pytest.approx(expected[80], abs=1e-12)
    assert (run / "model.safetensors").read_bytes() != two_epoch_weights  # epochs 3-4 trained
    results = json.loads((run / "results.json").read_text())
    assert (results["epochs"], results["steps"]) == (4, 80) and _status(run)["state"] == "finished"
    assert load_config(run / "config.yaml").train.epochs == 4
    assert load_checkpoint(latest_checkpoint(run / "checkpoints")).state["total_steps"] == 80


def test_a_finished_run_without_checkpoints_cannot_be_extended(tmp_path, capsys):
    run = tmp_path / "nockpt"
    train(_cfg(tmp_path, "checkpoint.every_epochs=0", "train.epochs=1"), run_dir=run, progress=False)
    weights = (run / "model.safetensors").read_bytes()
    assert main(["train", "--resume", str(run), "train.epochs=3", "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "cannot be extended to train.epochs=3" in err and "Traceback" not in err
    assert (run / "model.safetensors").read_bytes() == weights and _status(run)["state"] == "finished"
    # without the longer schedule it is simply complete
    result = resume(run, progress=False)
    assert result.already_complete and len(list_checkpoints(run / "checkpoints")) == 0
    assert math.isclose(result.test["acc"], json.loads((run / "results.json").read_text())["test"]["acc"])


def test_resume_of_an_experiment_directory_says_what_to_do(tmp_path, capsys):
    exp = tmp_path / "norm-comparison" / "20260101-000000"
    (exp / "runs" / "layernorm_seed0").mkdir(parents=True)
    (exp / "config.yaml").write_text("model: vit_tiny_digits\nseeds: [0]\n")
    assert main(["train", "--resume", str(exp)]) == 2
    err = capsys.readouterr().err
    assert f"{exp} is an experiment directory" in err
    assert f"dlzoo experiment run norm-comparison --resume {exp}" in err and "Traceback" not in err


# --------------------------------------------------------------------------- wrong-typed arguments


@pytest.mark.parametrize("call,pattern", [
    (lambda p: train(5), r"train: cfg must be a TrainConfig, a config dict, a YAML path or None, got int 5"),
    (lambda p: train(None, run_dir=3), r"train: run_dir must be a directory path or None, got int 3"),
    (lambda p: train(None, progress="no"), r"train: progress must be a bool, got str 'no'"),
    (lambda p: train(None, run_dir=p, resume=1), r"train: resume must be a bool, got int 1"),
    (lambda p: resume(5), r"resume: run_dir must be a run directory path, got int 5"),
    (lambda p: resume(p, overrides="train.epochs=3"), r"resume: overrides must be a list"),
    (lambda p: load_config(3.5), r"load_config: source must be a YAML path, a dict, a TrainConfig or None"),
    (lambda p: load_config(None, "optim.lr=1"), r"load_config: overrides must be a list"),
])
def test_wrong_typed_arguments_raise_a_type_error_naming_the_argument(call, pattern, tmp_path):
    with pytest.raises(TypeError, match=pattern):
        call(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_resume_needs_a_run_dir(tmp_path):
    with pytest.raises(ValueError, match="resume=True needs the run_dir"):
        train(_cfg(tmp_path), resume=True)
    with pytest.raises(UsageError, match="not a run directory"):
        resume(tmp_path)
