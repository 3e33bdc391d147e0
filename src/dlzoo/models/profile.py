"""Multiply-accumulate (MAC) count of a model's forward pass, via forward hooks on conv and linear layers.

Per sample, for each layer (the convention of torchvision's "GFLOPS" column and fvcore):

* Conv / ConvTranspose: ``MACs = out_elements * (C_in / groups) * prod(kernel)``, where for the
  transposed conv ``out_elements`` is replaced by the input elements times ``C_out / groups``
  (each input element is multiplied into one kernel slice per output channel of its group).
* Linear: ``MACs = prod(out.shape[:-1]) * in_features * out_features``.
* Complex conv / linear (:mod:`dlzoo.nn.complex`): the same count of complex multiply-accumulates
  times 4 real MACs each (``(a + ib)(c + id)`` takes four real products), i.e. what the real-pair
  block weight ``[[A, -B], [B, A]]`` costs.

Norms, activations, pooling, FFT filtering and attention matmuls outside Linear layers are not counted.
The pass runs on the ``meta`` device when the model allows it (no memory, no compute).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from ..nn import Linear
from ..nn.complex import ComplexConv2d, ComplexLinear
from ..nn.conv import _ConvNd

__all__ = ["count_macs", "macs_at_input_size", "format_macs"]

_CONV_TYPES = (_ConvNd, nn.modules.conv._ConvNd)
_LINEAR_TYPES = (Linear, nn.Linear)
_COMPLEX_TYPES = (ComplexConv2d, ComplexLinear)


def _layer_macs(module: nn.Module, inputs: tuple, output) -> int:
    if isinstance(output, (tuple, list)):
        output = output[0]
    if isinstance(module, _CONV_TYPES):
        kernel = math.prod(module.kernel_size)
        if module.transposed:
            x = inputs[0]
            return x.numel() * (module.out_channels // module.groups) * kernel
        return output.numel() * (module.in_channels // module.groups) * kernel
    if isinstance(module, _LINEAR_TYPES):
        return (output.numel() // module.out_features) * module.in_features * module.out_features
    if isinstance(module, ComplexConv2d):
        return 4 * output.numel() * module.in_channels * module.kernel_size**2
    if isinstance(module, ComplexLinear):
        return 4 * (output.numel() // module.out_features) * module.in_features * module.out_features
    return 0


def count_macs(model: nn.Module, input_size: Sequence[int], batch_size: int = 1) -> int:
    """MACs of one forward pass of ``model`` on a ``(batch_size, *input_size)`` input, per sample.

    Args:
        model: any module; conv (ours and torch's) and linear layers are counted.
        input_size: ``(C, H, W)`` (or any per-sample shape).
    Returns:
        total MACs divided by ``batch_size`` (an int).
    """
    total = [0]

    def hook(module, inputs, output):
        total[0] += _layer_macs(module, inputs, output)

    counted = _CONV_TYPES + _LINEAR_TYPES + _COMPLEX_TYPES
    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, counted)]
    was_training = model.training
    model.eval()
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        with torch.no_grad():
            model(torch.zeros(batch_size, *input_size, device=device, dtype=dtype))
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    return total[0] // batch_size


def macs_at_input_size(name: str, input_size: Sequence[int]) -> int | None:
    """MACs per sample of registered model ``name`` at ``input_size`` (its card's default), built on the
    meta device; None where a float dummy input does not apply (e.g. token-id or graph models)."""
    from . import create_model

    try:
        with torch.device("meta"):
            return count_macs(create_model(name), input_size)
    except Exception:
        return None


def format_macs(macs: int) -> str:
    """``"4.09 G"`` from 1e8 MACs up, ``"0.56 M"`` from 1e5, the exact count (``"1,024"``) below."""
    if macs >= 1e8:
        return f"{macs / 1e9:.2f} G"
    return f"{macs / 1e6:.2f} M" if macs >= 1e5 else f"{macs:,}"
