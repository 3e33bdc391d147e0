"""Group, instance and local-response normalization (channels-first), mirroring ``torch.nn``.

* GroupNorm — Wu, He, "Group Normalization", ECCV 2018, arXiv:1803.08494. Channels split into G groups;
  per sample and group, mean and biased variance over (C/G, *spatial):
  y = (x - mu_{n,g}) / sqrt(var_{n,g} + eps) * weight_c + bias_c.
* InstanceNorm2d — Ulyanov, Vedaldi, Lempitsky, "Instance Normalization: The Missing Ingredient for Fast
  Stylization", 2016, arXiv:1607.08022. Per sample and channel, statistics over (H, W); optional running
  stats (the batch mean of per-instance statistics, unbiased variance), ``affine=False`` by default.
* LocalResponseNorm — Krizhevsky, Sutskever, Hinton, "ImageNet Classification with Deep Convolutional
  Neural Networks", NeurIPS 2012, section 3.3:
  b_c = a_c / (k + alpha / n * sum_{c' in [c - n//2, c + (n-1)//2]} a_{c'}^2)^beta (zero-padded window,
  torch's convention of dividing alpha by the window size n).

Shapes: GroupNorm ``(N, C, *)``; GroupNormChannelsLast ``(N, *, C)``; InstanceNorm2d ``(N, C, H, W)`` or
``(C, H, W)``; LocalResponseNorm ``(N, C, *)`` with at least 3 dims. Output: input shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .batchnorm import _BatchNorm
from .channel_affine import check_positive_int, register_affine, upcast
from .mode import use_fused

__all__ = ["GroupNorm", "GroupNormChannelsLast", "InstanceNorm2d", "LocalResponseNorm"]


class GroupNorm(nn.Module):
    """Group normalization over ``(N, C, *)`` (mirrors ``torch.nn.GroupNorm``)."""

    def __init__(
        self,
        num_groups: int,
        num_channels: int,
        eps: float = 1e-5,
        affine: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        num_groups = check_positive_int(name, "num_groups", num_groups)
        num_channels = check_positive_int(name, "num_channels", num_channels)
        if num_channels % num_groups != 0:
            raise ValueError(
                f"{name}: num_channels ({num_channels}) must be divisible by num_groups ({num_groups})"
            )
        self.num_groups = num_groups
        self.num_channels = num_channels
        self.eps = eps
        self.affine = affine
        register_affine(self, num_channels, affine, device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def _check_input(self, x: Tensor, channel_dim: int) -> None:
        if x.dim() < 2 or x.shape[channel_dim] != self.num_channels:
            layout = "(N, C, *)" if channel_dim == 1 else "(N, *, C)"
            raise ValueError(
                f"{type(self).__name__}: expected {layout} input with C={self.num_channels}, "
                f"got shape {list(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, 1)
        if use_fused():
            return F.group_norm(x, self.num_groups, self.weight, self.bias, self.eps)
        n = x.shape[0]
        g = upcast(x).reshape(n, self.num_groups, -1)  # (N, G, C/G * prod(spatial)); float32 for half inputs
        mean = g.mean(dim=-1, keepdim=True)
        var = g.var(dim=-1, unbiased=False, keepdim=True)
        y = ((g - mean) * torch.rsqrt(var + self.eps)).reshape(x.shape)  # (N, C, *)
        if self.weight is not None:
            view = (1, -1) + (1,) * (x.dim() - 2)  # (1, C, 1, ...)
            y = y * self.weight.view(view) + self.bias.view(view)
        return y.to(x.dtype)

    def extra_repr(self) -> str:
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class GroupNormChannelsLast(GroupNorm):
    """GroupNorm for channels-last tensors ``(N, *, C)`` such as tokens (B, N, C).

    Same math and state_dict as :class:`GroupNorm` applied to the input moved to channels-first.
    """

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x, -1)
        y = super().forward(x.movedim(-1, 1))  # (N, C, *)
        return y.movedim(1, -1)  # (N, *, C)


class InstanceNorm2d(_BatchNorm):
    """Instance normalization over ``(N, C, H, W)`` or unbatched ``(C, H, W)`` (mirrors
    ``torch.nn.InstanceNorm2d``; ``affine`` and ``track_running_stats`` default to False)."""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = False,
        track_running_stats: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, device, dtype)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() not in (3, 4):
            raise ValueError(f"InstanceNorm2d: expected (N, C, H, W) or (C, H, W) input, got {list(x.shape)}")
        if x.dim() == 3:
            return self.forward(x.unsqueeze(0)).squeeze(0)  # unbatched (C, H, W)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"InstanceNorm2d: expected {self.num_features} channels in dim 1, got shape {list(x.shape)}"
            )
        use_input_stats = self.training or not self.track_running_stats
        momentum = self.momentum if self.momentum is not None else 0.0  # torch: None freezes the stats
        if use_fused():
            return F.instance_norm(x, self.running_mean, self.running_var, self.weight, self.bias,
                                   use_input_stats, momentum, self.eps)
        n, c = x.shape[:2]
        xf = upcast(x)  # float32 statistics for half inputs, as F.instance_norm
        if use_input_stats:
            flat = xf.reshape(n, c, -1)  # (N, C, H*W)
            m = flat.shape[-1]
            if m <= 1:
                raise ValueError(
                    f"InstanceNorm2d: expected more than 1 spatial element when training, got {list(x.shape)}"
                )
            mean = flat.mean(dim=-1)  # (N, C)
            var = flat.var(dim=-1, unbiased=False)  # (N, C)
            if self.running_mean is not None:
                with torch.no_grad():
                    self.running_mean.mul_(1 - momentum).add_(mean.detach().mean(0), alpha=momentum)
                    unbiased = var.detach() * (m / (m - 1))
                    self.running_var.mul_(1 - momentum).add_(unbiased.mean(0), alpha=momentum)
        else:
            mean = upcast(self.running_mean).expand(n, c)
            var = upcast(self.running_var).expand(n, c)
        y = (xf - mean[..., None, None]) * torch.rsqrt(var[..., None, None] + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(1, -1, 1, 1) + self.bias.view(1, -1, 1, 1)
        return y.to(x.dtype)


class LocalResponseNorm(nn.Module):
    """Local response normalization across channels (mirrors ``torch.nn.LocalResponseNorm``)."""

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = check_positive_int("LocalResponseNorm", "size", size)
        self.alpha = alpha
        self.beta = beta
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() < 3:
            raise ValueError(
                f"LocalResponseNorm: expected (N, C, *) input with >= 3 dims, got {list(x.shape)}"
            )
        if use_fused():
            return F.local_response_norm(x, self.size, self.alpha, self.beta, self.k)
        sq = (x * x).movedim(1, -1)  # (N, *, C)
        sq = F.pad(sq, (self.size // 2, (self.size - 1) // 2))  # zero-pad the channel window
        window_sum = sq.unfold(-1, self.size, 1).sum(-1).movedim(-1, 1)  # (N, C, *)
        return x / (self.k + self.alpha / self.size * window_sum).pow(self.beta)

    def extra_repr(self) -> str:
        return f"{self.size}, alpha={self.alpha}, beta={self.beta}, k={self.k}"
