"""Hugging Face transformers ViT directories -> dlzoo ``VisionTransformer`` (model_type ``"vit"``).

Reads ``ViTForImageClassification`` (or a bare ``ViTModel``) weights in either key layout transformers
uses (the on-disk ``encoder.layer.i.attention.attention.query`` names, or the ``layers.i.attention.q_proj``
names of transformers 5 in memory). HF keeps separate query/key/value projections; dlzoo (like timm)
stores them stacked as one ``qkv`` Linear, so they are concatenated in q, k, v order. HF's LayerNorm eps
(``layer_norm_eps``, 1e-12 by default) is passed to every norm. The HF pooler (``ViTModel`` only, not used
for classification) and the unused ``mask_token`` are dropped. transformers is never imported here.

    HF (prefix "vit." stripped)                               dlzoo
    embeddings.cls_token / position_embeddings                 cls_token / pos_embed
    embeddings.patch_embeddings.projection                     patch_embed.proj
    encoder.layer.i.layernorm_before / layernorm_after         blocks.i.norm1 / norm2
    ...attention.attention.{query,key,value}  (q/k/v_proj)     blocks.i.attn.qkv   (concatenated)
    ...attention.output.dense  (attention.o_proj)              blocks.i.attn.proj
    ...intermediate.dense / output.dense  (mlp.fc1 / fc2)      blocks.i.mlp.fc1 / fc2
    layernorm, classifier                                      norm, head
"""

from __future__ import annotations

import re
from typing import Any

import torch

from .huggingface import StateDict, register_hf_converter

__all__ = ["convert_vit"]

_ACTS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu",
         "silu": "silu", "swish": "silu"}

_LAYER = re.compile(r"(?:encoder\.layer|layers)\.(\d+)\.(.+)\.(weight|bias)$")
_IN_LAYER = {
    "attention.attention.query": "q", "attention.q_proj": "q",
    "attention.attention.key": "k", "attention.k_proj": "k",
    "attention.attention.value": "v", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "intermediate.dense": "mlp.fc1", "mlp.fc1": "mlp.fc1",
    "output.dense": "mlp.fc2", "mlp.fc2": "mlp.fc2",
    "layernorm_before": "norm1", "layernorm_after": "norm2",
}
_TOP = {
    "embeddings.cls_token": "cls_token",
    "embeddings.position_embeddings": "pos_embed",
    "embeddings.patch_embeddings.projection.weight": "patch_embed.proj.weight",
    "embeddings.patch_embeddings.projection.bias": "patch_embed.proj.bias",
    "layernorm.weight": "norm.weight",
    "layernorm.bias": "norm.bias",
    "classifier.weight": "head.weight",
    "classifier.bias": "head.bias",
}
_DROPPED = ("pooler.", "embeddings.mask_token")


def _rename(state: StateDict) -> StateDict:
    out: StateDict = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        key = key[len("vit."):] if key.startswith("vit.") else key
        if key.startswith(_DROPPED):
            continue
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        m = _LAYER.match(key)
        if m is None or m[2] not in _IN_LAYER:
            raise ValueError(f"HF ViT converter: unexpected weight {key!r}")
        layer, part, kind = int(m[1]), _IN_LAYER[m[2]], m[3]
        if part in ("q", "k", "v"):
            qkv.setdefault((layer, kind), {})[part] = value
        else:
            out[f"blocks.{layer}.{part}.{kind}"] = value
    for (layer, kind), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"HF ViT converter: layer {layer} {kind} has only {sorted(parts)} of q/k/v")
        out[f"blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)
    return out


@register_hf_converter("vit")
def convert_vit(config: dict[str, Any], state: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """ViT config + weights -> ("vit_base_patch16_224", overrides giving the HF architecture, state)."""
    act = config.get("hidden_act", "gelu")
    if act not in _ACTS:
        raise ValueError(f"HF ViT converter: unsupported hidden_act {act!r} (supported: {sorted(_ACTS)})")
    converted = _rename(state)
    hidden = int(config.get("hidden_size", 768))
    depth = int(config.get("num_hidden_layers", 12))
    hidden_drop = float(config.get("hidden_dropout_prob", 0.0))
    kwargs: dict[str, Any] = dict(
        img_size=config.get("image_size", 224),
        patch_size=config.get("patch_size", 16),
        in_chans=int(config.get("num_channels", 3)),
        num_classes=int(converted["head.weight"].shape[0]) if "head.weight" in converted else 0,
        global_pool="token",  # HF classifies from the [CLS] token after the final layernorm
        embed_dim=hidden,
        depth=depth,
        num_heads=int(config.get("num_attention_heads", 12)),
        mlp_ratio=int(config.get("intermediate_size", 4 * hidden)) / hidden,
        qkv_bias=bool(config.get("qkv_bias", True)),
        norm_layer="layernorm",
        norm_kwargs={"eps": float(config.get("layer_norm_eps", 1e-12))},
        act_layer=_ACTS[act],
        pos_drop_rate=hidden_drop,
        proj_drop_rate=hidden_drop,
        attn_drop_rate=float(config.get("attention_probs_dropout_prob", 0.0)),
    )
    if isinstance(kwargs["img_size"], list):
        kwargs["img_size"] = tuple(kwargs["img_size"])
    return "vit_base_patch16_224", kwargs, converted
