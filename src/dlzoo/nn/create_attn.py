"""The one attention registry: every ``attn_layer=`` string in dlzoo resolves here to a dlzoo class.

Like :mod:`.create_act` for activations and :func:`~dlzoo.nn.factory.get_norm_layer` for norms, models and
configs name an attention variant by string and get dlzoo's one implementation of it (issue 11: the same
GQA and sparse attention everywhere). Names go through :func:`dlzoo.registry.canonical_name` (case, ``-``
and ``_`` ignored: ``"Multi-Head"``, ``"dot_product"``). Every entry is a factory ``f(dim, **kwargs)`` whose
first argument is the model width:

    get_attn("gqa")                                   # -> GroupedQueryAttention (the class)
    create_attn("mqa", 512, num_heads=8)              # -> GroupedQueryAttention(512, 8, num_kv_heads=1)
    create_attn("sparse", 256, num_heads=4, pattern="fixed", stride=16)
    create_attn("window", 96, num_heads=3, window_size=7)
    create_attn("dot_product", 64, dropout=0.1)       # parameter-free: ``dim`` is only checked
    get_attn(MyAttention)                             # classes and factories pass through unchanged

========================  ===============================================  ==========================
name                      class                                            paper
========================  ===============================================  ==========================
multihead, mha            :class:`MultiheadAttention` (torch mirror)        Vaswani et al. 2017
self_attention, vit       :class:`Attention` (ViT / timm, fused ``qkv``)   Dosovitskiy et al. 2021
gqa                       :class:`GroupedQueryAttention`                   Ainslie et al. 2023
mqa                       ``GroupedQueryAttention(num_kv_heads=1)``        Shazeer 2019
sparse                    :class:`SparseMultiheadAttention`                Child et al. 2019
window                    :class:`WindowAttention` (Swin)                  Liu et al. 2021
dot_product               :class:`DotProductAttention`                     Luong et al. 2015
additive, bahdanau        :class:`AdditiveAttention`                       Bahdanau et al. 2015
differential              :class:`DifferentialMultiheadAttention`          Ye et al. 2024
hopfield                  :class:`HopfieldAttention`                       Ramsauer et al. 2020
non_local                 :class:`NonLocalAttention` (``dim`` = channels)  Wang et al. 2018
========================  ===============================================  ==========================
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from torch import nn

from ..registry import Registry
from .attention import (
    AdditiveAttention,
    Attention,
    DotProductAttention,
    GroupedQueryAttention,
    MultiheadAttention,
    SparseMultiheadAttention,
    WindowAttention,
)
from .attention.differential import DifferentialMultiheadAttention
from .attention.hopfield import HopfieldAttention
from .attention.non_local import NonLocalAttention
from .channel_affine import check_positive_int

__all__ = ["ATTENTIONS", "AttnSpec", "get_attn", "create_attn"]

AttnSpec = str | Callable[..., nn.Module] | None

ATTENTIONS: Registry[Callable[..., nn.Module]] = Registry("attention", loose_names=True)


def _dot_product(dim: int, **kwargs: Any) -> DotProductAttention:
    """:class:`DotProductAttention` has no parameters; ``dim`` only keeps the factory signature uniform."""
    return DotProductAttention(**kwargs)


_dot_product.__name__ = _dot_product.__qualname__ = "DotProductAttention"

_VASWANI = ("Attention Is All You Need", 2017, "1706.03762")
_VIT = ("An Image is Worth 16x16 Words: Transformers for Image Recognition at Scale", 2021, "2010.11929")
_GQA = ("GQA: Training Generalized Multi-Query Transformer Models from Multi-Head Checkpoints", 2023,
        "2305.13245")
_BAHDANAU = ("Neural Machine Translation by Jointly Learning to Align and Translate", 2015, "1409.0473")
for _name, _factory, (_paper, _year, _arxiv) in (
    ("multihead", MultiheadAttention, _VASWANI),
    ("mha", MultiheadAttention, _VASWANI),
    ("self_attention", Attention, _VIT),
    ("vit", Attention, _VIT),
    ("gqa", GroupedQueryAttention, _GQA),
    ("mqa", functools.partial(GroupedQueryAttention, num_kv_heads=1),
     ("Fast Transformer Decoding: One Write-Head is All You Need", 2019, "1911.02150")),
    ("sparse", SparseMultiheadAttention, ("Generating Long Sequences with Sparse Transformers", 2019,
                                          "1904.10509")),
    ("window", WindowAttention, ("Swin Transformer: Hierarchical Vision Transformer using Shifted Windows",
                                 2021, "2103.14030")),
    ("dot_product", _dot_product, ("Effective Approaches to Attention-based Neural Machine Translation", 2015,
                                   "1508.04025")),
    ("additive", AdditiveAttention, _BAHDANAU),
    ("bahdanau", AdditiveAttention, _BAHDANAU),
    ("differential", DifferentialMultiheadAttention, ("Differential Transformer", 2024, "2410.05258")),
    ("hopfield", HopfieldAttention, ("Hopfield Networks is All You Need", 2020, "2008.02217")),
    ("non_local", NonLocalAttention, ("Non-local Neural Networks", 2018, "1711.07971")),
):
    ATTENTIONS.add(_name, _factory, family="attention", paper=_paper, year=_year, arxiv=_arxiv)


def get_attn(spec: AttnSpec) -> Callable[..., nn.Module] | None:
    """Resolve ``spec`` to an attention factory ``f(dim, **kwargs)``: a registered name -> dlzoo's class (or
    partial); a class or callable passes through; ``None`` stays ``None``."""
    if spec is None:
        return None
    if isinstance(spec, str):
        return ATTENTIONS.get(spec)
    if callable(spec):
        return spec
    raise TypeError(f"attn_layer must be a name, a class or a callable, got {type(spec).__name__} {spec!r}")


def create_attn(spec: AttnSpec, dim: int, **kwargs: Any) -> nn.Module:
    """One attention module of width ``dim`` from ``spec`` (see :func:`get_attn`); ``kwargs`` go to the class
    (``num_heads``, ``window_size``, ``pattern``, ...)."""
    factory = get_attn(spec)
    if factory is None:
        raise ValueError("create_attn: spec is None; name an attention variant, e.g. 'multihead' or 'gqa'")
    check_positive_int("create_attn", "dim", dim)
    return factory(dim, **kwargs)
