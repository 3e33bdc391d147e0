"""Graph isomorphism network layer, Xu, Hu, Leskovec & Jegelka, "How Powerful are Graph Neural Networks?",
ICLR 2019, arXiv:1810.00826, eq. 4.1 (mirrors ``torch_geometric.nn.GINConv``: arguments and state_dict keys):

    x'_i = h_Theta((1 + eps) x_i + sum_{j in N(i)} x_j)

``h_Theta`` is any module (an MLP in the paper); ``eps`` is learnable with ``train_eps=True`` (a parameter),
else a fixed buffer. Shapes: ``x (N, F)``, ``edge_index (2, E)`` -> ``h_Theta``'s output ``(N, F_out)``.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from .scatter import check_edge_index, scatter

__all__ = ["GINConv"]


class GINConv(nn.Module):
    """GIN layer (see the module docstring)."""

    def __init__(self, nn: nn.Module, eps: float = 0.0, train_eps: bool = False) -> None:  # noqa: A002 (PyG name)
        super().__init__()
        if not isinstance(nn, torch.nn.Module):
            raise TypeError(f"GINConv: nn must be a torch.nn.Module, got {type(nn).__name__}")
        self.nn = nn
        self.initial_eps = float(eps)
        if train_eps:
            self.eps = torch.nn.Parameter(torch.tensor([float(eps)]))
        else:
            self.register_buffer("eps", torch.tensor([float(eps)]))

    def reset_parameters(self) -> None:
        self.eps.data.fill_(self.initial_eps)

    def forward(self, x: Tensor, edge_index: Tensor) -> Tensor:
        if x.dim() != 2:
            raise ValueError(f"GINConv: expected x of shape (N, F), got {list(x.shape)}")
        check_edge_index("GINConv", edge_index, x.shape[0])
        src, dst = edge_index
        neigh = scatter(x.index_select(0, src), dst, x.shape[0], "sum")  # (N, F): sum_j x_j
        return self.nn((1 + self.eps) * x + neigh)
