"""weight_decay_groups and create_optimizer: nanoGPT's rule (decay iff dim >= 2), embeddings on request."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import dlzoo.optim as dopt
from dlzoo.optim import create_optimizer, weight_decay_groups


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.tok = nn.Embedding(10, 8)
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.conv = nn.Conv1d(8, 8, 3)
        self.ln = nn.LayerNorm(8)
        self.fc = nn.Linear(8, 2)
        self.alpha = nn.Parameter(torch.ones(1))  # DyT-style scalar
        self.frozen = nn.Linear(2, 2)
        self.frozen.requires_grad_(False)


def _names(groups: list[dict]) -> tuple[set[str], set[str]]:
    decay = next(g for g in groups if g["weight_decay"] > 0)
    no_decay = next(g for g in groups if g["weight_decay"] == 0)
    return set(decay["param_names"]), set(no_decay["param_names"])


def test_decay_only_matrices_nanogpt_rule() -> None:
    net = Net()
    groups = weight_decay_groups(net, 0.05)
    decay, no_decay = _names(groups)
    # written out by hand from the rule "decay iff p.dim() >= 2"
    assert decay == {"tok.weight", "pos_embed", "conv.weight", "fc.weight"}
    assert no_decay == {"conv.bias", "ln.weight", "ln.bias", "fc.bias", "alpha"}
    assert groups[0]["weight_decay"] == 0.05 and groups[1]["weight_decay"] == 0.0
    # frozen params are left out entirely; every trainable param appears exactly once
    ids = [id(p) for g in groups for p in g["params"]]
    assert len(ids) == len(set(ids)) == sum(1 for p in net.parameters() if p.requires_grad)


def test_no_decay_embeddings() -> None:
    decay, no_decay = _names(weight_decay_groups(Net(), 0.1, no_decay_embeddings=True))
    assert decay == {"conv.weight", "fc.weight"}
    assert {"tok.weight", "pos_embed"} <= no_decay


def test_groups_feed_an_optimizer_and_decay_only_the_decay_group() -> None:
    net = Net()
    opt = dopt.AdamW(weight_decay_groups(net, 0.5), lr=0.1)
    for p in net.parameters():
        p.grad = torch.zeros_like(p)  # zero gradient: only weight decay moves parameters
    before = {n: p.detach().clone() for n, p in net.named_parameters()}
    opt.step()
    after = dict(net.named_parameters())
    torch.testing.assert_close(after["fc.weight"], before["fc.weight"] * (1 - 0.1 * 0.5))
    assert torch.equal(after["ln.weight"], before["ln.weight"])
    assert torch.equal(after["fc.bias"], before["fc.bias"])


def test_create_optimizer_by_name() -> None:
    net = Net()
    opt = create_optimizer("AdamW", net.parameters(), lr=3e-4, weight_decay=0.1)
    assert isinstance(opt, dopt.AdamW) and opt.defaults["lr"] == 3e-4
    opt = create_optimizer("adamw", net, weight_decay=0.1)  # a module -> weight-decay groups
    assert [g["weight_decay"] for g in opt.param_groups] == [0.1, 0.0]
    assert set(dopt.OPTIMIZERS.names()) >= {"adam", "adamw"}


def test_create_optimizer_errors() -> None:
    with pytest.raises(ValueError, match="valid names: .*adamw"):
        create_optimizer("adamx", Net().parameters())
    with pytest.raises(ValueError, match="bad arguments"):
        create_optimizer("adamw", Net().parameters(), momentum=0.9)
    with pytest.raises(ValueError, match="weight_decay"):
        weight_decay_groups(Net(), -1.0)
