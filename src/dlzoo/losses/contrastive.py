"""CLIP's symmetric contrastive (InfoNCE) loss with a learnable temperature.

Radford et al., "Learning Transferable Visual Models From Natural Language Supervision" (CLIP), ICML 2021,
arXiv 2103.00020, Fig. 3 pseudo-code. With L2-normalised embeddings ``I_e`` (image) and ``T_e`` (text),
``(N, D)`` each, where row ``i`` of both is a matching pair:

    logits = exp(t) * I_e @ T_e^T                     # (N, N), t = logit_scale (a learnable log-scale)
    loss   = (CE(logits, arange(N)) + CE(logits^T, arange(N))) / 2

``t`` is initialised to ``log(1 / 0.07)`` and the scale ``exp(t)`` is clipped at 100 (paper Sec. 2.5) so
training cannot collapse the temperature. InfoNCE: van den Oord, Li, Vinyals, "Representation Learning
with Contrastive Predictive Coding", 2018, arXiv 1807.03748.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from .classification import cross_entropy
from .factory import register_loss

__all__ = ["clip_contrastive_loss", "ClipLoss"]


def _l2_normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    return x / x.norm(dim=-1, keepdim=True).clamp_min(eps)


def clip_contrastive_loss(image_embeds: Tensor, text_embeds: Tensor, logit_scale: Tensor | float,
                          normalize: bool = True) -> Tensor:
    """Symmetric InfoNCE over the ``N x N`` similarity matrix; ``logit_scale`` is the *log* of the scale."""
    if image_embeds.dim() != 2 or image_embeds.shape != text_embeds.shape:
        raise ValueError("clip_contrastive_loss: expected image and text embeddings of the same shape "
                         f"(N, D), got {list(image_embeds.shape)} and {list(text_embeds.shape)}")
    if normalize:
        image_embeds, text_embeds = _l2_normalize(image_embeds), _l2_normalize(text_embeds)
    scale = logit_scale.exp() if isinstance(logit_scale, Tensor) else math.exp(logit_scale)
    logits_per_image = scale * image_embeds @ text_embeds.t()  # (N_img, N_txt)
    labels = torch.arange(image_embeds.shape[0], device=image_embeds.device)
    return 0.5 * (cross_entropy(logits_per_image, labels) + cross_entropy(logits_per_image.t(), labels))


@register_loss("clip", paper="Learning Transferable Visual Models From Natural Language Supervision",
               year=2021, arxiv="2103.00020")
class ClipLoss(nn.Module):
    """CLIP loss owning the learnable ``logit_scale`` (add this module's parameters to the optimizer)."""

    def __init__(self, init_temperature: float = 0.07, max_scale: float = 100.0, learnable: bool = True,
                 normalize: bool = True) -> None:
        super().__init__()
        if init_temperature <= 0:
            raise ValueError(f"ClipLoss: init_temperature must be > 0, got {init_temperature}")
        t = torch.tensor(math.log(1.0 / init_temperature))
        if learnable:
            self.logit_scale = nn.Parameter(t)
        else:
            self.register_buffer("logit_scale", t)
        self.max_scale, self.normalize = max_scale, normalize

    def forward(self, image_embeds: Tensor, text_embeds: Tensor) -> Tensor:
        # clip exp(t) at max_scale; the gradient to t stops there, as with clipping the parameter
        t = self.logit_scale.clamp(max=math.log(self.max_scale))
        return clip_contrastive_loss(image_embeds, text_embeds, t, self.normalize)
