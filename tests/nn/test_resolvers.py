"""The one activation registry and the one norm resolver: names, classes, partials, layouts, defaults."""

from __future__ import annotations

import functools

import pytest
import torch
from torch import nn

import dlzoo
from dlzoo.nn import (
    GELU,
    BatchNorm1d,
    BatchNorm2d,
    BatchNorm3d,
    DyT,
    Hardswish,
    LayerNorm,
    LayerNorm2d,
    Mlp,
    ReLU,
    SqueezeExcite,
    convert_norm,
    create_norm,
    get_norm_layer,
)
from dlzoo.nn.create_act import ACTIVATIONS, create_act, get_act_layer
from dlzoo.nn.factory import norm_name


@pytest.mark.parametrize("spelling", ["hard_swish", "HardSwish", "hard-swish", "hardswish"])
def test_activation_names_are_normalised(spelling):
    assert get_act_layer(spelling) is Hardswish


def test_activation_registry_builds_dlzoo_classes_and_passes_classes_through():
    assert isinstance(create_act("gelu_tanh"), GELU) and create_act("gelu_tanh").approximate == "tanh"
    assert get_act_layer(nn.ReLU) is nn.ReLU and get_act_layer(None) is None
    assert isinstance(create_act(None), nn.Module)
    with pytest.raises(KeyError, match="did you mean 'relu'"):
        get_act_layer("rellu")
    with pytest.raises(TypeError, match="act_layer"):
        get_act_layer(3)
    for name in ACTIVATIONS.names():  # every registered factory builds a dlzoo module
        assert type(create_act(name)).__module__.startswith("dlzoo.nn")


def test_mlp_and_se_use_dlzoo_activations_so_reference_mode_reaches_them(monkeypatch):
    """Default Mlp / SE activations are dlzoo's: with the reference formula patched to differ from
    torch's fused GELU, reference_mode changes the Mlp output (it would not with torch.nn.GELU)."""
    mlp, se = Mlp(8, 16), SqueezeExcite(16)
    assert type(mlp.act) is GELU and type(se.act) is ReLU
    x = torch.randn(4, 8)
    fused = mlp(x)
    monkeypatch.setattr(torch, "erf", lambda t: torch.zeros_like(t))  # reference GELU becomes x / 2
    with dlzoo.reference_mode():
        ref = mlp(x)
    assert not torch.allclose(fused, ref)


@pytest.mark.parametrize("spelling", ["batchnorm", "batch-norm", "Batch_Norm", "BATCHNORM"])
def test_norm_names_are_normalised_everywhere(spelling):
    assert norm_name(spelling) == "batchnorm"
    assert isinstance(create_norm(spelling, 8, channels_first=True), BatchNorm2d)
    # spatial rank decides the class: a 3-D U-Net asking for "batch-norm" gets BatchNorm3d
    assert type(create_norm(spelling, 8, channels_first=True, spatial_dims=3)) is BatchNorm3d
    assert type(create_norm(spelling, 8, channels_first=True, spatial_dims=1)) is BatchNorm1d


def test_unet3d_batch_norm_spelling_builds_3d_batchnorm():
    model = dlzoo.create_model("unet3d_tiny", norm_layer="batch-norm")
    kinds = {type(m) for m in model.modules() if "BatchNorm" in type(m).__name__}
    assert kinds == {BatchNorm3d}


@pytest.mark.parametrize("spec", [DyT, functools.partial(DyT, alpha_init=0.7), "dyt"])
def test_dlzoo_classes_and_partials_honour_channels_first(spec):
    """A DyT class or partial asked for a channels-first layer normalizes dim 1 (it used to build a
    channels-last DyT whose (C,) weight broadcast over the width axis)."""
    layer = get_norm_layer(spec, channels_first=True)(3)
    assert isinstance(layer, DyT) and not layer.channels_last
    x = torch.randn(2, 3, 5, 5)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, 3.0]))
        expected = layer.weight.view(1, 3, 1, 1) * torch.tanh(layer.alpha * x) + layer.bias.view(1, 3, 1, 1)
    torch.testing.assert_close(layer(x), expected)
    if isinstance(spec, functools.partial):
        assert float(layer.alpha) == pytest.approx(0.7)


def test_layernorm_class_channels_first_is_layernorm2d():
    assert type(get_norm_layer(LayerNorm, channels_first=True)(4)) is LayerNorm2d
    assert type(get_norm_layer(LayerNorm2d, channels_first=False)(4)) is LayerNorm


def test_contradicting_layout_in_partial_is_refused():
    with pytest.raises(ValueError, match="channels_last=True contradicts the channels-first"):
        get_norm_layer(functools.partial(DyT, channels_last=True), channels_first=True)


def test_foreign_classes_pass_through_unchanged():
    assert type(get_norm_layer(nn.LayerNorm, eps=1e-3)(4)) is nn.LayerNorm


def test_family_defaults_are_data_applied_only_to_their_norm():
    defaults = {"layernorm": {"eps": 1e-6}}
    assert get_norm_layer("layer_norm", defaults=defaults)(4).eps == 1e-6
    assert get_norm_layer(LayerNorm, defaults=defaults)(4).eps == 1e-6
    assert get_norm_layer("layernorm", defaults=defaults, eps=1e-3)(4).eps == 1e-3  # caller wins
    assert isinstance(get_norm_layer("dyt", defaults=defaults)(4), DyT)  # no eps forced on DyT


def test_convert_batchnorm2d_to_dyt_class_keeps_channels_first():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.BatchNorm3d(4))
    for to in (DyT, functools.partial(DyT, alpha_init=0.5), "dyt"):
        m = convert_norm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)), to).module
        assert isinstance(m[1], DyT) and not m[1].channels_last
        assert m(torch.randn(2, 3, 7, 7)).shape == (2, 4, 5, 5)
    m = convert_norm(model, "batch-norm").module
    assert type(m[1]) is BatchNorm2d and type(m[2]) is BatchNorm3d
