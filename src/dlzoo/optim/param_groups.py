"""Weight-decay parameter groups.

The common rule (BERT, Devlin et al. 2018, arXiv:1810.04805; nanoGPT's ``configure_optimizers``;
timm's ``param_groups_weight_decay``): apply weight decay only to weight matrices and conv kernels,
never to biases or to 1-d parameters such as norm scales/shifts and DyT's ``alpha`` (decaying them
pulls a normalized layer's output towards zero and hurts accuracy). nanoGPT decays every tensor with
``dim >= 2``, embeddings included; ``no_decay_embeddings=True`` additionally exempts embedding tables
(``nn.Embedding`` weights and parameters named like position/class tokens).
"""

from __future__ import annotations

from typing import Any

from torch import nn

__all__ = ["weight_decay_groups"]

_EMBED_NAME_HINTS = (
    "pos_embed",
    "cls_token",
    "dist_token",
    "position_embedding",
    "relative_position_bias_table",
    "absolute_pos_embed",
    "mask_token",
    "reg_token",
)


def _is_embedding_param(model: nn.Module, name: str) -> bool:
    module_name, _, leaf = name.rpartition(".")
    module = model.get_submodule(module_name) if module_name else model
    if isinstance(module, nn.Embedding | nn.EmbeddingBag):
        return True
    if type(module).__name__.endswith("Embedding") and leaf == "weight":
        return True
    return any(hint in leaf for hint in _EMBED_NAME_HINTS)


def weight_decay_groups(
    model: nn.Module, weight_decay: float, no_decay_embeddings: bool = False, skip: tuple[str, ...] = ()
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into a decayed and a non-decayed param group.

    Args:
        model: the module whose ``named_parameters()`` are grouped (frozen parameters are left out).
        weight_decay: decay for the first group; the second group gets ``0.0``.
        no_decay_embeddings: also exempt embeddings (``nn.Embedding`` weights, ``pos_embed``, ``cls_token``).
        skip: extra parameter names (exact) that must not be decayed.

    Returns:
        ``[{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]``
        (an empty group is dropped). Each group also carries ``"param_names"`` for inspection.
    """
    if weight_decay < 0:
        raise ValueError(f"weight_decay_groups: weight_decay must be >= 0, got {weight_decay}")
    decay, no_decay, decay_names, no_decay_names = [], [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim <= 1 or name.endswith(".bias") or name == "bias" or name in skip
        if not exempt and no_decay_embeddings:
            exempt = _is_embedding_param(model, name)
        (no_decay if exempt else decay).append(p)
        (no_decay_names if exempt else decay_names).append(name)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay), "param_names": decay_names},
        {"params": no_decay, "weight_decay": 0.0, "param_names": no_decay_names},
    ]
    return [g for g in groups if g["params"]]
