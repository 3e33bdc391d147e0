"""Language modelling on two gloo ranks (torchrun's environment variables) equals one process with the
combined batch: DDP (gradients all-reduced) and FSDP2 (``train.fsdp: true``: every block of the model's
``layers`` ``fully_shard``-ed, then the root; parameters are DTensors sharded across the two ranks).

Each rank's loader takes a strided shard of the same (seed, epoch) order, so the two ranks' batches of 4
blocks together are the single process's batch of 8; the next-token loss is a mean over equal token
counts, so averaging the ranks' gradients gives the big batch's gradient.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).parent))
from test_lm_task import lm_config, register_tiny_lm, unregister_tiny_lm, write_corpus  # noqa: E402

from dlzoo.train import load_config, resume, train  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _script(tmp_path: Path) -> Path:
    script = tmp_path / "dlzoo_with_tiny.py"
    script.write_text(f"import sys\nsys.path.insert(0, {str(Path(__file__).parent)!r})\n"
                      "from test_lm_task import register_tiny_lm\nregister_tiny_lm()\n"
                      "from dlzoo.cli import main\nsys.exit(main(sys.argv[1:]))\n")
    return script


def _two_ranks(tmp_path: Path, config: Path | None, run: Path, *extra: str) -> list[tuple[str, str]]:
    """``dlzoo train config --run-dir run`` (``config=None``: ``dlzoo train --resume run``) on 2 ranks."""
    src = str(Path(__file__).resolve().parents[2] / "src")
    port, procs = _free_port(), []
    for rank in range(2):
        env = dict(os.environ, OMP_NUM_THREADS="1", WORLD_SIZE="2", RANK=str(rank), LOCAL_RANK=str(rank),
                   MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                   PYTHONPATH=src + os.pathsep + os.environ.get("PYTHONPATH", ""))
        where = ["--resume", str(run)] if config is None else [str(config), "--run-dir", str(run)]
        cmd = [sys.executable, str(_script(tmp_path)), "train", *where, *extra, "train.device=cpu"] \
            + (["--quiet"] if rank else [])
        procs.append(subprocess.Popen(cmd, env=env, text=True, cwd=tmp_path, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE))
    outs = [p.communicate(timeout=600) for p in procs]
    finished = json.loads((run / "status.json").read_text()).get("state") == "finished" \
        if (run / "status.json").is_file() else False
    for p, (_, err) in zip(procs, outs):
        if p.returncode == -6 and "terminate called without an active exception" in err and finished:
            # rarely (under load) a rank aborts in gloo's C++ teardown at interpreter exit after the run has
            # finished and its process group was destroyed (upstream: pytorch/pytorch#179291); the run's
            # results are still checked by the caller against the single process
            warnings.warn(f"a rank aborted at exit after a finished run: {err[-300:]}", stacklevel=2)
            continue
        assert p.returncode == 0, err[-3000:]
    return outs


def _single(tmp_path: Path, config: Path) -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    register_tiny_lm()
    try:
        return train(load_config(config), run_dir=tmp_path / "one", progress=False)
    finally:
        unregister_tiny_lm()
        torch.set_num_threads(threads)


def _configs(tmp_path: Path, **train_section) -> tuple[Path, Path]:
    write_corpus(tmp_path / "corpus.txt")
    common = {"optim": {"name": "sgd", "lr": 0.5, "weight_decay": 0.0, "kwargs": {"momentum": 0.9}},
              "train": {"epochs": 1, "max_steps": 4, "grad_clip": 1.0, "log_every": 1, **train_section},
              "sample": {"prompt": "once", "max_new_tokens": 6}}
    paths = []
    for name, batch in (("ranks", 4), ("one", 8)):
        cfg = lm_config(**common, data={"batch_size": batch, "root": str(tmp_path / "corpus.txt")})
        path = tmp_path / f"{name}.yaml"
        path.write_text(yaml.safe_dump(cfg))
        paths.append(path)
    return paths[0], paths[1]


def _compare(tmp_path: Path, run: Path, single, steps: int = 4) -> None:
    hist = [json.loads(s) for s in (run / "metrics.jsonl").read_text().splitlines()]
    assert hist[-1]["step"] == single.history[-1]["step"] == steps
    assert hist[-1]["train_loss"] == pytest.approx(single.history[-1]["train_loss"], rel=1e-4)
    assert hist[-1]["val_loss"] == pytest.approx(single.history[-1]["val_loss"], rel=1e-4)
    assert hist[-1]["sample"].startswith("once")
    weights = load_file(str(run / "model.safetensors"))
    ref = single.model.state_dict()
    assert set(weights) == set(ref)
    for key, value in ref.items():
        torch.testing.assert_close(weights[key], value, rtol=1e-3, atol=1e-5, msg=key)
    assert (run / "tokenizer.json").is_file()


@pytest.mark.distributed
@pytest.mark.slow
def test_lm_ddp_two_gloo_ranks_match_one_process(tmp_path):
    ranks, one = _configs(tmp_path)
    outs = _two_ranks(tmp_path, ranks, tmp_path / "ddp")
    assert "sample: " in outs[0][0] and "sample: " not in outs[1][0]  # rank 0 prints
    _compare(tmp_path, tmp_path / "ddp", _single(tmp_path, one))


@pytest.mark.distributed
@pytest.mark.slow
def test_lm_fsdp2_two_gloo_ranks_match_one_process_and_resume(tmp_path):
    ranks, one = _configs(tmp_path, fsdp=True)
    _two_ranks(tmp_path, ranks, tmp_path / "fsdp")
    single = _single(tmp_path, one)
    _compare(tmp_path, tmp_path / "fsdp", single)
    # its checkpoint holds the gathered weights and the full optimizer state (momentum): extending the
    # sharded run by an epoch (each rank reads the full state, keeps its shards) equals extending the single
    # process's run the same way
    more = ["train.epochs=2", "train.max_steps=6"]
    _two_ranks(tmp_path, None, tmp_path / "fsdp", *more)
    register_tiny_lm()
    try:
        extended = resume(tmp_path / "one", progress=False, overrides=more)
    finally:
        unregister_tiny_lm()
    _compare(tmp_path, tmp_path / "fsdp", extended, steps=6)
