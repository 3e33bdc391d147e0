"""Classifier heads shared by every model: global pooling, the logits layer, timm's ``ClassifierHead``.

A classifier ends ``features (N, C, *spatial) -> pool -> [norm] -> dropout -> fc -> logits (N, K)``.
Models keep their heads at the attribute paths their reference checkpoints use (torchvision's ``fc`` /
``classifier``, timm's ``head.fc``) and build them from these pieces, so ``reset_classifier`` and
``num_classes=0`` (pooled features, no logits) behave the same everywhere
(:class:`dlzoo.models._base.ClassifierMixin`).

Pool types (timm's names): ``"avg"`` mean over the spatial dims, ``"max"`` max, ``"avgmax"``
``(avg + max) / 2``, ``""`` no pooling (the feature map passes through). All keep the channel width.
"""

from __future__ import annotations

from torch import Tensor, nn

from .linear import Identity, Linear
from .regularization import Dropout

__all__ = ["POOL_TYPES", "GlobalPool", "ClassifierHead", "check_num_classes", "create_fc", "pool_dims"]

POOL_TYPES = ("avg", "max", "avgmax", "")


def check_num_classes(num_classes: object) -> int:
    """``num_classes`` as an int >= 0 (0: no logits layer), else ``ValueError`` naming it."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 0:
        raise ValueError(f"num_classes must be an integer >= 0 (0 removes the classifier), "
                         f"got {num_classes!r}")
    return num_classes


def create_fc(in_features: int, num_classes: int, bias: bool = True) -> nn.Module:
    """The logits layer ``Linear(in_features, num_classes)``; :class:`Identity` when ``num_classes == 0``."""
    num_classes = check_num_classes(num_classes)
    return Linear(in_features, num_classes, bias=bias) if num_classes > 0 else Identity()


def pool_dims(x: Tensor, pool_type: str, dims: tuple[int, ...], keepdim: bool = False) -> Tensor:
    """Pool ``x`` over ``dims``: ``"avg"`` mean, ``"max"`` max, ``"avgmax"`` their average."""
    if pool_type == "avg":
        return x.mean(dim=dims, keepdim=keepdim)
    if pool_type == "max":
        return x.amax(dim=dims, keepdim=keepdim)
    if pool_type == "avgmax":
        return 0.5 * (x.mean(dim=dims, keepdim=keepdim) + x.amax(dim=dims, keepdim=keepdim))
    raise ValueError(f"pool_type must be 'avg', 'max' or 'avgmax', got {pool_type!r}")


class GlobalPool(nn.Module):
    """Global pooling over every spatial dim (see module docstring for ``pool_type``).

    Args:
        pool_type: ``"avg"``, ``"max"``, ``"avgmax"`` or ``""`` (identity).
        flatten: drop the pooled spatial dims: (N, C, H, W) -> (N, C); else keep them as size 1.
        input_fmt: ``"NCHW"`` (channels at dim 1, any number of spatial dims) or ``"NHWC"`` (channels last).
    """

    def __init__(self, pool_type: str = "avg", flatten: bool = True, input_fmt: str = "NCHW") -> None:
        super().__init__()
        if input_fmt not in ("NCHW", "NHWC"):
            raise ValueError(f"GlobalPool: input_fmt must be 'NCHW' or 'NHWC', got {input_fmt!r}")
        self.pool_type = self._check_pool_type(pool_type)
        self.flatten = flatten
        self.input_fmt = input_fmt

    @staticmethod
    def _check_pool_type(pool_type: str) -> str:
        if pool_type not in POOL_TYPES:
            raise ValueError(f"global_pool must be one of {list(POOL_TYPES)}, got {pool_type!r}")
        return pool_type

    def set_pool_type(self, pool_type: str) -> None:
        self.pool_type = self._check_pool_type(pool_type)

    def forward(self, x: Tensor) -> Tensor:
        if not self.pool_type:
            return x
        if x.dim() < 3:
            raise ValueError(f"GlobalPool: expected (N, C, *spatial) or (N, *spatial, C), "
                             f"got {list(x.shape)}")
        dims = tuple(range(2, x.dim())) if self.input_fmt == "NCHW" else tuple(range(1, x.dim() - 1))
        return pool_dims(x, self.pool_type, dims, keepdim=not self.flatten)

    def extra_repr(self) -> str:
        return f"pool_type={self.pool_type!r}, flatten={self.flatten}, input_fmt={self.input_fmt!r}"


class ClassifierHead(nn.Module):
    """``global_pool -> norm -> drop -> fc`` (timm's ``ClassifierHead`` / ConvNeXt's norm head keys).

    Shapes: (N, C, *spatial) (or channels-last with ``input_fmt="NHWC"``) -> (N, num_classes); with
    ``pre_logits=True`` or ``num_classes=0`` -> the pooled, normed features (N, C).

    Args:
        in_features: C.
        num_classes: K (0: no fc).
        pool_type: see :class:`GlobalPool`.
        drop_rate: dropout before ``fc``.
        norm: a module applied to the pooled (N, C) features (ConvNeXt's head LayerNorm), default none.
        input_fmt: layout of the input features.
    """

    def __init__(self, in_features: int, num_classes: int, pool_type: str = "avg", drop_rate: float = 0.0,
                 norm: nn.Module | None = None, input_fmt: str = "NCHW") -> None:
        super().__init__()
        self.in_features = in_features
        self.global_pool = GlobalPool(pool_type, flatten=True, input_fmt=input_fmt)
        self.norm = norm if norm is not None else Identity()
        self.drop = Dropout(drop_rate)
        self.fc = create_fc(in_features, num_classes)

    def forward(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        x = self.norm(self.global_pool(x))  # (N, C)
        return x if pre_logits else self.fc(self.drop(x))
