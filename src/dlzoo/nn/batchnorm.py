"""Batch normalization — Ioffe, Szegedy, "Batch Normalization: Accelerating Deep Network Training by
Reducing Internal Covariate Shift", ICML 2015, arXiv:1502.03167.

For an input with channel dim 1, statistics are taken per channel over every other dim (batch and
spatial), n = numel / C values per channel:

    y = (x - mu_B) / sqrt(var_B + eps) * weight + bias            (train: batch stats, biased var)
    running_mean <- (1 - m) * running_mean + m * mu_B
    running_var  <- (1 - m) * running_var  + m * var_B * n / (n - 1)   (unbiased, as torch)
    y = (x - running_mean) / sqrt(running_var + eps) * weight + bias  (eval)

``momentum=None`` makes m = 1 / num_batches_tracked, i.e. a cumulative moving average.

Mirrors ``torch.nn.BatchNorm1d/2d/3d`` (arguments, defaults, parameters ``weight``/``bias``, buffers
``running_mean``/``running_var``/``num_batches_tracked``, state_dict keys, train/eval behaviour).
By default the fused ``F.batch_norm`` kernel runs; ``dlzoo.reference_mode()`` runs the math above.

Shapes: BatchNorm1d ``(N, C)`` or ``(N, C, L)``; BatchNorm2d ``(N, C, H, W)``; BatchNorm3d
``(N, C, D, H, W)``; BatchNormChannelsLast ``(*, C)`` (token tensors, e.g. (B, N, C)). Output: input shape.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int, upcast
from .mode import use_fused

__all__ = ["BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "BatchNormChannelsLast"]


class _BatchNorm(nn.Module):
    """Shared implementation; subclasses only fix the accepted input ranks."""

    _version = 2
    _ranks: tuple[int, ...] = ()
    _layout = ""

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        factory = {"device": device, "dtype": dtype}
        num_features = check_positive_int(type(self).__name__, "num_features", num_features)
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        if affine:
            self.weight = nn.Parameter(torch.empty(num_features, **factory))
            self.bias = nn.Parameter(torch.empty(num_features, **factory))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked",
                torch.tensor(0, dtype=torch.long, device=device),
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        self.reset_parameters()

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            nn.init.ones_(self.weight)
            nn.init.zeros_(self.bias)

    def _check_input(self, x: Tensor) -> None:
        name = type(self).__name__
        if x.dim() not in self._ranks:
            raise ValueError(f"{name}: expected {self._layout} input, got shape {list(x.shape)}")
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{name}: expected {self.num_features} channels in dim 1, got shape {list(x.shape)}"
            )

    def _momentum_factor(self) -> float:
        """Advance ``num_batches_tracked`` (train mode) and return this step's averaging factor."""
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        return factor

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        factor = self._momentum_factor()
        # batch statistics in training, or always when there are no running buffers
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        # running buffers are updated only when training with track_running_stats
        update = self.training and self.track_running_stats
        if use_fused():
            return F.batch_norm(
                x,
                self.running_mean if not self.training or self.track_running_stats else None,
                self.running_var if not self.training or self.track_running_stats else None,
                self.weight, self.bias, use_batch_stats, factor, self.eps,
            )
        return self._reference(x, use_batch_stats, update, factor)

    def _reference(self, x: Tensor, use_batch_stats: bool, update: bool, factor: float) -> Tensor:
        dims = [0, *range(2, x.dim())]  # every dim except the channel dim 1
        view = (1, -1) + (1,) * (x.dim() - 2)  # (1, C, 1, ...)
        xf = upcast(x)  # float32 statistics for half inputs, as F.batch_norm
        if use_batch_stats:
            n = x.numel() // x.shape[1]
            if n <= 1:
                raise ValueError(
                    f"{type(self).__name__}: expected more than 1 value per channel when training, "
                    f"got input shape {list(x.shape)}"
                )
            mean = xf.mean(dim=dims)
            var = xf.var(dim=dims, unbiased=False)
            if update and self.running_mean is not None:
                with torch.no_grad():
                    self.running_mean.mul_(1 - factor).add_(mean.detach(), alpha=factor)
                    self.running_var.mul_(1 - factor).add_(var.detach() * (n / (n - 1)), alpha=factor)
        else:
            mean, var = upcast(self.running_mean), upcast(self.running_var)
        y = (xf - mean.view(view)) * torch.rsqrt(var.view(view) + self.eps)
        if self.weight is not None:
            y = y * self.weight.view(view) + self.bias.view(view)
        return y.to(x.dtype)

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys,
                              unexpected_keys, error_msgs) -> None:
        # checkpoints written before num_batches_tracked existed (version < 2): start it at 0, as torch
        version = local_metadata.get("version", None)
        key = prefix + "num_batches_tracked"
        if (version is None or version < 2) and self.track_running_stats and key not in state_dict:
            state_dict[key] = torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys,
                                      unexpected_keys, error_msgs)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm over ``(N, C)`` or ``(N, C, L)`` (mirrors ``torch.nn.BatchNorm1d``)."""

    _ranks = (2, 3)
    _layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch norm over ``(N, C, H, W)`` (mirrors ``torch.nn.BatchNorm2d``)."""

    _ranks = (4,)
    _layout = "(N, C, H, W)"


class BatchNorm3d(_BatchNorm):
    """Batch norm over ``(N, C, D, H, W)`` (mirrors ``torch.nn.BatchNorm3d``)."""

    _ranks = (5,)
    _layout = "(N, C, D, H, W)"


class BatchNormChannelsLast(_BatchNorm):
    """Batch norm for channels-last tensors ``(*, C)``, e.g. transformer tokens (B, N, C).

    Per-channel statistics over every leading dim; same parameters and buffers as ``BatchNorm1d``
    (its state_dict loads into this layer and back).
    """

    def _check_input(self, x: Tensor) -> None:
        if x.dim() < 2 or x.shape[-1] != self.num_features:
            raise ValueError(
                f"BatchNormChannelsLast: expected (*, {self.num_features}) input with at least 2 dims, "
                f"got shape {list(x.shape)}"
            )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        flat = x.reshape(-1, self.num_features)  # (prod(*), C): BatchNorm1d layout
        return super().forward(flat).reshape(x.shape)
