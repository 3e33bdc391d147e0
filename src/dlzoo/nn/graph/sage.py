"""GraphSAGE, Hamilton, Ying & Leskovec, "Inductive Representation Learning on Large Graphs", NeurIPS 2017,
arXiv:1706.02216, Algorithm 1 (mirrors ``torch_geometric.nn.SAGEConv``: arguments and state_dict keys):

    x'_i = W_l AGG_{j in N(i)} p(x_j) + W_r x_i          (+ bias in W_l)
    p(x) = ReLU(W_p x + b_p) if project else x;    AGG in {mean, max, sum};    x'_i <- x'_i / ||x'_i||_2 if
    normalize

A node with no incoming edge aggregates 0. Shapes: ``x (N, F_in)`` or a bipartite pair ``(x_src, x_dst)``,
``edge_index (2, E)`` -> ``(N_dst, F_out)``.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ..channel_affine import check_positive_int
from ..linear import Linear
from .scatter import check_edge_index, scatter

__all__ = ["SAGEConv"]


class SAGEConv(nn.Module):
    """GraphSAGE layer (see the module docstring); ``aggr`` is "mean", "max" or "sum"."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        aggr: str = "mean",
        normalize: bool = False,
        root_weight: bool = True,
        project: bool = False,
        bias: bool = True,
    ) -> None:
        super().__init__()
        check_positive_int("SAGEConv", "in_channels", in_channels)
        check_positive_int("SAGEConv", "out_channels", out_channels)
        if aggr not in ("mean", "max", "sum", "add"):
            raise ValueError(f"SAGEConv: aggr must be 'mean', 'max' or 'sum', got {aggr!r}")
        self.in_channels, self.out_channels, self.aggr = in_channels, out_channels, aggr
        self.normalize, self.root_weight, self.project = normalize, root_weight, project
        if project:
            self.lin = Linear(in_channels, in_channels, bias=True)
        self.lin_l = Linear(in_channels, out_channels, bias=bias)
        if root_weight:
            self.lin_r = Linear(in_channels, out_channels, bias=False)

    def forward(self, x: Tensor | tuple[Tensor, Tensor], edge_index: Tensor) -> Tensor:
        x_src, x_dst = (x, x) if isinstance(x, Tensor) else x
        for name, t in (("x", x_src), ("x_dst", x_dst)):
            if t.dim() != 2 or t.shape[1] != self.in_channels:
                raise ValueError(
                    f"SAGEConv: expected {name} of shape (N, {self.in_channels}), got {list(t.shape)}"
                )
        check_edge_index("SAGEConv", edge_index, max(x_src.shape[0], x_dst.shape[0]))
        if self.project:
            x_src = F.relu(self.lin(x_src))
        src, dst = edge_index
        neigh = scatter(x_src.index_select(0, src), dst, x_dst.shape[0], self.aggr)  # (N_dst, F_in)
        out = self.lin_l(neigh)
        if self.root_weight:
            out = out + self.lin_r(x_dst)
        return F.normalize(out, p=2.0, dim=-1) if self.normalize else out

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, aggr={self.aggr!r}"
