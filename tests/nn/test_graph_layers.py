"""dlzoo.nn.graph against torch_geometric 2.x: the same weights (state_dict transplanted both ways), float64,
equal outputs and gradients; plus the error messages for bad graphs."""

from __future__ import annotations

import pytest
import torch

from dlzoo.nn import graph as G

pyg = pytest.importorskip("torch_geometric")
import torch_geometric.nn as pygnn  # noqa: E402
from torch_geometric.utils import to_dense_adj as pyg_to_dense_adj  # noqa: E402
from torch_geometric.utils import to_dense_batch as pyg_to_dense_batch  # noqa: E402

N, F_IN, F_OUT = 9, 5, 4


def _graph(seed=0, self_loops=True, isolated=True):
    g = torch.Generator().manual_seed(seed)
    src = torch.randint(0, N - 1 if isolated else N, (30,), generator=g)
    dst = torch.randint(0, N - 1 if isolated else N, (30,), generator=g)
    edge_index = torch.stack([src, dst])
    if self_loops:
        edge_index = torch.cat([edge_index, torch.tensor([[2, 5], [2, 5]])], dim=1)  # existing self loops
    x = torch.randn(N, F_IN, generator=g, dtype=torch.float64)
    w = torch.rand(edge_index.shape[1], generator=g, dtype=torch.float64) + 0.1
    return x, edge_index, w


def _compare(ours, ref, *inputs):
    """Same state dict, equal outputs and equal gradients w.r.t. inputs and every parameter."""
    ours.load_state_dict(ref.state_dict())
    inputs_a = [
        t.clone().requires_grad_(t.is_floating_point()) if isinstance(t, torch.Tensor) else t for t in inputs
    ]
    inputs_b = [
        t.clone().requires_grad_(t.is_floating_point()) if isinstance(t, torch.Tensor) else t for t in inputs
    ]
    out_a, out_b = ours(*inputs_a), ref(*inputs_b)
    torch.testing.assert_close(out_a, out_b)
    g = torch.randn_like(out_a)
    leaves_a = [t for t in inputs_a if isinstance(t, torch.Tensor) and t.requires_grad] + list(
        ours.parameters()
    )
    leaves_b = [t for t in inputs_b if isinstance(t, torch.Tensor) and t.requires_grad] + list(
        ref.parameters()
    )
    for a, b in zip(torch.autograd.grad(out_a, leaves_a, g), torch.autograd.grad(out_b, leaves_b, g)):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("improved", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("add_self_loops, normalize", [(True, True), (False, True), (False, False)])
def test_gcnconv_equals_pyg(improved, weighted, add_self_loops, normalize):
    x, edge_index, w = _graph()
    ref = pygnn.GCNConv(
        F_IN, F_OUT, improved=improved, add_self_loops=add_self_loops, normalize=normalize
    ).double()
    torch.nn.init.normal_(ref.bias)
    ours = G.GCNConv(
        F_IN, F_OUT, improved=improved, add_self_loops=add_self_loops, normalize=normalize
    ).double()
    assert set(ours.state_dict()) == set(ref.state_dict())
    unweighted_improved = improved and not weighted and add_self_loops
    _compare(ours, ref, x, edge_index, w if weighted or unweighted_improved else None)
    if unweighted_improved:
        # torch_geometric 2.8 drops fill_value=2 when edge_weight is None (its loops get weight 1), so its
        # unweighted improved=True is plain A + I; ours is the A + 2I of the docs, equal to PyG given unit
        # weights
        ones = torch.ones(edge_index.shape[1], dtype=torch.float64)
        torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index, ones))


def test_gcnconv_cached_reuses_the_first_graph():
    x, edge_index, _ = _graph()
    conv = G.GCNConv(F_IN, F_OUT, cached=True).double()
    first = conv(x, edge_index)
    torch.testing.assert_close(conv(x, edge_index[:, :3]), first)  # cache: the new edges are ignored
    conv.reset_parameters()
    assert conv._cached is None


@pytest.mark.parametrize("aggr", ["mean", "max", "sum"])
@pytest.mark.parametrize(
    "normalize, root_weight, project", [(False, True, False), (True, False, False), (False, True, True)]
)
def test_sageconv_equals_pyg(aggr, normalize, root_weight, project):
    x, edge_index, _ = _graph(1)
    kw = dict(aggr=aggr, normalize=normalize, root_weight=root_weight, project=project)
    ref, ours = pygnn.SAGEConv(F_IN, F_OUT, **kw).double(), G.SAGEConv(F_IN, F_OUT, **kw).double()
    assert set(ours.state_dict()) == set(ref.state_dict())
    _compare(ours, ref, x, edge_index)


def test_sageconv_bipartite_equals_pyg():
    g = torch.Generator().manual_seed(3)
    x_src, x_dst = (
        torch.randn(7, F_IN, generator=g, dtype=torch.float64),
        torch.randn(4, F_IN, dtype=torch.float64),
    )
    edge_index = torch.stack(
        [torch.randint(0, 7, (12,), generator=g), torch.randint(0, 4, (12,), generator=g)]
    )
    ref, ours = pygnn.SAGEConv(F_IN, F_OUT).double(), G.SAGEConv(F_IN, F_OUT).double()
    ours.load_state_dict(ref.state_dict())
    torch.testing.assert_close(ours((x_src, x_dst), edge_index), ref((x_src, x_dst), edge_index))


@pytest.mark.parametrize("train_eps", [False, True])
def test_ginconv_equals_pyg(train_eps):
    x, edge_index, _ = _graph(2)
    mlp = torch.nn.Sequential(torch.nn.Linear(F_IN, 8), torch.nn.ReLU(), torch.nn.Linear(8, F_OUT)).double()
    ref = pygnn.GINConv(mlp, eps=0.3, train_eps=train_eps).double()
    import copy

    ours = G.GINConv(copy.deepcopy(mlp), eps=0.3, train_eps=train_eps).double()
    assert set(ours.state_dict()) == set(ref.state_dict())
    assert isinstance(ours.eps, torch.nn.Parameter) == train_eps
    _compare(ours, ref, x, edge_index)


def _batched_graphs():
    g = torch.Generator().manual_seed(4)
    sizes = [5, 3, 6]
    graphs = []
    for n in sizes:
        e = torch.stack(
            [torch.randint(0, n, (2 * n,), generator=g), torch.randint(0, n, (2 * n,), generator=g)]
        )
        graphs.append((torch.randn(n, F_IN, generator=g, dtype=torch.float64), e))
    return G.GraphBatch.from_graphs(graphs, ys=[0, 1, 0])


def test_dense_conversion_and_readouts_equal_pyg():
    b = _batched_graphs()
    ours_x, ours_mask = G.to_dense_batch(b.x, b.batch)
    ref_x, ref_mask = pyg_to_dense_batch(b.x, b.batch)
    torch.testing.assert_close(ours_x, ref_x)
    assert torch.equal(ours_mask, ref_mask)
    torch.testing.assert_close(G.to_dense_adj(b.edge_index, b.batch), pyg_to_dense_adj(b.edge_index, b.batch))
    for ours, ref in (
        (G.global_mean_pool, pygnn.global_mean_pool),
        (G.global_max_pool, pygnn.global_max_pool),
        (G.global_add_pool, pygnn.global_add_pool),
    ):
        torch.testing.assert_close(ours(b.x, b.batch), ref(b.x, b.batch))
        torch.testing.assert_close(ours(b.x, None), ref(b.x, None))
    assert b.num_graphs == 3 and b.y.tolist() == [0, 1, 0]


@pytest.mark.parametrize("improved", [False, True])
def test_dense_convs_equal_pyg(improved):
    b = _batched_graphs()
    x, mask = G.to_dense_batch(b.x, b.batch)
    adj = G.to_dense_adj(b.edge_index, b.batch).double()
    ref = pygnn.DenseGCNConv(F_IN, F_OUT, improved=improved).double()
    torch.nn.init.normal_(ref.bias)
    _compare(G.DenseGCNConv(F_IN, F_OUT, improved=improved).double(), ref, x, adj, mask)
    _compare(
        G.DenseSAGEConv(F_IN, F_OUT, normalize=improved).double(),
        pygnn.DenseSAGEConv(F_IN, F_OUT, normalize=improved).double(),
        x,
        adj,
        mask,
    )


@pytest.mark.parametrize("normalize", [True, False])
@pytest.mark.parametrize("masked", [True, False])
def test_dense_diff_pool_equals_pyg(normalize, masked):
    b = _batched_graphs()
    x, mask = G.to_dense_batch(b.x, b.batch)
    adj = G.to_dense_adj(b.edge_index, b.batch).double()
    s = torch.randn(*x.shape[:2], 3, dtype=torch.float64, requires_grad=True)
    x = x.requires_grad_()
    ours = G.dense_diff_pool(x, adj, s, mask if masked else None, normalize)
    ref = pygnn.dense_diff_pool(x, adj, s, mask if masked else None, normalize)
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    total = lambda outs: outs[0].sum() + outs[1].pow(2).sum() + outs[2] + outs[3]  # noqa: E731
    for a, r in zip(torch.autograd.grad(total(ours), [x, s]), torch.autograd.grad(total(ref), [x, s])):
        torch.testing.assert_close(a, r)


def test_diffpool_module_runs_two_dense_gnns():
    b = _batched_graphs()
    x, mask = G.to_dense_batch(b.x, b.batch)
    adj = G.to_dense_adj(b.edge_index, b.batch).double()
    pool = G.DiffPool(G.DenseGCNConv(F_IN, 6), G.DenseGCNConv(F_IN, 2)).double()
    out, out_adj, link, ent = pool(x, adj, mask)
    expected = G.dense_diff_pool(pool.embed(x, adj, mask), adj, pool.assign(x, adj, mask), mask)
    for a, r in zip((out, out_adj, link, ent), expected):
        torch.testing.assert_close(a, r)
    assert out.shape == (3, 2, 6) and out_adj.shape == (3, 2, 2)


def test_bad_graphs_get_one_line_errors():
    x, edge_index, _ = _graph()
    conv = G.GCNConv(F_IN, F_OUT).double()
    with pytest.raises(ValueError, match=r"node ids in \[0, 12\] but the graph has 9 nodes"):
        conv(x, torch.cat([edge_index, torch.tensor([[12], [0]])], dim=1))
    with pytest.raises(ValueError, match=r"edge_index must have shape \(2, E\)"):
        conv(x, edge_index.T)
    with pytest.raises(TypeError, match="edge_index must be int64"):
        conv(x, edge_index.double())
    with pytest.raises(ValueError, match=r"expected x of shape \(N, 5\)"):
        conv(x[:, :3], edge_index)
    with pytest.raises(ValueError, match="square adj"):
        G.DenseGCNConv(F_IN, F_OUT)(torch.randn(1, 4, F_IN), torch.randn(1, 4, 3))
    with pytest.raises(ValueError, match="no graphs"):
        G.GraphBatch.from_graphs([])
    # an empty graph (no edges) is valid: GCN sees only self loops
    out = conv(x, torch.zeros(2, 0, dtype=torch.long))
    torch.testing.assert_close(out, conv.lin(x) + conv.bias)
