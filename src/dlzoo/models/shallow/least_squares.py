"""Ordinary least-squares linear regression, in closed form and by gradient training.

Legendre, "Nouvelles methodes pour la determination des orbites des cometes", 1805 (appendix "Sur la
methode des moindres carres"); Gauss, "Theoria motus corporum coelestium", 1809::

    min_{W,b}  1/2 sum_i || x_i W^T + b - y_i ||^2

Closed form (``fit(method="lstsq")``): the minimum-norm solution of ``[X, 1] [W, b]^T = Y`` by
``torch.linalg.lstsq`` (numpy's ``lstsq``; scikit-learn's ``LinearRegression`` centres X and Y instead,
the same solution when ``[X, 1]`` has full column rank). Gradient (``method="lbfgs" | "sgd" | "adam"``): a
dlzoo optimizer on the mean squared error ``1/2 mean_i ||f(x_i) - y_i||^2``. Shapes: input ``(B, F)``; targets
and predictions ``(B,)`` (``out_features=1``) or ``(B, out_features)``. Parameters ``(F + 1) * out``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from .. import register_model
from ._base import LinearModel

__all__ = ["LeastSquaresRegression", "least_squares_regression"]


class LeastSquaresRegression(LinearModel):
    """Linear regression ``f(x) = x W^T + b`` fitted by least squares (see module docstring)."""

    def __init__(self, in_features: int = 10, out_features: int = 1) -> None:
        super().__init__(in_features, out_features)

    def prepare_targets(self, y: object, n: int) -> Tensor:
        name = type(self).__name__
        if not isinstance(y, Tensor) or not y.is_floating_point():
            raise TypeError(f"{name}: expected float targets, got "
                            f"{y.dtype if isinstance(y, Tensor) else type(y).__name__}")
        expected = (n,) if self.out_features == 1 else (n, self.out_features)
        if tuple(y.shape) != expected:
            raise ValueError(f"{name}: expected targets {expected}, got {tuple(y.shape)}")
        return y

    def objective(self, x: Tensor, y: Tensor) -> Tensor:
        """``1/2 mean_i ||f(x_i) - y_i||^2``."""
        residual = (self(x) - y).reshape(x.shape[0], -1)  # (B, out)
        return 0.5 * (residual**2).sum(1).mean()

    def fit(self, x: Tensor, y: Tensor, method: str = "lstsq", **kwargs: Any) -> LeastSquaresRegression:
        """``method="lstsq"``: closed form; otherwise ``LinearModel.fit(optimizer=method, **kwargs)``."""
        if method != "lstsq":
            return super().fit(x, y, optimizer=method, **kwargs)
        x = self.check_input(x)
        y = self.prepare_targets(y, x.shape[0]).reshape(x.shape[0], -1)  # (n, out)
        design = torch.cat([x, x.new_ones(x.shape[0], 1)], 1)  # (n, F + 1)
        driver = "gelsd" if x.device.type == "cpu" else None
        coef = torch.linalg.lstsq(design, y, driver=driver).solution  # (F + 1, out)
        with torch.no_grad():
            self.weight.copy_(coef[:-1].t())
            self.bias.copy_(coef[-1])
        return self

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        return self(x)

    @torch.no_grad()
    def score(self, x: Tensor, y: Tensor) -> float:
        """Coefficient of determination R^2 (scikit-learn's ``score``, averaged over outputs)."""
        y = self.prepare_targets(y, x.shape[0]).reshape(x.shape[0], -1)
        residual = ((self(x).reshape_as(y) - y) ** 2).sum(0)
        total = ((y - y.mean(0)) ** 2).sum(0)
        return (1 - residual / total).mean().item()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}"


@register_model(family="least_squares", paper="Nouvelles methodes pour la determination des orbites des "
                "cometes", year=1805, arxiv="Legendre 1805, appendix", input_size=(10,),
                test_input_size=(10,),
                task="tabular-regression", reference_params=(10 + 1) * 1,
                source="closed form: (F + 1) * out, F = 10 (diabetes), out = 1")
def least_squares_regression(**kwargs: Any) -> LeastSquaresRegression:
    """Linear regression on 10 features (scikit-learn's diabetes), one output."""
    return LeastSquaresRegression(**kwargs)
