"""Hugging Face transformers ResNet directories -> dlzoo ``ResNet`` (torchvision key layout).

    HF                                                      dlzoo / torchvision
    resnet.embedder.embedder.{convolution,normalization}    conv1, bn1
    resnet.encoder.stages.i.layers.j.layer.k.convolution    layer{i+1}.j.conv{k+1}
    resnet.encoder.stages.i.layers.j.layer.k.normalization  layer{i+1}.j.bn{k+1}
    resnet.encoder.stages.i.layers.j.shortcut.{conv,norm}   layer{i+1}.j.downsample.{0,1}
    classifier.1                                            fc

Config (transformers ``ResNetConfig``) -> ``ResNet`` arguments:

    embedding_size             stem_width
    hidden_sizes[i]            widths[i] * expansion (bottleneck: expansion 4, so hidden_sizes[i] % 4 == 0)
    depths                     layers (any number of stages, each >= 1 block)
    layer_type                 block ("basic" / "bottleneck")
    downsample_in_first_stage  strides[0] = 2 (else 1); later stages stride 2
    downsample_in_bottleneck   stride_in_1x1 (stride on the bottleneck's first 1x1 conv, ResNet v1)
    num_channels, num_labels   in_chans, num_classes (from the classifier weight; 0 for a bare ResNetModel)
    hidden_act                 only "relu": HF applies hidden_act to the stem and the block outputs but
                               keeps ReLU inside the blocks, a mix one ``act_layer`` cannot express

A config dlzoo's ResNet cannot represent raises ``ValueError`` naming the config key.
transformers is never imported: only ``config.json`` and the tensors.
"""

from __future__ import annotations

import re
from typing import Any

from .hf_convnext import hf_num_labels
from .huggingface import StateDict, register_hf_converter

__all__ = ["convert_resnet"]

# builders whose defaults are a standard network: (block, depths) -> name; the generic builder of each
# block type ("resnet18" / "resnet50") takes every other structure through overrides
_NAMES = {
    ("basic", (2, 2, 2, 2)): "resnet18",
    ("basic", (3, 4, 6, 3)): "resnet34",
    ("bottleneck", (3, 4, 6, 3)): "resnet50",
    ("bottleneck", (3, 4, 23, 3)): "resnet101",
    ("bottleneck", (3, 8, 36, 3)): "resnet152",
}
_GENERIC = {"basic": "resnet18", "bottleneck": "resnet50"}


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


def _int_list(config: dict[str, Any], key: str, default: tuple[int, ...]) -> list[int]:
    value = config.get(key, default)
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f"HF ResNet converter: config {key!r} must be a non-empty list of positive ints, "
                         f"got {value!r}")
    return list(value)


def resnet_kwargs(config: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """A transformers ``ResNetConfig`` dict -> (dlzoo builder name, ``ResNet`` structure overrides)."""
    block = config.get("layer_type", "bottleneck")
    if block not in ("basic", "bottleneck"):
        raise ValueError(f"HF ResNet converter: config 'layer_type' must be 'basic' or 'bottleneck', "
                         f"got {block!r}")
    act = config.get("hidden_act", "relu")
    if act != "relu":
        raise ValueError(f"HF ResNet converter: config 'hidden_act' {act!r} is not supported: HF applies it "
                         f"to the stem and block outputs but keeps ReLU inside each block; dlzoo's ResNet "
                         f"uses one act_layer everywhere, so only 'relu' converts exactly")
    depths = _int_list(config, "depths", (3, 4, 6, 3))
    hidden = _int_list(config, "hidden_sizes", (256, 512, 1024, 2048))
    if len(hidden) != len(depths):
        raise ValueError(f"HF ResNet converter: config 'hidden_sizes' {hidden} and 'depths' {depths} need "
                         f"one entry per stage")
    expansion = 4 if block == "bottleneck" else 1
    if any(h % expansion for h in hidden):
        raise ValueError(f"HF ResNet converter: config 'hidden_sizes' {hidden}: a bottleneck stage's output "
                         f"width must be a multiple of 4 (dlzoo's bottleneck is width * 4)")
    stem = config.get("embedding_size", 64)
    if not isinstance(stem, int) or isinstance(stem, bool) or stem <= 0:
        raise ValueError(f"HF ResNet converter: config 'embedding_size' must be a positive int, got {stem!r}")
    kwargs: dict[str, Any] = dict(
        block=block,
        layers=depths,
        stem_width=stem,
        widths=[h // expansion for h in hidden],
        strides=[2 if config.get("downsample_in_first_stage", False) else 1] + [2] * (len(depths) - 1),
        # HF's basic layer ignores downsample_in_bottleneck (no 1x1 conv to put the stride on)
        stride_in_1x1=bool(config.get("downsample_in_bottleneck", False)) and block == "bottleneck",
        in_chans=int(config.get("num_channels", 3)),
    )
    return _NAMES.get((block, tuple(depths)), _GENERIC[block]), kwargs


@register_hf_converter("resnet")
def convert_resnet(config: dict[str, Any], state: StateDict):
    """ResNet config + weights -> (a ResNet builder name, structure overrides, dlzoo state dict)."""
    name, kwargs = resnet_kwargs(config)
    kwargs["num_classes"] = hf_num_labels(config, state, "classifier.1.weight")
    return name, kwargs, {_rename(k): v for k, v in state.items()}
