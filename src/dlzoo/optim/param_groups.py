"""Weight-decay parameter groups.

The common rule (BERT, Devlin et al. 2018, arXiv:1810.04805; nanoGPT's ``configure_optimizers``;
timm's ``param_groups_weight_decay``): apply weight decay only to weight matrices and conv kernels,
never to biases or to 1-d parameters such as norm scales/shifts and DyT's ``alpha`` (decaying them
pulls a normalized layer's output towards zero and hurts accuracy). nanoGPT decays every tensor with
``dim >= 2``, embeddings included; ``no_decay_embeddings=True`` additionally exempts embedding tables
(``nn.Embedding`` weights and parameters named like position/class tokens).

A model may also name parameters that must not be decayed, timm's way: a ``no_weight_decay()`` method
returning a set of names (timm's ViT returns ``{"pos_embed", "cls_token", "dist_token"}``). Each entry
excludes the parameter of that exact name, every parameter of the module of that name (``"pos_drop"``
excludes ``"pos_drop.weight"``, the module-prefix convention) and, if it holds a wildcard (``*?[``), every
name it matches with :func:`fnmatch.fnmatchcase` (timm >= 0.9 patterns, e.g. ``"*relative_position_bias"``).
Names that match no parameter are ignored (a ViT without a distillation token still lists ``dist_token``).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from typing import Any

from torch import nn

from .validation import check_hparam

__all__ = ["weight_decay_groups", "model_no_weight_decay", "matches_no_decay"]

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


def model_no_weight_decay(model: nn.Module) -> set[str]:
    """The names ``model.no_weight_decay()`` returns (timm's convention); empty if it has no such method."""
    method = getattr(model, "no_weight_decay", None)
    if method is None:
        return set()
    if not callable(method):
        raise TypeError(f"{type(model).__name__}.no_weight_decay must be a method returning a set of names")
    names = method()
    if isinstance(names, str) or not isinstance(names, Iterable) or any(type(n) is not str for n in names):
        raise TypeError(
            f"{type(model).__name__}.no_weight_decay() must return a set of parameter names, got {names!r}"
        )
    return set(names)


def matches_no_decay(name: str, entries: Iterable[str]) -> bool:
    """True if parameter ``name`` is one of ``entries``, lies in a module named by one, or matches a
    wildcard entry (see the module docstring)."""
    for entry in entries:
        if name == entry or name.startswith(entry + "."):
            return True
        if any(c in entry for c in "*?[") and fnmatch.fnmatchcase(name, entry):
            return True
    return False


def weight_decay_groups(
    model: nn.Module,
    weight_decay: float,
    no_decay_embeddings: bool = False,
    skip: Iterable[str] = (),
    use_model_no_weight_decay: bool = True,
) -> list[dict[str, Any]]:
    """Split ``model``'s trainable parameters into a decayed and a non-decayed param group.

    Never decayed: 1-d parameters (biases, norm scales and shifts, DyT's ``alpha``), parameters named
    ``*.bias``, the names in ``skip`` and the names ``model.no_weight_decay()`` returns (if the model has
    that method and ``use_model_no_weight_decay``); entries of both are matched as exact names, module
    prefixes or wildcard patterns (see the module docstring).

    Args:
        model: the module whose ``named_parameters()`` are grouped (frozen parameters are left out).
        weight_decay: decay for the first group; the second group gets ``0.0``.
        no_decay_embeddings: also exempt embeddings (``nn.Embedding`` weights, ``pos_embed``, ``cls_token``).
        skip: extra parameter names / module prefixes / patterns that must not be decayed.
        use_model_no_weight_decay: honour ``model.no_weight_decay()`` (timm's convention).

    Returns:
        ``[{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]``
        (an empty group is dropped). Each group also carries ``"param_names"`` for inspection.
    """
    check_hparam("weight_decay_groups", "weight_decay", weight_decay)
    if isinstance(skip, str):
        raise TypeError(f"weight_decay_groups: skip must be a collection of names, got the string {skip!r}")
    entries = set(skip) | (model_no_weight_decay(model) if use_model_no_weight_decay else set())
    decay, no_decay, decay_names, no_decay_names = [], [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        exempt = p.ndim <= 1 or name.endswith(".bias") or name == "bias" or matches_no_decay(name, entries)
        if not exempt and no_decay_embeddings:
            exempt = _is_embedding_param(model, name)
        (no_decay if exempt else decay).append(p)
        (no_decay_names if exempt else decay_names).append(name)
    groups = [
        {"params": decay, "weight_decay": float(weight_decay), "param_names": decay_names},
        {"params": no_decay, "weight_decay": 0.0, "param_names": no_decay_names},
    ]
    return [g for g in groups if g["params"]]
