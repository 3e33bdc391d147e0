"""Token embedding: a lookup table of learned vectors, mirroring ``torch.nn.Embedding``.

Bengio, Ducharme, Vincent, Jauvin, "A Neural Probabilistic Language Model", JMLR 2003, sec. 2: word i is
mapped to row i of a matrix C (num_embeddings, embedding_dim), ``y[..., :] = C[x[...], :]``; the gradient of a
row is the sum of the output gradients at the positions that looked it up:

    dL/dC_i = sum_{p : x_p = i} dL/dy_p        (times 1 / count(i) with ``scale_grad_by_freq``)

torch's options, with torch's semantics:

* ``padding_idx`` (negative counts from the end): that row starts at zero and never receives a gradient.
* ``max_norm``: before the lookup, every row that is looked up and whose ``norm_type``-norm exceeds
  ``max_norm`` is rescaled **in place** to ``max_norm / (norm + 1e-7)`` times itself (``embedding_renorm_``).
* ``scale_grad_by_freq``: row gradients divided by the row's count in the mini-batch.
* ``sparse``: the weight gradient is a sparse COO tensor.

Shapes: ids ``(*)`` of int32/int64 -> ``(*, embedding_dim)``. The fused ``F.embedding`` kernel runs by
default; under :func:`dlzoo.reference_mode` the lookup and the row-gradient sum above are written out
(:class:`EmbeddingFunction`, a custom ``autograd.Function`` checked by ``gradcheck``).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .mode import use_fused

__all__ = ["Embedding", "EmbeddingFunction", "embedding_renorm_"]


def embedding_renorm_(weight: Tensor, ids: Tensor, max_norm: float, norm_type: float = 2.0) -> Tensor:
    """Rescale, in place and without autograd, the looked-up rows whose norm exceeds ``max_norm``."""
    with torch.no_grad():
        rows = ids.reshape(-1).unique()  # each row once
        norms = weight.index_select(0, rows).norm(p=norm_type, dim=1, keepdim=True)  # (R, 1)
        scale = torch.where(norms > max_norm, max_norm / (norms + 1e-7), torch.ones_like(norms))
        weight.index_copy_(0, rows, weight.index_select(0, rows) * scale)
    return weight


class EmbeddingFunction(torch.autograd.Function):
    """y = C[x] with dC_i = sum_{x_p = i} dy_p (optionally / count(i)), no gradient for ``padding_idx``."""

    @staticmethod
    def forward(
        ctx: Any, weight: Tensor, ids: Tensor, padding_idx: int | None, scale_grad_by_freq: bool, sparse: bool
    ) -> Tensor:
        flat = ids.reshape(-1)
        ctx.save_for_backward(flat)
        ctx.num_weights = weight.shape[0]
        ctx.options = (padding_idx, scale_grad_by_freq, sparse)
        return weight.index_select(0, flat).reshape(*ids.shape, weight.shape[1])  # (*, D)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor) -> tuple[Tensor | None, ...]:
        (flat,) = ctx.saved_tensors
        padding_idx, scale_grad_by_freq, sparse = ctx.options
        grad = grad_out.reshape(flat.numel(), grad_out.shape[-1])  # (P, D), one row per looked-up position
        if scale_grad_by_freq:
            counts = torch.bincount(flat, minlength=ctx.num_weights)  # (V,)
            grad = grad / counts.index_select(0, flat).unsqueeze(1).to(grad.dtype)
        if padding_idx is not None:
            grad = grad.masked_fill((flat == padding_idx).unsqueeze(1), 0.0)
        shape = (ctx.num_weights, grad.shape[1])
        if sparse:
            grad_w = torch.sparse_coo_tensor(flat.unsqueeze(0), grad, shape, check_invariants=False)
        else:
            grad_w = grad.new_zeros(shape).index_add_(0, flat, grad)  # sum over positions with x_p = i
        return grad_w, None, None, None, None


def _check_positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"Embedding: {name} must be a positive int, got {value!r}")
    return value


class Embedding(nn.Module):
    """Lookup table ``y = weight[ids]`` (mirrors ``torch.nn.Embedding``; see module docstring).

    ``weight`` (num_embeddings, embedding_dim) is initialised N(0, 1) with the padding row zeroed, as torch.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
        _weight: Tensor | None = None,
        _freeze: bool = False,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
    ) -> None:
        super().__init__()
        self.num_embeddings = _check_positive("num_embeddings", num_embeddings)
        self.embedding_dim = _check_positive("embedding_dim", embedding_dim)
        if padding_idx is not None:
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx must be within [-{num_embeddings}, {num_embeddings}), "
                    f"got {padding_idx}"
                )
            padding_idx = padding_idx % num_embeddings  # negative counts from the end
        if max_norm is not None and max_norm <= 0:
            raise ValueError(f"Embedding: max_norm must be positive, got {max_norm}")
        self.padding_idx = padding_idx
        self.max_norm = max_norm
        self.norm_type = norm_type
        self.scale_grad_by_freq = scale_grad_by_freq
        self.sparse = sparse
        if _weight is None:
            self.weight = nn.Parameter(
                torch.empty((num_embeddings, embedding_dim), device=device, dtype=dtype),
                requires_grad=not _freeze,
            )
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (num_embeddings, embedding_dim):
                raise ValueError(
                    f"Embedding: _weight must have shape {[num_embeddings, embedding_dim]}, "
                    f"got {list(_weight.shape)}"
                )
            self.weight = nn.Parameter(_weight, requires_grad=not _freeze)

    def reset_parameters(self) -> None:
        """N(0, 1) entries, padding row zero (torch's init)."""
        with torch.no_grad():
            self.weight.normal_()
            if self.padding_idx is not None:
                self.weight[self.padding_idx].fill_(0)

    @classmethod
    def from_pretrained(
        cls,
        embeddings: Tensor,
        freeze: bool = True,
        padding_idx: int | None = None,
        max_norm: float | None = None,
        norm_type: float = 2.0,
        scale_grad_by_freq: bool = False,
        sparse: bool = False,
    ) -> Embedding:
        """An Embedding whose weight is ``embeddings`` (V, D), frozen by default (torch's classmethod)."""
        if not isinstance(embeddings, Tensor) or embeddings.dim() != 2:
            shape = list(embeddings.shape) if isinstance(embeddings, Tensor) else type(embeddings).__name__
            raise ValueError(
                f"Embedding.from_pretrained: embeddings must be a 2-d tensor (V, D), got {shape}"
            )
        rows, cols = embeddings.shape
        return cls(
            rows,
            cols,
            _weight=embeddings,
            _freeze=freeze,
            padding_idx=padding_idx,
            max_norm=max_norm,
            norm_type=norm_type,
            scale_grad_by_freq=scale_grad_by_freq,
            sparse=sparse,
        )

    def _check(self, ids: Tensor) -> None:
        if not isinstance(ids, Tensor) or ids.dtype not in (torch.int64, torch.int32):
            got = ids.dtype if isinstance(ids, Tensor) else type(ids).__name__
            raise TypeError(f"Embedding: expected integer ids (int64 or int32), got {got}")
        if ids.numel() and ids.device.type != "meta":
            lo, hi = int(ids.min()), int(ids.max())
            if lo < 0 or hi >= self.num_embeddings:
                raise ValueError(
                    f"Embedding: ids must lie in [0, {self.num_embeddings}), got min {lo}, max {hi}"
                )

    def forward(self, input: Tensor) -> Tensor:
        self._check(input)
        if use_fused():
            return F.embedding(
                input,
                self.weight,
                self.padding_idx,
                self.max_norm,
                self.norm_type,
                self.scale_grad_by_freq,
                self.sparse,
            )
        if self.max_norm is not None:
            embedding_renorm_(self.weight, input, self.max_norm, self.norm_type)
        return EmbeddingFunction.apply(
            self.weight, input.long(), self.padding_idx, self.scale_grad_by_freq, self.sparse
        )

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.max_norm is not None:
            s += f", max_norm={self.max_norm}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s
