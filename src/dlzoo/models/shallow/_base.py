"""Shared machinery of the shallow (linear) models: the affine score, input and label checks, training.

Every shallow model scores a batch of feature vectors with one affine map

    f(x) = x W^T + b,        x: (B, F),  W: (out_features, F),  b: (out_features,)

and returns ``f(x)`` of shape ``(B, out_features)``, or ``(B,)`` when ``out_features == 1`` (binary
classifiers and scalar regression, like scikit-learn's ``decision_function`` / ``predict``). ``W`` and ``b``
are the parameters ``weight`` and ``bias`` (the keys of a ``torch.nn.Linear``; scikit-learn's ``coef_`` and
``intercept_``), zero-initialised like scikit-learn's linear models.

:meth:`LinearModel.fit` minimises the model's :meth:`~LinearModel.objective` with a dlzoo optimizer:
full-batch :class:`dlzoo.optim.LBFGS` with a strong-Wolfe line search (default), or mini-batch
:class:`dlzoo.optim.SGD` / :class:`dlzoo.optim.Adam` for ``epochs`` passes. Objectives with an L2 penalty use
scikit-learn's scaling, ``1/2 ||W||^2 + C sum_i loss_i`` (intercept not penalised), divided by
``C n`` so their value is a mean.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from ...nn.channel_affine import check_positive_int

__all__ = ["LinearModel", "LinearClassifier"]


class LinearModel(nn.Module):
    """Affine scores ``x W^T + b`` with input checks and a generic optimizer-driven :meth:`fit`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_features = check_positive_int(name, "in_features", in_features)
        self.out_features = check_positive_int(name, "out_features", out_features)
        self.weight = nn.Parameter(torch.zeros(out_features, in_features))  # (out, F)
        if bias:
            self.bias = nn.Parameter(torch.zeros(out_features))  # (out,)
        else:
            self.register_parameter("bias", None)

    # ---------------------------------------------------------------- checks
    def check_input(self, x: object) -> Tensor:
        """``x`` must be a floating tensor ``(B, in_features)``."""
        name = type(self).__name__
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a tensor (B, {self.in_features}), got {type(x).__name__}")
        if x.dim() != 2 or x.shape[1] != self.in_features:
            raise ValueError(f"{name}: expected input (B, {self.in_features}), got {tuple(x.shape)}")
        if not x.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point input, got {x.dtype}")
        return x

    # ---------------------------------------------------------------- model
    def forward(self, x: Tensor) -> Tensor:
        """``(B, F) -> (B, out_features)``, or ``(B,)`` when ``out_features == 1``."""
        scores = self.check_input(x) @ self.weight.t()  # (B, out)
        if self.bias is not None:
            scores = scores + self.bias
        return scores.squeeze(1) if self.out_features == 1 else scores

    def penalty(self) -> Tensor:
        """``1/2 ||W||_F^2`` (the bias is not penalised)."""
        return 0.5 * (self.weight**2).sum()

    def objective(self, x: Tensor, y: Tensor) -> Tensor:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def prepare_targets(self, y: Tensor, n: int) -> Tensor:
        """Validate targets (subclasses check labels); returns what :meth:`objective` expects."""
        return y

    # ---------------------------------------------------------------- training
    def fit(self, x: Tensor, y: Tensor, optimizer: str = "lbfgs", max_iter: int = 200, epochs: int = 100,
            lr: float | None = None, batch_size: int | None = None, tol: float = 1e-10,
            seed: int = 0) -> LinearModel:
        """Minimise :meth:`objective` on ``(x, y)``; returns ``self``.

        ``"lbfgs"``: one :class:`dlzoo.optim.LBFGS` step of ``max_iter`` iterations over the full batch
        (strong-Wolfe line search, stops when ``max |grad| <= tol``). ``"sgd"`` / ``"adam"``: ``epochs``
        passes of mini-batches of ``batch_size`` (default: the full batch) in an order drawn from ``seed``.
        """
        from ...optim import LBFGS, SGD, Adam

        name = f"{type(self).__name__}.fit"
        x = self.check_input(x)
        y = self.prepare_targets(y, x.shape[0])
        if optimizer == "lbfgs":
            opt = LBFGS(self.parameters(), lr=1 if lr is None else lr, max_iter=max_iter,
                        max_eval=max_iter * 5 // 4, tolerance_grad=tol, tolerance_change=1e-14,
                        history_size=20, line_search_fn="strong_wolfe")

            def closure() -> Tensor:
                opt.zero_grad()
                loss = self.objective(x, y)
                loss.backward()
                return loss

            opt.step(closure)
            return self
        if optimizer not in ("sgd", "adam"):
            raise ValueError(f"{name}: optimizer must be 'lbfgs', 'sgd' or 'adam', got {optimizer!r}")
        opt = (SGD(self.parameters(), lr=0.1 if lr is None else lr) if optimizer == "sgd"
               else Adam(self.parameters(), lr=0.01 if lr is None else lr))
        n = x.shape[0]
        bs = n if batch_size is None else check_positive_int(name, "batch_size", batch_size)
        g = torch.Generator().manual_seed(seed)
        for _ in range(epochs):
            order = torch.randperm(n, generator=g).to(x.device)
            for start in range(0, n, bs):
                idx = order[start:start + bs]
                opt.zero_grad()
                self.objective(x[idx], y[idx]).backward()
                opt.step()
        return self


class LinearClassifier(LinearModel):
    """A linear classifier over ``num_classes`` classes (labels are class indices ``0..num_classes-1``).

    Binary classifiers (``num_classes == 2``) have one score per sample; ``predict`` is ``f(x) > 0``.
    Multiclass classifiers have one score per class; ``predict`` is ``argmax_k f_k(x)``.
    """

    binary: bool = False

    def __init__(self, in_features: int, num_classes: int, bias: bool = True) -> None:
        name = type(self).__name__
        num_classes = check_positive_int(name, "num_classes", num_classes)
        if self.binary and num_classes != 2:
            raise ValueError(f"{name}: a binary classifier has num_classes=2, got {num_classes}")
        if not self.binary and num_classes < 2:
            raise ValueError(f"{name}: num_classes must be >= 2, got {num_classes}")
        super().__init__(in_features, 1 if self.binary else num_classes, bias)
        self.num_classes = num_classes

    def check_labels(self, y: object, n: int) -> Tensor:
        """Integer class indices ``(n,)`` in ``[0, num_classes)``, else an error naming the model."""
        name = type(self).__name__
        if not isinstance(y, Tensor):
            raise TypeError(f"{name}: expected labels as a tensor ({n},), got {type(y).__name__}")
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise TypeError(f"{name}: expected integer class labels, got {y.dtype}")
        if y.dim() != 1 or y.shape[0] != n:
            raise ValueError(f"{name}: expected labels ({n},) for {n} samples, got {tuple(y.shape)}")
        if n and int(y.min()) < 0:
            raise ValueError(f"{name}: labels must be class indices in [0, {self.num_classes}), got a "
                             f"negative label {int(y.min())}")
        if n and int(y.max()) >= self.num_classes:
            raise ValueError(f"{name}: labels must be class indices in [0, {self.num_classes}), got "
                             f"{int(y.max())}")
        return y.long()

    def prepare_targets(self, y: Tensor, n: int) -> Tensor:
        y = self.check_labels(y, n)
        return (2 * y - 1).to(self.weight.dtype) if self.binary else y  # binary: {0, 1} -> {-1, +1}

    @torch.no_grad()
    def predict(self, x: Tensor) -> Tensor:
        """Class indices ``(B,)``."""
        scores = self(x)
        return (scores > 0).long() if self.binary else scores.argmax(1)

    @torch.no_grad()
    def score(self, x: Tensor, y: Tensor) -> float:
        """Mean accuracy on ``(x, y)`` (scikit-learn's ``score``)."""
        y = self.check_labels(y, x.shape[0])
        return (self.predict(x) == y).double().mean().item()

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}"


def check_c(name: str, c: Any) -> float:
    """The inverse regularisation strength ``C > 0``."""
    if isinstance(c, bool) or not isinstance(c, (int, float)) or not c > 0:
        raise ValueError(f"{name}: C (inverse L2 strength) must be a number > 0, got {c!r}")
    return float(c)
