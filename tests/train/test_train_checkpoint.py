"""Checkpoints: lossless no-pickle round trip of optimizer/scheduler/RNG state, atomic dirs, rotation,
one-line errors for missing or corrupt files."""

from __future__ import annotations

import random
import struct

import numpy as np
import pytest
import torch

from dlzoo.train.checkpoint import (
    CheckpointError,
    capture_rng_state,
    decode_state,
    encode_state,
    latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    remove_stale_temporaries,
    restore_rng_state,
    save_checkpoint,
)


def test_encode_decode_is_lossless_for_nested_state():
    state = {
        "ints": {0: torch.arange(3), 7: (1.5, None, "s")},
        "bf16": torch.randn(2, 3).to(torch.bfloat16), "scalar": torch.tensor(2.0),
        "u8": torch.tensor([1, 255], dtype=torch.uint8),
        "arr": np.arange(5, dtype=np.uint32), "list": [True, 0.1 + 0.2, {"__weird": 1}], "nan": float("inf"),
    }
    tensors: dict[str, torch.Tensor] = {}
    encoded = encode_state(state, tensors)
    import json

    decoded = decode_state(json.loads(json.dumps(encoded)), tensors)
    assert decoded["ints"][7] == (1.5, None, "s") and list(decoded["ints"]) == [0, 7]
    for key in ("bf16", "scalar", "u8"):
        assert decoded[key].dtype == state[key].dtype and torch.equal(decoded[key], state[key])
    assert torch.equal(decoded["ints"][0], state["ints"][0])
    np.testing.assert_array_equal(decoded["arr"], state["arr"])
    assert decoded["arr"].dtype == np.uint32
    assert decoded["list"] == [True, 0.1 + 0.2, {"__weird": 1}] and decoded["nan"] == float("inf")


def _trained():
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))
    opt = torch.optim.AdamW(model.parameters(), lr=1e-2, betas=(0.8, 0.95), amsgrad=True)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=0.1, total_steps=20)
    for _ in range(3):
        model(torch.randn(5, 4)).square().mean().backward()
        opt.step()
        sched.step()
        opt.zero_grad()
    return model, opt, sched


def test_training_state_round_trip_continues_bitwise_identically(tmp_path):
    model, opt, sched = _trained()
    state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict(), "rng": capture_rng_state(),
             "epoch": 1}
    path = save_checkpoint(tmp_path, 3, model, state)
    assert sorted(p.name for p in path.iterdir()) == ["model.safetensors", "state.json", "state.safetensors"]

    def continue_(m, o, s):
        torch.manual_seed(1)
        for _ in range(3):
            m(torch.randn(5, 4)).square().mean().backward()
            o.step()
            s.step()
            o.zero_grad()
        return [p.detach().clone() for p in m.parameters()]

    ckpt = load_checkpoint(path)
    model2 = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.LayerNorm(8), torch.nn.Linear(8, 2))
    ckpt.load_model_state(model2)
    opt2 = torch.optim.AdamW(model2.parameters(), lr=1e-2, betas=(0.8, 0.95), amsgrad=True)
    sched2 = torch.optim.lr_scheduler.OneCycleLR(opt2, max_lr=0.1, total_steps=20)  # build both, then load
    opt2.load_state_dict(ckpt.state["optimizer"])
    sched2.load_state_dict(ckpt.state["scheduler"])
    assert ckpt.step == 3 and ckpt.state["epoch"] == 1
    for a, b in zip(continue_(model, opt, sched), continue_(model2, opt2, sched2)):
        assert torch.equal(a, b)


def test_rng_states_are_restored_for_torch_numpy_and_python():
    state = capture_rng_state()
    assert state["torch"].dtype == torch.uint8
    draws = (torch.rand(4), np.random.rand(3), random.random())  # noqa: NPY002
    tensors: dict[str, torch.Tensor] = {}
    import json

    restore_rng_state(decode_state(json.loads(json.dumps(encode_state(state, tensors))), tensors))
    again = (torch.rand(4), np.random.rand(3), random.random())  # noqa: NPY002
    assert torch.equal(draws[0], again[0]) and np.array_equal(draws[1], again[1]) and draws[2] == again[2]


def test_rotation_keeps_last_k_and_ignores_half_written_directories(tmp_path):
    model = torch.nn.Linear(2, 2)
    for step in (5, 10, 15, 20):
        save_checkpoint(tmp_path, step, model, {"s": step}, keep_last=2)
    assert [p.name for p in list_checkpoints(tmp_path)] == ["step_00000015", "step_00000020"]
    # a process killed mid-write leaves only a hidden temporary directory: never picked up, then cleaned
    stale = tmp_path / ".tmp-step_00000025-999"
    stale.mkdir()
    (stale / "state.json").write_text("{trunc")
    assert latest_checkpoint(tmp_path).name == "step_00000020"
    remove_stale_temporaries(tmp_path)
    assert not stale.exists()
    assert latest_checkpoint(tmp_path / "missing") is None


def test_checkpoint_files_are_safetensors_and_json_only(tmp_path):
    import json
    import struct

    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path, 1, model, {"optimizer": opt.state_dict(), "rng": capture_rng_state()})
    for f in path.iterdir():
        data = f.read_bytes()
        if f.suffix == ".json":
            json.loads(data)
        else:  # safetensors: 8-byte little-endian header length, then a JSON header
            (n,) = struct.unpack("<Q", data[:8])
            header = json.loads(data[8 : 8 + n])
            assert all("dtype" in v for k, v in header.items() if k != "__metadata__")
    assert sorted(f.suffix for f in path.iterdir()) == [".json", ".safetensors", ".safetensors"]


# --------------------------------------------------------------- unreadable checkpoints: one-line errors


def _corrupt_header(path):
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(data) * 4) + data[8:])


def _drop_tensor(path):
    import safetensors.torch as st

    tensors = st.load_file(str(path))
    tensors.pop(sorted(tensors)[0])
    st.save_file(tensors, str(path))


_CKPT_CORRUPTIONS = {
    "no state.json": ("state.json", lambda p: p.unlink()),
    "state.json invalid json": ("state.json", lambda p: p.write_text('{"step": 1, "sta')),
    "state.json a list": ("state.json", lambda p: p.write_text("[1]")),
    "state.json a number": ("state.json", lambda p: p.write_text("3")),
    "state.json without step": ("state.json", lambda p: p.write_text('{"state": {}}')),
    "state.json step not an int": ("state.json", lambda p: p.write_text('{"step": "x", "state": {}}')),
    "no state.safetensors": ("state.safetensors", lambda p: p.unlink()),
    "state.safetensors truncated": ("state.safetensors", lambda p: p.write_bytes(p.read_bytes()[:40])),
    "state.safetensors header lies": ("state.safetensors", _corrupt_header),
    "state.safetensors lacks a tensor": ("state.safetensors", _drop_tensor),  # state.json refers to it
    "no model.safetensors": ("model.safetensors", lambda p: p.unlink()),
    "model.safetensors random bytes": ("model.safetensors", lambda p: p.write_bytes(bytes(range(256)) * 4)),
}


@pytest.mark.parametrize("case", list(_CKPT_CORRUPTIONS))
def test_unreadable_checkpoint_gives_one_line_error_naming_the_file(tmp_path, case):
    model, opt, _ = _trained()
    path = save_checkpoint(tmp_path, 1, model, {"optimizer": opt.state_dict(), "rng": capture_rng_state()})
    filename, corrupt = _CKPT_CORRUPTIONS[case]
    corrupt(path / filename)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    message = str(err.value)
    assert filename in message and "\n" not in message, message
    assert isinstance(err.value, ValueError)


def test_checkpoint_weights_that_do_not_fit_the_model_raise_checkpoint_error(tmp_path):
    path = save_checkpoint(tmp_path, 1, torch.nn.Linear(3, 2), {})
    with pytest.raises(CheckpointError, match="model.safetensors.*size mismatch"):
        load_checkpoint(path).load_model_state(torch.nn.Linear(4, 2))


# --------------------------------------------------------------- atomicity


def _params(path):
    model = torch.nn.Linear(3, 2)
    load_checkpoint(path).load_model_state(model)
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("fail_at", ["model.safetensors", "state.safetensors", "state.json"])
def test_failure_mid_write_leaves_the_previous_checkpoint_usable(tmp_path, monkeypatch, fail_at):
    from dlzoo import hub
    from dlzoo.train import checkpoint as ckpt_mod

    old = torch.nn.Linear(3, 2)
    path = save_checkpoint(tmp_path, 5, old, {"opt": {"m": torch.randn(3)}}, keep_last=1)
    expected = _params(path)
    real_writer = hub._atomic_replace

    def dying_writer(target, write):
        if target.name == fail_at:  # a partial temp file on disk, then the process "dies"
            target.with_name(f".{target.name}.tmp").write_bytes(b"partial")
            raise OSError("disk full")
        real_writer(target, write)

    monkeypatch.setattr(hub, "_atomic_replace", dying_writer)
    for step in (6, 5):  # a new step, and the same step rewritten (epoch end == step boundary)
        with pytest.raises(OSError, match="disk full"):
            save_checkpoint(tmp_path, step, torch.nn.Linear(3, 2), {"opt": {"m": torch.ones(3)}}, keep_last=1)
        assert latest_checkpoint(tmp_path) == path
        assert all(torch.equal(a, b) for a, b in zip(_params(path), expected))
        assert [p.name for p in tmp_path.iterdir()] == [path.name]  # the half-written directory is gone
    assert ckpt_mod.load_checkpoint(path).state["opt"]["m"].shape == (3,)


def test_replacing_a_step_is_atomic_even_when_the_final_rename_fails(tmp_path, monkeypatch):
    import os

    from dlzoo.train import checkpoint as ckpt_mod

    path = save_checkpoint(tmp_path, 5, torch.nn.Linear(3, 2), {}, keep_last=1)
    expected = _params(path)
    real_rename = os.rename

    def rename(src, dst):
        if str(src).endswith(f"-{os.getpid()}") and ".tmp-step_" in str(src):
            raise OSError("rename failed")
        real_rename(src, dst)

    monkeypatch.setattr(ckpt_mod.os, "rename", rename)
    with pytest.raises(OSError, match="rename failed"):
        save_checkpoint(tmp_path, 5, torch.nn.Linear(3, 2), {}, keep_last=1)
    assert latest_checkpoint(tmp_path) == path
    assert all(torch.equal(a, b) for a, b in zip(_params(path), expected))


def test_stale_temporaries_restore_a_checkpoint_moved_aside_by_a_killed_save(tmp_path):
    # what a kill between "move step_5 aside" and "rename the new step_5 in" leaves on disk
    path = save_checkpoint(tmp_path, 5, torch.nn.Linear(3, 2), {"s": 1})
    expected = _params(path)
    path.rename(tmp_path / ".old-step_00000005-999")
    (tmp_path / ".tmp-step_00000005-999").mkdir()
    remove_stale_temporaries(tmp_path)
    assert latest_checkpoint(tmp_path) == path
    assert all(torch.equal(a, b) for a, b in zip(_params(path), expected))
    assert sorted(p.name for p in tmp_path.iterdir()) == [path.name]


def test_keep_last_must_be_positive(tmp_path):
    with pytest.raises(ValueError, match="keep_last"):
        save_checkpoint(tmp_path, 1, torch.nn.Linear(2, 2), {}, keep_last=0)
