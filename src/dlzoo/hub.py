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

__all__ = ["save_pretrained", "from_pretrained", "atomic_write_bytes"]

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


def _state_for_safetensors(model: nn.Module) -> dict[str, torch.Tensor]:
    # safetensors refuses shared storage (tied embeddings): keep the first name of each tensor.
    seen: dict[int, str] = {}
    state = {}
    for key, value in model.state_dict().items():
        ptr = value.untyped_storage().data_ptr() if value.numel() else id(value)
        if ptr in seen and value.numel():
            continue
        seen[ptr] = key
        state[key] = value.detach().contiguous().cpu()
    return state


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
    save_file(_state_for_safetensors(model), str(tmp))
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
    missing, unexpected = model.load_state_dict(state, strict=False)
    # keys dropped by save_pretrained are tied to a saved tensor; anything else is an error
    unexpected = list(unexpected)
    tied = {k for k in missing if k not in state}
    expected_tied = {k for k, _ in _tied_names(model)}
    if unexpected or tied - expected_tied:
        raise ValueError(
            f"from_pretrained: weights do not match {config['dlzoo_model']}: "
            f"missing {sorted(tied - expected_tied)[:5]}, unexpected {unexpected[:5]}"
        )
    return model


def _tied_names(model: nn.Module) -> list[tuple[str, str]]:
    """(dropped_name, kept_name) for state_dict entries sharing storage with an earlier entry."""
    seen: dict[int, str] = {}
    pairs = []
    for key, value in model.state_dict().items():
        if not value.numel():
            continue
        ptr = value.untyped_storage().data_ptr()
        if ptr in seen:
            pairs.append((key, seen[ptr]))
        else:
            seen[ptr] = key
    return pairs
