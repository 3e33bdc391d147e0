"""Hugging Face transformers GPT-2 directories <-> dlzoo :class:`GPT` (model_type ``"gpt2"``).

Reads ``GPT2LMHeadModel`` (keys under ``transformer.``) or a bare ``GPT2Model`` (no prefix, tied head only).
HF's GPT-2 uses ``Conv1D`` layers, which store the weight as ``(in, out)``: transposed for a Linear. The
fused ``c_attn`` projection (C -> 3C, q | k | v along the output) is split into ``q_proj``, ``k_proj``,
``v_proj``. The causal-mask buffers ``attn.bias`` / ``attn.masked_bias`` of older checkpoints are dropped.

    HF (``transformer.`` stripped)        dlzoo
    wte / wpe / ln_f                       wte / wpe / ln_f
    h.i.ln_1 / h.i.ln_2                    h.i.ln_1 / h.i.ln_2
    h.i.attn.c_attn  (C, 3C) Conv1D        h.i.attn.q_proj / k_proj / v_proj   (each (C, C), transposed)
    h.i.attn.c_proj                        h.i.attn.o_proj
    h.i.mlp.c_fc / h.i.mlp.c_proj          h.i.mlp.fc1 / h.i.mlp.fc2
    lm_head (tied to wte unless tie_word_embeddings is false)

Config keys read: ``vocab_size``, ``n_positions``, ``n_embd``, ``n_layer``, ``n_head``, ``n_inner``,
``activation_function``, ``layer_norm_epsilon``, ``embd_pdrop``, ``attn_pdrop``, ``resid_pdrop``,
``initializer_range``, ``tie_word_embeddings``. Variants dlzoo's GPT does not implement
(``scale_attn_weights=false``, ``scale_attn_by_inverse_layer_idx``, ``reorder_and_upcast_attn``,
``add_cross_attention``) are refused by name. The exporter writes the same layout back (``GPT2LMHeadModel``).
"""

from __future__ import annotations

import re
from typing import Any

import torch

from ....interop.huggingface import StateDict, register_hf_converter, register_hf_exporter
from ....nn.activations import GELU, ReLU, SiLU, Tanh
from ....nn.norms import LayerNorm
from .model import GPT

__all__ = ["convert_gpt2", "export_gpt2"]

_ACTS = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu", "relu": "relu",
         "silu": "silu", "swish": "silu", "tanh": "tanh"}
_REFUSED = (("scale_attn_weights", False), ("scale_attn_by_inverse_layer_idx", True),
            ("reorder_and_upcast_attn", True), ("add_cross_attention", True))
_LAYER = re.compile(r"h\.(\d+)\.(ln_1|ln_2|attn\.c_attn|attn\.c_proj|mlp\.c_fc|mlp\.c_proj)\.(weight|bias)$")
_RENAME = {"ln_1": "ln_1", "ln_2": "ln_2", "attn.c_proj": "attn.o_proj", "mlp.c_fc": "mlp.fc1",
           "mlp.c_proj": "mlp.fc2"}
_CONV1D = ("attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj")
_TOP = ("wte.weight", "wpe.weight", "ln_f.weight", "ln_f.bias")


def _overrides(config: dict[str, Any]) -> dict[str, Any]:
    for key, bad in _REFUSED:
        if config.get(key, not bad) == bad:
            raise ValueError(f"HF GPT-2 converter: {key}={bad} is not supported by dlzoo's GPT")
    act = config.get("activation_function", "gelu_new")
    if act not in _ACTS:
        raise ValueError(f"HF GPT-2 converter: activation_function {act!r} is not supported "
                         f"(supported: {', '.join(sorted(_ACTS))})")
    return {
        "vocab_size": config["vocab_size"],
        "max_seq_len": config["n_positions"],
        "embed_dim": config["n_embd"],
        "num_layers": config["n_layer"],
        "num_heads": config["n_head"],
        "hidden_dim": config.get("n_inner") or 4 * config["n_embd"],
        "act_layer": _ACTS[act],
        "norm_eps": config.get("layer_norm_epsilon", 1e-5),
        "embd_dropout": config.get("embd_pdrop", 0.1),
        "attn_dropout": config.get("attn_pdrop", 0.1),
        "resid_dropout": config.get("resid_pdrop", 0.1),
        "init_std": config.get("initializer_range", 0.02),
        "tie_word_embeddings": config.get("tie_word_embeddings", True),
    }


@register_hf_converter("gpt2")
def convert_gpt2(config: dict[str, Any], state: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """HF GPT-2 config + state dict -> (``"gpt2"``, overrides, dlzoo state dict)."""
    overrides = _overrides(config)
    tied = overrides["tie_word_embeddings"]
    out: StateDict = {}
    for key, value in state.items():
        key = key[len("transformer."):] if key.startswith("transformer.") else key
        if key.endswith((".attn.bias", ".attn.masked_bias")):
            continue  # causal-mask buffers, not weights
        if key == "lm_head.weight":
            if not tied:
                out[key] = value
            continue
        if key in _TOP:
            out[key] = value
            continue
        m = _LAYER.match(key)
        if m is None:
            raise ValueError(f"HF GPT-2 converter: unexpected weight {key!r} (supported: GPT2LMHeadModel, "
                             f"GPT2Model)")
        layer, part, kind = m[1], m[2], m[3]
        if part in _CONV1D and kind == "weight":
            value = value.t()  # Conv1D (in, out) -> Linear (out, in)
        if part == "attn.c_attn":
            for name, chunk in zip(("q_proj", "k_proj", "v_proj"), value.chunk(3, dim=0)):
                out[f"h.{layer}.attn.{name}.{kind}"] = chunk.contiguous()
        else:
            out[f"h.{layer}.{_RENAME[part]}.{kind}"] = value.contiguous()
    if not tied and "lm_head.weight" not in out:
        raise ValueError("HF GPT-2 converter: tie_word_embeddings is false but there is no lm_head.weight")
    return "gpt2", overrides, out


def _act_name(act: torch.nn.Module) -> str:
    if isinstance(act, GELU):
        return "gelu_new" if act.approximate == "tanh" else "gelu"
    for cls, name in ((ReLU, "relu"), (SiLU, "silu"), (Tanh, "tanh")):
        if isinstance(act, cls):
            return name
    raise ValueError(f"save_pretrained(format='hf'): GPT-2 has no activation {type(act).__name__}")


@register_hf_exporter(GPT)
def export_gpt2(model: GPT) -> tuple[dict[str, Any], StateDict]:
    """dlzoo :class:`GPT` -> (HF ``GPT2Config`` dict, ``GPT2LMHeadModel`` state dict)."""
    where = "save_pretrained(format='hf'): GPT-2"
    first = model.h[0]
    norms = [m for b in model.h for m in (b.ln_1, b.ln_2)] + [model.ln_f]
    if not all(type(n) is LayerNorm and n.weight is not None and n.bias is not None for n in norms):
        raise ValueError(f"{where} needs LayerNorm with weight and bias everywhere, got "
                         f"{type(first.ln_1).__name__}")
    for i, block in enumerate(model.h):
        attn = block.attn
        if attn.sliding_window is not None or attn.num_kv_heads != attn.num_heads or not attn.is_causal:
            raise ValueError(f"{where} has dense causal multi-head attention only; layer {i} has "
                             f"sliding_window={attn.sliding_window}, num_kv_heads={attn.num_kv_heads}")
        if attn.head_dim * attn.num_heads != model.embed_dim or attn.q_proj.bias is None:
            raise ValueError(f"{where}: layer {i} attention needs head_dim * num_heads = embed_dim and "
                             f"biases")
    config = {
        "architectures": ["GPT2LMHeadModel"],
        "model_type": "gpt2",
        "vocab_size": model.vocab_size,
        "n_positions": model.max_seq_len,
        "n_embd": model.embed_dim,
        "n_layer": len(model.h),
        "n_head": first.attn.num_heads,
        "n_inner": first.mlp.fc1.out_features,
        "activation_function": _act_name(first.mlp.act),
        "layer_norm_epsilon": first.ln_1.eps,
        "embd_pdrop": model.drop.p,
        "attn_pdrop": first.attn.dropout,
        "resid_pdrop": first.resid_drop.p,
        "tie_word_embeddings": model.tie_word_embeddings,
        "dtype": str(model.wte.weight.dtype).removeprefix("torch."),
    }
    # GPT2Config defaults bos/eos to 50256 (GPT-2's <|endoftext|>); not an id of a smaller vocabulary
    config["bos_token_id"] = config["eos_token_id"] = 50256 if model.vocab_size > 50256 else None
    state = {k: v for k, v in model.state_dict().items()}
    out: StateDict = {}
    for key in _TOP:
        out[f"transformer.{key}"] = state[key]
    for i in range(len(model.h)):
        p = f"h.{i}."
        for kind in ("weight", "bias"):
            qkv = torch.cat([state[f"{p}attn.{n}.{kind}"] for n in ("q_proj", "k_proj", "v_proj")], dim=0)
            out[f"transformer.{p}attn.c_attn.{kind}"] = qkv.t() if kind == "weight" else qkv
            for hf, ours in _RENAME.items():
                value = state[f"{p}{ours}.{kind}"]
                conv1d = hf in _CONV1D and kind == "weight"
                out[f"transformer.{p}{hf}.{kind}"] = value.t() if conv1d else value
    if not model.tie_word_embeddings:
        out["lm_head.weight"] = state["lm_head.weight"]
    return config, out
