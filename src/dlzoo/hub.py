"""Saving and loading models as directories: ``config.json`` + ``model.safetensors``.

A dlzoo directory's ``config.json`` holds ``{"dlzoo_model": name, "kwargs": {...}}``; a Hugging Face
transformers directory (``model_type`` in ``config.json``) is converted by :mod:`dlzoo.interop`.
No pickle is ever loaded: weights are safetensors, or ``torch.load(weights_only=True)``.

Every file is written atomically (temp file in the same directory, fsync, ``os.replace``, fsync of the
directory), so a crash mid-write leaves the previous file in place. A file that cannot be read raises a
one-line :class:`PretrainedLoadError` naming it, never a raw json/safetensors traceback.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from .errors import FileLoadError
from .models import create_model

__all__ = [
    "PretrainedFileNotFoundError",
    "PretrainedLoadError",
    "atomic_save_safetensors",
    "atomic_write_bytes",
    "from_pretrained",
    "fsync_dir",
    "load_weights",
    "read_json_object",
    "read_safetensors",
    "safetensors_state",
    "save_pretrained",
    "tied_keys",
]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"


class PretrainedLoadError(FileLoadError):
    """A model directory (or one of its files) that cannot be loaded; the message names the file."""


class PretrainedFileNotFoundError(PretrainedLoadError, FileNotFoundError):
    """A file :func:`from_pretrained` needs is absent (also a ``FileNotFoundError``)."""


def _one_line(err: BaseException) -> str:
    text = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
    return " ".join(text.split()) or type(err).__name__


# ----------------------------------------------------------------------------- atomic writes


def fsync_dir(path: str | os.PathLike) -> None:
    """fsync a directory, so a rename inside it is on disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _atomic_replace(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """``write(tmp)`` a temp file beside ``path``, fsync it, rename it over ``path``, fsync the directory.

    On any failure the temp file is removed and ``path`` keeps its previous content.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        write(tmp)
        with open(tmp, "rb+") as f:  # data on disk before the rename makes it visible
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_dir(path.parent)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically: temp file in the same directory, fsync, rename."""
    _atomic_replace(path, lambda tmp: tmp.write_bytes(data))


def atomic_save_safetensors(path: str | os.PathLike, tensors: dict[str, torch.Tensor]) -> None:
    """Write ``tensors`` as a safetensors file at ``path`` atomically (see :func:`atomic_write_bytes`)."""
    _atomic_replace(path, lambda tmp: save_file(tensors, str(tmp)))


# ----------------------------------------------------------------------------- reading, with clear errors


def read_json_object(path: str | os.PathLike, error: type[ValueError] = PretrainedLoadError,
                     missing: type[ValueError] | None = None) -> dict[str, Any]:
    """The JSON object in ``path``: ``missing`` (default ``error``) if absent, ``error`` if not an object."""
    path = Path(path)
    if not path.is_file():
        raise (missing or error)(f"{path}: no such file")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise error(f"{path}: not readable JSON ({_one_line(err)})") from None
    if not isinstance(obj, dict):
        raise error(f"{path}: expected a JSON object, got {type(obj).__name__} {json.dumps(obj)[:40]}")
    return obj


def read_safetensors(path: str | os.PathLike, error: type[ValueError] = PretrainedLoadError,
                     missing: type[ValueError] | None = None) -> dict[str, torch.Tensor]:
    """All tensors of the safetensors file ``path``; ``error`` naming it if it is absent or corrupt."""
    path = Path(path)
    if not path.is_file():
        raise (missing or error)(f"{path}: no such file")
    try:
        return load_file(str(path))
    except (OSError, SafetensorError) as err:
        raise error(f"{path}: not a valid safetensors file ({_one_line(err)})") from None


# ----------------------------------------------------------------------------- state dicts


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


def load_weights(model: nn.Module, state: dict[str, torch.Tensor], source: str,
                 error: type[ValueError] = PretrainedLoadError) -> None:
    """Load ``state`` into ``model``; only keys tied to a stored tensor may be absent.

    Missing, unexpected or differently shaped tensors raise ``error`` (a ``ValueError``) on one line.
    """
    own = model.state_dict()
    wrong = [f"{k}: stored {tuple(v.shape)}, model {tuple(own[k].shape)}" for k, v in state.items()
             if k in own and tuple(v.shape) != tuple(own[k].shape)]
    if wrong:
        raise error(f"{source}: weights do not match the model: size mismatch for {len(wrong)} tensor(s): "
                    f"{'; '.join(wrong[:3])}")
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = sorted(set(missing) - tied_keys(model))
    if missing or unexpected:
        raise error(f"{source}: weights do not match the model: missing {missing[:5]}, "
                    f"unexpected {list(unexpected)[:5]}")


# ----------------------------------------------------------------------------- directories


def save_pretrained(model: nn.Module, directory: str | os.PathLike, format: str = "dlzoo") -> Path:
    """Write ``model`` (built by :func:`dlzoo.create_model`) to ``directory``; returns the path.

    ``format="dlzoo"`` (default) writes dlzoo's ``config.json`` + ``model.safetensors``; ``format="hf"``
    writes a Hugging Face transformers directory (its ``config.json`` and weight names) through the model
    family's exporter in :data:`dlzoo.interop.huggingface.HF_EXPORTERS`; a model without one raises a
    ``ValueError``.
    """
    if format == "hf":
        from .interop.huggingface import save_hf_directory

        return save_hf_directory(model, directory)
    if format != "dlzoo":
        raise ValueError(f"save_pretrained: format must be 'dlzoo' or 'hf', got {format!r}")
    config = getattr(model, "dlzoo_config", None)
    if config is None:
        raise ValueError("save_pretrained: model was not built by dlzoo.create_model (no dlzoo_config)")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    try:
        payload = json.dumps({"dlzoo_model": config["name"], "kwargs": config["kwargs"]}, indent=2)
    except TypeError as err:
        raise ValueError(f"save_pretrained: model overrides must be JSON-serialisable ({err})") from None
    atomic_save_safetensors(directory / WEIGHTS_NAME, safetensors_state(model))
    atomic_write_bytes(directory / CONFIG_NAME, payload.encode())
    return directory


def from_pretrained(directory: str | os.PathLike, **overrides: Any) -> nn.Module:
    """Load a dlzoo directory, or a Hugging Face transformers directory of a supported architecture.

    The model is returned in eval mode (dropout off, batch norm on its running statistics), as transformers
    and timm do; call ``model.train()`` to fine-tune it. ``overrides`` are passed to
    :func:`dlzoo.create_model` on top of the saved arguments. A missing, corrupt or inconsistent file raises
    :class:`PretrainedLoadError` (a ``ValueError``; :class:`PretrainedFileNotFoundError` for an absent one)
    with a one-line message naming the file.
    """
    directory = Path(directory)
    config_path = directory / CONFIG_NAME
    if not config_path.is_file():
        raise PretrainedFileNotFoundError(f"from_pretrained: no {CONFIG_NAME} in {directory}")
    config = read_json_object(config_path)
    if "dlzoo_model" not in config:
        if "model_type" not in config:
            raise PretrainedLoadError(f"from_pretrained: {config_path} has neither 'dlzoo_model' (a dlzoo "
                                      f"directory) nor 'model_type' (a transformers directory); "
                                      f"keys: {sorted(config)[:8]}")
        from .interop.huggingface import load_hf_directory

        return load_hf_directory(directory, config, **overrides)
    name, kwargs = config["dlzoo_model"], config.get("kwargs", {})
    if not isinstance(name, str) or not isinstance(kwargs, dict):
        raise PretrainedLoadError(f"from_pretrained: {config_path}: 'dlzoo_model' must be a string and "
                                  f"'kwargs' an object, got {name!r} and {type(kwargs).__name__}")
    try:
        model = create_model(name, **{**kwargs, **overrides})
    except (KeyError, TypeError, ValueError) as err:
        raise PretrainedLoadError(f"from_pretrained: cannot build {name!r} from {config_path} "
                                  f"(kwargs {kwargs}, overrides {overrides}): {_one_line(err)}") from err
    weights_path = directory / WEIGHTS_NAME
    state = read_safetensors(weights_path, missing=PretrainedFileNotFoundError)
    load_weights(model, state, f"from_pretrained: {weights_path} ({name} from {CONFIG_NAME})")
    return model.eval()
