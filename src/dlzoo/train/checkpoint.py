"""Training checkpoints without pickle: safetensors for tensors, JSON for everything else.

A checkpoint is a directory ``checkpoints/step_00000123/`` holding

- ``model.safetensors``: the model's ``state_dict`` (tied tensors stored once);
- ``state.safetensors``: every tensor found in the trainer state (optimizer moments, the torch CPU RNG
  state as a uint8 tensor, CUDA RNG states, GradScaler state, ...), under a path-like key;
- ``state.json``: the rest of that state (optimizer param groups, scheduler state, epoch/step,
  data-order position, python and numpy RNG states, metric history), with ``{"__tensor__": key}``
  placeholders pointing into ``state.safetensors``.

Each file is written with :func:`dlzoo.hub.atomic_write_bytes` / :func:`dlzoo.hub.atomic_save_safetensors`
(temp file, fsync, rename) inside a hidden temporary directory that is renamed into place only when
complete, so a process killed at any moment leaves the previous checkpoints intact and either a whole new
one or none. Rewriting the same step moves the old directory aside first (``.old-step_*``) and deletes it
only after the new one is in place; :func:`remove_stale_temporaries` puts it back after a crash in between.
The newest ``keep_last`` are kept. Loading never unpickles, and a missing or corrupt file raises a one-line
:class:`CheckpointError` (a ``ValueError``) naming it.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import FileLoadError
from ..hub import (
    atomic_save_safetensors,
    atomic_write_bytes,
    fsync_dir,
    load_weights,
    read_json_object,
    read_safetensors,
    safetensors_state,
)

__all__ = [
    "CheckpointError",
    "encode_state",
    "decode_state",
    "capture_rng_state",
    "restore_rng_state",
    "seed_everything",
    "retuple",
    "save_checkpoint",
    "load_checkpoint",
    "latest_checkpoint",
    "list_checkpoints",
    "Checkpoint",
    "remove_stale_temporaries",
]

_STEP_DIR = re.compile(r"^step_(\d+)$")
_OLD_DIR = re.compile(r"^\.old-(step_\d+)-\d+$")
MODEL_FILE, TENSORS_FILE, META_FILE = "model.safetensors", "state.safetensors", "state.json"


class CheckpointError(FileLoadError):
    """A checkpoint directory that cannot be loaded (missing or corrupt file); the message names the file."""


def encode_state(obj: Any, tensors: dict[str, torch.Tensor], prefix: str = "") -> Any:
    """JSON-able form of ``obj``; tensors are moved into ``tensors`` under path-like keys.

    Handles tensors, numpy arrays, dicts (non-string keys kept), lists, tuples and JSON scalars.
    """
    if isinstance(obj, torch.Tensor):
        key = prefix or "tensor"
        tensors[key] = obj.detach().cpu().clone().contiguous()
        return {"__tensor__": key}
    if isinstance(obj, np.ndarray):
        return {"__ndarray__": obj.tolist(), "dtype": str(obj.dtype)}
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        if all(isinstance(k, str) and not k.startswith("__") for k in obj):
            return {k: encode_state(v, tensors, f"{prefix}.{k}" if prefix else k) for k, v in obj.items()}
        items = [[encode_state(k, tensors, f"{prefix}.key{i}"), encode_state(v, tensors, f"{prefix}.{i}")]
                 for i, (k, v) in enumerate(obj.items())]
        return {"__dict__": items}
    if isinstance(obj, tuple):
        return {"__tuple__": [encode_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]}
    if isinstance(obj, list):
        return [encode_state(v, tensors, f"{prefix}.{i}") for i, v in enumerate(obj)]
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    raise TypeError(f"checkpoint: cannot store a {type(obj).__name__} at {prefix!r} without pickle")


def decode_state(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    """Inverse of :func:`encode_state`."""
    if isinstance(obj, dict):
        if "__tensor__" in obj:
            return tensors[obj["__tensor__"]]
        if "__ndarray__" in obj:
            return np.asarray(obj["__ndarray__"], dtype=obj["dtype"])
        if "__tuple__" in obj:
            return tuple(decode_state(v, tensors) for v in obj["__tuple__"])
        if "__dict__" in obj:
            return {decode_state(k, tensors): decode_state(v, tensors) for k, v in obj["__dict__"]}
        return {k: decode_state(v, tensors) for k, v in obj.items()}
    if isinstance(obj, list):
        return [decode_state(v, tensors) for v in obj]
    return obj


def capture_rng_state() -> dict[str, Any]:
    """Python, numpy, torch CPU and (if present) CUDA generator states."""
    state: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002  (legacy global state)
        "torch": torch.get_rng_state(),  # uint8 tensor
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`capture_rng_state` recorded."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    np.random.set_state(tuple(state["numpy"]))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(list(state["cuda"]))


@dataclass
class Checkpoint:
    """A loaded checkpoint: ``model_state`` for ``load_model_state``, ``state`` the decoded trainer state."""

    path: Path
    step: int
    model_state: dict[str, torch.Tensor]
    state: dict[str, Any]

    def load_model_state(self, model: nn.Module) -> None:
        """Load the weights into ``model``; only keys tied to a stored tensor may be absent."""
        load_weights(model, self.model_state, f"checkpoint {self.path / MODEL_FILE}", error=CheckpointError)


def list_checkpoints(directory: str | os.PathLike) -> list[Path]:
    """Complete checkpoints in ``directory``, oldest first."""
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in directory.iterdir()
             if (m := _STEP_DIR.match(p.name)) and p.is_dir()]
    return [p for _, p in sorted(found)]


def latest_checkpoint(directory: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint in ``directory``, or ``None``."""
    found = list_checkpoints(directory)
    return found[-1] if found else None


def save_checkpoint(
    directory: str | os.PathLike, step: int, model: nn.Module, state: dict[str, Any], keep_last: int = 2
) -> Path:
    """Write ``checkpoints/step_<step>/`` atomically and delete all but the newest ``keep_last``.

    A failure (or a kill) at any point leaves every previously written checkpoint loadable.
    """
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 1:
        raise ValueError(f"save_checkpoint: keep_last must be an integer >= 1, got {keep_last!r}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / f"step_{step:08d}"
    tmp = directory / f".tmp-step_{step:08d}-{os.getpid()}"
    aside = directory / f".old-step_{step:08d}-{os.getpid()}"
    for stale in (tmp, aside):
        if stale.exists():
            shutil.rmtree(stale)
    tmp.mkdir()
    moved = False
    try:
        tensors: dict[str, torch.Tensor] = {}
        encoded = encode_state(state, tensors)
        atomic_save_safetensors(tmp / MODEL_FILE, safetensors_state(model))
        atomic_save_safetensors(tmp / TENSORS_FILE, tensors)
        atomic_write_bytes(tmp / META_FILE, json.dumps({"step": step, "state": encoded}).encode())
        if final.exists():  # same step written again (e.g. epoch end == every_steps boundary)
            os.rename(final, aside)
            moved = True
        os.rename(tmp, final)
        fsync_dir(directory)
    except BaseException:
        if moved and not final.exists():
            os.rename(aside, final)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if moved:
        shutil.rmtree(aside, ignore_errors=True)
    for old in list_checkpoints(directory)[:-keep_last]:
        shutil.rmtree(old, ignore_errors=True)
    return final


def load_checkpoint(path: str | os.PathLike) -> Checkpoint:
    """Read a checkpoint directory written by :func:`save_checkpoint` (no pickle involved).

    Raises :class:`CheckpointError` naming the file when one is missing, corrupt or inconsistent.
    """
    path = Path(path)
    if not path.is_dir():
        raise CheckpointError(f"checkpoint {path}: not a directory")
    meta = read_json_object(path / META_FILE, CheckpointError)
    step = meta.get("step")
    if isinstance(step, bool) or not isinstance(step, int) or "state" not in meta:
        raise CheckpointError(f"checkpoint {path / META_FILE}: expected an integer 'step' and a 'state', "
                              f"got keys {sorted(meta)[:6]}, step {step!r}")
    tensors = read_safetensors(path / TENSORS_FILE, CheckpointError)
    model_state = read_safetensors(path / MODEL_FILE, CheckpointError)
    try:
        state = decode_state(meta["state"], tensors)
    except (KeyError, TypeError, ValueError, IndexError) as err:
        reason = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise CheckpointError(f"checkpoint {path / META_FILE}: does not match {TENSORS_FILE} "
                              f"({type(err).__name__}: {' '.join(reason.split())})") from None
    return Checkpoint(path=path, step=step, model_state=model_state, state=state)


def remove_stale_temporaries(directory: str | os.PathLike) -> None:
    """Clean up after a process killed mid-save.

    Half-written ``.tmp-step_*`` directories are deleted; an ``.old-step_*`` directory (a checkpoint moved
    aside to be replaced) is put back if its replacement never arrived, else deleted.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return
    for p in directory.glob(".tmp-step_*"):
        shutil.rmtree(p, ignore_errors=True)
    for p in directory.glob(".old-step_*"):
        m = _OLD_DIR.match(p.name)
        if m and not (directory / m.group(1)).exists():
            os.rename(p, directory / m.group(1))
        else:
            shutil.rmtree(p, ignore_errors=True)


def seed_everything(seed: int) -> None:
    """Seed python, numpy's legacy global state and torch (what a run does before building its model)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002  (legacy global state, as torch.manual_seed)
    torch.manual_seed(seed)


def retuple(loaded: Any, reference: Any) -> Any:
    """Give JSON-decoded param-group values back the tuple type they have in a fresh optimizer."""
    for group, ref in zip(loaded.get("param_groups", []), reference.get("param_groups", [])):
        for key, value in ref.items():
            if isinstance(value, tuple) and isinstance(group.get(key), list):
                group[key] = tuple(group[key])
    return loaded
