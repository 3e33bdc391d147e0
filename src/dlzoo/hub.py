"""Saving and loading models as directories: ``config.json`` + ``model.safetensors``.

A dlzoo directory's ``config.json`` holds ``{"dlzoo_model": name, "kwargs": {...}}``; a Hugging Face
transformers directory (``model_type`` in ``config.json``) is converted by :mod:`dlzoo.interop`.
No pickle is ever loaded: weights are safetensors, or ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from .models import create_model

__all__ = [
    "atomic_write_bytes",
    "from_pretrained",
    "load_weights",
    "safetensors_state",
    "save_pretrained",
    "tied_keys",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def tied_keys(model: nn.Module) -> set[str]:
    """state_dict keys whose tensor shares storage with an earlier key (tied embeddings, say).

    safetensors refuses shared storage, so these are left out on save and re-tied by the model on load.
    """
    first_key_of: dict[int, str] = {}
    tied = set()
    for key, value in model.state_dict().items():
        if not value.numel():
            continue
        ptr = value.untyped_storage().data_ptr()
        if ptr in first_key_of:
            tied.add(key)
        else:
            first_key_of[ptr] = key
    return tied


def safetensors_state(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state_dict as contiguous CPU tensors, tied duplicates left out (see :func:`tied_keys`)."""
    tied = tied_keys(model)
    return {k: v.detach().contiguous().cpu() for k, v in model.state_dict().items() if k not in tied}


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``model``; only keys tied to a stored tensor may be absent, else ``ValueError``."""
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = sorted(set(missing) - tied_keys(model))
    if missing or unexpected:
        raise ValueError(f"{source}: weights do not match the model: missing {missing[:5]}, "
                         f"unexpected {list(unexpected)[:5]}")


def save_pretrained(model: nn.Module, directory: str | os.PathLike) -> Path:
    """Write ``model`` (built by :func:`dlzoo.create_model`) to ``directory``; returns the path."""
    config = getattr(model, "dlzoo_config", None)
    if config is None:
        raise ValueError("save_pretrained: model was not built by dlzoo.create_model (no dlzoo_config)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        payload = json.dumps({"dlzoo_model": config["name"], "kwargs": config["kwargs"]}, indent=2)
    except TypeError as err:
        raise ValueError(f"save_pretrained: model overrides must be JSON-serialisable ({err})") from None
    tmp = directory / f".{WEIGHTS_NAME}.tmp{os.getpid()}"
    save_file(safetensors_state(model), str(tmp))
    with open(tmp, "rb+") as f:  # data on disk before the rename makes it visible
        os.fsync(f.fileno())
    os.replace(tmp, directory / WEIGHTS_NAME)
    atomic_write_bytes(directory / CONFIG_NAME, payload.encode())
    return directory


def from_pretrained(directory: str | os.PathLike, **overrides: Any) -> nn.Module:
    """Load a dlzoo directory, or a Hugging Face transformers directory of a supported architecture."""
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise FileNotFoundError(f"from_pretrained: no {CONFIG_NAME} in {directory}")
    config = json.loads(config_path.read_text())
    if "dlzoo_model" not in config:
        from .interop.huggingface import load_hf_directory

        return load_hf_directory(directory, config, **overrides)
    model = create_model(config["dlzoo_model"], **{**config.get("kwargs", {}), **overrides})
    state = load_file(str(directory / WEIGHTS_NAME))
    load_weights(model, state, f"from_pretrained: {directory} ({config['dlzoo_model']})")
    return model
