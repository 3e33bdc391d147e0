"""Recurrent attention model (RAM): glimpses, a core RNN, and a location policy trained with REINFORCE.

Mnih, Heess, Graves, Kavukcuoglu, "Recurrent Models of Visual Attention", NeurIPS 2014, arXiv:1406.6247.

Per step t = 1..T (Sec. 3):

* glimpse sensor ``rho(x, l_{t-1})``: ``num_scales`` square patches centred at ``l`` in [-1, 1]^2, the i-th
  spanning ``patch_size * scale^i`` pixels, each resampled to ``patch_size^2`` (bilinear, via
  :func:`dlzoo.nn.spatial_transformer.affine_grid` / ``grid_sample``, zero padding outside the image);
* glimpse network ``g_t = ReLU(Linear(h_g) + Linear(h_l))``, ``h_g = ReLU(Linear(rho))``,
  ``h_l = ReLU(Linear(l))``;
* core network ``h_t = ReLU(W_h h_{t-1} + W_g g_t + b)`` (:class:`dlzoo.nn.RNNCell`, rectifier units);
* location network ``l_t ~ N(tanh(Linear(h_t)), loc_std^2 I)`` (fixed variance; the sample is not
  differentiated); baseline ``b_t = Linear(h_t)`` (its input detached, as in the authors' setup);
* action network ``logits = Linear(h_T)``.

Hybrid loss (Sec. 4): reward ``R = 1[argmax logits == y]`` at the end of the episode;
``L = CE(logits, y) - 1/N sum_n sum_t log pi(l_t^n | h_t^n) (R^n - b_t^n) + 1/N sum_n sum_t (R^n - b_t^n)^2``
(the REINFORCE estimator of eq. 2 with a baseline, the baseline trained by regression on R).

In eval mode the policy's mean is used (deterministic). Shapes: input (N, C, H, W); logits (N, classes);
``forward_features`` returns ``h_T`` (N, hidden_size). In training mode ``forward(x)`` returns the episode's
:class:`RAMTrace` (logits first, ``.loss(criterion, y)`` the hybrid loss with ``criterion`` in place of CE),
the auxiliary-output contract of :func:`dlzoo.models._base.training_loss`, so ``dlzoo train`` drives it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ...nn import Linear, ReLU, RNNCell, create_fc
from ...nn.channel_affine import check_positive_int
from ...nn.spatial_transformer import affine_grid, grid_sample
from .. import register_model
from .._base import ClassifierMixin
from .._cnn import check_image_input

__all__ = ["RecurrentAttention", "GlimpseSensor", "RAMTrace", "reinforce_loss", "recurrent_attention"]


def reinforce_loss(log_probs: Tensor, rewards: Tensor, baselines: Tensor | None = None) -> Tensor:
    """Surrogate whose gradient is the REINFORCE estimate of ``-grad E[R]`` (Williams 1992; RAM eq. 2):
    ``-1/N sum_n sum_t log pi_t^n (R^n - b_t^n)``, with ``R - b`` a constant (detached).

    ``log_probs`` (N, T) or (N,), ``rewards`` (N,), ``baselines`` like ``log_probs`` or ``None``."""
    advantage = rewards.detach().view(-1, *([1] * (log_probs.dim() - 1))).expand_as(log_probs)
    if baselines is not None:
        advantage = advantage - baselines.detach()
    return -(log_probs * advantage).reshape(log_probs.shape[0], -1).sum(-1).mean()


class GlimpseSensor(nn.Module):
    """``rho(x, l)``: (N, C, H, W), locations (N, 2) as (x, y) in [-1, 1] -> (N, num_scales * C, g, g)."""

    def __init__(self, patch_size: int = 4, num_scales: int = 2, scale: float = 2.0) -> None:
        super().__init__()
        self.patch_size = check_positive_int("GlimpseSensor", "patch_size", patch_size)
        self.num_scales = check_positive_int("GlimpseSensor", "num_scales", num_scales)
        self.scale = scale

    def forward(self, x: Tensor, loc: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = self.patch_size
        patches = []
        for i in range(self.num_scales):
            span = g * self.scale**i  # pixels covered by this patch
            theta = loc.new_zeros(n, 2, 3)
            theta[:, 0, 0], theta[:, 1, 1] = span / w, span / h  # the patch's half-width in [-1, 1] units
            theta[:, :, 2] = loc  # its centre
            grid = affine_grid(theta, (n, c, g, g), align_corners=False)  # (N, g, g, 2)
            patches.append(grid_sample(x, grid, padding_mode="zeros", align_corners=False))  # (N, C, g, g)
        return torch.cat(patches, dim=1)


class RAMTrace(NamedTuple):
    """One episode: logits (N, K), log pi of the sampled locations (N, T), baselines (N, T), locations
    (N, T, 2) (the T-th location is sampled but not looked at, as in the paper's training).

    What ``forward(x)`` returns in training mode (the GoogLeNet / DiffPool output contract): the logits
    lead, and :meth:`loss` is the hybrid objective, so the trainer's classification task trains it."""

    logits: Tensor
    log_probs: Tensor
    baselines: Tensor
    locations: Tensor

    def loss(self, criterion: Callable[[Tensor, Tensor], Tensor], target: Tensor) -> Tensor:
        """``criterion(logits, target) + REINFORCE + baseline MSE`` (Sec. 4); reward ``R = 1[argmax logits
        == y]``, ``y`` the hard labels (the argmax of soft targets (N, K))."""
        y = target.argmax(-1) if target.dim() == 2 else target
        reward = (self.logits.detach().argmax(-1) == y).to(self.logits.dtype)  # (N,)
        mse = (self.baselines - reward[:, None]).square().sum(-1).mean()
        return criterion(self.logits, target) + reinforce_loss(self.log_probs, reward, self.baselines) + mse


class RecurrentAttention(ClassifierMixin, nn.Module):
    """RAM for small images; ``loss(x, y)`` is the hybrid objective, ``forward(x)`` the logits (in training
    mode the :class:`RAMTrace`, whose ``loss(criterion, y)`` is that objective with ``criterion`` for CE)."""

    classifier_name = "fc"

    def __init__(self, num_classes: int = 10, in_chans: int = 1, img_size: int = 8, num_glimpses: int = 4,
                 patch_size: int = 4, num_scales: int = 2, scale: float = 2.0, glimpse_hidden: int = 128,
                 loc_hidden: int = 128, hidden_size: int = 256, loc_std: float = 0.15) -> None:
        super().__init__()
        self.num_classes, self.in_chans, self.img_size = num_classes, in_chans, img_size
        self.num_glimpses = check_positive_int("RecurrentAttention", "num_glimpses", num_glimpses)
        self.loc_std = loc_std
        self.sensor = GlimpseSensor(patch_size, num_scales, scale)
        self.glimpse_fc = Linear(num_scales * in_chans * patch_size**2, glimpse_hidden)  # h_g
        self.loc_fc = Linear(2, loc_hidden)  # h_l
        self.glimpse_out = Linear(glimpse_hidden, hidden_size)
        self.loc_out = Linear(loc_hidden, hidden_size)
        self.act = ReLU()
        self.core = RNNCell(hidden_size, hidden_size, nonlinearity="relu")
        self.locator = Linear(hidden_size, 2)
        self.baseline = Linear(hidden_size, 1)
        self.num_features = hidden_size
        self.fc = create_fc(hidden_size, num_classes)

    def glimpse(self, x: Tensor, loc: Tensor) -> Tensor:
        """Glimpse network ``g_t`` (N, hidden_size)."""
        h_g = self.act(self.glimpse_fc(self.sensor(x, loc).flatten(1)))
        h_l = self.act(self.loc_fc(loc))
        return self.act(self.glimpse_out(h_g) + self.loc_out(h_l))

    def episode(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, RAMTrace]:
        """Run T glimpses; returns ``h_T`` and the trace (logits filled from ``fc``)."""
        check_image_input("RecurrentAttention", x, self.in_chans)
        n = x.shape[0]
        h = x.new_zeros(n, self.num_features)
        loc = x.new_zeros(n, 2)  # l_0: the centre
        log_probs, baselines, locations = [], [], []
        for _ in range(self.num_glimpses):
            h = self.core(self.glimpse(x, loc), h)  # (N, hidden)
            mean = torch.tanh(self.locator(h))  # (N, 2)
            if self.training:
                noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
                loc = (mean + self.loc_std * noise).detach().clamp(-1, 1)
            else:
                loc = mean.detach()
            log_norm = math.log(self.loc_std * math.sqrt(2 * math.pi))
            log_pi = -0.5 * ((loc - mean) / self.loc_std).square() - log_norm  # log N(l; mean, std^2 I)
            log_probs.append(log_pi.sum(-1))
            baselines.append(self.baseline(h.detach()).squeeze(-1))
            locations.append(loc)
        trace = RAMTrace(self.forward_head(h), torch.stack(log_probs, 1), torch.stack(baselines, 1),
                         torch.stack(locations, 1))
        return h, trace

    def forward_features(self, x: Tensor) -> Tensor:
        """``h_T`` (N, hidden_size) after the glimpse sequence."""
        return self.episode(x)[0]

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        return x if pre_logits else self.fc(x)

    def loss(self, x: Tensor, y: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Hybrid loss: cross-entropy + REINFORCE (reward: correct class) + baseline MSE (Sec. 4)."""
        if self.num_classes == 0:
            raise ValueError("RecurrentAttention.loss: needs a classifier (num_classes > 0)")
        return self.episode(x, generator)[1].loss(F.cross_entropy, y)

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor | RAMTrace:
        """Logits (N, classes) in eval mode, the episode's :class:`RAMTrace` (logits first) in training
        mode; with labels ``y`` (N,), the hybrid training loss (a scalar)."""
        if y is not None:
            return self.loss(x, y)
        return self.episode(x)[1] if self.training else self.forward_head(self.forward_features(x))


@register_model(family="recurrent_attention", paper="Recurrent Models of Visual Attention", year=2014,
                arxiv="1406.6247", input_size=(1, 8, 8), test_input_size=(1, 8, 8),
                task="classification-reinforce", reference_params=205_581,
                source="closed form (g=4, 2 scales, C=1, 128/128/256 widths): (32+1)128 + (2+1)128 "
                       "+ 2(128+1)256 + 2(256*256 + 256) + (256+1)2 + (256+1)1 + (256+1)10")
def recurrent_attention(**kwargs: Any) -> RecurrentAttention:
    """RAM on the 8x8 digits: 4 glimpses of 4x4 patches at 2 scales (4 and 8 pixels), 256 ReLU core units."""
    return RecurrentAttention(**kwargs)
