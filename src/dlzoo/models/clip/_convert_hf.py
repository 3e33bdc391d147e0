"""Hugging Face transformers CLIP directories -> dlzoo :class:`CLIP` (model_type ``"clip"``).

Reads ``CLIPModel`` weights. HF's attention keeps separate ``q_proj`` / ``k_proj`` / ``v_proj``; dlzoo's ViT
block has one fused ``qkv`` (q | k | v along the output), so they are concatenated.

    HF                                                    dlzoo
    text_model.embeddings.token_embedding                 text_model.token_embedding
    text_model.embeddings.position_embedding.weight       text_model.pos_embed
    {tower}.encoder.layers.i.self_attn.q/k/v_proj         {tower}.blocks.i.attn.qkv   (concatenated)
    {tower}.encoder.layers.i.self_attn.out_proj           {tower}.blocks.i.attn.proj
    {tower}.encoder.layers.i.layer_norm1 / layer_norm2    {tower}.blocks.i.norm1 / norm2
    {tower}.encoder.layers.i.mlp.fc1 / fc2                {tower}.blocks.i.mlp.fc1 / fc2
    text_model.final_layer_norm                           text_model.norm
    vision_model.embeddings.class_embedding               vision_model.cls_token
    vision_model.embeddings.patch_embedding               vision_model.patch_embed.proj
    vision_model.embeddings.position_embedding.weight     vision_model.pos_embed
    vision_model.pre_layrnorm / post_layernorm            vision_model.norm_pre / norm
    visual_projection / text_projection / logit_scale     same names

transformers writes only the config values that differ from its defaults, so missing keys take
``CLIPTextConfig`` / ``CLIPVisionConfig`` / ``CLIPConfig`` defaults (the OpenAI ViT-B/32 sizes). Text
``eos_token_id == 2`` (configs written before transformers PR #24773) selects OpenAI's argmax pooling, as
transformers does. Towers with different activations or layer-norm eps are refused by name.
The exporter (``dlzoo.save_pretrained(model, dir, format="hf")``) writes the same layout back as a
``CLIPModel`` directory (argmax pooling is written as ``eos_token_id=2``).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ...interop.huggingface import StateDict, register_hf_converter, register_hf_exporter
from ...nn.activations import GELU, QuickGELU, ReLU, SiLU
from .model import CLIP

__all__ = ["convert_clip", "export_clip"]

_TEXT = dict(vocab_size=49408, hidden_size=512, intermediate_size=2048, num_hidden_layers=12,
             num_attention_heads=8, max_position_embeddings=77, hidden_act="quick_gelu", layer_norm_eps=1e-5,
             attention_dropout=0.0, eos_token_id=49407)
_VISION = dict(hidden_size=768, intermediate_size=3072, num_hidden_layers=12, num_attention_heads=12,
               num_channels=3, image_size=224, patch_size=32, hidden_act="quick_gelu", layer_norm_eps=1e-5,
               attention_dropout=0.0)
_ACTS = {"quick_gelu": "quick_gelu", "gelu": "gelu", "gelu_new": "gelu_tanh",
         "gelu_pytorch_tanh": "gelu_tanh",
         "relu": "relu", "silu": "silu"}
_LAYER = re.compile(r"(text_model|vision_model)\.encoder\.layers\.(\d+)\.(.+)$")
_LAYER_RENAME = {"self_attn.out_proj": "attn.proj", "layer_norm1": "norm1", "layer_norm2": "norm2",
                 "mlp.fc1": "mlp.fc1", "mlp.fc2": "mlp.fc2"}
_TOP = {
    "text_model.embeddings.token_embedding.weight": "text_model.token_embedding.weight",
    "text_model.embeddings.position_embedding.weight": "text_model.pos_embed",
    "text_model.final_layer_norm.weight": "text_model.norm.weight",
    "text_model.final_layer_norm.bias": "text_model.norm.bias",
    "vision_model.embeddings.class_embedding": "vision_model.cls_token",
    "vision_model.embeddings.patch_embedding.weight": "vision_model.patch_embed.proj.weight",
    "vision_model.embeddings.position_embedding.weight": "vision_model.pos_embed",
    "vision_model.pre_layrnorm.weight": "vision_model.norm_pre.weight",
    "vision_model.pre_layrnorm.bias": "vision_model.norm_pre.bias",
    "vision_model.post_layernorm.weight": "vision_model.norm.weight",
    "vision_model.post_layernorm.bias": "vision_model.norm.bias",
    "visual_projection.weight": "visual_projection.weight",
    "text_projection.weight": "text_projection.weight",
    "logit_scale": "logit_scale",
}


def _overrides(config: dict[str, Any]) -> dict[str, Any]:
    text = {**_TEXT, **(config.get("text_config") or {})}
    vision = {**_VISION, **(config.get("vision_config") or {})}
    for key in ("hidden_act", "layer_norm_eps", "attention_dropout"):
        if text[key] != vision[key]:
            raise ValueError(f"HF CLIP converter: dlzoo's CLIP shares {key} between the towers, got text "
                             f"{text[key]!r} and vision {vision[key]!r}")
    if text["hidden_act"] not in _ACTS:
        raise ValueError(f"HF CLIP converter: hidden_act {text['hidden_act']!r} is not supported "
                         f"(supported: {', '.join(sorted(_ACTS))})")
    eos = text["eos_token_id"]
    return {
        "embed_dim": config.get("projection_dim", 512),
        "image_size": vision["image_size"],
        "patch_size": vision["patch_size"],
        "in_chans": vision["num_channels"],
        "vision_width": vision["hidden_size"],
        "vision_layers": vision["num_hidden_layers"],
        "vision_heads": vision["num_attention_heads"],
        "vision_mlp_dim": vision["intermediate_size"],
        "vocab_size": text["vocab_size"],
        "context_length": text["max_position_embeddings"],
        "text_width": text["hidden_size"],
        "text_layers": text["num_hidden_layers"],
        "text_heads": text["num_attention_heads"],
        "text_mlp_dim": text["intermediate_size"],
        "act_layer": _ACTS[text["hidden_act"]],
        "norm_eps": text["layer_norm_eps"],
        "attn_drop": text["attention_dropout"],
        "eos_token_id": None if eos == 2 else eos,  # 2: legacy configs -> argmax pooling (as transformers)
        "logit_scale_init": config.get("logit_scale_init_value", 2.6592),
    }


@register_hf_converter("clip")
def convert_clip(config: dict[str, Any], state: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """HF CLIP config + ``CLIPModel`` state dict -> (``"clip_vit_base_patch32"``, overrides, dlzoo state)."""
    overrides = _overrides(config)
    out: StateDict = {}
    qkv: dict[tuple[str, str, str], dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        if key.endswith("embeddings.position_ids"):
            continue  # index buffer of older checkpoints, not a weight
        if key in _TOP:
            out[_TOP[key]] = value
            continue
        m = _LAYER.match(key)
        if m is None:
            raise ValueError(f"HF CLIP converter: unexpected weight {key!r} (supported: CLIPModel)")
        tower, layer, rest = m[1], m[2], m[3]
        part, kind = rest.rsplit(".", 1)
        if part in ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj"):
            qkv.setdefault((tower, layer, kind), {})[part[len("self_attn."):len("self_attn.") + 1]] = value
        elif part in _LAYER_RENAME:
            out[f"{tower}.blocks.{layer}.{_LAYER_RENAME[part]}.{kind}"] = value
        else:
            raise ValueError(f"HF CLIP converter: unexpected weight {key!r} (supported: CLIPModel)")
    for (tower, layer, kind), parts in qkv.items():
        if set(parts) != {"q", "k", "v"}:
            raise ValueError(f"HF CLIP converter: {tower} layer {layer} {kind} needs q_proj, k_proj and "
                             f"v_proj, got {sorted(parts)}")
        out[f"{tower}.blocks.{layer}.attn.qkv.{kind}"] = torch.cat([parts[n] for n in "qkv"], dim=0)
    # HF stores class_embedding (D,) and position_embedding (N, D) as ours (no batch dim)
    return "clip_vit_base_patch32", overrides, out


def _act_name(act: torch.nn.Module) -> str:
    if isinstance(act, GELU):
        return "gelu_pytorch_tanh" if act.approximate == "tanh" else "gelu"
    for cls, name in ((QuickGELU, "quick_gelu"), (ReLU, "relu"), (SiLU, "silu")):
        if isinstance(act, cls):
            return name
    raise ValueError(f"save_pretrained(format='hf'): CLIP has no activation {type(act).__name__}")


@register_hf_exporter(CLIP)
def export_clip(model: CLIP) -> tuple[dict[str, Any], StateDict]:
    """dlzoo :class:`CLIP` -> (HF ``CLIPConfig`` dict, ``CLIPModel`` state dict)."""
    v, t = model.vision_model, model.text_model
    common = {"hidden_act": _act_name(v.blocks[0].mlp.act), "layer_norm_eps": v.norm.eps,
              "attention_dropout": v.blocks[0].attn.attn_drop.p}
    vision = {**common, "hidden_size": v.width, "intermediate_size": v.blocks[0].mlp.fc1.out_features,
              "num_hidden_layers": len(v.blocks), "num_attention_heads": v.blocks[0].attn.num_heads,
              "num_channels": v.patch_embed.in_chans, "image_size": v.patch_embed.img_size[0],
              "patch_size": v.patch_embed.patch_size[0]}
    if v.patch_embed.img_size[0] != v.patch_embed.img_size[1] or (
            v.patch_embed.patch_size[0] != v.patch_embed.patch_size[1]):
        raise ValueError("save_pretrained(format='hf'): CLIP's HF config has square images and patches only")
    eos = 2 if t.eos_token_id is None else t.eos_token_id
    text = {**common, "vocab_size": t.vocab_size, "max_position_embeddings": t.context_length,
            "hidden_size": t.width, "intermediate_size": t.blocks[0].mlp.fc1.out_features,
            "num_hidden_layers": len(t.blocks), "num_attention_heads": t.blocks[0].attn.num_heads,
            "eos_token_id": eos, "bos_token_id": 0, "pad_token_id": 1}
    config = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": model.embed_dim,
              "logit_scale_init_value": float(model.logit_scale.detach()), "text_config": text,
              "vision_config": vision, "dtype": str(model.logit_scale.dtype).removeprefix("torch.")}
    state = model.state_dict()
    out: StateDict = {hf: state[ours] for hf, ours in _TOP.items()}
    for tower, n in (("text_model", len(t.blocks)), ("vision_model", len(v.blocks))):
        for i in range(n):
            ours, hf = f"{tower}.blocks.{i}.", f"{tower}.encoder.layers.{i}."
            for kind in ("weight", "bias"):
                q, k, w = state[f"{ours}attn.qkv.{kind}"].chunk(3, dim=0)
                for name, value in (("q_proj", q), ("k_proj", k), ("v_proj", w)):
                    out[f"{hf}self_attn.{name}.{kind}"] = value
                for hf_part, our_part in _LAYER_RENAME.items():
                    out[f"{hf}{hf_part}.{kind}"] = state[f"{ours}{our_part}.{kind}"]
    return config, out
