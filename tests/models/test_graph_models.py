"""Graph models against torch_geometric's reference models (same weights, equal outputs) and the paper's
structure (GIN's count formula, DiffPool's auxiliary losses reaching the trainer's loss)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models._base import training_loss

pyg_models = pytest.importorskip("torch_geometric.nn.models")


def _graph(n=20, f=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, f, generator=g, dtype=torch.float64), torch.randint(0, n, (2, 60), generator=g)


@pytest.mark.parametrize("name, ref_cls, hidden", [("gcn", "GCN", 16), ("graphsage", "GraphSAGE", 64)])
def test_node_models_equal_pyg_basic_gnn(name, ref_cls, hidden):
    ours = dlzoo.create_model(name, in_channels=6, num_classes=3).double().eval()
    ref = getattr(pyg_models, ref_cls)(6, hidden, num_layers=2, out_channels=3, dropout=0.5).double().eval()
    ours.load_state_dict(ref.state_dict())  # strict: same keys (convs.i.*)
    x, edge_index = _graph()
    torch.testing.assert_close(ours(x, edge_index), ref(x, edge_index))
    with torch.device("meta"):
        cora = getattr(pyg_models, ref_cls)(1433, hidden, num_layers=2, out_channels=7)
    assert sum(p.numel() for p in cora.parameters()) == dlzoo.model_info(name).reference_params


def test_gcn_model_takes_edge_weights_like_pyg():
    ours = dlzoo.create_model("gcn", in_channels=6, num_classes=3).double().eval()
    ref = pyg_models.GCN(6, 16, num_layers=2, out_channels=3).double().eval()
    ours.load_state_dict(ref.state_dict())
    x, edge_index = _graph(seed=1)
    w = torch.rand(edge_index.shape[1], dtype=torch.float64)
    torch.testing.assert_close(ours(x, edge_index, w), ref(x, edge_index, edge_weight=w))


def test_gin_readout_sums_every_depth_and_is_permutation_invariant():
    model = dlzoo.create_model("gin", in_channels=6, hidden_channels=8, num_layers=3).double().eval()
    x, edge_index = _graph()
    batch = torch.zeros(20, dtype=torch.long)
    out = model(x, edge_index, batch)
    perm = torch.randperm(20)
    inverse = torch.empty_like(perm)
    inverse[perm] = torch.arange(20)
    torch.testing.assert_close(
        model(x[perm], inverse[edge_index], batch), out
    )  # relabelled nodes: same logits


def test_diffpool_aux_losses_reach_the_training_loss():
    model = dlzoo.create_model("diffpool", in_channels=6, hidden_channels=8, max_nodes=20).double().train()
    x, edge_index = _graph()
    batch = torch.cat([torch.zeros(12), torch.ones(8)]).long()
    edge_index = edge_index[:, (batch[edge_index[0]] == batch[edge_index[1]])]  # no edges across graphs
    out = model(x, edge_index, batch)
    target = torch.tensor([0, 1])
    ce = torch.nn.functional.cross_entropy(out.logits, target)
    loss = training_loss(out, torch.nn.functional.cross_entropy, target)
    torch.testing.assert_close(loss, ce + out.link_loss + out.entropy_loss)
    assert out.link_loss > 0 and out.entropy_loss > 0
    with pytest.raises(ValueError, match="more than max_nodes=20"):
        model(torch.randn(21, 6, dtype=torch.float64), edge_index, torch.zeros(21, dtype=torch.long))
