"""Affine layers, mirroring ``torch.nn.Linear`` and ``torch.nn.Identity``.

Linear (the fully connected layer of the perceptron / MLP literature):

    y = x W^T + b,    W: (out_features, in_features),  b: (out_features,)

Shapes: input ``(*, in_features)`` -> output ``(*, out_features)``.

Initialisation is torch's: ``kaiming_uniform_(W, a=sqrt(5))``, which works out to
W ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), and b ~ U(-1/sqrt(fan_in), 1/sqrt(fan_in)), drawn in that order
from the global generator, so ``torch.manual_seed(s)`` gives bit-identical weights to ``torch.nn.Linear``.
By default the fused ``F.linear`` kernel runs; under :func:`dlzoo.reference_mode` the explicit
``x @ W.T + b`` does.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = ["Linear", "Identity"]


class Identity(nn.Module):
    """Returns its input; accepts and ignores any constructor arguments (mirrors ``torch.nn.Identity``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: Tensor) -> Tensor:
        return x


class Linear(nn.Module):
    """Fully connected layer ``y = x W^T + b`` (mirrors ``torch.nn.Linear``; see module docstring)."""

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.in_features = in_features
        self.out_features = out_features
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.empty((out_features, in_features), **factory))
        if bias:
            self.bias = nn.Parameter(torch.empty(out_features, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """torch's default: kaiming_uniform(a=sqrt(5)) on W, U(+-1/sqrt(fan_in)) on b.

        kaiming_uniform bound = gain * sqrt(3 / fan_in) with gain = sqrt(2 / (1 + a^2)) = sqrt(1/3),
        i.e. bound = 1 / sqrt(fan_in): the same bound as the bias.
        """
        fan_in = self.in_features
        with torch.no_grad():
            if self.weight.numel() > 0:  # torch skips init (and the RNG draw) for empty weights
                a = math.sqrt(5)
                gain = math.sqrt(2.0 / (1 + a**2))  # leaky_relu gain with negative slope a
                w_bound = math.sqrt(3.0) * (gain / math.sqrt(fan_in))  # same float ops as torch
                self.weight.uniform_(-w_bound, w_bound)
            if self.bias is not None:
                b_bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
                self.bias.uniform_(-b_bound, b_bound)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear: expected input (*, {self.in_features}), got shape {list(x.shape)}"
            )
        if use_fused():
            return F.linear(x, self.weight, self.bias)
        y = x @ self.weight.t()  # (*, in) @ (in, out) -> (*, out)
        if self.bias is not None:
            y = y + self.bias
        return y

    def extra_repr(self) -> str:
        has_bias = self.bias is not None
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={has_bias}"
