"""GPT-2: a decoder-only transformer language model (nanoGPT's shape, Hugging Face GPT-2's numbers).

Radford et al., "Language Models are Unsupervised Multitask Learners", OpenAI 2019 (GPT-2); the GPT-3 variant
(Brown et al., "Language Models are Few-Shot Learners", 2020, arXiv:2005.14165) alternates dense and locally
banded attention layers. For tokens ``x_1..x_T`` (pre-norm residual blocks, sec. 2.3 of GPT-2):

    h_0 = drop(W_te[x] + W_pe[p])                       p = P .. P + T - 1 (P = tokens already cached)
    a_l = h_{l-1} + drop(Attn_l(LN_1(h_{l-1})))          causal (banded) multi-head self-attention
    h_l = a_l + drop(W_2 GELU_tanh(W_1 LN_2(a_l)))
    logits = LN_f(h_L) W_te^T                            the output head is tied to the token embedding

Initialisation is GPT-2's: Linear and embedding weights N(0, 0.02), biases 0, norms at identity, and the
residual output projections (``attn.o_proj``, ``mlp.fc2``) N(0, 0.02 / sqrt(2 L)).

Keys (HF's ``transformer.X`` without the prefix; HF's fused ``c_attn`` Conv1D is split into q/k/v Linears):
``wte``, ``wpe``, ``h.i.ln_1``, ``h.i.attn.{q,k,v,o}_proj``, ``h.i.ln_2``, ``h.i.mlp.{fc1,fc2}``, ``ln_f``,
``lm_head`` (tied to ``wte``). Shapes: ``input_ids (B, T)`` -> ``logits (B, T, vocab_size)``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ....nn.attention import GroupedQueryAttention, KVCache
from ....nn.linear import Linear
from ....nn.regularization import Dropout
from ....nn.token_embedding import Embedding
from ..generation import GenerationMixin, check_token_ids

__all__ = ["GPT", "GPTBlock"]


class GPTBlock(nn.Module):
    """Pre-norm transformer block ``x + drop(attn(ln_1 x))``, then ``x + mlp(ln_2 x)``.

    The MLP ends with its own residual dropout (``Mlp(drop=(0, p))``, HF's ``GPT2MLP``).
    """

    def __init__(self, attn: GroupedQueryAttention, mlp: nn.Module, ln_1: nn.Module, ln_2: nn.Module,
                 resid_dropout: float = 0.0) -> None:
        super().__init__()
        self.ln_1 = ln_1
        self.attn = attn
        self.ln_2 = ln_2
        self.mlp = mlp
        self.resid_drop = Dropout(resid_dropout)

    def forward(self, x: Tensor, kv_cache: KVCache | None = None) -> Tensor:
        x = x + self.resid_drop(self.attn(self.ln_1(x), kv_cache=kv_cache))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))


class GPT(GenerationMixin, nn.Module):
    """GPT-2 language model (see module docstring) from its parts; :func:`gpt` builds it from numbers.

    Args:
        wte: token embedding ``(vocab_size, C)``.
        wpe: learned position embedding ``(max_seq_len, C)``.
        blocks: the transformer blocks (:class:`GPTBlock`).
        ln_f: final norm.
        embd_dropout: dropout on the summed embeddings.
        tie_word_embeddings: the output head shares ``wte.weight`` (GPT-2); else its own Linear.
        init_std: std of GPT-2's normal init (``initializer_range``); None keeps the parts' own init.
    """

    def __init__(self, wte: Embedding, wpe: Embedding, blocks: Sequence[GPTBlock], ln_f: nn.Module,
                 embd_dropout: float = 0.0, tie_word_embeddings: bool = True,
                 init_std: float | None = 0.02) -> None:
        super().__init__()
        self.vocab_size, self.embed_dim = wte.weight.shape
        self.max_seq_len = wpe.weight.shape[0]
        if wpe.weight.shape[1] != self.embed_dim:
            raise ValueError(f"GPT: wte width {self.embed_dim} != wpe width {wpe.weight.shape[1]}")
        self.wte = wte
        self.wpe = wpe
        self.drop = Dropout(embd_dropout)
        self.h = nn.ModuleList(blocks)
        self.ln_f = ln_f
        self.lm_head = Linear(self.embed_dim, self.vocab_size, bias=False)
        self.tie_word_embeddings = tie_word_embeddings
        if init_std is not None:
            self.init_weights(init_std)
        if tie_word_embeddings:
            self.lm_head.weight = self.wte.weight

    @property
    def num_layers(self) -> int:
        return len(self.h)

    def init_weights(self, std: float = 0.02) -> None:
        """GPT-2's init: N(0, std) weights, zero biases, residual projections N(0, std / sqrt(2 L))."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, Linear)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (Embedding, nn.Embedding)):
                nn.init.normal_(module.weight, mean=0.0, std=std)
        for block in self.h:
            for proj in (block.attn.o_proj, getattr(block.mlp, "fc2", None)):
                if proj is not None:
                    nn.init.normal_(proj.weight, mean=0.0, std=std / math.sqrt(2 * len(self.h)))

    def new_kv_caches(self, batch_size: int, max_seq_len: int, dtype: torch.dtype | None = None,
                      device: torch.device | str | None = None) -> list[KVCache]:
        """One preallocated :class:`KVCache` per block, for up to ``max_seq_len`` tokens (<= the context)."""
        if max_seq_len > self.max_seq_len:
            raise ValueError(f"GPT.new_kv_caches: max_seq_len {max_seq_len} exceeds the context length "
                             f"max_seq_len={self.max_seq_len}")
        dtype = dtype or self.wte.weight.dtype
        device = device or self.wte.weight.device
        return [KVCache(batch_size, max_seq_len, b.attn.num_kv_heads, b.attn.head_dim, dtype=dtype,
                        device=device) for b in self.h]

    def forward(self, input_ids: Tensor, kv_caches: Sequence[KVCache] | None = None) -> Tensor:
        """``input_ids (B, T)`` -> logits ``(B, T, vocab_size)``; with ``kv_caches`` (one per block) the
        tokens continue at position ``kv_caches[0].seq_len`` and their keys/values are appended."""
        check_token_ids("GPT", input_ids, self.vocab_size)
        start = 0
        if kv_caches is not None:
            if len(kv_caches) != len(self.h):
                raise ValueError(f"GPT: expected {len(self.h)} kv_caches (one per block), "
                                 f"got {len(kv_caches)}")
            start = kv_caches[0].seq_len
        T = input_ids.shape[1]
        if start + T > self.max_seq_len:
            raise ValueError(f"GPT: sequence length {start + T} (cached {start} + new {T}) exceeds the "
                             f"context length max_seq_len={self.max_seq_len}")
        positions = torch.arange(start, start + T, device=input_ids.device)  # (T,)
        x = self.drop(self.wte(input_ids) + self.wpe(positions))  # (B, T, C)
        for i, block in enumerate(self.h):
            x = block(x, kv_cache=None if kv_caches is None else kv_caches[i])
        return self.lm_head(self.ln_f(x))  # (B, T, vocab_size)
