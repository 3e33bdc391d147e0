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


class WithNoWeightDecay(nn.Module):
    """A ViT-like module that lists parameters to exempt, timm's way (``no_weight_decay()``)."""

    def __init__(self) -> None:
        super().__init__()
        self.pos_embed = nn.Parameter(torch.zeros(1, 4, 8))
        self.cls_token = nn.Parameter(torch.zeros(1, 1, 8))
        self.patch = nn.Conv2d(3, 8, 2)
        self.rel = nn.Module()  # a module named in no_weight_decay(): all of its parameters are exempt
        self.rel.table = nn.Parameter(torch.zeros(5, 2))
        self.rel.proj = nn.Linear(2, 2)
        self.blocks = nn.Sequential(nn.Linear(8, 8), nn.Linear(8, 8))
        self.blocks[1].bias_table = nn.Parameter(torch.zeros(3, 3))
        self.relu_gate = nn.Parameter(torch.zeros(2, 2))  # starts with "rel" but is no submodule of it
        self.head = nn.Linear(8, 2)

    def no_weight_decay(self) -> set[str]:
        return {"pos_embed", "cls_token", "dist_token", "rel", "*.bias_table"}


def test_model_no_weight_decay_is_honoured() -> None:
    groups = weight_decay_groups(WithNoWeightDecay(), 0.05)
    decay, no_decay = _names(groups)
    # by hand: exact names, the module prefix "rel", the pattern "*.bias_table", and every 1-d parameter
    assert decay == {"patch.weight", "blocks.0.weight", "blocks.1.weight", "relu_gate", "head.weight"}
    assert no_decay == {"pos_embed", "cls_token", "rel.table", "rel.proj.weight", "rel.proj.bias",
                        "blocks.1.bias_table", "patch.bias", "blocks.0.bias", "blocks.1.bias", "head.bias"}
    off = _names(weight_decay_groups(WithNoWeightDecay(), 0.05, use_model_no_weight_decay=False))[0]
    assert {"pos_embed", "cls_token", "rel.table", "blocks.1.bias_table"} <= off
    # skip= takes the same kinds of entries
    assert "head.weight" in _names(weight_decay_groups(WithNoWeightDecay(), 0.05, skip=("head",)))[1]


def test_no_weight_decay_matches_timm() -> None:
    """timm's own grouping (exact names and fnmatch patterns; timm has no module-prefix rule)."""
    timm_groups = pytest.importorskip("timm.optim._param_groups")

    class Net2(WithNoWeightDecay):
        def no_weight_decay(self) -> set[str]:
            return {"pos_embed", "cls_token", "dist_token", "*.bias_table", "rel.table"}

    net = Net2()
    ref = timm_groups.param_groups_weight_decay(net, 0.05, no_weight_decay_list=net.no_weight_decay())
    names = {id(p): n for n, p in net.named_parameters()}
    ref_no_decay = {names[id(p)] for g in ref if g["weight_decay"] == 0 for p in g["params"]}
    assert _names(weight_decay_groups(net, 0.05))[1] == ref_no_decay


def test_create_optimizer_module_uses_default_decay_and_no_weight_decay() -> None:
    model = WithNoWeightDecay()
    opt = create_optimizer("adamw", model)  # AdamW's default weight_decay = 0.01, not applied to 1-d params
    assert [g["weight_decay"] for g in opt.param_groups] == [0.01, 0.0]
    assert {"pos_embed", "rel.table", "head.bias"} <= set(opt.param_groups[1]["param_names"])
    assert len(create_optimizer("adam", model).param_groups) == 1  # Adam's default decay is 0
    assert len(create_optimizer("muon", [model.head.weight]).param_groups) == 1


def test_bad_no_weight_decay() -> None:
    class Bad(nn.Linear):
        def no_weight_decay(self):  # a single string is not a collection of names
            return "bias"

    with pytest.raises(TypeError, match="no_weight_decay"):
        weight_decay_groups(Bad(2, 2), 0.1)
    with pytest.raises(TypeError, match="skip"):
        weight_decay_groups(Net(), 0.1, skip="fc.weight")
