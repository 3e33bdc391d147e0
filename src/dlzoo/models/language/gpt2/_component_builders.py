"""GPT component builders (torchtune's split): :func:`gpt_block` and :func:`gpt_decoder` take modules;
:func:`gpt` turns the numbers of a configuration into those modules; ``_model_builders.py`` holds numbers.

Attention pattern (``sliding_window``): None is GPT-2 (every layer dense). An int ``w`` gives GPT-3's
"alternating dense and locally banded sparse attention patterns" (Brown et al. 2020, sec. 2.1): layers
0, 2, 4, ... attend densely, layers 1, 3, 5, ... only to the last ``w`` positions;
``sliding_window_layers="all"`` bands every layer.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import nn

from ....nn.attention import GroupedQueryAttention
from ....nn.channel_affine import check_positive_int
from ....nn.create_act import ActSpec
from ....nn.factory import NormSpec, get_norm_layer
from ....nn.ffn import Mlp
from ....nn.token_embedding import Embedding
from .model import GPT, GPTBlock

__all__ = ["gpt", "gpt_block", "gpt_decoder", "gpt_attention", "gpt_mlp", "layer_windows"]


def gpt_attention(embed_dim: int, num_heads: int, attn_dropout: float = 0.0,
                  sliding_window: int | None = None) -> GroupedQueryAttention:
    """GPT-2's causal multi-head attention: biased q/k/v/o projections, one KV head per query head."""
    return GroupedQueryAttention(embed_dim, num_heads, bias=True, dropout=attn_dropout,
                                 sliding_window=sliding_window)


def gpt_mlp(embed_dim: int, hidden_dim: int, act_layer: ActSpec = "gelu_tanh",
            resid_dropout: float = 0.0) -> Mlp:
    """``fc2(act(fc1 x))`` then the residual dropout (HF ``GPT2MLP``: no dropout after the activation)."""
    return Mlp(embed_dim, hidden_dim, act_layer=act_layer, drop=(0.0, resid_dropout))


def gpt_block(attn: nn.Module, mlp: nn.Module, ln_1: nn.Module, ln_2: nn.Module,
              resid_dropout: float = 0.0) -> GPTBlock:
    """A pre-norm block from its attention, MLP and two norms."""
    return GPTBlock(attn, mlp, ln_1, ln_2, resid_dropout=resid_dropout)


def gpt_decoder(blocks: Sequence[GPTBlock], vocab_size: int, max_seq_len: int, ln_f: nn.Module,
                embd_dropout: float = 0.0, tie_word_embeddings: bool = True,
                init_std: float | None = 0.02) -> GPT:
    """The language model around ``blocks``: token + learned position embeddings, final norm, tied head."""
    embed_dim = blocks[0].attn.embed_dim
    wte = Embedding(vocab_size, embed_dim)
    wpe = Embedding(max_seq_len, embed_dim)
    return GPT(wte, wpe, blocks, ln_f, embd_dropout=embd_dropout, tie_word_embeddings=tie_word_embeddings,
               init_std=init_std)


def layer_windows(num_layers: int, sliding_window: int | None,
                  sliding_window_layers: str = "alternate") -> list[int | None]:
    """Per-layer attention window: None (dense) or the band width (see module docstring)."""
    if sliding_window is None:
        return [None] * num_layers
    check_positive_int("gpt", "sliding_window", sliding_window)
    if sliding_window_layers == "alternate":
        return [sliding_window if i % 2 else None for i in range(num_layers)]
    if sliding_window_layers == "all":
        return [sliding_window] * num_layers
    raise ValueError(f"gpt: sliding_window_layers must be 'alternate' or 'all', "
                     f"got {sliding_window_layers!r}")


def gpt(
    vocab_size: int = 50257,
    max_seq_len: int = 1024,
    embed_dim: int = 768,
    num_layers: int = 12,
    num_heads: int = 12,
    hidden_dim: int | None = None,
    act_layer: ActSpec = "gelu_tanh",
    norm_layer: NormSpec = "layernorm",
    norm_eps: float = 1e-5,
    embd_dropout: float = 0.0,
    attn_dropout: float = 0.0,
    resid_dropout: float = 0.0,
    dropout: float | None = None,
    sliding_window: int | None = None,
    sliding_window_layers: str = "alternate",
    tie_word_embeddings: bool = True,
    init_std: float = 0.02,
) -> GPT:
    """A GPT from numbers (GPT-2 small by default).

    Args:
        vocab_size, max_seq_len, embed_dim, num_layers, num_heads: V, context, C, L, H.
        hidden_dim: MLP width (default ``4 * embed_dim``, HF's ``n_inner=None``).
        act_layer: MLP activation (GPT-2: ``gelu_tanh``, HF's ``gelu_new``).
        norm_layer: every norm (``ln_1``, ``ln_2``, ``ln_f``): ``"layernorm"`` (GPT-2), ``"rmsnorm"``,
            ``"dyt"``, a class or a partial; ``norm_eps`` goes to LayerNorm / RMSNorm.
        embd_dropout, attn_dropout, resid_dropout: HF's ``embd_pdrop``, ``attn_pdrop``, ``resid_pdrop``;
            ``dropout``, when given, sets all three at once (and wins over them).
        sliding_window, sliding_window_layers: GPT-3's banded layers (module docstring).
        tie_word_embeddings: output head tied to ``wte``.
        init_std: GPT-2's ``initializer_range``.
    """
    for arg, value in (("vocab_size", vocab_size), ("max_seq_len", max_seq_len), ("embed_dim", embed_dim),
                       ("num_layers", num_layers), ("num_heads", num_heads)):
        check_positive_int("gpt", arg, value)
    if embed_dim % num_heads:
        raise ValueError(f"gpt: embed_dim ({embed_dim}) must be divisible by num_heads ({num_heads})")
    if dropout is not None:
        embd_dropout = attn_dropout = resid_dropout = dropout
    hidden_dim = 4 * embed_dim if hidden_dim is None else check_positive_int("gpt", "hidden_dim", hidden_dim)
    eps = {"eps": norm_eps}
    make_norm = get_norm_layer(norm_layer, defaults={"layernorm": eps, "rmsnorm": eps})
    blocks = [
        gpt_block(
            gpt_attention(embed_dim, num_heads, attn_dropout, window),
            gpt_mlp(embed_dim, hidden_dim, act_layer, resid_dropout),
            make_norm(embed_dim),
            make_norm(embed_dim),
            resid_dropout,
        )
        for window in layer_windows(num_layers, sliding_window, sliding_window_layers)
    ]
    return gpt_decoder(blocks, vocab_size, max_seq_len, make_norm(embed_dim), embd_dropout=embd_dropout,
                       tie_word_embeddings=tie_word_embeddings, init_std=init_std)
