"""Load Hugging Face transformers model directories (``save_pretrained`` output) into dlzoo models.

Each supported architecture registers a converter for its ``model_type`` in :data:`HF_CONVERTERS`
(one file per architecture, ``hf_<family>.py``, imported below). A converter maps the HF config to a
dlzoo model name + overrides and renames the HF state dict to dlzoo's keys. Weights are read with
safetensors, or ``torch.load(weights_only=True)`` for ``pytorch_model.bin``: no pickle is executed.
transformers itself is never imported here. A corrupt weights file, a config the converter cannot read, or
weights that do not fit the converted config raise :class:`dlzoo.hub.PretrainedLoadError` naming the file.

The way back: :data:`HF_EXPORTERS` maps a dlzoo model class to an exporter ``model -> (HF config dict,
HF state dict)`` (registered with :func:`register_hf_exporter`, usually in the same module as the converter);
:func:`save_hf_directory` (``dlzoo.save_pretrained(model, dir, format="hf")``) writes ``config.json`` +
``model.safetensors`` that ``transformers``' ``from_pretrained`` loads. A converter module outside this
package is listed by its absolute module name.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..hub import (
    PretrainedFileNotFoundError,
    PretrainedLoadError,
    atomic_save_safetensors,
    atomic_write_bytes,
    load_weights,
    read_safetensors,
)

__all__ = ["HF_CONVERTERS", "HF_EXPORTERS", "register_hf_converter", "register_hf_exporter",
           "load_hf_directory", "read_hf_weights", "save_hf_directory"]

# model_type -> converter(config: dict, state: dict[str, Tensor]) -> (dlzoo name, overrides, dlzoo state)
StateDict = dict[str, torch.Tensor]
Converter = Callable[[dict[str, Any], StateDict], tuple[str, dict[str, Any], StateDict]]
HF_CONVERTERS: dict[str, Converter] = {}
# dlzoo model class -> exporter(model) -> (HF config.json dict, HF state dict)
Exporter = Callable[[nn.Module], tuple[dict[str, Any], StateDict]]
HF_EXPORTERS: dict[type, Exporter] = {}

# one module per architecture; each calls register_hf_converter on import
_CONVERTER_MODULES: tuple[str, ...] = (
    "hf_convnext",
    "hf_swin",
    "hf_resnet",
    "hf_vit",
    "dlzoo.models.language.gpt2._convert_hf",
    "dlzoo.models.language.llama._convert_hf",
    "dlzoo.models.clip._convert_hf",
    "dlzoo.models.depth_anything._convert_hf",
)


def register_hf_converter(model_type: str) -> Callable[[Converter], Converter]:
    """Decorator registering a converter for a transformers ``model_type``."""

    def decorator(fn: Converter) -> Converter:
        HF_CONVERTERS[model_type] = fn
        return fn

    return decorator


def register_hf_exporter(model_class: type) -> Callable[[Exporter], Exporter]:
    """Decorator registering an exporter for a dlzoo model class (and its subclasses)."""

    def decorator(fn: Exporter) -> Exporter:
        HF_EXPORTERS[model_class] = fn
        return fn

    return decorator


def _import_converters() -> None:
    for module in _CONVERTER_MODULES:
        importlib.import_module(module if module.startswith("dlzoo.") else f"{__package__}.{module}")


def read_hf_weights(directory: Path) -> dict[str, torch.Tensor]:
    """All tensors of a transformers directory (single or sharded safetensors, or .bin without pickle)."""
    files = sorted(directory.glob("*.safetensors"))
    if files:
        state: dict[str, torch.Tensor] = {}
        for f in files:
            state.update(read_safetensors(f))
        return state
    bins = sorted(directory.glob("pytorch_model*.bin"))
    if not bins:
        raise PretrainedFileNotFoundError(f"from_pretrained: no *.safetensors or pytorch_model*.bin weights "
                                          f"in {directory}")
    state = {}
    for f in bins:
        try:  # weights_only: the restricted unpickler, which refuses anything but tensors and containers
            loaded = torch.load(f, map_location="cpu", weights_only=True)
        except Exception as err:
            reason = " ".join(str(err).split()).split(". ")[0][:160]
            raise PretrainedLoadError(f"from_pretrained: {f}: not a plain tensor file; torch.load("
                                      f"weights_only=True) refused it without unpickling "
                                      f"({type(err).__name__}: {reason})") from None
        if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
            raise PretrainedLoadError(f"from_pretrained: {f}: expected a dict of tensors, got "
                                      f"{type(loaded).__name__}")
        state.update(loaded)
    return state


def load_hf_directory(directory: Path, config: dict[str, Any], **overrides: Any) -> nn.Module:
    """Build the dlzoo model matching a transformers directory and load its converted weights (eval mode)."""
    from ..models import create_model

    _import_converters()
    directory = Path(directory)
    config_path = directory / "config.json"
    model_type = config.get("model_type")
    if not isinstance(model_type, str) or model_type not in HF_CONVERTERS:
        supported = ", ".join(sorted(HF_CONVERTERS)) or "none"
        raise PretrainedLoadError(f"from_pretrained: {config_path}: unsupported transformers model_type "
                                  f"{model_type!r} (supported: {supported})")
    state = read_hf_weights(directory)
    try:
        name, kwargs, state = HF_CONVERTERS[model_type](config, state)
        model = create_model(name, **{**kwargs, **overrides})
    except (KeyError, TypeError, ValueError) as err:
        reason = str(err.args[0]) if isinstance(err, KeyError) and err.args else str(err)
        raise PretrainedLoadError(f"from_pretrained: {directory} ({model_type}): config.json and the weights "
                                  f"cannot be converted: {' '.join(reason.split())}") from err
    load_weights(model, state, f"from_pretrained: {directory} ({model_type}): the weights do not fit the "
                               f"model built from config.json")
    return model.eval()


def save_hf_directory(model: nn.Module, directory: str | Path) -> Path:
    """Write ``model`` as a transformers directory (``config.json`` + ``model.safetensors``); returns it.

    A model class without an exporter, or a configuration the HF architecture cannot express, raises a
    one-line ``ValueError``.
    """
    _import_converters()
    exporter = next((HF_EXPORTERS[cls] for cls in type(model).__mro__ if cls in HF_EXPORTERS), None)
    if exporter is None:
        supported = ", ".join(sorted(cls.__name__ for cls in HF_EXPORTERS)) or "none"
        raise ValueError(f"save_pretrained(format='hf'): no Hugging Face exporter for {type(model).__name__} "
                         f"(supported: {supported})")
    config, state = exporter(model)
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous().clone() for k, v in state.items()}  # no shared storage
    atomic_save_safetensors(directory / "model.safetensors", tensors)
    text = json.dumps(config, indent=2, sort_keys=True) + "\n"
    atomic_write_bytes(directory / "config.json", text.encode())
    return directory
