"""Global Response Normalization — Woo, Debnath, Hu, Chen, Liu, Kweon, Xie, "ConvNeXt V2: Co-designing and
Scaling ConvNets with Masked Autoencoders", CVPR 2023, arXiv:2301.00808 (Sec. 3, Eq. 1-3).

For a feature map X of shape (H, W, C) per sample:

    G(X)_i = ||X_i||_2                      (L2 norm of channel i over all spatial positions)   Eq. 1
    N(X)_i = G(X)_i / (mean_j G(X)_j + eps)  (divisive normalization across channels)           Eq. 2
    Y_i    = gamma_i * (X_i * N(X)_i) + beta_i + X_i                                             Eq. 3

``gamma`` (``weight``) and ``beta`` (``bias``) are zeros(C) at init, so GRN starts as the identity.
Names and layout follow timm's ``GlobalResponseNorm``: ``channels_last=True`` takes ``(N, *spatial, C)``
(ConvNeXt-V2's MLP, after the permute), ``channels_last=False`` takes ``(N, C, *spatial)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .channel_affine import check_positive_int, upcast
from .factory import NORMS
from .mode import use_fused

__all__ = ["GlobalResponseNorm"]


class GlobalResponseNorm(nn.Module):
    """GRN: ``x + weight * (x * N(x)) + bias``, N the channel-normalized spatial L2 norm (module docstring).

    Shapes: ``(N, *spatial, C)`` if ``channels_last`` else ``(N, C, *spatial)``; output: the input's shape.
    """

    def __init__(
        self,
        dim: int,
        eps: float = 1e-6,
        channels_last: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.dim = check_positive_int("GlobalResponseNorm", "dim", dim)
        self.eps = eps
        self.channels_last = channels_last
        factory = {"device": device, "dtype": dtype}
        self.weight = nn.Parameter(torch.zeros(dim, **factory))
        self.bias = nn.Parameter(torch.zeros(dim, **factory))

    def forward(self, x: Tensor) -> Tensor:
        channel_dim = x.dim() - 1 if self.channels_last else 1
        if x.dim() < 3 or x.shape[channel_dim] != self.dim:
            layout = "(N, *spatial, C)" if self.channels_last else "(N, C, *spatial)"
            raise ValueError(
                f"GlobalResponseNorm: expected {layout} input with C={self.dim} and a spatial dim, "
                f"got shape {list(x.shape)}"
            )
        spatial = tuple(d for d in range(1, x.dim()) if d != channel_dim)
        # affine params broadcast along the channel dim: (C,) or (C, 1, ..., 1)
        shape = [1] * x.dim()
        shape[channel_dim] = self.dim
        gamma, beta = self.weight.view(shape), self.bias.view(shape)
        xf = upcast(x)  # float32 for half inputs: a float16 sum of squares / L2 norm overflows
        if use_fused():
            g = torch.linalg.vector_norm(xf, ord=2, dim=spatial, keepdim=True)  # (N, 1.., C) Eq. 1
            n = g / (g.mean(dim=channel_dim, keepdim=True) + self.eps)  # Eq. 2
            return (torch.addcmul(beta, gamma, xf * n) + xf).to(x.dtype)  # Eq. 3
        g = xf.pow(2).sum(dim=spatial, keepdim=True).sqrt()  # Eq. 1
        n = g / (g.mean(dim=channel_dim, keepdim=True) + self.eps)  # Eq. 2
        return (gamma * (xf * n) + beta + xf).to(x.dtype)  # Eq. 3

    def extra_repr(self) -> str:
        return f"{self.dim}, eps={self.eps}, channels_last={self.channels_last}"


def _grn(num_features: int, *, channels_first: bool = False, **kw) -> nn.Module:
    return GlobalResponseNorm(num_features, channels_last=not channels_first, **kw)


if "grn" not in NORMS:
    NORMS.add("grn", _grn, family="norm", paper="ConvNeXt V2: Co-designing and Scaling ConvNets with Masked "
              "Autoencoders", year=2023, arxiv="2301.00808")
