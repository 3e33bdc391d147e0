"""Weight regularizers (penalties added to the loss) and the max-norm constraint.

* L1 / L2 / elastic net. ``l2_penalty`` is the plain squared norm ``sum w^2``; SGD's ``weight_decay=lam``
  is the gradient of ``(lam / 2) * l2_penalty``. ``elastic_net_penalty`` uses scikit-learn's
  ``ElasticNet`` convention ``alpha * (l1_ratio ||w||_1 + 0.5 (1 - l1_ratio) ||w||_2^2)``.
* Orthogonality — Bansal, Chen, Wang, "Can We Gain More from Orthogonality Regularizations in Training
  Deep CNNs?", NeurIPS 2018, arXiv 1810.09102. A weight is viewed as a matrix ``W`` of shape
  ``(out, in * k...)`` and ``G = W W^T`` (or ``W^T W``, whichever is smaller) is compared to ``I``:

      SO   = ||G - I||_F^2                                  (soft orthogonality)
      DSO  = ||W^T W - I||_F^2 + ||W W^T - I||_F^2           (double soft orthogonality)
      MC   = max_ij |G - I|_ij                               (mutual coherence, on row-normalised W)
      SRIP = sigma(G - I)                                    (spectral restricted isometry property)

  ``sigma`` is the spectral norm, estimated by power iteration as in the paper (``G - I`` is symmetric, so
  the iteration ``v <- A v / ||A v||`` converges to the largest-|eigenvalue| direction and ``||A v||`` to
  ``sigma``). The iterate is detached (as in ``torch.nn.utils.spectral_norm``): at convergence the gradient
  of ``||A v||`` is exactly the gradient of ``sigma``. The paper's code squares the estimate; ``squared``
  selects that variant.
* Max-norm constraint — Srivastava et al., "Dropout: A Simple Way to Prevent Neural Networks from
  Overfitting", JMLR 2014, Sec. 5.1: after each step rescale every unit's incoming weight vector so that
  ``||w||_2 <= c`` (same result as ``torch.renorm(w, 2, 0, c)``).
"""

from __future__ import annotations

from collections.abc import Iterable

import torch
from torch import Tensor, nn

__all__ = [
    "l1_penalty",
    "l2_penalty",
    "elastic_net_penalty",
    "as_matrix",
    "gram_minus_identity",
    "soft_orthogonality",
    "double_soft_orthogonality",
    "mutual_coherence",
    "spectral_norm_power_iteration",
    "srip",
    "orthogonality_penalty",
    "max_norm_",
    "MaxNorm",
]

Params = Tensor | Iterable[Tensor]


def _tensors(params: Params) -> list[Tensor]:
    return [params] if isinstance(params, Tensor) else list(params)


def _total(terms: list[Tensor]) -> Tensor:
    """Sum of 0-dim tensors (keeps their dtype/device); ``tensor(0.)`` when there are none."""
    if not terms:
        return torch.tensor(0.0)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return total


def l1_penalty(params: Params) -> Tensor:
    """``sum_i ||w_i||_1`` over the given tensors."""
    return _total([p.abs().sum() for p in _tensors(params)])


def l2_penalty(params: Params) -> Tensor:
    """``sum_i ||w_i||_2^2`` (no 1/2) over the given tensors."""
    return _total([(p * p).sum() for p in _tensors(params)])


def elastic_net_penalty(params: Params, alpha: float = 1.0, l1_ratio: float = 0.5) -> Tensor:
    """``alpha * (l1_ratio * ||w||_1 + 0.5 * (1 - l1_ratio) * ||w||_2^2)`` (scikit-learn's convention)."""
    if not 0.0 <= l1_ratio <= 1.0:
        raise ValueError(f"elastic_net_penalty: l1_ratio must be in [0, 1], got {l1_ratio}")
    ps = _tensors(params)
    return alpha * (l1_ratio * l1_penalty(ps) + 0.5 * (1.0 - l1_ratio) * l2_penalty(ps))


def as_matrix(weight: Tensor) -> Tensor:
    """View a weight as ``(out, fan_in)``: ``(out, in, *k)`` -> ``(out, in * prod(k))``."""
    if weight.dim() < 2:
        raise ValueError(f"orthogonality: weight must have >= 2 dims, got shape {list(weight.shape)}")
    return weight.reshape(weight.shape[0], -1)  # (out, fan_in)


def gram_minus_identity(weight: Tensor, side: str = "small") -> Tensor:
    """``W W^T - I`` or ``W^T W - I``; ``side="small"`` picks the smaller Gram (as the paper's code)."""
    w = as_matrix(weight)
    rows, cols = w.shape
    if side not in ("small", "rows", "cols"):
        raise ValueError(f"gram_minus_identity: side must be 'small', 'rows' or 'cols', got {side!r}")
    use_rows = rows <= cols if side == "small" else side == "rows"
    g = w @ w.t() if use_rows else w.t() @ w  # (r, r) or (c, c)
    return g - torch.eye(g.shape[0], dtype=g.dtype, device=g.device)


def soft_orthogonality(weight: Tensor) -> Tensor:
    """SO: ``||G - I||_F^2`` with the smaller Gram matrix ``G``."""
    d = gram_minus_identity(weight)
    return (d * d).sum()


def double_soft_orthogonality(weight: Tensor) -> Tensor:
    """DSO: ``||W^T W - I||_F^2 + ||W W^T - I||_F^2``."""
    a, b = gram_minus_identity(weight, "rows"), gram_minus_identity(weight, "cols")
    return (a * a).sum() + (b * b).sum()


def mutual_coherence(weight: Tensor, eps: float = 1e-12) -> Tensor:
    """MC: ``max |G - I|`` where ``G`` is the Gram of the row-normalised (smaller side) matrix."""
    w = as_matrix(weight)
    w = w if w.shape[0] <= w.shape[1] else w.t()
    w = w / w.norm(dim=1, keepdim=True).clamp_min(eps)
    return gram_minus_identity(w, "rows").abs().amax()


def spectral_norm_power_iteration(a: Tensor, n_iter: int = 2, v: Tensor | None = None,
                                  eps: float = 1e-12) -> tuple[Tensor, Tensor]:
    """Estimate ``sigma(A)`` of a square symmetric ``A`` by ``n_iter`` power steps; returns ``(sigma, v)``.

    ``v`` (shape ``(n,)``) warm-starts the iteration; the returned ``v`` can be fed back next call.
    """
    if a.dim() != 2 or a.shape[0] != a.shape[1]:
        raise ValueError(f"spectral_norm_power_iteration: expected a square matrix, got {list(a.shape)}")
    if n_iter < 1:
        raise ValueError(f"spectral_norm_power_iteration: n_iter must be >= 1, got {n_iter}")
    with torch.no_grad():
        if v is None:
            v = torch.randn(a.shape[0], dtype=a.dtype, device=a.device)
        v = v / v.norm().clamp_min(eps)
        for _ in range(n_iter - 1):
            av = a @ v
            v = av / av.norm().clamp_min(eps)
    sigma = (a @ v).norm()  # differentiable in A, v fixed
    return sigma, v


def srip(weight: Tensor, n_iter: int = 2, v: Tensor | None = None, squared: bool = False) -> Tensor:
    """SRIP: spectral norm of ``G - I`` by power iteration (``squared=True``: the paper code's square)."""
    sigma, _ = spectral_norm_power_iteration(gram_minus_identity(weight), n_iter, v)
    return sigma * sigma if squared else sigma


_ORTHO = {"so": soft_orthogonality, "dso": double_soft_orthogonality, "mc": mutual_coherence, "srip": srip}


def orthogonality_penalty(module_or_weights: nn.Module | Params, kind: str = "srip", **kw) -> Tensor:
    """Sum of one orthogonality penalty over every weight with >= 2 dims (biases and norm scales skipped)."""
    if kind not in _ORTHO:
        raise ValueError(f"orthogonality_penalty: kind must be one of {sorted(_ORTHO)}, got {kind!r}")
    params = module_or_weights.parameters() if isinstance(module_or_weights, nn.Module) else module_or_weights
    fn = _ORTHO[kind]
    return _total([fn(p, **kw) for p in _tensors(params) if p.dim() >= 2])


@torch.no_grad()
def max_norm_(params: nn.Module | Params, max_value: float, dim: int = 0, norm_type: float = 2.0) -> None:
    """In place: rescale each slice ``w.select(dim, i)`` whose ``norm_type``-norm exceeds ``max_value``.

    Slices along ``dim = 0`` are the incoming weights of one output unit (Linear rows, conv filters).
    Uses ``max_value / (norm + 1e-7)`` like ``torch.renorm``. Tensors with < 2 dims are left alone.
    """
    if max_value <= 0:
        raise ValueError(f"max_norm_: max_value must be > 0, got {max_value}")
    tensors = params.parameters() if isinstance(params, nn.Module) else _tensors(params)
    for w in tensors:
        if w.dim() < 2:
            continue
        moved = w.movedim(dim, 0)
        norms = torch.linalg.vector_norm(moved.reshape(moved.shape[0], -1), norm_type, dim=1)  # (n_units,)
        scale = torch.where(norms > max_value, max_value / (norms + 1e-7), torch.ones_like(norms))
        shape = [1] * w.dim()
        shape[dim] = -1
        w.mul_(scale.view(shape))


class MaxNorm:
    """Callable constraint ``MaxNorm(3.0)(model)``: apply :func:`max_norm_` after each optimizer step."""

    def __init__(self, max_value: float = 3.0, dim: int = 0, norm_type: float = 2.0) -> None:
        self.max_value, self.dim, self.norm_type = max_value, dim, norm_type

    def __call__(self, params: nn.Module | Params) -> None:
        max_norm_(params, self.max_value, self.dim, self.norm_type)

    def __repr__(self) -> str:
        return f"MaxNorm(max_value={self.max_value}, dim={self.dim}, norm_type={self.norm_type})"
