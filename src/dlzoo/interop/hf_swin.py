"""Hugging Face transformers Swin directories -> dlzoo ``SwinTransformer``.

HF keeps separate query/key/value projections (``attention.self.{query,key,value}``, or ``q_proj``/``k_proj``/
``v_proj`` in newer layouts); dlzoo (like the official code and timm) has one fused ``attn.qkv`` with rows
[Q; K; V]. HF applies PatchMerging at the end of stage i, dlzoo at the start of stage i + 1.
HF's ``layer_norm_eps`` applies to the block and final norms only (its patch-embedding and merging norms keep
1e-5); dlzoo applies it to every norm, which differs only for checkpoints with a non-default eps.
transformers is never imported: only ``config.json`` and the tensors.
"""

from __future__ import annotations

import re
from typing import Any

import torch

from .hf_convnext import hf_num_labels
from .huggingface import StateDict, register_hf_converter

__all__ = ["convert_swin"]

_SIMPLE = {
    "layernorm_before": "norm1",
    "layernorm_after": "norm2",
    "attention.self.relative_position_bias_table": "attn.relative_position_bias_table",
    "attention.relative_position_bias.relative_position_bias_table": "attn.relative_position_bias_table",
    "attention.output.dense": "attn.proj",
    "attention.o_proj": "attn.proj",
    "intermediate.dense": "mlp.fc1",
    "output.dense": "mlp.fc2",
    "mlp.fc1": "mlp.fc1",
    "mlp.fc2": "mlp.fc2",
}
_QKV = {"attention.self.query": 0, "attention.self.key": 1, "attention.self.value": 2,
        "attention.q_proj": 0, "attention.k_proj": 1, "attention.v_proj": 2}


def _block_key(rest: str) -> tuple[str, str]:
    """Split 'attention.self.query.weight' into ('attention.self.query', 'weight')."""
    if rest.endswith("relative_position_bias_table"):
        return rest, ""
    head, _, leaf = rest.rpartition(".")
    return head, leaf


@register_hf_converter("swin")
def convert_swin(config: dict[str, Any], state: StateDict):
    """Swin config + weights -> ("swin_tiny_patch4_window7_224", overrides, dlzoo state dict)."""
    if config.get("use_absolute_embeddings", False):
        raise ValueError("HF Swin converter: use_absolute_embeddings=True is not supported")
    act = config.get("hidden_act", "gelu")
    if act != "gelu":
        raise ValueError(f"HF Swin converter: only hidden_act='gelu' is supported, got {act!r}")
    image_size = config.get("image_size", 224)
    patch_size = config.get("patch_size", 4)
    image_size = image_size[0] if isinstance(image_size, (list, tuple)) else image_size
    patch_size = patch_size[0] if isinstance(patch_size, (list, tuple)) else patch_size
    kwargs: dict[str, Any] = dict(
        img_size=int(image_size),
        patch_size=int(patch_size),
        in_chans=int(config.get("num_channels", 3)),
        num_classes=hf_num_labels(config, state, "classifier.weight"),
        embed_dim=int(config.get("embed_dim", 96)),
        depths=list(config.get("depths", (2, 2, 6, 2))),
        num_heads=list(config.get("num_heads", (3, 6, 12, 24))),
        window_size=int(config.get("window_size", 7)),
        mlp_ratio=float(config.get("mlp_ratio", 4.0)),
        qkv_bias=bool(config.get("qkv_bias", True)),
        drop_path_rate=0.0,
    )
    eps = float(config.get("layer_norm_eps", 1e-5))
    if eps != 1e-5:
        kwargs["norm_kwargs"] = {"eps": eps}
    out: StateDict = {}
    qkv: dict[tuple[str, str], list[torch.Tensor | None]] = {}
    for key, value in state.items():
        key = key[len("swin."):] if key.startswith("swin.") else key
        if key.endswith("relative_position_index"):
            continue  # a buffer, rebuilt from the window size
        if key.startswith("classifier."):
            out["head.fc." + key[len("classifier."):]] = value
        elif key.startswith("layernorm."):
            out["norm." + key[len("layernorm."):]] = value
        elif key.startswith("embeddings.patch_embeddings.projection."):
            out["patch_embed.proj." + key.rsplit(".", 1)[1]] = value
        elif key.startswith("embeddings.norm."):
            out["patch_embed.norm." + key.rsplit(".", 1)[1]] = value
        elif m := re.match(r"encoder\.layers\.(\d+)\.downsample\.(norm|reduction)\.(\w+)$", key):
            out[f"layers.{int(m[1]) + 1}.downsample.{m[2]}.{m[3]}"] = value
        elif m := re.match(r"encoder\.layers\.(\d+)\.blocks\.(\d+)\.(.+)$", key):
            prefix = f"layers.{m[1]}.blocks.{m[2]}"
            head, leaf = _block_key(m[3])
            if head in _QKV:
                qkv.setdefault((prefix, leaf), [None, None, None])[_QKV[head]] = value
            elif head in _SIMPLE:
                out[f"{prefix}.{_SIMPLE[head]}" + (f".{leaf}" if leaf else "")] = value
            else:
                raise ValueError(f"HF Swin converter: unexpected weight {key!r}")
        else:
            raise ValueError(f"HF Swin converter: unexpected weight {key!r}")
    for (prefix, leaf), parts in qkv.items():
        if any(p is None for p in parts):
            raise ValueError(f"HF Swin converter: incomplete query/key/value for {prefix}")
        out[f"{prefix}.attn.qkv.{leaf}"] = torch.cat(parts, dim=0)  # rows [Q; K; V]
    return "swin_tiny_patch4_window7_224", kwargs, out
