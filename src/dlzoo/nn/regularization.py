"""Stochastic regularizers: Dropout and DropPath (stochastic depth).

* Dropout — Srivastava, Hinton, Krizhevsky, Sutskever, Salakhutdinov, "Dropout: A Simple Way to Prevent
  Neural Networks from Overfitting", JMLR 2014 (inverted scaling as in torch):

      training: y = x * m / (1 - p),  m ~ Bernoulli(1 - p) element-wise;   eval: y = x

  Mirrors ``torch.nn.Dropout(p=0.5, inplace=False)``. Shapes: any -> same shape.

* DropPath — Huang, Sun, Liu, Sedra, Weinberger, "Deep Networks with Stochastic Depth", ECCV 2016,
  arXiv:1603.09382, in the per-sample form used by residual branches (timm's ``DropPath``):

      training: y_b = x_b * m_b / keep_prob,  m_b ~ Bernoulli(keep_prob) once per sample b;  eval: y = x

  Shapes: ``(B, *)`` -> same shape; the mask has shape ``(B, 1, ..., 1)``.

  The paper's linear decay rule over the L blocks of a network, ``p_l = l / (L - 1) * p_max`` for
  l = 0..L-1 (first block kept, last dropped with ``p_max``), is :func:`drop_path_rates`, the one schedule
  every model uses.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = ["Dropout", "DropPath", "drop_path", "drop_path_rates"]


def _check_p(layer: str, p: float) -> float:
    if not isinstance(p, (int, float)) or isinstance(p, bool) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{layer}: probability must be a number in [0, 1], got {p!r}")
    return float(p)


class Dropout(nn.Module):
    """Element-wise dropout with inverted scaling (mirrors ``torch.nn.Dropout``; see module docstring).

    The fused ``F.dropout`` kernel runs by default; under :func:`dlzoo.reference_mode` the explicit
    Bernoulli mask does (the two draw different random numbers, so they agree in distribution only).
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        self.p = _check_p("Dropout", p)
        self.inplace = inplace

    def forward(self, x: Tensor) -> Tensor:
        if not self.training or self.p == 0.0:
            return x
        if use_fused():
            return F.dropout(x, self.p, training=True, inplace=self.inplace)
        if self.p == 1.0:
            return x.mul_(0.0) if self.inplace else x * 0.0
        keep = 1.0 - self.p
        mask = torch.empty_like(x).bernoulli_(keep)  # m ~ Bernoulli(1 - p), x's shape
        scale = mask / keep
        return x.mul_(scale) if self.inplace else x * scale

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


def drop_path(
    x: Tensor, drop_prob: float = 0.0, training: bool = False, scale_by_keep: bool = True
) -> Tensor:
    """Per-sample stochastic depth: zero whole samples of a residual branch with probability ``drop_prob``."""
    if drop_prob == 0.0 or not training:
        return x
    keep_prob = 1.0 - drop_prob
    shape = (x.shape[0],) + (1,) * (x.dim() - 1)  # (B, 1, ..., 1): one draw per sample
    mask = x.new_empty(shape).bernoulli_(keep_prob)
    if keep_prob > 0.0 and scale_by_keep:
        mask = mask / keep_prob
    return x * mask


class DropPath(nn.Module):
    """Stochastic depth on a residual branch, per sample (timm's ``DropPath``; see module docstring)."""

    def __init__(self, drop_prob: float = 0.0, scale_by_keep: bool = True) -> None:
        super().__init__()
        self.drop_prob = _check_p("DropPath", drop_prob)
        self.scale_by_keep = scale_by_keep

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 1:
            raise ValueError(f"DropPath: expected input (B, *), got a 0-d tensor of shape {list(x.shape)}")
        return drop_path(x, self.drop_prob, self.training, self.scale_by_keep)

    def extra_repr(self) -> str:
        return f"drop_prob={self.drop_prob:.3f}"


def drop_path_rates(max_rate: float, depths: int | Sequence[int]) -> list[float] | list[list[float]]:
    """Stochastic-depth rates rising linearly from 0 to ``max_rate`` over all blocks (Huang et al. 2016).

    ``depths`` is the block count (returns one rate per block) or the per-stage block counts (returns
    the same flat schedule split into one list per stage, as hierarchical models need). Plain floats, so
    models build under ``torch.device("meta")``.

    >>> drop_path_rates(0.2, 3)
    [0.0, 0.1, 0.2]
    >>> drop_path_rates(0.2, [1, 2])
    [[0.0], [0.1, 0.2]]
    """
    _check_p("drop_path_rates", max_rate)
    total = depths if isinstance(depths, int) else sum(depths)
    flat = [max_rate * k / (total - 1) if total > 1 else 0.0 for k in range(total)]
    if isinstance(depths, int):
        return flat
    out, start = [], 0
    for depth in depths:
        out.append(flat[start:start + depth])
        start += depth
    return out
