"""Constructor-argument checks shared by every dlzoo optimizer.

Each check raises an error that names the optimizer, the argument and what was received:
``TypeError`` when the value is not a number (``AdamW(lr="abc")``) or not a tuple of the right length,
``ValueError`` when it is a number outside its valid range (``Lion(betas=(1.0, 0.99))``,
``Muon(momentum=2)``, a negative ``lr``/``eps``/``weight_decay``).

Hyper-parameters may be Python numbers or one-element tensors (``torch.optim`` accepts a Tensor ``lr`` and,
for Adam/AdamW, Tensor ``betas``); :func:`as_float` reads either.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from torch import Tensor

__all__ = [
    "as_float",
    "check_hparam",
    "check_betas",
    "check_tuple",
    "check_int",
    "check_choice",
    "check_flags",
    "check_adam_hparams",
]


def as_float(owner: str, name: str, value: Any) -> float:
    """``value`` as a Python float: a real number or a one-element real tensor, else ``TypeError``."""
    if isinstance(value, Tensor):
        if value.numel() != 1:
            raise ValueError(f"{owner}: Tensor {name} must have one element, got shape {tuple(value.shape)}")
        if value.is_complex():
            raise TypeError(f"{owner}: {name} must be real, got a {value.dtype} tensor")
        return float(value.item())
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(
            f"{owner}: {name} must be a real number or a one-element tensor, "
            f"got {type(value).__name__} {value!r}"
        )
    return float(value)


def check_hparam(
    owner: str,
    name: str,
    value: Any,
    low: float = 0.0,
    high: float | None = None,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Check ``low <= value <= high`` (open ends if asked) and return ``value`` as a float.

    Raises:
        TypeError: ``value`` is not a number / one-element tensor.
        ValueError: ``value`` is NaN or outside the interval (the message shows the interval).
    """
    v = as_float(owner, name, value)
    bad = (v <= low) if low_open else (v < low)
    if high is not None:
        bad = bad or ((v >= high) if high_open else (v > high))
    if bad or v != v:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        top = "inf" if high is None else high
        raise ValueError(f"{owner}: invalid {name}={value!r}, expected a value in {lo}{low}, {top}{hi}")
    return v


def check_tuple(owner: str, name: str, value: Any, length: int) -> Sequence[Any]:
    """``value`` must be a tuple/list of ``length`` items (``TypeError`` naming the argument otherwise)."""
    if not isinstance(value, tuple | list) or len(value) != length:
        raise TypeError(f"{owner}: {name} must be a tuple of {length} values, got {value!r}")
    return value


def check_betas(owner: str, betas: Any, name: str = "betas") -> tuple[float, float]:
    """Two decay rates, each in ``[0, 1)`` (a rate of 1 never forgets and never moves); returns floats."""
    b = check_tuple(owner, name, betas, 2)
    return (
        check_hparam(owner, f"{name}[0]", b[0], 0.0, 1.0, high_open=True),
        check_hparam(owner, f"{name}[1]", b[1], 0.0, 1.0, high_open=True),
    )


def check_int(owner: str, name: str, value: Any, low: int, high: int | None = None) -> int:
    """An ``int`` (not bool) with ``low <= value <= high``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner}: {name} must be an int, got {type(value).__name__} {value!r}")
    if value < low or (high is not None and value > high):
        top = "inf" if high is None else high
        raise ValueError(f"{owner}: invalid {name}={value!r}, expected an int in [{low}, {top}]")
    return int(value)


def check_choice(owner: str, name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` must be one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{owner}: invalid {name}={value!r}, expected one of {list(choices)}")
    return value


def check_flags(owner: str, **flags: Any) -> None:
    """The implementation switches ``torch.optim`` takes, and what dlzoo does with them.

    ``foreach`` and ``fused`` are accepted (``None`` or a bool) and only recorded in the param groups:
    dlzoo always runs its own chunked ``torch._foreach_*`` implementation of the same update, so they
    cannot change the result; as in torch, both ``True`` at once is an error. ``capturable=True`` and
    ``differentiable=True`` raise ``ValueError``: dlzoo reads step counts and scalar hyper-parameters
    on the host (no CUDA-graph capture) and updates under ``no_grad`` (no autograd through ``step``).
    """
    for key, value in flags.items():
        if value is not None and not isinstance(value, bool):
            raise TypeError(f"{owner}: {key} must be a bool or None, got {type(value).__name__} {value!r}")
        if key in ("capturable", "differentiable") and value:
            raise ValueError(
                f"{owner}: {key}=True is not supported by dlzoo (host-side scalars, no autograd through "
                "step); use torch.optim for it"
            )
    if flags.get("fused") and flags.get("foreach"):
        raise ValueError(f"{owner}: fused and foreach cannot both be True")


def check_adam_hparams(owner: str, lr: Any, betas: Any, eps: Any, weight_decay: Any) -> None:
    """The checks every Adam-family optimizer shares: ``lr, eps, weight_decay >= 0``, ``0 <= beta < 1``."""
    check_hparam(owner, "lr", lr)
    check_hparam(owner, "eps", eps)
    check_betas(owner, betas)
    check_hparam(owner, "weight_decay", weight_decay)
