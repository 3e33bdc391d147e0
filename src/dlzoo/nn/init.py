"""Initialisers that torch.nn.init does not have.

* :func:`orthonormal_` -- rows (or columns, whichever are fewer) orthonormal: ``W W^T = I`` for a wide
  ``(out, fan_in)`` weight, ``W^T W = I`` for a tall one; the dl_techniques ``OrthonormalInitializer``
  (Saxe, McClelland, Ganguli, "Exact solutions to the nonlinear dynamics of learning in deep linear neural
  networks", ICLR 2014, arXiv:1312.6120, without torch's ``gain``): ``Q`` of the QR decomposition of a
  Gaussian matrix, signs fixed by ``diag(R)`` so the draw is Haar-distributed. Conv weights are viewed as
  ``(out, in * prod(kernel))``.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["orthonormal_"]


@torch.no_grad()
def orthonormal_(tensor: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Fill ``tensor`` (>= 2 dims) in place with an orthonormal matrix (see module docstring)."""
    if tensor.dim() < 2:
        raise ValueError(f"orthonormal_: expected a tensor with >= 2 dims, got shape {list(tensor.shape)}")
    rows, cols = tensor.shape[0], tensor[0].numel()
    a = torch.randn(max(rows, cols), min(rows, cols), generator=generator, dtype=torch.float64)
    q, r = torch.linalg.qr(a)  # (max, min), orthonormal columns
    q = q * torch.sign(torch.diagonal(r))  # Haar measure (Mezzadri 2007)
    w = q if rows >= cols else q.T  # (rows, cols)
    tensor.copy_(w.reshape(tensor.shape).to(tensor.dtype))
    return tensor
