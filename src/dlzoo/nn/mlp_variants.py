"""MLP variants of the dl_techniques library (N. Markou, github.com/NikolasMarkou/dl_techniques), from their
papers where they have one:

* :class:`PowerMLP` -- Qiu et al., "PowerMLP: An Efficient Version of KAN", 2024, arXiv:2412.13571: a
  ReLU-power branch plus a SiLU basis branch (no bias), ``y = ReLU(W_m x + b_m)^k + W_b silu(x)``.
* :class:`GatedMLP` -- Liu, Dai, So, Le, "Pay Attention to MLPs", NeurIPS 2021, arXiv:2105.08050, Eq. 1-3:
  ``Z = GELU(LN(X) U)``, spatial gating unit ``s(Z) = Z_1 * (W LN(Z_2) + b)`` across the ``n`` tokens, with
  ``W`` near 0 and ``b = 1`` at init (so ``s(Z) ~ Z_1``: the block starts as an ordinary FFN), then
  ``Y = s(Z) V + X``.
* :class:`DifferentialFFN` -- the seed's dual-pathway FFN: ``p = relu(x)``, ``q = relu(-x)``, each through
  ``Linear -> LayerNorm -> act -> Linear(hidden/2) -> sigmoid``; ``y = W_o Dropout(LN_nobias(g_p - g_q))``.
* :class:`OrthoBlock` -- the seed's orthonormal-regularised dense with centering: ``z = W x + b``, centred
  over the features ``c = z - mean(z)``, projected to the unit sphere ``c / ||c||`` (logit norm), scaled per
  channel by ``s in [0, 1]`` (clamped, init 0.5), then the activation;
  :meth:`OrthoBlock.orthonormal_penalty` is ``factor * ||W W^T - I||_F^2`` (smaller Gram,
  :func:`dlzoo.losses.soft_orthogonality`) to add to the loss.

Shapes: ``(*, in_features) -> (*, out_features)``; GatedMLP ``(B, n, dim) -> (B, n, dim)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .channel_affine import check_positive_int
from .create_act import ActSpec, create_act
from .linear import Linear
from .norms import LayerNorm
from .regularization import Dropout

__all__ = ["PowerMLP", "GatedMLP", "SpatialGatingUnit", "DifferentialFFN", "OrthoBlock"]


def _check_last(name: str, x: Tensor, n: int) -> None:
    if x.dim() < 1 or x.shape[-1] != n:
        raise ValueError(f"{name}: expected input (*, {n}), got {list(x.shape)}")


class PowerMLP(nn.Module):
    """One PowerMLP layer ``ReLU(W_m x + b)^k + W_b silu(x)``."""

    def __init__(self, in_features: int, out_features: int, k: int = 3, bias: bool = True) -> None:
        super().__init__()
        self.in_features = check_positive_int("PowerMLP", "in_features", in_features)
        self.out_features = check_positive_int("PowerMLP", "out_features", out_features)
        self.k = check_positive_int("PowerMLP", "k", k)
        self.main_dense = Linear(in_features, out_features, bias=bias)
        self.basis_dense = Linear(in_features, out_features, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        _check_last("PowerMLP", x, self.in_features)
        return torch.relu(self.main_dense(x)).pow(self.k) + self.basis_dense(F.silu(x))


class SpatialGatingUnit(nn.Module):
    """``Z_1 * (W LN(Z_2) + b)`` with ``W (n, n)`` mixing tokens, init ``U(-eps, eps)`` and ``b = 1``."""

    def __init__(self, dim: int, seq_len: int, init_eps: float = 1e-3) -> None:
        super().__init__()
        self.norm = LayerNorm(dim // 2)
        self.seq_len = seq_len
        self.spatial_weight = nn.Parameter(torch.empty(seq_len, seq_len).uniform_(-init_eps / seq_len,
                                                                                  init_eps / seq_len))
        self.spatial_bias = nn.Parameter(torch.ones(seq_len))

    def forward(self, z: Tensor) -> Tensor:
        z1, z2 = z.chunk(2, dim=-1)  # (B, n, d/2) each
        z2 = self.norm(z2)
        z2 = torch.einsum("mn,bnd->bmd", self.spatial_weight, z2) + self.spatial_bias[:, None]  # tokens
        return z1 * z2


class GatedMLP(nn.Module):
    """gMLP block ``X + SGU(GELU(LN(X) U)) V`` over sequences of fixed length ``seq_len``."""

    def __init__(self, dim: int, seq_len: int, ffn_dim: int | None = None, act_layer: ActSpec = "gelu",
                 init_eps: float = 1e-3) -> None:
        super().__init__()
        self.dim = check_positive_int("GatedMLP", "dim", dim)
        self.seq_len = check_positive_int("GatedMLP", "seq_len", seq_len)
        ffn = 6 * dim if ffn_dim is None else ffn_dim  # paper: d_ffn = 6 d
        if ffn % 2:
            raise ValueError(f"GatedMLP: ffn_dim must be even (split in two halves), got {ffn}")
        self.norm = LayerNorm(dim)
        self.proj_in = Linear(dim, ffn)
        self.act = create_act(act_layer)
        self.sgu = SpatialGatingUnit(ffn, seq_len, init_eps)
        self.proj_out = Linear(ffn // 2, dim)

    def forward(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[1:] != (self.seq_len, self.dim):
            raise ValueError(f"GatedMLP: expected (B, {self.seq_len}, {self.dim}), got {list(x.shape)}")
        z = self.act(self.proj_in(self.norm(x)))  # (B, n, d_ffn)
        return x + self.proj_out(self.sgu(z))


class DifferentialFFN(nn.Module):
    """Positive / negative pathways whose gated difference is normalised and projected (module docstring)."""

    def __init__(self, in_features: int, hidden_features: int, out_features: int,
                 branch_act: ActSpec = "gelu", gate_act: ActSpec = "sigmoid", drop: float = 0.0,
                 bias: bool = True) -> None:
        super().__init__()
        self.in_features = check_positive_int("DifferentialFFN", "in_features", in_features)
        check_positive_int("DifferentialFFN", "hidden_features", hidden_features)
        if hidden_features % 2:
            raise ValueError(f"DifferentialFFN: hidden_features must be even, got {hidden_features}")
        half = hidden_features // 2
        self.positive_dense = Linear(in_features, hidden_features, bias=bias)
        self.layer_norm_pos = LayerNorm(hidden_features)
        self.positive_proj = Linear(hidden_features, half, bias=bias)
        self.negative_dense = Linear(in_features, hidden_features, bias=bias)
        self.layer_norm_neg = LayerNorm(hidden_features)
        self.negative_proj = Linear(hidden_features, half, bias=bias)
        self.branch_act, self.gate_act = create_act(branch_act), create_act(gate_act)
        self.layer_norm_diff = LayerNorm(half, bias=False)
        self.dropout = Dropout(drop)
        self.output_proj = Linear(half, out_features, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        _check_last("DifferentialFFN", x, self.in_features)
        pos = self.gate_act(self.positive_proj(self.branch_act(self.layer_norm_pos(self.positive_dense(
            torch.relu(x))))))
        neg = self.gate_act(self.negative_proj(self.branch_act(self.layer_norm_neg(self.negative_dense(
            torch.relu(-x))))))
        return self.output_proj(self.dropout(self.layer_norm_diff(pos - neg)))


class OrthoBlock(nn.Module):
    """Dense -> centering -> unit-sphere projection -> per-channel scale in [0, 1] -> activation."""

    def __init__(self, in_features: int, out_features: int, act_layer: ActSpec = "relu",
                 ortho_factor: float = 0.01, bias: bool = True, scale_init: float = 0.5,
                 eps: float = 1e-7) -> None:
        super().__init__()
        self.in_features = check_positive_int("OrthoBlock", "in_features", in_features)
        self.out_features = check_positive_int("OrthoBlock", "out_features", out_features)
        self.ortho_factor, self.eps = ortho_factor, eps
        self.dense = Linear(in_features, out_features, bias=bias)
        from .init import orthonormal_  # noqa: PLC0415  (init.py imports nothing from here)

        orthonormal_(self.dense.weight)
        self.scale = nn.Parameter(torch.full((out_features,), float(scale_init)))
        self.act = create_act(act_layer)

    def orthonormal_penalty(self) -> Tensor:
        """``ortho_factor * ||W W^T - I||_F^2`` (smaller Gram matrix)."""
        from ..losses.regularizers import soft_orthogonality  # noqa: PLC0415  (losses imports nn)

        return self.ortho_factor * soft_orthogonality(self.dense.weight)

    def forward(self, x: Tensor) -> Tensor:
        _check_last("OrthoBlock", x, self.in_features)
        z = self.dense(x)
        c = z - z.mean(dim=-1, keepdim=True)  # centering, no variance scaling
        c = c / torch.sqrt((c * c).sum(-1, keepdim=True).clamp_min(self.eps))  # onto the unit sphere
        return self.act(c * self.scale.clamp(0.0, 1.0))
