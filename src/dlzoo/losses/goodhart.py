"""GoodhartAwareLoss: cross-entropy with entropy and mutual-information regularisation.

This is **not a published paper**: the idea and the defaults come from the ``dl_techniques`` library
(N. Markou, ``dl_techniques/losses/goodhart_loss.py``, Keras), which motivates it by Goodhart's law and
builds it from two known ingredients:

* confidence penalty — Pereyra et al., "Regularizing Neural Networks by Penalizing Confident Output
  Distributions", 2017, arXiv 1701.06548: reward the per-sample predictive entropy ``H(p(y|x_i))``;
* information bottleneck — Tishby, Pereira, Bialek, 2000, arXiv physics/0004057: penalise the mutual
  information between inputs and predictions, estimated on the batch (uniform over its samples) as
  ``I(X; Y_hat) = H(mean_i p(y|x_i)) - mean_i H(p(y|x_i))``, clipped at 0.

    L = CE(logits, y; label_smoothing) - entropy_weight * mean_i H(p_i) + mi_weight * max(0, I(X; Y_hat))

As in that library, probabilities are clipped to ``[eps, 1 - eps]`` inside the logarithms, the CE term is
averaged over the batch and the two regularisers are batch-level scalars. Its author's own caveat applies:
the effect is sensitive to the weights and the task, and it is not a drop-in replacement for CE.
With ``entropy_weight = mi_weight = 0`` it is exactly cross-entropy.

Shapes: logits ``(N, C)``; target int64 ``(N,)`` or probabilities ``(N, C)``.
"""

from __future__ import annotations

from torch import Tensor, nn

from .classification import cross_entropy
from .factory import register_loss

__all__ = ["entropy", "batch_mutual_information", "GoodhartAwareLoss"]


def entropy(probs: Tensor, eps: float = 1e-8, dim: int = -1) -> Tensor:
    """Shannon entropy ``-sum p log p`` along ``dim`` (nats), with ``p`` clipped to ``[eps, 1 - eps]``."""
    p = probs.clamp(eps, 1.0 - eps)
    return -(p * p.log()).sum(dim)


def batch_mutual_information(probs: Tensor, eps: float = 1e-8) -> Tensor:
    """``H(mean_i p_i) - mean_i H(p_i)`` for ``probs`` ``(N, C)``: MI of uniform-over-batch X and Y_hat."""
    if probs.dim() != 2:
        raise ValueError(f"batch_mutual_information: probs must be (N, C), got {list(probs.shape)}")
    return entropy(probs.mean(0), eps) - entropy(probs, eps).mean()


@register_loss("goodhart_aware", paper="(dl_techniques library idea; not a paper) GoodhartAwareLoss")
class GoodhartAwareLoss(nn.Module):
    """``CE - entropy_weight * H(Y_hat|X) + mi_weight * I(X; Y_hat)`` on logits (see module docstring)."""

    def __init__(self, entropy_weight: float = 0.1, mi_weight: float = 0.01, label_smoothing: float = 0.0,
                 eps: float = 1e-8) -> None:
        super().__init__()
        if entropy_weight < 0 or mi_weight < 0:
            raise ValueError(f"GoodhartAwareLoss: weights must be >= 0, got entropy_weight={entropy_weight}, "
                             f"mi_weight={mi_weight}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f"GoodhartAwareLoss: label_smoothing must be in [0, 1), got {label_smoothing}")
        self.entropy_weight, self.mi_weight = entropy_weight, mi_weight
        self.label_smoothing, self.eps = label_smoothing, eps

    def components(self, input: Tensor, target: Tensor) -> dict[str, Tensor]:
        """Unweighted terms: ``cross_entropy``, ``conditional_entropy`` H(Y|X), ``mutual_information``."""
        if input.dim() != 2:
            raise ValueError(f"GoodhartAwareLoss: input must be logits (N, C), got {list(input.shape)}")
        probs = input.softmax(1)
        return {
            "cross_entropy": cross_entropy(input, target, label_smoothing=self.label_smoothing),
            "conditional_entropy": entropy(probs, self.eps).mean(),
            "mutual_information": batch_mutual_information(probs, self.eps).clamp_min(0.0),
        }

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        c = self.components(input, target)
        return (c["cross_entropy"] - self.entropy_weight * c["conditional_entropy"]
                + self.mi_weight * c["mutual_information"])

    def extra_repr(self) -> str:
        return (f"entropy_weight={self.entropy_weight}, mi_weight={self.mi_weight}, "
                f"label_smoothing={self.label_smoothing}")
