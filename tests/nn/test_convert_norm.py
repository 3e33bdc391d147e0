"""convert_norm on real models: torch's TransformerEncoderLayer, a small convnet, dlzoo layers.

The check that "only the norms change": every non-norm parameter and buffer is untouched, and the
converted model's output equals the ORIGINAL model run with its norm layers' forward replaced by the
target's equation written out here by hand (DyT: gamma * tanh(alpha * x) + beta).
"""

from __future__ import annotations

import types

import pytest
import torch
from torch import nn

from dlzoo.nn import (
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    DyT,
    GroupNorm,
    LayerNorm,
    LayerNorm2d,
    RMSNorm,
    convert_norm,
)


def _dyt_by_hand(alpha: float, channels_first: bool):
    def forward(self, x):
        w = self.weight.view(-1, *[1] * (x.dim() - 2)) if channels_first else self.weight
        b = self.bias.view(-1, *[1] * (x.dim() - 2)) if channels_first else self.bias
        return w * torch.tanh(alpha * x) + b
    return forward


def _non_norm_state(model: nn.Module, norm_names: set[str]) -> dict[str, torch.Tensor]:
    return {k: v for k, v in model.state_dict().items() if k.rsplit(".", 1)[0] not in norm_names}


def test_transformer_encoder_layer_layernorm_to_dyt_changes_only_norms():
    layer = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=24, dropout=0.0, batch_first=True)
    with torch.no_grad():
        for name in ("norm1", "norm2"):
            getattr(layer, name).weight.normal_()
            getattr(layer, name).bias.normal_()
    original = types.SimpleNamespace(**{k: v.clone() for k, v in layer.state_dict().items()})
    reference = nn.TransformerEncoderLayer(d_model=16, nhead=2, dim_feedforward=24, dropout=0.0,
                                           batch_first=True)
    reference.load_state_dict(layer.state_dict())
    for name in ("norm1", "norm2"):  # the original model, its LayerNorms now computing DyT by hand
        norm = getattr(reference, name)
        norm.forward = types.MethodType(_dyt_by_hand(0.8, channels_first=False), norm)

    report = convert_norm(layer, "dyt", copy_affine=True, alpha_init=0.8)
    assert report.module is layer
    assert [(r.name, r.source, r.target, r.num_features) for r in report.replaced] == [
        ("norm1", "LayerNorm", "DyT", 16), ("norm2", "LayerNorm", "DyT", 16)]
    assert all(r.copied == ("weight", "bias") for r in report.replaced)
    assert isinstance(layer.norm1, DyT) and isinstance(layer.norm2, DyT)
    torch.testing.assert_close(layer.norm1.weight, original.__dict__["norm1.weight"])
    kept = _non_norm_state(layer, {"norm1", "norm2"})
    assert set(kept) == {k for k in original.__dict__ if not k.startswith("norm")}
    for k, v in kept.items():
        assert torch.equal(v, original.__dict__[k]), k
    # the module types outside the norms are unchanged
    assert [type(m) for n, m in layer.named_modules() if "norm" not in n] == \
        [type(m) for n, m in reference.named_modules() if "norm" not in n]

    x = torch.randn(3, 5, 16)
    torch.testing.assert_close(layer(x), reference(x))
    assert "LayerNorm -> DyT: 2" in str(report)


def test_convnet_batchnorm_to_channels_first_dyt_fresh_init():
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8), nn.ReLU(), nn.Conv2d(8, 4, 1),
                          nn.Sequential(nn.BatchNorm2d(4)), nn.Flatten(), nn.Linear(4 * 36, 5),
                          nn.BatchNorm1d(5))
    model.eval()
    conv_weight = model[0].weight.clone()
    report = convert_norm(model, "dyt", source="batchnorm")
    assert [r.name for r in report.replaced] == ["1", "4.0", "7"]
    for r, channels in zip(report.replaced, (8, 4, 5)):
        assert r.channels_first and r.num_features == channels and r.copied == ()
    dyt = model[1]
    assert isinstance(dyt, DyT) and not dyt.channels_last and not dyt.training  # keeps eval mode
    assert torch.equal(dyt.weight, torch.ones(8)) and torch.equal(dyt.bias, torch.zeros(8))
    assert torch.equal(model[0].weight, conv_weight)
    x = torch.randn(2, 3, 8, 8)
    h = model[0](x)
    torch.testing.assert_close(model[1](h), torch.tanh(0.5 * h))
    assert model(x).shape == (2, 5)


def test_between_norms_copy_affine_and_filters():
    model = nn.ModuleDict({
        "ln": LayerNorm(6), "ln2d": LayerNorm2d(6), "bn1": BatchNorm1d(6), "bn3": BatchNorm3d(6),
        "rms": nn.RMSNorm(6), "multi": nn.LayerNorm((2, 3)), "gn": nn.GroupNorm(3, 6),
    }).double()
    with torch.no_grad():
        model["ln"].weight.normal_()
    report = convert_norm(model, "rmsnorm", source="layernorm", copy_affine=True, eps=1e-6)
    assert isinstance(model["ln"], RMSNorm) and model["ln"].eps == 1e-6
    assert model["ln"].weight.dtype == torch.float64
    assert report.replaced[0].copied == ("weight",)
    assert model["ln2d"] is not None and isinstance(model["ln2d"], LayerNorm2d)  # rmsnorm: no channels-first
    skipped = dict(report.skipped)
    assert "channels-first" in skipped["ln2d"] and "2 trailing dims" in skipped["multi"]

    report = convert_norm(model, "batchnorm", source="batchnorm")  # rank is kept
    assert isinstance(model["bn1"], BatchNorm1d) and isinstance(model["bn3"], BatchNorm3d)
    report = convert_norm(model, "groupnorm", include="bn*", num_groups=2)
    assert [r.name for r in report.replaced] == ["bn1", "bn3"]
    assert isinstance(model["bn3"], GroupNorm) and model["bn3"].num_groups == 2
    report = convert_norm(model, "layernorm", source=nn.GroupNorm)
    assert isinstance(model["gn"], LayerNorm2d)
    inorm = nn.Sequential(nn.InstanceNorm2d(6, affine=True))
    report = convert_norm(inorm, "groupnorm", source="instancenorm", num_groups=6)
    assert isinstance(inorm[0], GroupNorm) and report.replaced[0].channels_first


def test_root_norm_and_errors():
    report = convert_norm(nn.LayerNorm(4), "dyt")
    assert isinstance(report.module, DyT) and len(report) == 1
    assert len(convert_norm(BatchNorm2d(4), "dyt", source="layernorm")) == 0
    dyt = DyT(4)
    assert convert_norm(dyt, "dyt").module is dyt  # already the target: left alone
    with pytest.raises(KeyError, match="unknown source"):
        convert_norm(nn.LayerNorm(4), "dyt", source="layernrom")
    with pytest.raises(KeyError):
        convert_norm(nn.LayerNorm(4), "nonexistent_norm")
