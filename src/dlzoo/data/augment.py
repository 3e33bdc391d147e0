"""Batch augmentation in plain torch: random crop with padding, horizontal flip, Mixup and CutMix.

Everything acts on a whole batch at once (no per-sample Python loop) and draws from torch's global
generator, which training checkpoints save and restore, so augmented runs still resume bit for bit.

- Mixup — Zhang, Cisse, Dauphin, Lopez-Paz, "mixup: Beyond Empirical Risk Minimization", ICLR 2018,
  arXiv:1710.09412: ``lam ~ Beta(a, a)``, ``x~ = lam x_i + (1 - lam) x_j``, ``y~ = lam y_i + (1 - lam) y_j``.
- CutMix — Yun et al., "CutMix: Regularization Strategy to Train Strong Classifiers with Localizable
  Features", ICCV 2019, arXiv:1905.04899: ``lam ~ Beta(a, a)``; a box ``r_w = W sqrt(1 - lam)``,
  ``r_h = H sqrt(1 - lam)`` centred uniformly (clipped at the border) is pasted from ``x_j``;
  the label weight is the kept area, ``lam = 1 - (box area) / (H W)``.

The partner ``j`` of sample ``i`` is the batch flipped along dim 0 (timm's choice): shapes (B, C, H, W),
targets (B, K) probabilities.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["one_hot_smooth", "mixup", "cutmix", "cutmix_box", "random_crop", "random_hflip", "BatchAugment"]


def one_hot_smooth(y: Tensor, num_classes: int, smoothing: float = 0.0) -> Tensor:
    """(B,) labels -> (B, K) targets ``(1 - s) onehot + s / K`` (label smoothing, Szegedy et al. 2016)."""
    return F.one_hot(y, num_classes).float() * (1.0 - smoothing) + smoothing / num_classes


def _beta(alpha: float) -> float:
    return float(torch.distributions.Beta(torch.tensor(float(alpha)), torch.tensor(float(alpha))).sample())


def mixup(x: Tensor, target: Tensor, lam: float) -> tuple[Tensor, Tensor]:
    """``lam x + (1 - lam) x.flip(0)`` and the same mix of the (B, K) targets."""
    return lam * x + (1.0 - lam) * x.flip(0), lam * target + (1.0 - lam) * target.flip(0)


def cutmix_box(height: int, width: int, lam: float, cy: int, cx: int) -> tuple[int, int, int, int]:
    """The clipped box (y0, y1, x0, x1) of side ``sqrt(1 - lam)`` times the image, centred at (cy, cx)."""
    cut = (1.0 - lam) ** 0.5
    rh, rw = int(height * cut), int(width * cut)
    y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, height)
    x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, width)
    return y0, y1, x0, x1


def cutmix(x: Tensor, target: Tensor, lam: float, cy: int, cx: int) -> tuple[Tensor, Tensor, float]:
    """Paste the box of ``x.flip(0)`` into ``x``; returns images, targets and the area-corrected lam."""
    if x.dim() != 4:
        raise ValueError(f"cutmix: expected images (B, C, H, W), got shape {tuple(x.shape)}")
    h, w = x.shape[-2:]
    y0, y1, x0, x1 = cutmix_box(h, w, lam, cy, cx)
    out = x.clone()
    out[:, :, y0:y1, x0:x1] = x.flip(0)[:, :, y0:y1, x0:x1]
    lam = 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
    return out, lam * target + (1.0 - lam) * target.flip(0), lam


def random_hflip(x: Tensor, p: float = 0.5) -> Tensor:
    """Flip each image of (B, C, H, W) left-right with probability ``p``."""
    flip = torch.rand(x.shape[0], device=x.device) < p  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def random_crop(x: Tensor, padding: int) -> Tensor:
    """Zero-pad (B, C, H, W) by ``padding`` and take one random H x W crop per image (one gather)."""
    if padding <= 0:
        return x
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H + 2p, W + 2p)
    oy = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    ox = torch.randint(0, 2 * padding + 1, (b,), device=x.device)
    rows = (oy.view(b, 1) + torch.arange(h, device=x.device)).view(b, 1, h, 1)  # (B, 1, H, 1)
    cols = (ox.view(b, 1) + torch.arange(w, device=x.device)).view(b, 1, 1, w)  # (B, 1, 1, W)
    bi = torch.arange(b, device=x.device).view(b, 1, 1, 1)
    ci = torch.arange(x.shape[1], device=x.device).view(1, -1, 1, 1)
    return padded[bi, ci, rows, cols]  # (B, C, H, W)


@dataclass
class BatchAugment:
    """Crop/flip, then (with probability ``prob``) Mixup or CutMix, for one training batch.

    With both alphas > 0, CutMix is chosen with probability ``switch_prob`` (timm's convention).
    ``__call__`` returns ``(x, target)`` where ``target`` is (B, K) probabilities when mixing or label
    smoothing is active and the (B,) labels otherwise.
    """

    num_classes: int
    mixup_alpha: float = 0.0
    cutmix_alpha: float = 0.0
    prob: float = 1.0
    switch_prob: float = 0.5
    label_smoothing: float = 0.0
    hflip: float = 0.0
    crop_padding: int = 0

    @property
    def mixes(self) -> bool:
        return self.mixup_alpha > 0 or self.cutmix_alpha > 0

    def __call__(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        if self.crop_padding:
            x = random_crop(x, self.crop_padding)
        if self.hflip:
            x = random_hflip(x, self.hflip)
        if not self.mixes:
            return x, y
        target = one_hot_smooth(y, self.num_classes, self.label_smoothing)
        if float(torch.rand(())) >= self.prob:
            return x, target
        only_cutmix = self.mixup_alpha <= 0
        use_cutmix = self.cutmix_alpha > 0 and (only_cutmix or float(torch.rand(())) < self.switch_prob)
        if use_cutmix:
            lam = _beta(self.cutmix_alpha)
            h, w = x.shape[-2:]
            cy, cx = int(torch.randint(0, h, ())), int(torch.randint(0, w, ()))
            x, target, _ = cutmix(x, target, lam, cy, cx)
            return x, target
        return mixup(x, target, _beta(self.mixup_alpha))
