"""Graph convolution, Kipf & Welling, "Semi-Supervised Classification with Graph Convolutional Networks",
ICLR 2017, arXiv:1609.02907, eq. 2 (mirrors ``torch_geometric.nn.GCNConv``: arguments and state_dict keys):

    X' = D^-1/2 (A + I) D^-1/2 X W + b,        D_ii = sum_j (A + I)_ij

per node: ``x'_i = sum_{j in N(i) + {i}} e_ji / sqrt(d_j d_i) x_j W + b``. ``improved=True`` uses ``A + 2I``
(self loops of weight 2). Self loops are added only where a node has none ("remaining" loops); degrees are
counted at the target. (torch_geometric 2.8 ignores ``improved`` when no ``edge_weight`` is given; here the
loops weigh 2 either way.) Shapes: ``x (N, F_in)``, ``edge_index (2, E)``, ``edge_weight (E,)`` -> ``(N,
F_out)``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from .scatter import add_remaining_self_loops, check_edge_index, degree, scatter

__all__ = ["GCNConv", "gcn_norm", "glorot_"]


def glorot_(weight: Tensor) -> Tensor:
    """Glorot & Bengio 2010 uniform init, ``U(-a, a)``, ``a = sqrt(6 / (fan_in + fan_out))``."""
    bound = math.sqrt(6.0 / (weight.shape[-2] + weight.shape[-1]))
    with torch.no_grad():
        return weight.uniform_(-bound, bound)


def gcn_norm(
    edge_index: Tensor,
    edge_weight: Tensor | None,
    num_nodes: int,
    improved: bool = False,
    add_self_loops: bool = True,
    dtype: torch.dtype | None = None,
) -> tuple[Tensor, Tensor]:
    """Edge weights of ``D^-1/2 (A + I) D^-1/2``: ``e_ji / sqrt(deg_j deg_i)``, degree 0 -> weight 0."""
    if edge_weight is None:
        edge_weight = torch.ones(edge_index.shape[1], dtype=dtype, device=edge_index.device)
    if add_self_loops:
        edge_index, edge_weight = add_remaining_self_loops(
            edge_index, edge_weight, num_nodes, 2.0 if improved else 1.0
        )
    row, col = edge_index
    deg_inv_sqrt = degree(col, num_nodes, edge_weight).pow(-0.5)
    deg_inv_sqrt = deg_inv_sqrt.masked_fill(deg_inv_sqrt == float("inf"), 0.0)
    return edge_index, deg_inv_sqrt[row] * edge_weight * deg_inv_sqrt[col]


class GCNConv(nn.Module):
    """GCN layer (see the module docstring). ``cached=True`` stores the normalised graph of the first call
    (transductive learning on one fixed graph)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        improved: bool = False,
        cached: bool = False,
        add_self_loops: bool | None = None,
        normalize: bool = True,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("GCNConv", "in_channels", in_channels)
        check_positive_int("GCNConv", "out_channels", out_channels)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.improved, self.cached, self.normalize = improved, cached, normalize
        self.add_self_loops = normalize if add_self_loops is None else add_self_loops
        self.lin = Linear(in_channels, out_channels, bias=False)
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self._cached: tuple[Tensor, Tensor] | None = None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        glorot_(self.lin.weight)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._cached = None

    def forward(self, x: Tensor, edge_index: Tensor, edge_weight: Tensor | None = None) -> Tensor:
        if x.dim() != 2 or x.shape[1] != self.in_channels:
            raise ValueError(f"GCNConv: expected x of shape (N, {self.in_channels}), got {list(x.shape)}")
        check_edge_index("GCNConv", edge_index, x.shape[0])
        if self.normalize:
            if self._cached is None:
                edge_index, edge_weight = gcn_norm(
                    edge_index, edge_weight, x.shape[0], self.improved, self.add_self_loops, x.dtype
                )
                if self.cached:
                    self._cached = (edge_index, edge_weight)
            else:
                edge_index, edge_weight = self._cached
        h = self.lin(x)  # (N, F_out)
        src, dst = edge_index
        messages = h.index_select(0, src)  # (E, F_out): x_j W on every edge
        if edge_weight is not None:
            messages = messages * edge_weight.view(-1, 1)
        out = scatter(messages, dst, x.shape[0], "sum")  # (N, F_out)
        return out + self.bias if self.bias is not None else out

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, improved={self.improved}, cached={self.cached}"
