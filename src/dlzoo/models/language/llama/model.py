"""LLaMA decoder-only language model: modules that take their parts (torchtune's way), with HF LLaMA's keys.

Touvron et al., "LLaMA: Open and Efficient Foundation Language Models", 2023, arXiv:2302.13971;
"Llama 2: Open Foundation and Fine-Tuned Chat Models", 2023, arXiv:2307.09288;
"The Llama 3 Herd of Models", 2024, arXiv:2407.21783. A pre-norm transformer decoder:

    h_0 = E[ids] (* s)                                        # s: LLaMA-DyT's learnable scalar, init sqrt(d)
    h'  = h + Attn(Norm_attn(h), RoPE)                        # grouped-query causal attention, no biases
    h   = h' + W_down (SiLU(W_gate Norm_ffn(h')) * W_up Norm_ffn(h'))     # SwiGLU (Shazeer 2020)
    logits = W_head Norm_final(h_L)                           # W_head = E when the embeddings are tied

``Norm`` is RMSNorm (Zhang & Sennrich 2019, arXiv:1910.07467) or, for LLaMA-DyT (Zhu et al., "Transformers
without Normalization", CVPR 2025, arXiv:2503.10622), ``weight * tanh(alpha x)`` with per-role alpha inits.

State-dict keys are those of transformers' ``LlamaForCausalLM`` without the ``model.`` prefix:
``embed_tokens``, ``layers.i.{input_layernorm, self_attn.{q,k,v,o}_proj, post_attention_layernorm,
mlp.{gate,up,down}_proj}``, ``norm``, ``lm_head`` (+ ``embed_scale`` for LLaMA-DyT).
Shapes: ``input_ids (B, T)`` int64 -> logits ``(B, T, vocab_size)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ....nn.attention import GroupedQueryAttention, KVCache
from ....nn.create_act import ActSpec, create_act
from ....nn.linear import Linear
from ..generation import GenerationMixin, check_token_ids

__all__ = ["LlamaMLP", "LlamaDecoderLayer", "LlamaForCausalLM"]


class LlamaMLP(nn.Module):
    """SwiGLU feed-forward ``down_proj(act(gate_proj(x)) * up_proj(x))`` (HF ``LlamaMLP`` names; torchtune's
    ``FeedForward`` with w1 = gate, w3 = up, w2 = down). ``(*, d) -> (*, d)``."""

    def __init__(
        self, hidden_size: int, intermediate_size: int, bias: bool = False, act_layer: ActSpec = "silu"
    ) -> None:
        super().__init__()
        self.hidden_size, self.intermediate_size = hidden_size, intermediate_size
        self.gate_proj = Linear(hidden_size, intermediate_size, bias=bias)
        self.up_proj = Linear(hidden_size, intermediate_size, bias=bias)
        self.down_proj = Linear(intermediate_size, hidden_size, bias=bias)
        self.act_fn = create_act(act_layer)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Module):
    """One pre-norm block ``h + attn(norm1(h))`` then ``h + mlp(norm2(h))`` from the modules it is given
    (torchtune's ``TransformerSelfAttentionLayer``; HF key names)."""

    def __init__(
        self,
        self_attn: GroupedQueryAttention,
        mlp: nn.Module,
        input_layernorm: nn.Module,
        post_attention_layernorm: nn.Module,
    ) -> None:
        super().__init__()
        self.self_attn = self_attn
        self.mlp = mlp
        self.input_layernorm = input_layernorm
        self.post_attention_layernorm = post_attention_layernorm

    def forward(self, x: Tensor, rope: tuple[Tensor, Tensor], kv_cache: KVCache | None = None) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x), rope=rope, kv_cache=kv_cache)  # (B, T, d)
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaForCausalLM(GenerationMixin, nn.Module):
    """Decoder-only LM assembled from its parts (see the module docstring).

    Args:
        embed_tokens: token embedding ``(vocab_size, d)``.
        layers: the decoder blocks.
        norm: final norm.
        lm_head: ``Linear(d, vocab_size, bias=False)``; pass ``None`` to tie it to ``embed_tokens``.
        rotary_emb: :class:`dlzoo.nn.RotaryEmbedding` shared by every layer.
        embed_scale: LLaMA-DyT's learnable scalar after the embedding (a Parameter of shape (1,)), or None.
        max_seq_len: the context length (longer inputs are refused); default the rotary table's length
            (dynamic NTK scaling sets it beyond the trained length).

    ``forward(input_ids, kv_caches=None)``: with caches (one :class:`KVCache` per layer, from
    :meth:`new_kv_caches`) the new tokens sit at positions ``kv_caches[0].seq_len ...`` and their K/V are
    appended. ``generate`` comes from :class:`GenerationMixin`.
    """

    def __init__(
        self,
        embed_tokens: nn.Embedding,
        layers: list[LlamaDecoderLayer],
        norm: nn.Module,
        lm_head: nn.Module | None,
        rotary_emb: nn.Module,
        embed_scale: nn.Parameter | None = None,
        max_seq_len: int | None = None,
    ) -> None:
        super().__init__()
        self.embed_tokens = embed_tokens
        if embed_scale is not None:
            self.embed_scale = embed_scale
        else:
            self.register_parameter("embed_scale", None)
        self.layers = nn.ModuleList(layers)
        self.norm = norm
        self.tie_word_embeddings = lm_head is None
        if lm_head is None:
            lm_head = Linear(
                embed_tokens.embedding_dim,
                embed_tokens.num_embeddings,
                bias=False,
                device=embed_tokens.weight.device,
            )
            lm_head.weight = embed_tokens.weight
        self.lm_head = lm_head
        self.rotary_emb = rotary_emb
        self.vocab_size = embed_tokens.num_embeddings
        self.hidden_size = embed_tokens.embedding_dim
        self.max_seq_len = rotary_emb.max_position_embeddings if max_seq_len is None else max_seq_len

    def _check_input(self, input_ids: Tensor, past: int) -> None:
        name = type(self).__name__
        check_token_ids(name, input_ids, self.vocab_size)
        if input_ids.shape[1] == 0:
            raise ValueError(
                f"{name}: expected input_ids of shape (B, T) with T >= 1, got {list(input_ids.shape)}"
            )
        if past + input_ids.shape[1] > self.max_seq_len:
            raise ValueError(
                f"{name}: sequence of {past + input_ids.shape[1]} tokens ({past} cached + "
                f"{input_ids.shape[1]} new) exceeds the context length max_seq_len={self.max_seq_len}"
            )

    def forward(self, input_ids: Tensor, kv_caches: list[KVCache] | None = None) -> Tensor:
        """``input_ids`` (B, T) -> logits (B, T, vocab_size); see the class docstring for ``kv_caches``."""
        past = kv_caches[0].seq_len if kv_caches else 0
        self._check_input(input_ids, past)
        if kv_caches is not None and len(kv_caches) != len(self.layers):
            raise ValueError(
                f"{type(self).__name__}: expected {len(self.layers)} KV caches (one per layer), "
                f"got {len(kv_caches)}"
            )
        h = self.embed_tokens(input_ids)  # (B, T, d)
        if self.embed_scale is not None:
            h = h * self.embed_scale
        positions = torch.arange(past, past + input_ids.shape[1], device=input_ids.device)[None]  # (1, T)
        rope = self.rotary_emb(h, positions)  # cos, sin (1, T, head_dim)
        for i, layer in enumerate(self.layers):
            h = layer(h, rope, kv_caches[i] if kv_caches is not None else None)
        return self.lm_head(self.norm(h))  # (B, T, V)

    def new_kv_caches(
        self,
        batch_size: int,
        max_seq_len: int | None = None,
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> list[KVCache]:
        """One empty :class:`KVCache` per layer for ``batch_size`` sequences of up to ``max_seq_len`` tokens
        (default the context length), in the model's dtype/device unless given."""
        ref = self.embed_tokens.weight
        return [
            KVCache(
                batch_size,
                max_seq_len or self.max_seq_len,
                layer.self_attn.num_kv_heads,
                layer.self_attn.head_dim,
                dtype=dtype or ref.dtype,
                device=device or ref.device,
            )
            for layer in self.layers
        ]
