"""Hugging Face transformers ``LlamaForCausalLM`` directories to dlzoo and back; Meta's checkpoint layout.

* :func:`convert_llama` (``model_type == "llama"``): config.json (transformers 5.x ``rope_parameters`` or
  4.x ``rope_theta``/``rope_scaling``; rope types default, linear, dynamic, llama3; GQA; ``head_dim``; tied
  or untied head; ``attention_bias``/``mlp_bias``) -> ``create_model("llama2_7b", **numbers)``; keys lose
  ``model.``.
* :func:`export_llama`: a dlzoo LLaMA -> (transformers 5.x config.json, HF state dict), for
  ``dlzoo.save_pretrained(model, dir, format="hf")``. Only what ``LlamaForCausalLM`` can express exports:
  RMSNorm everywhere, no embedding scalar (LLaMA-DyT and other norms are refused).
* :func:`permute_meta_qk` / :func:`convert_meta_state_dict`: Meta's original checkpoints
  (``consolidated.pth``) apply RoPE to adjacent feature pairs ``(2j, 2j+1)`` (interleaved); HF and dlzoo
  pair ``j`` with ``j + d/2`` (rotate_half). Permuting the rows of ``wq`` and ``wk`` within each head,
  ``w.view(h, d_head/2, 2, C).transpose(1, 2).reshape(h d_head, C)``, makes the two layouts compute the same
  attention scores (the transform of transformers' ``convert_llama_weights_to_hf.py``).
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from ....interop.huggingface import register_hf_converter, register_hf_exporter
from ....nn.norms import RMSNorm
from .model import LlamaForCausalLM

__all__ = [
    "convert_llama",
    "export_llama",
    "rope_scaling_from_hf",
    "permute_meta_qk",
    "unpermute_meta_qk",
    "convert_meta_state_dict",
]

StateDict = dict[str, Tensor]

_ROPE_KEYS = {
    "linear": ("factor",),
    "dynamic": ("factor",),
    "llama3": ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings"),
}
_LAYER_KEYS = {
    "input_layernorm.weight",
    "post_attention_layernorm.weight",
    "mlp.gate_proj.weight",
    "mlp.up_proj.weight",
    "mlp.down_proj.weight",
    "mlp.gate_proj.bias",
    "mlp.up_proj.bias",
    "mlp.down_proj.bias",
    *(f"self_attn.{p}_proj.{t}" for p in "qkvo" for t in ("weight", "bias")),
}


def rope_scaling_from_hf(config: dict[str, Any]) -> tuple[float, dict[str, Any] | None]:
    """``(theta, scaling)`` of a LLaMA config: 5.x ``rope_parameters``, 4.x ``rope_theta``/``rope_scaling``.

    ``scaling`` is None for the default rope, else ``{"rope_type": t, <t's keys>}`` for
    :class:`dlzoo.nn.RotaryEmbedding`. Other rope types (yarn, longrope, ...) and ``partial_rotary_factor``
    raise ``ValueError`` naming the key.
    """
    params = config.get("rope_parameters")
    if (
        isinstance(params, dict)
        and "rope_theta" not in params
        and all(isinstance(v, dict) for v in params.values())
    ):
        raise ValueError("rope_parameters: per-layer-type rope parameters are not supported by LLaMA")
    if not isinstance(params, dict):  # transformers 4.x layout
        params = {"rope_theta": config.get("rope_theta", 10000.0), **(config.get("rope_scaling") or {})}
    rope_type = params.get("rope_type", params.get("type", "default"))
    theta = float(params.get("rope_theta", config.get("rope_theta", 10000.0)))
    if float(params.get("partial_rotary_factor", config.get("partial_rotary_factor", 1.0))) != 1.0:
        raise ValueError("partial_rotary_factor != 1 is not supported (LLaMA rotates the whole head)")
    if rope_type == "default":
        return theta, None
    if rope_type not in _ROPE_KEYS:
        raise ValueError(
            f"rope_type {rope_type!r} is not supported (supported: default, {', '.join(_ROPE_KEYS)})"
        )
    missing = [k for k in _ROPE_KEYS[rope_type] if k not in params]
    if rope_type == "llama3" and missing == ["original_max_position_embeddings"]:
        missing = []
    if missing:
        raise ValueError(f"rope {rope_type!r} is missing {missing}")
    scaling = {"rope_type": rope_type, **{k: params[k] for k in _ROPE_KEYS[rope_type] if k in params}}
    if rope_type == "llama3" and "original_max_position_embeddings" not in scaling:
        scaling["original_max_position_embeddings"] = int(config["max_position_embeddings"])
    return theta, scaling


def _numbers(config: dict[str, Any]) -> dict[str, Any]:
    """The :func:`~._component_builders.llama` arguments of a transformers LlamaConfig dict."""
    act = config.get("hidden_act", "silu")
    if act != "silu":
        raise ValueError(f"hidden_act {act!r} is not supported (LLaMA's SwiGLU uses 'silu')")
    heads = int(config["num_attention_heads"])
    hidden = int(config["hidden_size"])
    head_dim = config.get("head_dim") or hidden // heads
    theta, scaling = rope_scaling_from_hf(config)
    context = int(config.get("max_position_embeddings", 2048))
    numbers: dict[str, Any] = dict(
        vocab_size=int(config["vocab_size"]),
        num_layers=int(config["num_hidden_layers"]),
        num_heads=heads,
        num_kv_heads=int(config.get("num_key_value_heads") or heads),
        embed_dim=hidden,
        intermediate_dim=int(config["intermediate_size"]),
        max_seq_len=context,
        rope_base=theta,
        rope_scaling=scaling,
        norm_eps=float(config.get("rms_norm_eps", 1e-6)),
        head_dim=int(head_dim),
        tie_word_embeddings=bool(config.get("tie_word_embeddings", False)),
        attention_bias=bool(config.get("attention_bias", False)),
        mlp_bias=bool(config.get("mlp_bias", False)),
        attn_dropout=float(config.get("attention_dropout", 0.0) or 0.0),
        initializer_range=float(config.get("initializer_range", 0.02)),
    )
    if (
        scaling is not None and scaling["rope_type"] == "dynamic"
    ):  # NTK-aware: usable beyond the trained length
        numbers["rope_max_seq_len"] = context
        numbers["max_seq_len"] = int(context * max(1.0, float(scaling["factor"])))
    return numbers


@register_hf_converter("llama")
def convert_llama(config: dict[str, Any], state: StateDict) -> tuple[str, dict[str, Any], StateDict]:
    """transformers LlamaForCausalLM ``(config.json, state dict)`` -> ``(name, overrides, dlzoo state)``."""
    architectures = config.get("architectures") or ["LlamaForCausalLM"]
    if "LlamaForCausalLM" not in architectures:
        raise ValueError(
            f"architectures {architectures}: only LlamaForCausalLM (a causal LM with its head) is supported"
        )
    numbers = _numbers(config)
    out: StateDict = {}
    for key, value in state.items():
        name = key.removeprefix("model.")
        if name.endswith("rotary_emb.inv_freq"):  # old checkpoints store the (recomputed) rope buffer
            continue
        parts = name.split(".")
        ok = name in ("embed_tokens.weight", "norm.weight", "lm_head.weight") or (
            len(parts) > 2
            and parts[0] == "layers"
            and parts[1].isdigit()
            and ".".join(parts[2:]) in _LAYER_KEYS
        )
        if not ok:
            raise ValueError(f"unexpected weight {key!r} for LlamaForCausalLM")
        out[name] = value
    if numbers["tie_word_embeddings"]:
        out.pop("lm_head.weight", None)
    elif "lm_head.weight" not in out:
        raise ValueError("tie_word_embeddings is false but the weights have no lm_head.weight")
    return "llama2_7b", numbers, out


def _rope_parameters(model: LlamaForCausalLM) -> dict[str, Any]:
    rotary = model.rotary_emb
    if rotary.interleaved:
        raise ValueError(
            "save_pretrained(format='hf'): LLaMA with interleaved RoPE has no transformers layout"
        )
    params: dict[str, Any] = {"rope_type": rotary.rope_type, "rope_theta": rotary.base}
    if rotary.scaling:
        params.update(rotary.scaling)
    return params


@register_hf_exporter(LlamaForCausalLM)
def export_llama(model: LlamaForCausalLM) -> tuple[dict[str, Any], StateDict]:
    """A dlzoo LLaMA -> ``(transformers 5.x config.json dict, HF state dict)`` (``LlamaForCausalLM``)."""
    norms = [model.norm] + [
        m for layer in model.layers for m in (layer.input_layernorm, layer.post_attention_layernorm)
    ]
    if not all(
        isinstance(n, RMSNorm) and n.weight is not None and len(n.normalized_shape) == 1 for n in norms
    ):
        kinds = sorted({type(n).__name__ for n in norms})
        raise ValueError(
            f"save_pretrained(format='hf'): LlamaForCausalLM needs RMSNorm everywhere, this model "
            f"has {kinds} (LLaMA-DyT and other norms have no transformers equivalent)"
        )
    if model.embed_scale is not None:
        raise ValueError(
            "save_pretrained(format='hf'): the embedding scalar (LLaMA-DyT) has no transformers equivalent"
        )
    if model.norm.eps is None:
        raise ValueError("save_pretrained(format='hf'): RMSNorm eps=None has no rms_norm_eps equivalent")
    attn, mlp = model.layers[0].self_attn, model.layers[0].mlp
    rope = _rope_parameters(model)
    context = (
        model.max_seq_len if rope["rope_type"] != "dynamic" else model.rotary_emb.max_position_embeddings
    )
    config: dict[str, Any] = {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": model.vocab_size,
        "hidden_size": model.hidden_size,
        "intermediate_size": mlp.intermediate_size,
        "num_hidden_layers": len(model.layers),
        "num_attention_heads": attn.num_heads,
        "num_key_value_heads": attn.num_kv_heads,
        "head_dim": attn.head_dim,
        "hidden_act": "silu",
        "max_position_embeddings": context,
        "rms_norm_eps": model.norm.eps,
        "rope_parameters": rope,
        "tie_word_embeddings": model.tie_word_embeddings,
        "attention_bias": attn.q_proj.bias is not None,
        "mlp_bias": mlp.gate_proj.bias is not None,
        "attention_dropout": attn.dropout,
        "initializer_range": getattr(model, "config", {}).get("initializer_range", 0.02),
        "dtype": str(model.embed_tokens.weight.dtype).removeprefix("torch."),
        "bos_token_id": None,
        "eos_token_id": None,
        "pad_token_id": None,
    }
    state = {}
    for key, value in model.state_dict().items():
        if key == "lm_head.weight":
            if not model.tie_word_embeddings:
                state[key] = value
        else:
            state[f"model.{key}"] = value
    return config, state


# ----------------------------------------------------------------------------- Meta's original layout


def permute_meta_qk(weight: Tensor, num_heads: int) -> Tensor:
    """Meta ``wq``/``wk`` (``(h d_head, C)``, interleaved RoPE pairs) -> the rotate_half layout of HF/dlzoo.

    Within each head, output row ``2j`` (pair ``j``'s first feature) moves to ``j`` and ``2j + 1`` to
    ``j + d_head/2``. ``wk`` takes the KV head count. Then ``rotate_half``-RoPE of ``x W'^T`` is the same
    rotation as interleaved RoPE of ``x W^T`` up to that permutation of features, so every ``q . k`` (and the
    attention) is unchanged.
    """
    rows, cols = weight.shape
    if rows % num_heads or (rows // num_heads) % 2:
        raise ValueError(
            f"permute_meta_qk: weight rows {rows} must split into {num_heads} heads of even width"
        )
    return weight.view(num_heads, rows // num_heads // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def unpermute_meta_qk(weight: Tensor, num_heads: int) -> Tensor:
    """Inverse of :func:`permute_meta_qk` (rotate_half layout -> Meta's interleaved one)."""
    rows, cols = weight.shape
    if rows % num_heads or (rows // num_heads) % 2:
        raise ValueError(
            f"unpermute_meta_qk: weight rows {rows} must split into {num_heads} heads of even width"
        )
    return weight.view(num_heads, 2, rows // num_heads // 2, cols).transpose(1, 2).reshape(rows, cols)


_META_LAYER = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_META_TOP = {
    "tok_embeddings.weight": "embed_tokens.weight",
    "norm.weight": "norm.weight",
    "output.weight": "lm_head.weight",
}


def convert_meta_state_dict(state: StateDict, num_heads: int, num_kv_heads: int | None = None) -> StateDict:
    """Meta's ``consolidated.*.pth`` keys (one unsharded checkpoint) -> dlzoo LLaMA keys, ``wq``/``wk``
    permuted by :func:`permute_meta_qk` (``tok_embeddings`` -> ``embed_tokens``, ``layers.i.attention.wq`` ->
    ``layers.i.self_attn.q_proj``, ``feed_forward.w1/w2/w3`` -> ``mlp.gate/down/up_proj``, ``output`` ->
    ``lm_head``). ``rope.freqs`` is dropped."""
    num_kv_heads = num_kv_heads or num_heads
    out: StateDict = {}
    for key, value in state.items():
        if key == "rope.freqs":
            continue
        if key in _META_TOP:
            out[_META_TOP[key]] = value
            continue
        parts = key.split(".", 2)
        if len(parts) != 3 or parts[0] != "layers" or parts[2] not in _META_LAYER:
            raise ValueError(f"convert_meta_state_dict: unexpected key {key!r}")
        if parts[2] == "attention.wq.weight":
            value = permute_meta_qk(value, num_heads)
        elif parts[2] == "attention.wk.weight":
            value = permute_meta_qk(value, num_kv_heads)
        out[f"layers.{parts[1]}.{_META_LAYER[parts[2]]}"] = value
    return out
