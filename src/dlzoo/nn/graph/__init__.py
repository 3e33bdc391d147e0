"""Graph neural network layers mirroring torch_geometric 2.x (arguments and state_dict keys), from tensor
ops."""

from .dense import DenseGCNConv, DenseSAGEConv, to_dense_adj, to_dense_batch
from .diffpool import DiffPool, dense_diff_pool
from .gcn import GCNConv, gcn_norm
from .gin import GINConv
from .readout import GraphBatch, global_add_pool, global_max_pool, global_mean_pool
from .sage import SAGEConv
from .scatter import add_remaining_self_loops, degree, scatter

__all__ = [
    "GCNConv",
    "gcn_norm",
    "SAGEConv",
    "GINConv",
    "DenseGCNConv",
    "DenseSAGEConv",
    "DiffPool",
    "dense_diff_pool",
    "to_dense_batch",
    "to_dense_adj",
    "global_mean_pool",
    "global_max_pool",
    "global_add_pool",
    "GraphBatch",
    "scatter",
    "degree",
    "add_remaining_self_loops",
]
