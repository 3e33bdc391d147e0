"""Hugging Face transformers ConvNext / ConvNextV2 directories -> dlzoo ``ConvNeXt``.

Maps ``ConvNextForImageClassification`` / ``ConvNextV2ForImageClassification`` (or the bare ``*Model``)
weights to dlzoo's timm-style keys. transformers is never imported: only ``config.json`` and the tensors.

    HF                                                    dlzoo
    {p}.embeddings.patch_embeddings / .layernorm          stem.0 / stem.1
    {p}.encoder.stages.i.downsampling_layer.{0,1}         stages.i.downsample.{0,1}
    {p}.encoder.stages.i.layers.j.dwconv / .layernorm     stages.i.blocks.j.conv_dw / .norm
    ... .pwconv1 / .pwconv2 / .grn / .layer_scale_parameter   .mlp.fc1 / .mlp.fc2 / .mlp.grn / .gamma
    {p}.layernorm, classifier                             head.norm, head.fc

The model is built with the registered name whose depths and widths the config has (``convnextv2_atto``
for an HF atto checkpoint, else the tiny builder with the sizes as overrides), so it gets timm's layout for
that name: HF's Linear ``pwconv`` weights (4C, C) become (4C, C, 1, 1) for the 1x1-conv MLPs of
``conv_mlp`` models (the same function); HF's GRN parameters (1, 1, 1, C) become (C,).
"""

from __future__ import annotations

import re
from typing import Any

from ..models.convnext import CONFIGS
from .huggingface import StateDict, register_hf_converter

__all__ = ["convert_convnext", "hf_num_labels"]

_BLOCK = {"dwconv": "conv_dw", "layernorm": "norm", "pwconv1": "mlp.fc1", "pwconv2": "mlp.fc2",
          "grn": "mlp.grn", "layer_scale_parameter": "gamma"}


def hf_num_labels(config: dict[str, Any], state: StateDict, classifier_key: str) -> int:
    """Number of classes: the classifier's rows if present, else 0 (a bare backbone)."""
    if classifier_key in state:
        return int(state[classifier_key].shape[0])
    return 0


def _rename(key: str, prefix: str) -> str:
    if key.startswith(prefix + "."):
        key = key[len(prefix) + 1:]
    if key.startswith("classifier."):
        return "head.fc." + key[len("classifier."):]
    if key.startswith("layernorm."):
        return "head.norm." + key[len("layernorm."):]
    if key.startswith("embeddings."):
        key = key.replace("embeddings.patch_embeddings.", "stem.0.")
        key = key.replace("embeddings.layernorm.", "stem.1.")
        if key.startswith("stem."):
            return key
    m = re.match(r"encoder\.stages\.(\d+)\.downsampling_layer\.(\d)\.(.+)", key)
    if m:
        return f"stages.{m[1]}.downsample.{m[2]}.{m[3]}"
    m = re.match(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(\w+)(\.\w+)?$", key)
    if m and m[3] in _BLOCK:
        return f"stages.{m[1]}.blocks.{m[2]}.{_BLOCK[m[3]]}{m[4] or ''}"
    raise ValueError(f"HF ConvNext converter: unexpected weight {key!r}")


def _convert(config: dict[str, Any], state: StateDict, prefix: str, v2: bool):
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        raise ValueError(f"HF ConvNext converter: only hidden_act='gelu' is supported, got {act!r}")
    depths = list(config.get("depths", (3, 3, 9, 3)))
    dims = list(config.get("hidden_sizes", (96, 192, 384, 768)))
    classifier = "classifier.weight"
    kwargs: dict[str, Any] = dict(
        depths=depths,
        dims=dims,
        num_classes=hf_num_labels(config, state, classifier),
        in_chans=int(config.get("num_channels", 3)),
        patch_size=int(config.get("patch_size", 4)),
        head_norm_kwargs={"eps": float(config.get("layer_norm_eps", 1e-12))},
    )
    if v2:
        kwargs.update(ls_init_value=None, use_grn=True)
    else:
        ls = float(config.get("layer_scale_init_value", 1e-6))
        kwargs["ls_init_value"] = ls if ls > 0 else None
    name = _registered_name(depths, dims, v2)
    conv_mlp = bool(CONFIGS[name].get("conv_mlp", False)) if name in CONFIGS else False
    kwargs["conv_mlp"] = conv_mlp
    out = {}
    for key, value in state.items():
        new = _rename(key, prefix)
        if new.endswith(("mlp.grn.weight", "mlp.grn.bias")):
            value = value.reshape(-1)  # HF GRN params are (1, 1, 1, C)
        elif conv_mlp and new.endswith(("mlp.fc1.weight", "mlp.fc2.weight")):
            value = value.reshape(*value.shape, 1, 1)  # Linear (out, in) -> 1x1 conv (out, in, 1, 1)
        out[new] = value
    return name, kwargs, out


def _registered_name(depths: list[int], dims: list[int], v2: bool) -> str:
    """The registered ConvNeXt (V2 if ``v2``) with these depths and widths, else the tiny builder (every
    size then comes from the overrides)."""
    for name, cfg in CONFIGS.items():
        same_version = name.startswith("convnextv2_") == v2
        if same_version and list(cfg["depths"]) == depths and list(cfg["dims"]) == dims:
            return name
    return "convnextv2_tiny" if v2 else "convnext_tiny"


@register_hf_converter("convnext")
def convert_convnext(config: dict[str, Any], state: StateDict):
    """ConvNext (V1) config + weights -> ("convnext_tiny", overrides, dlzoo state dict)."""
    return _convert(config, state, "convnext", v2=False)


@register_hf_converter("convnextv2")
def convert_convnextv2(config: dict[str, Any], state: StateDict):
    """ConvNextV2 config + weights -> ("convnextv2_tiny", overrides, dlzoo state dict)."""
    return _convert(config, state, "convnextv2", v2=True)
