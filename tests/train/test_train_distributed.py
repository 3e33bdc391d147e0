"""Two gloo ranks (torchrun's environment variables) train the same model as one process with the
combined batch: DDP averages the gradients of the two strided shards of the same (seed, epoch) order."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import dlzoo
from dlzoo.train import load_config, train

CONFIG = """
name: ddp
seed: 1
model: {name: mlp_digits, kwargs: {hidden_dims: [64], norm_layer: layernorm}}
data: {name: digits, batch_size: BATCH, drop_last: true}
optim: {name: sgd, lr: 0.05, weight_decay: 0.0, kwargs: {momentum: 0.9}}
schedule: {name: warmup_cosine, warmup_epochs: 0.5}
train: {epochs: 1, grad_clip: 1.0}
checkpoint: {every_epochs: 1}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.distributed
@pytest.mark.slow
def test_two_gloo_ranks_match_one_process_with_the_combined_batch(tmp_path):
    (tmp_path / "ddp.yaml").write_text(CONFIG.replace("BATCH", "16"))
    (tmp_path / "one.yaml").write_text(CONFIG.replace("BATCH", "32"))
    src = str(Path(__file__).resolve().parents[2] / "src")
    port = _free_port()
    procs = []
    for rank in range(2):
        env = dict(os.environ, OMP_NUM_THREADS="1", WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
        cmd = [sys.executable, "-m", "dlzoo.cli", "train", str(tmp_path / "ddp.yaml"), "--run-dir",
               str(tmp_path / "ddp"), "train.device=cpu"] + (["--quiet"] if rank else [])
        pipes = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE}
        procs.append(subprocess.Popen(cmd, env=env, text=True, **pipes))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        single = train(load_config(tmp_path / "one.yaml"), run_dir=tmp_path / "one", progress=False)
    finally:
        torch.set_num_threads(threads)
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (_, err) in zip(procs, outs):
        assert p.returncode == 0, err
    assert outs[0][0].strip().splitlines()[-1] == str(tmp_path / "ddp")
    assert "epoch 1/1" in outs[0][0] and "epoch 1/1" not in outs[1][0]  # rank 0 logs, rank 1 is silent
    ddp = load_file(str(tmp_path / "ddp" / "model.safetensors"))
    ref = single.model.state_dict()
    assert single.history[-1]["step"] == 39  # 1259 // 32; each rank: 630 // 16
    torch.manual_seed(1)
    initial = dlzoo.create_model("mlp_digits", hidden_dims=[64], num_classes=10, in_chans=1, img_size=8)
    assert (ddp["head.weight"] - initial.head.weight).abs().max() > 1e-2  # training moved the weights
    for key, value in ref.items():
        torch.testing.assert_close(ddp[key], value, rtol=1e-3, atol=1e-5, msg=key)
    # the training metrics are reduced over both ranks: the same loss as the single process
    import json

    ddp_hist = [json.loads(s) for s in (tmp_path / "ddp" / "metrics.jsonl").read_text().splitlines()]
    assert ddp_hist[-1]["train_loss"] == pytest.approx(single.history[-1]["train_loss"], rel=1e-4)
    assert ddp_hist[-1]["val_acc"] == pytest.approx(single.history[-1]["val_acc"], abs=1e-9)
