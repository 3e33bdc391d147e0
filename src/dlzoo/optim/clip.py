"""Gradient clipping by global norm and by value, mirroring ``torch.nn.utils``.

Clipping by global norm (Pascanu, Mikolov, Bengio, "On the difficulty of training recurrent neural
networks", ICML 2013, arXiv 1211.5063): treat the gradients of all parameters as one long vector
``g = concat(g_1, ..., g_n)`` and rescale it when its p-norm exceeds ``max_norm``::

    total_norm = || ( ||g_1||_p, ..., ||g_n||_p ) ||_p          # = ||g||_p
    g_i       <- g_i * min(max_norm / (total_norm + 1e-6), 1)

The ``1e-6`` and the unconditional multiply by the clamped coefficient (no ``if``, so no host/device
sync) match torch, so results are bit-identical to ``torch.nn.utils.clip_grad_norm_`` on the default
path. Under ``dlzoo.reference_mode()`` the per-tensor norms are written out from their definition
(``(sum |g|^p)^(1/p)``, ``max |g|`` for ``p = inf``) instead of using ``torch._foreach_norm`` /
``torch.linalg.vector_norm``.

Functions: :func:`clip_grad_norm_`, :func:`clip_grad_value_`, :func:`get_total_norm`,
:func:`clip_grads_with_norm_`.
"""

from __future__ import annotations

import math
import types
import warnings
from collections.abc import Iterable

import torch
from torch import Tensor

from dlzoo.nn.mode import use_fused

__all__ = ["clip_grad_norm_", "clip_grad_value_", "get_total_norm", "clip_grads_with_norm_"]

TensorOrTensors = Tensor | Iterable[Tensor]

# Device types with foreach (multi-tensor) kernels; same list torch uses, plus CPU.
_FOREACH_DEVICE_TYPES = ("cpu", "cuda", "xpu", "mtia")


def _as_list(tensors: TensorOrTensors) -> list[Tensor]:
    if isinstance(tensors, Tensor):
        return [tensors]
    return list(tensors)


def _group_by_device_and_dtype(tensors: list[Tensor]) -> dict[tuple[torch.device, torch.dtype], list[Tensor]]:
    """Group tensors by ``(device, dtype)`` in order of first appearance (foreach kernels need this)."""
    groups: dict[tuple[torch.device, torch.dtype], list[Tensor]] = {}
    for t in tensors:
        groups.setdefault((t.device, t.dtype), []).append(t)
    return groups


def _use_foreach(tensors: list[Tensor], device: torch.device, foreach: bool | None) -> bool:
    """Whether to take the multi-tensor path for one device group (torch's rule)."""
    device_ok = device.type in _FOREACH_DEVICE_TYPES and not torch.jit.is_scripting()
    if foreach is None:
        # Tensor subclasses other than Parameter fall back to the per-tensor loop, as in torch.
        return device_ok and all(type(t) in (Tensor, torch.nn.Parameter) for t in tensors)
    if foreach and not device_ok:
        raise RuntimeError(
            f"clip_grad: foreach=True was passed, but {device.type} tensors have no foreach kernels"
        )
    return bool(foreach)


def _reference_norm(t: Tensor, p: float) -> Tensor:
    """``||t||_p`` written from its definition (the readable path under ``reference_mode``)."""
    a = t.abs()
    if p == math.inf:
        return a.amax()
    if p == -math.inf:
        return a.amin()
    if p == 0:
        return (a != 0).sum().to(t.dtype)
    return a.pow(p).sum().pow(1.0 / p)


@torch.no_grad()
def get_total_norm(
    tensors: TensorOrTensors,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """p-norm of ``tensors`` viewed as one concatenated vector (norm of the per-tensor norms).

    Args:
        tensors: a tensor or an iterable of tensors (typically gradients).
        norm_type: ``p``; ``float("inf")`` for the max-norm.
        error_if_nonfinite: raise ``RuntimeError`` if the result is nan or +-inf.
        foreach: ``None`` = multi-tensor kernels where the device has them, ``True`` = require them.

    Returns:
        0-dim tensor on the first tensor's device; ``tensor(0.)`` for an empty input.
    """
    tensors = _as_list(tensors)
    p = float(norm_type)
    if not tensors:
        return torch.tensor(0.0)
    first_device = tensors[0].device
    norms: list[Tensor] = []
    fused = use_fused()
    for (device, _), group in _group_by_device_and_dtype(tensors).items():
        if not fused:
            norms.extend(_reference_norm(t, p) for t in group)
        elif _use_foreach(group, device, foreach):
            norms.extend(torch._foreach_norm(group, p))
        else:
            norms.extend(torch.linalg.vector_norm(t, p) for t in group)
    stacked = torch.stack([n.to(first_device) for n in norms])  # (n_tensors,)
    total = torch.linalg.vector_norm(stacked, p) if fused else _reference_norm(stacked, p)
    if error_if_nonfinite and bool(torch.logical_or(total.isnan(), total.isinf())):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {p} of the gradients is non-finite ({total.item()}), "
            "so it cannot be clipped; pass error_if_nonfinite=False to scale by it anyway"
        )
    return total


@torch.no_grad()
def clip_grads_with_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    total_norm: Tensor,
    foreach: bool | None = None,
) -> None:
    """Scale gradients in place by ``min(max_norm / (total_norm + 1e-6), 1)`` given a precomputed norm."""
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    if not grads:
        return
    coef = torch.clamp(float(max_norm) / (total_norm + 1e-6), max=1.0)
    for (device, _), group in _group_by_device_and_dtype(grads).items():
        coef_d = coef.to(device)
        if use_fused() and _use_foreach(group, device, foreach):
            torch._foreach_mul_(group, coef_d)
        else:
            for g in group:
                g.mul_(coef_d)


@torch.no_grad()
def clip_grad_norm_(
    parameters: TensorOrTensors,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach: bool | None = None,
) -> Tensor:
    """Clip the global gradient norm of ``parameters`` in place; same contract as torch's.

    Args:
        parameters: a tensor or an iterable of tensors whose ``.grad`` is clipped (``None`` grads skipped).
        max_norm: largest allowed global norm.
        norm_type: ``p`` of the norm; ``float("inf")`` for the max-norm.
        error_if_nonfinite: raise ``RuntimeError`` when the global norm is nan/inf.
        foreach: use multi-tensor kernels (``None`` = where available).

    Returns:
        The global norm *before* clipping, a 0-dim tensor.
    """
    if isinstance(parameters, Tensor):
        params = [parameters]
    else:
        is_generator = isinstance(parameters, types.GeneratorType)
        params = list(parameters)  # a generator would be exhausted by the first pass
        if is_generator and not params:
            warnings.warn(
                "clip_grad_norm_: `parameters` is an empty generator, nothing is clipped", stacklevel=2
            )
    grads = [p.grad for p in params if p.grad is not None]
    total_norm = get_total_norm(grads, norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total_norm, foreach)
    return total_norm


@torch.no_grad()
def clip_grad_value_(parameters: TensorOrTensors, clip_value: float, foreach: bool | None = None) -> None:
    """Clamp every gradient element into ``[-clip_value, clip_value]`` in place."""
    c = float(clip_value)
    grads = [p.grad for p in _as_list(parameters) if p.grad is not None]
    for (device, _), group in _group_by_device_and_dtype(grads).items():
        if use_fused() and _use_foreach(group, device, foreach):
            torch._foreach_clamp_min_(group, -c)
            torch._foreach_clamp_max_(group, c)
        else:
            for g in group:
                # explicit form of clamp: min(max(g, -c), c)
                g.copy_(torch.minimum(torch.maximum(g, g.new_tensor(-c)), g.new_tensor(c)))
