"""Logistic regression (binary) and softmax (multinomial logistic) regression with an L2 penalty.

Cox, "The Regression Analysis of Binary Sequences", JRSS B 20(2), 1958: ``p(y=1|x) = sigma(w.x + b)``.
Softmax: Bridle, "Probabilistic Interpretation of Feedforward Classification Network Outputs, with
Relationships to Statistical Pattern Recognition", NATO ASI Neurocomputing, 1990:
``p(y=k|x) = exp(f_k(x)) / sum_j exp(f_j(x))``. Both minimise scikit-learn's ``LogisticRegression(C=C)``
objective (lbfgs solver, multinomial for K > 2; intercept not penalised)::

    binary:  1/2 ||w||^2   + C sum_i log(1 + exp(-y_i f(x_i)))         y_i in {-1, +1}
    softmax: 1/2 ||W||_F^2 + C sum_i [ logsumexp_k f_k(x_i) - f_{y_i}(x_i) ]

which is strictly convex, so full-batch :class:`dlzoo.optim.LBFGS` reaches the same optimum as scikit-learn
(coefficients equal to its tolerance). ``C=inf`` drops the penalty. Shapes: input ``(B, F)``; scores
``(B,)`` or ``(B, K)``; ``predict_proba`` ``(B, 2)`` or ``(B, K)``. Parameters ``(F + 1) * out``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from .. import register_model
from ._base import LinearClassifier, check_c

__all__ = ["LogisticRegression", "SoftmaxRegression", "logistic_regression", "softmax_regression"]


def _c_or_inf(name: str, c: float) -> float:
    return math.inf if c == math.inf else check_c(name, c)


class LogisticRegression(LinearClassifier):
    """Binary L2-penalised logistic regression (see module docstring); labels ``{0, 1}``."""

    binary = True

    def __init__(self, in_features: int = 30, num_classes: int = 2, C: float = 1.0) -> None:
        super().__init__(in_features, num_classes)
        self.C = _c_or_inf("LogisticRegression", C)

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """``(1/2 ||w||^2 + C sum_i softplus(-y_i f(x_i))) / (C n)``."""
        nll = torch.nn.functional.softplus(-y * self(x)).mean()
        return nll + self.penalty() / (self.C * x.shape[0])

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """``(B, 2)``: ``[1 - sigma(f), sigma(f)]``."""
        p = torch.sigmoid(self(x))
        return torch.stack([1 - p, p], 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, C={self.C}"


class SoftmaxRegression(LinearClassifier):
    """Multinomial logistic regression with an L2 penalty (see module docstring)."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, C: float = 1.0) -> None:
        super().__init__(in_features, num_classes)
        self.C = _c_or_inf("SoftmaxRegression", C)

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """``(1/2 ||W||^2 + C sum_i [logsumexp_k f_k - f_{y_i}]) / (C n)``."""
        scores = self(x)  # (B, K)
        nll = (torch.logsumexp(scores, 1) - scores.gather(1, y[:, None]).squeeze(1)).mean()
        return nll + self.penalty() / (self.C * x.shape[0])

    @torch.no_grad()
    def predict_proba(self, x: Tensor) -> Tensor:
        """``(B, K)`` softmax probabilities."""
        return torch.softmax(self(x), 1)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, C={self.C}"


@register_model(family="logistic_regression", paper="The Regression Analysis of Binary Sequences", year=1958,
                arxiv="JRSS B 20(2):215-242", input_size=(30,), test_input_size=(30,),
                task="tabular-classification", reference_params=(30 + 1) * 1,
                source="closed form: (F + 1) weights, F = 30 (breast_cancer)")
def logistic_regression(**kwargs: Any) -> LogisticRegression:
    """Binary logistic regression, C = 1, on 30 features (breast_cancer)."""
    return LogisticRegression(**kwargs)


@register_model(family="logistic_regression", paper="Probabilistic Interpretation of Feedforward "
                "Classification Network Outputs, with Relationships to Statistical Pattern Recognition",
                year=1990, arxiv="Neurocomputing, NATO ASI F68:227-236", input_size=(64,),
                test_input_size=(64,), task="tabular-classification", reference_params=(64 + 1) * 10,
                source="closed form: (F + 1) * K, F = 64, K = 10 (digits)")
def softmax_regression(**kwargs: Any) -> SoftmaxRegression:
    """Multinomial logistic regression, C = 1, on the digits' 64 features, 10 classes."""
    return SoftmaxRegression(**kwargs)
