"""The perceptron and the multiclass perceptron, trained sample by sample with :class:`dlzoo.optim.SGD`.

Rosenblatt, "The perceptron: a probabilistic model for information storage and organization in the brain",
Psychological Review 65(6), 1958. With labels ``y in {-1, +1}`` and score ``f(x) = w.x + b``, each mistake
(``y f(x) <= 0``) moves the hyperplane towards the sample::

    w <- w + eta y x,        b <- b + eta y

which is SGD with step ``eta`` on the perceptron criterion ``L = -y f(x) [y f(x) <= 0]`` (scikit-learn's
``Perceptron``: ``SGDClassifier(loss="perceptron", eta0=1, learning_rate="constant", penalty=None)``).

Multiclass perceptron (Duda & Hart, "Pattern Classification and Scene Analysis", 1973; Crammer & Singer,
"Ultraconservative Online Algorithms for Multiclass Problems", JMLR 3, 2003, the "max" update): one weight
vector per class, prediction ``k* = argmax_k f_k(x)``; on a mistake (``k* != y``)::

    w_y <- w_y + eta x,      w_k* <- w_k* - eta x      (biases alike)

i.e. SGD on ``L = (f_k*(x) - f_y(x)) [k* != y]``. (scikit-learn's ``Perceptron`` is one-vs-rest instead.)

Shapes: input ``(B, F)``; scores ``(B,)`` (binary) or ``(B, num_classes)``. Parameters ``(F + 1) * out``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from ...nn.channel_affine import check_positive_int
from .. import register_model
from ._base import LinearClassifier

__all__ = ["Perceptron", "MulticlassPerceptron", "perceptron", "multiclass_perceptron"]


class _OnlineMistakeDriven(LinearClassifier):
    """Shared ``fit``: ``epochs`` passes of one-sample SGD steps with ``lr = eta0`` on the criterion."""

    def fit(self, x: Tensor, y: Tensor, epochs: int = 5, eta0: float = 1.0, shuffle: bool = True,
            seed: int = 0) -> _OnlineMistakeDriven:
        """Online training: ``epochs`` passes over ``(x, y)`` (in a random order from ``seed`` when
        ``shuffle``, else in the given order), one :class:`dlzoo.optim.SGD` step per sample."""
        from ...optim import SGD

        check_positive_int(f"{type(self).__name__}.fit", "epochs", epochs)
        x = self.check_input(x)
        y = self.prepare_targets(y, x.shape[0])
        opt = SGD(self.parameters(), lr=eta0)
        g = torch.Generator().manual_seed(seed)
        n = x.shape[0]
        for _ in range(epochs):
            order = torch.randperm(n, generator=g).tolist() if shuffle else range(n)
            for i in order:
                loss, mistake = self.criterion(x[i:i + 1], y[i:i + 1])
                if bool(mistake):  # mistake-driven: a zero-margin mistake has zero loss but still updates
                    opt.zero_grad()
                    loss.sum().backward()
                    opt.step()
        return self

    def criterion(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:  # pragma: no cover - subclasses
        """Per-sample loss ``(B,)`` without the mistake indicator, and the mistake mask ``(B,)``."""
        raise NotImplementedError

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """The criterion averaged over the batch, counting mistakes only."""
        loss, mistake = self.criterion(x, y)
        return (loss * mistake).mean()


class Perceptron(_OnlineMistakeDriven):
    """Rosenblatt's binary perceptron (see module docstring); labels ``{0, 1}``."""

    binary = True

    def __init__(self, in_features: int = 30, num_classes: int = 2) -> None:
        super().__init__(in_features, num_classes)

    def criterion(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``-y f(x)`` and the mistakes ``y f(x) <= 0`` (y in {-1, +1}); the gradient on a mistake is
        ``-y x`` (also at zero margin, where scikit-learn updates too)."""
        margin = y * self(x)  # (B,)
        return -margin, margin.detach() <= 0


class MulticlassPerceptron(_OnlineMistakeDriven):
    """Multiclass (argmax) perceptron (see module docstring); labels ``0..num_classes-1``."""

    def __init__(self, in_features: int = 64, num_classes: int = 10) -> None:
        super().__init__(in_features, num_classes)

    def criterion(self, x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
        """``f_k*(x) - f_y(x)`` with ``k* = argmax_k f_k`` (first maximum) and the mistakes ``k* != y``."""
        scores = self(x)  # (B, K)
        pred = scores.detach().argmax(1)
        gap = scores.gather(1, pred[:, None]).squeeze(1) - scores.gather(1, y[:, None]).squeeze(1)  # (B,)
        return gap, pred != y


_CARD = dict(family="perceptron", paper="The perceptron: a probabilistic model for information storage and "
             "organization in the brain", year=1958, arxiv="Psychological Review 65(6):386-408")


@register_model(**_CARD, input_size=(30,), test_input_size=(30,), task="tabular-classification",
                reference_params=(30 + 1) * 1, source="closed form: (F + 1) weights, F = 30 (breast_cancer)")
def perceptron(**kwargs: Any) -> Perceptron:
    """Binary perceptron on 30 features (scikit-learn's breast_cancer)."""
    return Perceptron(**kwargs)


@register_model("multiclass_perceptron", family="perceptron", paper="Ultraconservative Online Algorithms for "
                "Multiclass Problems", year=2003, arxiv="JMLR 3:951-991", input_size=(64,),
                test_input_size=(64,), task="tabular-classification", reference_params=(64 + 1) * 10,
                source="closed form: (F + 1) * K, F = 64, K = 10 (digits)")
def multiclass_perceptron(**kwargs: Any) -> MulticlassPerceptron:
    """Multiclass perceptron on the 8x8 digits' 64 features, 10 classes."""
    return MulticlassPerceptron(**kwargs)
