"""Hugging Face ``DepthAnythingForDepthEstimation`` directories -> dlzoo ``depth_anything_small``
(model_type ``"depth_anything"``, DINOv2 backbone). transformers is never imported here.

The neck and head keep HF's names (``neck.*``, ``head.*``: copied unchanged), except the coarsest
fusion layer's ``residual_layer1``, which HF builds but no forward uses (dropped). The DINOv2 backbone maps
onto dlzoo's ViT (timm names); HF's separate q/k/v projections are concatenated in q, k, v order into
``qkv``. Both key layouts transformers uses are read (on-disk ``attention.attention.query`` /
``attention.output.dense`` and the in-memory ``attention.q_proj`` / ``attention.o_proj`` of
transformers 5). DINOv2's ``mask_token`` (pre-training only) is dropped.

    HF (prefix "backbone.")                                   dlzoo (prefix "backbone.")
    embeddings.cls_token / position_embeddings                 cls_token / pos_embed
    embeddings.patch_embeddings.projection                     patch_embed.proj
    encoder.layer.i.norm1 / norm2                              blocks.i.norm1 / norm2
    ...attention.{q,k,v}_proj (attention.attention.query..)    blocks.i.attn.qkv   (concatenated)
    ...attention.o_proj (attention.output.dense)               blocks.i.attn.proj
    ...layer_scale1.lambda1 / layer_scale2.lambda1             blocks.i.ls1.gamma / ls2.gamma
    ...mlp.fc1 / mlp.fc2                                       blocks.i.mlp.fc1 / fc2
    layernorm                                                  norm   (applied to every tapped block)
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ...interop.huggingface import StateDict, register_hf_converter

__all__ = ["convert_depth_anything"]

_ACTS = {"gelu": "gelu", "gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "relu": "relu",
         "silu": "silu", "swish": "silu"}
_LAYER = re.compile(r"backbone\.encoder\.layer\.(\d+)\.(.+)\.(weight|bias|lambda1)$")
_IN_LAYER = {
    "attention.attention.query": "q", "attention.q_proj": "q",
    "attention.attention.key": "k", "attention.k_proj": "k",
    "attention.attention.value": "v", "attention.v_proj": "v",
    "attention.output.dense": "attn.proj", "attention.o_proj": "attn.proj",
    "norm1": "norm1", "norm2": "norm2", "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2",
    "layer_scale1": "ls1", "layer_scale2": "ls2",
}
_TOP = {
    "backbone.embeddings.cls_token": "backbone.cls_token",
    "backbone.embeddings.position_embeddings": "backbone.pos_embed",
    "backbone.embeddings.patch_embeddings.projection.weight": "backbone.patch_embed.proj.weight",
    "backbone.embeddings.patch_embeddings.projection.bias": "backbone.patch_embed.proj.bias",
    "backbone.layernorm.weight": "backbone.norm.weight",
    "backbone.layernorm.bias": "backbone.norm.bias",
}
# DINOv2's pre-training mask token; the coarsest fusion layer's residual unit, which HF builds but never runs
_DROPPED = ("backbone.embeddings.mask_token", "neck.fusion_stage.layers.0.residual_layer1.")


def _rename(state: StateDict) -> StateDict:
    out: StateDict = {}
    qkv: dict[tuple[int, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.startswith(_DROPPED):
            continue
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        if key.startswith(("neck.", "head.")):
            out[key] = value
            continue
        m = _LAYER.match(key)
        if m is None or m[2] not in _IN_LAYER:
            raise ValueError(f"HF Depth Anything converter: unexpected weight {key!r}")
        layer, part, kind = int(m[1]), _IN_LAYER[m[2]], m[3]
        if part in ("q", "k", "v"):
            qkv.setdefault((layer, kind), {})[part] = value
        elif kind == "lambda1":
            out[f"backbone.blocks.{layer}.{part}.gamma"] = value
        else:
            out[f"backbone.blocks.{layer}.{part}.{kind}"] = value
    for (layer, kind), parts in sorted(qkv.items()):
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"HF Depth Anything converter: layer {layer} {kind} has only {sorted(parts)} "
                             f"of q/k/v")
        qkv_value = torch.cat([parts["q"], parts["k"], parts["v"]], dim=0)  # (3 D, D) or (3 D,)
        out[f"backbone.blocks.{layer}.attn.qkv.{kind}"] = qkv_value
    return out


def _backbone_kwargs(bb: dict[str, Any], patch_size: int) -> dict[str, Any]:
    if bb.get("model_type") != "dinov2":
        raise ValueError(f"HF Depth Anything converter: only a DINOv2 backbone_config is supported, got "
                         f"model_type {bb.get('model_type')!r}")
    if bb.get("use_swiglu_ffn", False):
        raise ValueError("HF Depth Anything converter: use_swiglu_ffn=True (DINOv2 giant) is not supported")
    if not bb.get("apply_layernorm", True):
        raise ValueError("HF Depth Anything converter: apply_layernorm=False is not supported")
    act = bb.get("hidden_act", "gelu")
    if act not in _ACTS:
        raise ValueError(f"HF Depth Anything converter: unsupported hidden_act {act!r} "
                         f"(supported: {sorted(_ACTS)})")
    if int(bb.get("patch_size", patch_size)) != patch_size:
        raise ValueError(f"HF Depth Anything converter: backbone patch_size {bb.get('patch_size')} differs "
                         f"from the head's patch_size {patch_size}")
    out_indices = [int(i) for i in bb.get("out_indices") or []]
    if not out_indices or min(out_indices) < 1:
        raise ValueError(f"HF Depth Anything converter: backbone out_indices must name encoder layers "
                         f"(stage >= 1), got {out_indices}")
    hidden = int(bb.get("hidden_size", 768))
    img = bb.get("image_size", 518)
    return dict(
        img_size=tuple(img) if isinstance(img, list) else int(img), patch_size=patch_size,
        in_chans=int(bb.get("num_channels", 3)), embed_dim=hidden, depth=int(bb.get("num_hidden_layers", 12)),
        num_heads=int(bb.get("num_attention_heads", 12)), mlp_ratio=float(bb.get("mlp_ratio", 4)),
        qkv_bias=bool(bb.get("qkv_bias", True)), init_values=float(bb.get("layerscale_value", 1.0)),
        layer_norm_eps=float(bb.get("layer_norm_eps", 1e-6)), act_layer=_ACTS[act],
        out_indices=tuple(i - 1 for i in out_indices),  # HF stage i = output of block i - 1
        drop_rate=float(bb.get("hidden_dropout_prob", 0.0)),
        attn_drop_rate=float(bb.get("attention_probs_dropout_prob", 0.0)),
    )


@register_hf_converter("depth_anything")
def convert_depth_anything(config: dict[str, Any], state: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """DepthAnything config + weights -> ("depth_anything_small", overrides giving the HF architecture,
    state)."""
    bb = config.get("backbone_config")
    if not isinstance(bb, dict):
        raise ValueError("HF Depth Anything converter: config.json has no backbone_config (a timm or named "
                         "backbone is not supported)")
    patch = config.get("patch_size", 14)
    patch = int(patch[0] if isinstance(patch, list) else patch)
    kwargs = _backbone_kwargs(bb, patch)
    if int(config.get("reassemble_hidden_size", kwargs["embed_dim"])) != kwargs["embed_dim"]:
        raise ValueError(f"HF Depth Anything converter: reassemble_hidden_size "
                         f"{config.get('reassemble_hidden_size')} differs from the backbone hidden_size "
                         f"{kwargs['embed_dim']}")
    max_depth = config.get("max_depth")
    kwargs.update(
        neck_hidden_sizes=tuple(int(c) for c in config.get("neck_hidden_sizes", (48, 96, 192, 384))),
        reassemble_factors=tuple(config.get("reassemble_factors", (4, 2, 1, 0.5))),
        fusion_hidden_size=int(config.get("fusion_hidden_size", 64)),
        head_hidden_size=int(config.get("head_hidden_size", 32)),
        head_in_index=int(config.get("head_in_index", -1)),
        depth_estimation_type=str(config.get("depth_estimation_type", "relative")),
        max_depth=float(1 if max_depth is None else max_depth),
    )
    return "depth_anything_small", kwargs, _rename(state)
