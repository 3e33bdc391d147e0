"""Linear support vector machines: binary (hinge or squared hinge, L2) and Crammer-Singer multiclass.

Cortes & Vapnik, "Support-vector networks", Machine Learning 20, 1995. Soft-margin primal with labels
``y in {-1, +1}`` and ``f(x) = w.x + b`` (scikit-learn's ``LinearSVC(loss=..., C=C)``)::

    min_{w,b}  1/2 ||w||^2 + C sum_i max(0, 1 - y_i f(x_i))^p        p = 1 (hinge) or 2 (squared hinge)

Multiclass: Crammer & Singer, "On the Algorithmic Implementation of Multiclass Kernel-based Vector
Machines", JMLR 2, 2001 (one joint problem, not one-vs-rest; scikit-learn's
``LinearSVC(multi_class="crammer_singer")``)::

    min_W  1/2 ||W||_F^2 + C sum_i [ max_k ( f_k(x_i) + 1[k != y_i] ) - f_{y_i}(x_i) ]

The intercept is not penalised here (liblinear penalises it as an extra feature; with standardised features
the difference is small). Trained full batch with :class:`dlzoo.optim.LBFGS` (the hinge is only piecewise
smooth: L-BFGS reaches the accuracy, the squared hinge also the exact optimum). Shapes: input ``(B, F)``;
scores ``(B,)`` or ``(B, K)``. Parameters ``(F + 1) * out``.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor

from .. import register_model
from ._base import LinearClassifier, check_c

__all__ = ["SVM", "MulticlassSVM", "svm", "multiclass_svm"]


class SVM(LinearClassifier):
    """Binary soft-margin linear SVM (see module docstring); labels ``{0, 1}``."""

    binary = True

    def __init__(self, in_features: int = 30, num_classes: int = 2, C: float = 1.0,
                 loss: str = "hinge") -> None:
        super().__init__(in_features, num_classes)
        if loss not in ("hinge", "squared_hinge"):
            raise ValueError(f"SVM: loss must be 'hinge' or 'squared_hinge', got {loss!r}")
        self.C, self.loss = check_c("SVM", C), loss

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """``(1/2 ||w||^2 + C sum_i max(0, 1 - y_i f(x_i))^p) / (C n)``, y in {-1, +1}."""
        slack = (1 - y * self(x)).clamp_min(0)  # (B,)
        if self.loss == "squared_hinge":
            slack = slack**2
        return slack.mean() + self.penalty() / (self.C * x.shape[0])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, C={self.C}, loss={self.loss!r}"


class MulticlassSVM(LinearClassifier):
    """Crammer-Singer multiclass linear SVM (see module docstring); labels ``0..num_classes-1``."""

    def __init__(self, in_features: int = 64, num_classes: int = 10, C: float = 1.0) -> None:
        super().__init__(in_features, num_classes)
        self.C = check_c("MulticlassSVM", C)

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """``(1/2 ||W||^2 + C sum_i [max_k (f_k + 1[k != y_i]) - f_{y_i}]) / (C n)``."""
        scores = self(x)  # (B, K)
        margin = 1.0 - (scores.new_zeros(scores.shape).scatter_(1, y[:, None], 1.0))  # 1[k != y]
        true = scores.gather(1, y[:, None]).squeeze(1)  # (B,)
        slack = (scores + margin).amax(1) - true  # (B,) >= 0
        return slack.mean() + self.penalty() / (self.C * x.shape[0])

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, C={self.C}"


@register_model(family="svm", paper="Support-vector networks", year=1995, arxiv="Machine Learning 20:273-297",
                input_size=(30,), test_input_size=(30,), task="tabular-classification",
                reference_params=(30 + 1) * 1, source="closed form: (F + 1) weights, F = 30 (breast_cancer)")
def svm(**kwargs: Any) -> SVM:
    """Binary linear SVM, hinge loss, C = 1, on 30 features (breast_cancer)."""
    return SVM(**kwargs)


@register_model(family="svm", paper="On the Algorithmic Implementation of Multiclass Kernel-based Vector "
                "Machines", year=2001, arxiv="JMLR 2:265-292", input_size=(64,), test_input_size=(64,),
                task="tabular-classification", reference_params=(64 + 1) * 10,
                source="closed form: (F + 1) * K, F = 64, K = 10 (digits)")
def multiclass_svm(**kwargs: Any) -> MulticlassSVM:
    """Crammer-Singer multiclass linear SVM, C = 1, on the digits' 64 features, 10 classes."""
    return MulticlassSVM(**kwargs)
