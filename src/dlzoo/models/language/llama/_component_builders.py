"""LLaMA component builders (torchtune's ``_component_builders``): turn an architecture's numbers into modules
and assemble :class:`~.model.LlamaForCausalLM` from them. Model builders (``_model_builders.py``) hold only
numbers and call :func:`llama`.

Norms: ``norm_layer`` is any norm dlzoo resolves (``"rmsnorm"`` default, ``"layernorm"``, a class or partial).
``"dyt"`` builds the paper's LLaMA-DyT (Zhu et al., "Transformers without Normalization", CVPR 2025,
arXiv:2503.10622, sec. 7 / Table 12 and the official ``other_tasks/LLaMA`` code): every norm becomes a
weight-only DyT ``weight * tanh(alpha x)`` (no bias); the DyT before attention starts at ``alpha_attn``,
the one before the FFN at ``alpha_other``, the final one at ``alpha_final`` (default ``alpha_other``), the
first two from :func:`dlzoo.nn.dyt.dyt_alpha_init` by width unless given; and a learnable scalar
initialised to ``sqrt(d)`` multiplies the token embeddings.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from ....nn.attention import GroupedQueryAttention
from ....nn.channel_affine import check_positive_int
from ....nn.dyt import dyt_alpha_init
from ....nn.factory import NormSpec, get_norm_layer, norm_name
from ....nn.linear import Linear
from ....nn.rotary import RotaryEmbedding
from .model import LlamaDecoderLayer, LlamaForCausalLM, LlamaMLP

__all__ = ["llama", "llama_mlp", "llama_attention", "llama_norms", "init_llama_weights"]


def llama_mlp(dim: int, hidden_dim: int, bias: bool = False) -> LlamaMLP:
    """SwiGLU FFN ``d -> hidden_dim -> d``."""
    return LlamaMLP(dim, hidden_dim, bias=bias)


def llama_attention(
    dim: int, num_heads: int, num_kv_heads: int, head_dim: int, bias: bool = False, dropout: float = 0.0
) -> GroupedQueryAttention:
    """Causal grouped-query attention without biases (LLaMA)."""
    return GroupedQueryAttention(dim, num_heads, num_kv_heads, head_dim=head_dim, bias=bias, dropout=dropout)


def llama_norms(
    norm_layer: NormSpec,
    dim: int,
    norm_eps: float,
    alpha_attn: float | None = None,
    alpha_other: float | None = None,
    alpha_final: float | None = None,
):
    """``(make_attn_norm, make_ffn_norm, make_final_norm, dyt)``: three ``() -> nn.Module`` factories and
    whether this is LLaMA-DyT (see the module docstring)."""
    name = norm_name(norm_layer)
    if name == "dyt":
        attn = dyt_alpha_init(dim, attention=True) if alpha_attn is None else alpha_attn
        other = dyt_alpha_init(dim, attention=False) if alpha_other is None else alpha_other
        final = other if alpha_final is None else alpha_final

        def dyt(alpha: float):
            return lambda: get_norm_layer(norm_layer, bias=False, alpha_init=alpha)(dim)

        return dyt(attn), dyt(other), dyt(final), True
    if any(a is not None for a in (alpha_attn, alpha_other, alpha_final)):
        raise ValueError(f"llama: dyt_alpha_* arguments need norm_layer='dyt', got norm_layer={norm_layer!r}")
    make = get_norm_layer(norm_layer, defaults={"rmsnorm": {"eps": norm_eps}, "layernorm": {"eps": norm_eps}})
    return (lambda: make(dim)), (lambda: make(dim)), (lambda: make(dim)), False


def init_llama_weights(model: nn.Module, std: float = 0.02) -> None:
    """HF ``LlamaPreTrainedModel`` init: every Linear and Embedding weight ~ N(0, std), biases 0 (norms keep
    their own init)."""
    for module in model.modules():
        if isinstance(module, (Linear, nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if getattr(module, "bias", None) is not None:
                nn.init.zeros_(module.bias)


def llama(
    *,
    vocab_size: int,
    num_layers: int,
    num_heads: int,
    num_kv_heads: int | None,
    embed_dim: int,
    intermediate_dim: int,
    max_seq_len: int,
    rope_base: float = 10000.0,
    rope_scaling: dict[str, Any] | None = None,
    rope_max_seq_len: int | None = None,
    norm_eps: float = 1e-5,
    head_dim: int | None = None,
    tie_word_embeddings: bool = False,
    attention_bias: bool = False,
    mlp_bias: bool = False,
    attn_dropout: float = 0.0,
    norm_layer: NormSpec = "rmsnorm",
    dyt_alpha_attn: float | None = None,
    dyt_alpha_other: float | None = None,
    dyt_alpha_final: float | None = None,
    embed_scale: bool | None = None,
    initializer_range: float = 0.02,
) -> LlamaForCausalLM:
    """Build a LLaMA from its numbers (every argument keyword-only).

    ``num_kv_heads`` None means multi-head attention; ``head_dim`` default ``embed_dim // num_heads``;
    ``rope_scaling`` is :class:`~dlzoo.nn.RotaryEmbedding`'s ``scaling`` (``{"rope_type": "llama3", ...}``);
    ``rope_max_seq_len`` its ``max_position_embeddings`` (the trained length dynamic NTK scales beyond;
    default ``max_seq_len``);
    ``embed_scale`` (default: only for LLaMA-DyT) adds the learnable scalar after the embedding.
    """
    for arg, value in (
        ("vocab_size", vocab_size),
        ("num_layers", num_layers),
        ("num_heads", num_heads),
        ("embed_dim", embed_dim),
        ("intermediate_dim", intermediate_dim),
        ("max_seq_len", max_seq_len),
    ):
        check_positive_int("llama", arg, value)
    num_kv_heads = num_heads if num_kv_heads is None else num_kv_heads
    if head_dim is None:
        if embed_dim % num_heads:
            raise ValueError(
                f"llama: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads}) "
                f"unless head_dim is given"
            )
        head_dim = embed_dim // num_heads
    attn_norm, ffn_norm, final_norm, dyt = llama_norms(
        norm_layer, embed_dim, norm_eps, dyt_alpha_attn, dyt_alpha_other, dyt_alpha_final
    )
    rotary = RotaryEmbedding(
        head_dim,
        max_position_embeddings=rope_max_seq_len or max_seq_len,
        base=rope_base,
        scaling=rope_scaling,
    )
    layers = [
        LlamaDecoderLayer(
            self_attn=llama_attention(
                embed_dim, num_heads, num_kv_heads, head_dim, attention_bias, attn_dropout
            ),
            mlp=llama_mlp(embed_dim, intermediate_dim, mlp_bias),
            input_layernorm=attn_norm(),
            post_attention_layernorm=ffn_norm(),
        )
        for _ in range(num_layers)
    ]
    embed_tokens = nn.Embedding(vocab_size, embed_dim)
    lm_head = None if tie_word_embeddings else Linear(embed_dim, vocab_size, bias=False)
    scale = None
    if dyt if embed_scale is None else embed_scale:
        scale = nn.Parameter(torch.full((1,), math.sqrt(embed_dim)))
    model = LlamaForCausalLM(
        embed_tokens, layers, final_norm(), lm_head, rotary, embed_scale=scale, max_seq_len=max_seq_len
    )
    init_llama_weights(model, initializer_range)
    model.config = {  # the numbers, for the Hugging Face exporter and for repr
        "vocab_size": vocab_size,
        "num_layers": num_layers,
        "num_heads": num_heads,
        "num_kv_heads": num_kv_heads,
        "embed_dim": embed_dim,
        "intermediate_dim": intermediate_dim,
        "max_seq_len": max_seq_len,
        "rope_base": rope_base,
        "rope_scaling": dict(rope_scaling) if rope_scaling else None,
        "rope_max_seq_len": rope_max_seq_len or max_seq_len,
        "norm_eps": norm_eps,
        "head_dim": head_dim,
        "tie_word_embeddings": tie_word_embeddings,
        "attention_bias": attention_bias,
        "mlp_bias": mlp_bias,
        "norm_layer": norm_name(norm_layer) or "custom",
        "initializer_range": initializer_range,
    }
    return model
