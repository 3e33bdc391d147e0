"""Graph data: the embedded karate club equals networkx's, the loaders read files written here, and the
graph models learn the data (GCN on the karate club, GIN and DiffPool on the synthetic set)."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.data.graphs import karate_club, load_citation, load_tu, synthetic_graphs
from dlzoo.models._base import training_loss
from dlzoo.optim import Adam


def test_karate_club_equals_networkx():
    nx = pytest.importorskip("networkx")
    g = nx.karate_club_graph()
    data = karate_club()
    ours = {tuple(e) for e in data.edge_index.T.tolist()}
    theirs = {(a, b) for a, b in g.edges()} | {(b, a) for a, b in g.edges()}
    assert ours == theirs and len(ours) == 156
    assert data.y.tolist() == [int(g.nodes[i]["club"] != "Mr. Hi") for i in g.nodes]


def test_gcn_learns_the_karate_club_from_two_labels():
    torch.manual_seed(0)
    data = karate_club()
    model = dlzoo.create_model("gcn", in_channels=34, num_classes=2, hidden_channels=16)
    opt = Adam(model.parameters(), lr=0.01, weight_decay=5e-4)
    for _ in range(100):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(
            model(data.x, data.edge_index)[data.train_mask], data.y[data.train_mask]
        )
        loss.backward()
        opt.step()
    model.eval()
    pred = model(data.x, data.edge_index).argmax(1)
    accuracy = (pred[data.test_mask] == data.y[data.test_mask]).float().mean()
    assert accuracy >= 0.8, accuracy  # Kipf & Welling's demo separates the two factions


def test_synthetic_graphs_are_seeded_and_balanced():
    a, b = synthetic_graphs(20, seed=3), synthetic_graphs(20, seed=3)
    assert a.y.tolist() == b.y.tolist() and a.y.sum() == 10
    for (xa, ea), (xb, eb) in zip(a.graphs, b.graphs):
        assert torch.equal(xa, xb) and torch.equal(ea, eb)
        assert torch.equal(ea, ea.flip(0)[:, torch.argsort(ea[1] * 1000 + ea[0])])  # undirected


@pytest.mark.slow
@pytest.mark.parametrize(
    "name, kwargs, lr, bar",
    [
        ("gin", {"hidden_channels": 16, "num_layers": 3}, 0.01, 0.75),
        ("diffpool", {"hidden_channels": 16, "max_nodes": 24}, 0.003, 0.7),
    ],
)
def test_graph_classifiers_learn_the_synthetic_set(name, kwargs, lr, bar):
    """Chance is 0.5; on 40 test graphs one standard error is ~0.08, so 0.7 / 0.75 are 2.5 / 3 SE above it.
    DiffPool is the noisier learner here (test accuracy 0.6-0.9 across seeds after 20 epochs)."""
    torch.manual_seed(0)
    data = synthetic_graphs(120, seed=0)
    train, test = data.subset(torch.arange(80)), data.subset(torch.arange(80, 120))
    model = dlzoo.create_model(name, in_channels=3, num_classes=2, **kwargs)
    opt = Adam(model.parameters(), lr=lr)
    for epoch in range(20):
        model.train()
        for batch in train.batches(16, shuffle=True, seed=epoch):
            opt.zero_grad()
            out = model(batch.x, batch.edge_index, batch.batch)
            training_loss(out, torch.nn.functional.cross_entropy, batch.y).backward()
            opt.step()
    model.eval()
    batch = next(test.batches(len(test)))
    accuracy = (model(batch.x, batch.edge_index, batch.batch).argmax(1) == batch.y).float().mean()
    assert accuracy >= bar, (name, accuracy)


def test_load_citation_reads_linqs_files(tmp_path):
    (tmp_path / "toy.content").write_text("p1 1 0 1 A\np2 0 1 0 B\np3 1 1 0 A\np4 0 0 1 B\n")
    (tmp_path / "toy.cites").write_text("p1 p2\np3 p1\np4 p2\npX p1\n")  # pX dangles and is dropped
    data = load_citation(tmp_path, "toy", train_per_class=1, num_val=1)
    assert data.x.shape == (4, 3) and data.y.tolist() == [0, 1, 0, 1]
    assert {tuple(e) for e in data.edge_index.T.tolist()} == {(1, 0), (0, 1), (0, 2), (2, 0), (1, 3), (3, 1)}
    assert data.train_mask.sum() == 2 and data.val_mask.sum() == 1 and data.test_mask.sum() == 1
    assert not (data.train_mask & data.val_mask).any()
    with pytest.raises(FileNotFoundError, match="missing"):
        load_citation(tmp_path, "absent")


def test_load_tu_reads_the_tu_format(tmp_path):
    # two graphs: a triangle (nodes 1-3) and an edge (nodes 4-5), 1-based ids
    (tmp_path / "T_A.txt").write_text("1, 2\n2, 1\n2, 3\n3, 2\n1, 3\n3, 1\n4, 5\n5, 4\n")
    (tmp_path / "T_graph_indicator.txt").write_text("1\n1\n1\n2\n2\n")
    (tmp_path / "T_graph_labels.txt").write_text("-1\n1\n")
    (tmp_path / "T_node_labels.txt").write_text("0\n1\n0\n2\n2\n")
    data = load_tu(tmp_path, "T")
    assert data.y.tolist() == [0, 1] and len(data) == 2
    (x0, e0), (x1, e1) = data.graphs
    assert x0.shape == (3, 3) and e0.shape == (2, 6) and e1.tolist() == [[0, 1], [1, 0]]
    assert x1.argmax(1).tolist() == [2, 2]
    (tmp_path / "T_A.txt").write_text("1, 9\n")
    with pytest.raises(ValueError, match="but the graph has 5 nodes"):
        load_tu(tmp_path, "T")
