"""Shared plumbing for dlzoo's optimizers: a ``torch.optim.Optimizer`` subclass whose ``step`` hands each
param group's parameters (those with a gradient) to ``_update_group`` as flat lists, so every update rule
is written once, vectorised over the whole group with ``torch._foreach_*`` ops.

State layout mirrors ``torch.optim``: a per-parameter ``step`` scalar tensor (float32, or float64 when
the default dtype is float64) plus the rule's moment buffers under torch's key names, so state_dicts
of ours and torch's are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .validation import check_adam_hparams, check_hparam  # noqa: F401  (re-export)

__all__ = ["ForeachOptimizer", "scalar_dtype", "value", "uniform", "check_hparam", "check_adam_hparams"]

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]] | Iterable[tuple[str, Tensor]]


def scalar_dtype() -> torch.dtype:
    """dtype of the ``step`` counters (torch's rule: float64 iff the default dtype is float64)."""
    return torch.float64 if torch.get_default_dtype() == torch.float64 else torch.float32


class ForeachOptimizer(Optimizer):
    """Base class: closure handling, gradient collection, lazy state and step counting.

    Subclasses implement ``_update_group(group, params, grads)``; ``params``/``grads`` are equal-length
    lists holding only the parameters of ``group`` that received a gradient. Sparse gradients are
    rejected; complex parameters are updated through their real view, like torch does.
    """

    #: elements per foreach chunk (see ``step``); ``0`` puts a whole param group in one chunk
    chunk_numel: int = 1 << 17

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            for key, value in self.defaults.items():
                group.setdefault(key, value)

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """Perform one optimisation step; ``closure`` re-evaluates the model and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params: list[Tensor] = []
            grads: list[Tensor] = []
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise RuntimeError(f"{type(self).__name__} does not support sparse gradients")
                params.append(p)
                grads.append(p.grad)
            # Chunks of ~chunk_numel elements: each chunk runs the whole update rule with foreach ops while
            # its tensors are still in cache (one op over all 22M parameters of a ViT-S would stream every
            # intermediate through DRAM). Small tensors are batched many per chunk.
            budget = self.chunk_numel if self.chunk_numel > 0 else float("inf")
            start, size = 0, 0
            for i, p in enumerate(params):
                size += p.numel()
                if size >= budget or i == len(params) - 1:
                    self._update_group(group, params[start : i + 1], grads[start : i + 1])
                    start, size = i + 1, 0
        return loss

    def _update_group(self, group: dict[str, Any], params: list[Tensor], grads: list[Tensor]) -> None:
        raise NotImplementedError

    # ----------------------------------------------------------------------------------------------
    # helpers for subclasses
    def _states(self, params: list[Tensor], init: Callable[[Tensor], dict[str, Any]]) -> list[dict[str, Any]]:
        """Per-parameter state dicts, created by ``init(p)`` the first time a parameter is seen."""
        out = []
        for p in params:
            state = self.state[p]
            if len(state) == 0:
                state.update(init(p))
            elif not isinstance(state.get("step", _NO_STEP), Tensor):  # loaded from an old/plain checkpoint
                state["step"] = torch.tensor(float(state["step"]), dtype=scalar_dtype())
            out.append(state)
        return out

    @staticmethod
    def _zeros(p: Tensor) -> Tensor:
        return torch.zeros_like(p, memory_format=torch.preserve_format)

    @staticmethod
    def _new_step() -> Tensor:
        return torch.tensor(0.0, dtype=scalar_dtype())

    @staticmethod
    def _advance(steps: list[Tensor]) -> list[float]:
        """Increment every ``step`` counter and return their new values as Python floats (one sync)."""
        if steps[0].is_cpu:  # a 0-d tensor operand: a Python 1 would be wrapped once per tensor (~4x slower)
            torch._foreach_add_(steps, _ONE, alpha=1.0)
        else:
            torch._foreach_add_(steps, 1.0)
        if len(steps) == 1:
            return [steps[0].item()]
        return (
            torch.stack([s.to(torch.float64) for s in steps]).tolist()
            if _mixed(steps)
            else torch.stack(steps).tolist()
        )

    @staticmethod
    def _lr(group: dict[str, Any]) -> float:
        return value(group["lr"])

    @staticmethod
    def _l2_grads(
        grads: list[Tensor], params: list[Tensor], maximize: bool, weight_decay: float
    ) -> list[Tensor]:
        """``g <- -g`` if maximizing; ``g <- g + weight_decay * theta`` (coupled L2); p.grad untouched."""
        weight_decay = value(weight_decay)
        if maximize:
            grads = torch._foreach_neg(grads)
            if weight_decay != 0:
                torch._foreach_add_(grads, params, alpha=weight_decay)
        elif weight_decay != 0:
            grads = torch._foreach_add(grads, params, alpha=weight_decay)
        return grads

    @classmethod
    def _weight_decay(
        cls, group: dict[str, Any], grads: list[Tensor], params: list[Tensor], lr: float
    ) -> list[Tensor]:
        """Sign flip for ``maximize``, then weight decay as ``group["decoupled_weight_decay"]`` asks.

        Decoupled (AdamW, Loshchilov & Hutter 2017, arXiv:1711.05101): ``theta <- theta (1 - lr lambda)``
        in place, gradients untouched; otherwise coupled L2: ``g <- g + lambda theta``. Returns the grads.
        """
        wd = value(group["weight_decay"])
        if group["decoupled_weight_decay"]:
            grads = cls._l2_grads(grads, params, group["maximize"], 0.0)
            if wd != 0:
                torch._foreach_mul_(params, 1.0 - lr * wd)  # theta <- theta (1 - lr lambda)
            return grads
        return cls._l2_grads(grads, params, group["maximize"], wd)  # g <- g + lambda theta

    @staticmethod
    def _real(tensors: list[Tensor]) -> list[Tensor]:
        """View complex tensors as real (..., 2) so element-wise rules apply to both parts."""
        return [torch.view_as_real(t) if t.is_complex() else t for t in tensors]


_NO_STEP = torch.empty(0)
_ONE = torch.tensor(1.0)


def _mixed(steps: list[Tensor]) -> bool:
    dtype = steps[0].dtype
    return any(s.dtype != dtype for s in steps)


def value(x: float | Tensor) -> float:
    """A hyper-parameter that may be a one-element tensor (``lr``, ``betas``, ...) as a Python float."""
    return float(x.item()) if isinstance(x, Tensor) else float(x)


def uniform(values: list[float]) -> bool:
    """True when all values are equal (then a scalar foreach overload can replace a list of scalars)."""
    first = values[0]
    return all(v == first for v in values)
