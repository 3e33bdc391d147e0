"""Load Hugging Face transformers model directories (``save_pretrained`` output) into dlzoo models.

Each supported architecture registers a converter for its ``model_type`` in :data:`HF_CONVERTERS`
(one file per architecture, ``hf_<family>.py``, imported below). A converter maps the HF config to a
dlzoo model name + overrides and renames the HF state dict to dlzoo's keys. Weights are read with
safetensors, or ``torch.load(weights_only=True)`` for ``pytorch_model.bin``: no pickle is executed.
transformers itself is never imported here.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

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
    from safetensors.torch import load_file

    files = sorted(directory.glob("*.safetensors"))
    if files:
        state: dict[str, torch.Tensor] = {}
        for f in files:
            state.update(load_file(str(f)))
        return state
    bins = sorted(directory.glob("pytorch_model*.bin"))
    if not bins:
        raise FileNotFoundError(f"no *.safetensors or pytorch_model*.bin weights in {directory}")
    state = {}
    for f in bins:
        state.update(torch.load(f, map_location="cpu", weights_only=True))
    return state


def load_hf_directory(directory: Path, config: dict[str, Any], **overrides: Any) -> nn.Module:
    """Build the dlzoo model matching a transformers directory and load its converted weights."""
    from ..models import create_model

    for module in _CONVERTER_MODULES:
        importlib.import_module(f"{__package__}.{module}")
    model_type = config.get("model_type")
    if model_type not in HF_CONVERTERS:
        supported = ", ".join(sorted(HF_CONVERTERS)) or "none"
        raise ValueError(f"from_pretrained: unsupported transformers model_type {model_type!r} "
                         f"(supported: {supported})")
    name, kwargs, state = HF_CONVERTERS[model_type](config, read_hf_weights(Path(directory)))
    model = create_model(name, **{**kwargs, **overrides})
    model.load_state_dict(state, strict=True)
    return model.eval()
