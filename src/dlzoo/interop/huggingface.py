"""Load Hugging Face transformers model directories (``save_pretrained`` output) into dlzoo models.

Each supported architecture registers a converter for its ``model_type`` in :data:`HF_CONVERTERS`
(one file per architecture, ``hf_<family>.py``, imported below). A converter maps the HF config to a
dlzoo model name + overrides and renames the HF state dict to dlzoo's keys. Weights are read with
safetensors, or ``torch.load(weights_only=True)`` for ``pytorch_model.bin``: no pickle is executed.
transformers itself is never imported here. A corrupt weights file, a config the converter cannot read, or
weights that do not fit the converted config raise :class:`dlzoo.hub.PretrainedLoadError` naming the file.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..hub import PretrainedFileNotFoundError, PretrainedLoadError, load_weights, read_safetensors

__all__ = ["HF_CONVERTERS", "register_hf_converter", "load_hf_directory", "read_hf_weights"]

# model_type -> converter(config: dict, state: dict[str, Tensor]) -> (dlzoo name, overrides, dlzoo state)
StateDict = dict[str, torch.Tensor]
Converter = Callable[[dict[str, Any], StateDict], tuple[str, dict[str, Any], StateDict]]
HF_CONVERTERS: dict[str, Converter] = {}

# one module per architecture; each calls register_hf_converter on import
_CONVERTER_MODULES: tuple[str, ...] = (
    "hf_convnext",
    "hf_swin",
    "hf_resnet",
    "hf_vit",
)


def register_hf_converter(model_type: str) -> Callable[[Converter], Converter]:
    """Decorator registering a converter for a transformers ``model_type``."""

    def decorator(fn: Converter) -> Converter:
        HF_CONVERTERS[model_type] = fn
        return fn

    return decorator


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

    for module in _CONVERTER_MODULES:
        importlib.import_module(f"{__package__}.{module}")
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
