"""Hugging Face transformers ResNet directories -> dlzoo ``ResNet`` (torchvision key layout).

    HF                                                      dlzoo / torchvision
    resnet.embedder.embedder.{convolution,normalization}    conv1, bn1
    resnet.encoder.stages.i.layers.j.layer.k.convolution    layer{i+1}.j.conv{k+1}
    resnet.encoder.stages.i.layers.j.layer.k.normalization  layer{i+1}.j.bn{k+1}
    resnet.encoder.stages.i.layers.j.shortcut.{conv,norm}   layer{i+1}.j.downsample.{0,1}
    classifier.1                                            fc

HF's ResNet is ResNet v1.5 (stride on the 3x3 conv) like torchvision when ``downsample_in_bottleneck`` is
False. dlzoo's ResNet has torchvision's fixed widths (stem 64, stages 64/128/256/512 x expansion), so
configs with other ``embedding_size``/``hidden_sizes`` are refused with a clear error.
transformers is never imported: only ``config.json`` and the tensors.
"""

from __future__ import annotations

import re
from typing import Any

from .hf_convnext import hf_num_labels
from .huggingface import StateDict, register_hf_converter

__all__ = ["convert_resnet"]

# (layer_type, depths) -> the dlzoo builder with those stages (the builders fix the depths)
_NAMES = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}


def _rename(key: str) -> str:
    key = key[len("resnet."):] if key.startswith("resnet.") else key
    if key.startswith("classifier.1."):
        return "fc." + key[len("classifier.1."):]
    m = re.match(r"embedder\.embedder\.(convolution|normalization)\.(\w+)$", key)
    if m:
        return ("conv1." if m[1] == "convolution" else "bn1.") + m[2]
    m = re.match(r"encoder\.stages\.(\d+)\.layers\.(\d+)\.(.+)$", key)
    if m:
        block = f"layer{int(m[1]) + 1}.{m[2]}"
        if sub := re.match(r"layer\.(\d+)\.(convolution|normalization)\.(\w+)$", m[3]):
            kind = "conv" if sub[2] == "convolution" else "bn"
            return f"{block}.{kind}{int(sub[1]) + 1}.{sub[3]}"
        if sub := re.match(r"shortcut\.(convolution|normalization)\.(\w+)$", m[3]):
            return f"{block}.downsample.{0 if sub[1] == 'convolution' else 1}.{sub[2]}"
    raise ValueError(f"HF ResNet converter: unexpected weight {key!r}")


@register_hf_converter("resnet")
def convert_resnet(config: dict[str, Any], state: StateDict):
    """ResNet config + weights -> ("resnet18" | "resnet50", overrides, dlzoo state dict)."""
    layer_type = config.get("layer_type", "bottleneck")
    if layer_type not in ("basic", "bottleneck"):
        raise ValueError(f"HF ResNet converter: unknown layer_type {layer_type!r}")
    expansion = 4 if layer_type == "bottleneck" else 1
    widths = [w * expansion for w in (64, 128, 256, 512)]
    hidden = list(config.get("hidden_sizes", widths))
    emb = int(config.get("embedding_size", 64))
    if emb != 64 or hidden != widths[:len(hidden)] or len(hidden) != 4:
        raise ValueError(f"HF ResNet converter: dlzoo's ResNet has torchvision's widths (embedding_size 64, "
                         f"hidden_sizes {widths}), got embedding_size {emb}, hidden_sizes {hidden}")
    if config.get("downsample_in_first_stage", False) or config.get("downsample_in_bottleneck", False):
        raise ValueError("HF ResNet converter: downsample_in_first_stage / downsample_in_bottleneck "
                         "(ResNet v1 / other layouts) are not supported; dlzoo's ResNet is v1.5 "
                         "like torchvision")
    if config.get("hidden_act", "relu") != "relu":
        raise ValueError(f"HF ResNet converter: only hidden_act='relu' is supported, "
                         f"got {config['hidden_act']!r}")
    depths = tuple(config.get("depths", (3, 4, 6, 3)))
    name = _NAMES.get((layer_type, depths))
    if name is None:
        known = ", ".join(f"{t} {list(d)}" for t, d in _NAMES)
        raise ValueError(f"HF ResNet converter: no dlzoo ResNet with {layer_type} blocks and depths "
                         f"{list(depths)} "
                         f"(known: {known})")
    out = {_rename(k): v for k, v in state.items()}
    kwargs: dict[str, Any] = dict(
        num_classes=hf_num_labels(config, state, "classifier.1.weight"),
        in_chans=int(config.get("num_channels", 3)),
    )
    return name, kwargs, out
