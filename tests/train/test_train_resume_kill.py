"""A ``dlzoo train`` process killed with SIGKILL (twice) and resumed ends bitwise identical to an
uninterrupted run: weights, optimizer, schedule, data order and dropout RNG all survive the kill.

Run as users run it: the default DyT backend (whatever ``"auto"`` picks here, the native CPU kernel where gcc
exists; no DLZOO_* override is passed down) and 2 threads, in the killed processes and in the reference run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dlzoo.kernels import dyt_cpu, select_backend, set_dyt_backend
from dlzoo.train.checkpoint import list_checkpoints

CONFIG = """
name: kill
seed: 3
model: {name: mlp_digits, kwargs: {hidden_dims: [256, 256], drop_rate: 0.1, norm_layer: dyt}}
data: {name: digits, batch_size: 32, img_size: 16}
optim: {name: adamw, lr: 2.0e-3, weight_decay: 0.05}
schedule: {name: warmup_cosine, warmup_epochs: 1}
train: {epochs: 3, grad_clip: 1.0, log_every: 1000}
checkpoint: {every_epochs: 1, every_steps: 9, keep_last: 2}
"""


THREADS = 2


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("DLZOO_DYT_BACKEND", "DLZOO_NO_NATIVE",
                                                            "DLZOO_NO_COMPILE")}
    env.update(OMP_NUM_THREADS=str(THREADS), MKL_NUM_THREADS=str(THREADS))
    src = str(Path(__file__).resolve().parents[2] / "src")
    env["PYTHONPATH"] = src + os.pathsep + env.get("PYTHONPATH", "")
    return env


def _cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "dlzoo.cli", "train", *args, "--quiet"]


def _newest_step(run: Path) -> int:
    found = list_checkpoints(run / "checkpoints")
    return int(found[-1].name.split("_")[1]) if found else -1


def _kill_after_checkpoint_beyond(proc: subprocess.Popen, run: Path, step: int, timeout: float = 120) -> int:
    """SIGKILL ``proc`` as soon as a checkpoint newer than ``step`` exists; returns that checkpoint's step."""
    deadline = time.monotonic() + timeout
    while (newest := _newest_step(run)) <= step:
        if proc.poll() is not None:
            pytest.fail(f"the run ended (rc {proc.returncode}) before it could be killed")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail("no checkpoint appeared in time")
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL, "the process ended before the kill"
    return newest


@pytest.mark.slow
def test_sigkill_twice_and_resume_is_bitwise_identical_to_an_uninterrupted_run(tmp_path):
    cfg = tmp_path / "kill.yaml"
    cfg.write_text(CONFIG)
    run = tmp_path / "killed"
    previous_backend = set_dyt_backend("auto")  # the default, whatever this session forced before
    try:
        assert select_backend(torch.randn(32, 256)) == ("native" if dyt_cpu.available() else "eager")
    finally:
        set_dyt_backend(previous_backend)
    # the reference runs in a fresh process like the killed ones: no state that earlier tests left in this
    # interpreter (threads, backends, flags) can make its arithmetic differ from theirs
    ref_run = subprocess.run(_cmd(str(cfg), "--run-dir", str(tmp_path / "ref")), env=_env(),
                             capture_output=True, text=True, timeout=300)
    assert ref_run.returncode == 0, ref_run.stderr

    # then the killed run (not concurrently: two 2-thread processes on 2 cores would spin against each other)
    first = subprocess.Popen(_cmd(str(cfg), "--run-dir", str(run)), env=_env(), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    killed_at = _kill_after_checkpoint_beyond(first, run, -1)
    final_after_first_kill = (run / "model.safetensors").exists()
    second = subprocess.Popen(_cmd("--resume", str(run)), env=_env(), stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)
    _kill_after_checkpoint_beyond(second, run, killed_at)
    final_after_second_kill = (run / "model.safetensors").exists()
    last = subprocess.run(_cmd("--resume", str(run)), env=_env(), capture_output=True, text=True, timeout=300)
    assert final_after_first_kill is False and final_after_second_kill is False
    assert last.returncode == 0, last.stderr
    assert last.stdout.strip().splitlines()[-1] == str(run)  # last line: the run dir

    ref = tmp_path / "ref"
    assert (run / "model.safetensors").read_bytes() == (ref / "model.safetensors").read_bytes()
    strip = lambda path: [{k: v for k, v in json.loads(line).items() if k != "epoch_time"}
                          for line in path.read_text().splitlines()]
    assert strip(run / "metrics.jsonl") == strip(ref / "metrics.jsonl")
    assert len(strip(run / "metrics.jsonl")) == 3
