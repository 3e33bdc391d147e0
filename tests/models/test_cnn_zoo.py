"""The classic CNN zoo: exact published parameter counts, forward/backward at small inputs, interface.

Counts are checked against numbers published by others (torchvision docs, timm / Cadene / pytorchcv,
the papers), written here literally, and against layer-by-layer sums computed from the papers' tables.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models import model_info

# published totals (torchvision "num_params", timm, papers), NOT read back from our cards
PUBLISHED = {
    "resnet18": 11_689_512,
    "resnet34": 21_797_672,
    "resnet50": 25_557_032,
    "resnet101": 44_549_160,
    "resnet152": 60_192_808,
    "resnext50_32x4d": 25_028_904,
    "seresnet50": 28_088_024,
    "seresnext50_32x4d": 27_559_896,
    "vgg11": 132_863_336,
    "vgg11_bn": 132_868_840,
    "vgg13": 133_047_848,
    "vgg13_bn": 133_053_736,
    "vgg16": 138_357_544,
    "vgg16_bn": 138_365_992,
    "vgg19": 143_667_240,
    "vgg19_bn": 143_678_248,
    "alexnet": 61_100_840,
    "alexnet_original": 60_965_224,
    "googlenet": 6_624_904,
    "densenet121": 7_978_856,
    "mobilenetv4_conv_small": 3_774_024,
    "lenet5": 60_000,
    "lenet5_modern": 61_706,
    "nin_cifar10": 966_986,
}


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_exact_parameter_count(name):
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    assert _count(model) == PUBLISHED[name]
    assert model_info(name).reference_params == PUBLISHED[name]


def _conv(cin, cout, k, bias=True):
    return cin * cout * k * k + (cout if bias else 0)


def test_counts_from_paper_tables():
    # LeNet-5, paper Sec. II.B: C1 156, S2 12, C3 1516 (Table I: 6x3 + 9x4 + 1x6 input maps), S4 32, C5, F6
    c3 = (6 * 3 + 9 * 4 + 1 * 6) * 25 + 16
    assert c3 == 1516
    assert 156 + 12 + c3 + 32 + _conv(16, 120, 5) + (120 * 84 + 84) == 60_000
    # AlexNet 2012, Fig. 2: conv2/4/5 see half of the previous maps (two GPUs)
    alex = (
        _conv(3, 96, 11)
        + _conv(48, 256, 5)
        + _conv(256, 384, 3)
        + _conv(192, 384, 3)
        + _conv(192, 256, 3)
        + 9216 * 4096
        + 4096
        + 4096 * 4096
        + 4096
        + 4096 * 1000
        + 1000
    )
    assert alex == 60_965_224
    # NiN CIFAR-10: three mlpconv layers (5x5 192-160-96, 5x5 192-192-192, 3x3 192-192-10)
    nin = (
        _conv(3, 192, 5)
        + _conv(192, 160, 1)
        + _conv(160, 96, 1)
        + _conv(96, 192, 5)
        + 2 * _conv(192, 192, 1)
        + _conv(192, 192, 3)
        + _conv(192, 192, 1)
        + _conv(192, 10, 1)
    )
    assert nin == PUBLISHED["nin_cifar10"]
    # SE adds 2*C*C/16 + C/16 + C per bottleneck (C = 256, 512, 1024, 2048; 3, 4, 6, 3 blocks)
    se = sum(n * (2 * c * (c // 16) + c // 16 + c) for c, n in [(256, 3), (512, 4), (1024, 6), (2048, 3)])
    assert PUBLISHED["resnet50"] + se == PUBLISHED["seresnet50"]
    assert PUBLISHED["resnext50_32x4d"] + se == PUBLISHED["seresnext50_32x4d"]


# small but structure-preserving overrides for the models whose default classifier is huge
SMALL = {"vgg": dict(mlp_hidden=32, pool_size=1), "alexnet": dict(mlp_hidden=32, pool_size=1)}
SIZES = {"lenet5": 32, "lenet5_modern": 32, "alexnet": 64, "alexnet_original": 67, "nin_cifar10": 32}
HEAVY = {"resnet101", "resnet152", "vgg19_bn", "vgg19", "vgg16", "vgg13"}


def _small_model(name: str, **kw):
    family = model_info(name).family
    return dlzoo.create_model(name, num_classes=5, **SMALL.get(family, {}), **kw)


@pytest.mark.parametrize("name", [n for n in sorted(PUBLISHED) if n not in HEAVY])
def test_forward_backward_small_input(name):
    in_chans = 1 if name.startswith("lenet") else 3
    model = _small_model(name, in_chans=in_chans)
    size = SIZES.get(name, 32)
    x = torch.randn(2, in_chans, size, size)
    out = model(x)
    assert out.shape == (2, 5)
    assert torch.isfinite(out).all()
    out.square().mean().backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f"{name}: no/NaN gradient for {missing[:5]}"
    # uniform interface
    feats = model.forward_features(x)
    pre = model.forward_head(feats, pre_logits=True)
    assert pre.shape == (2, model.num_features)
    model.reset_classifier(7)
    assert model.forward_head(feats).shape == (2, 7)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(HEAVY))
def test_forward_backward_heavy(name):
    model = _small_model(name)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_resnet18_small_grayscale_and_eval():
    model = dlzoo.create_model("resnet18", num_classes=10, in_chans=1).eval()
    with torch.no_grad():
        out = model(torch.randn(3, 1, 32, 32))
    assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("norm", ["dyt", "groupnorm", "layernorm"])
def test_norm_layer_swap(norm):
    model = dlzoo.create_model("resnet18", num_classes=3, norm_layer=norm)
    names = {type(m).__name__ for m in model.modules()}
    assert "BatchNorm2d" not in names
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert torch.isfinite(out).all()


def test_norm_kwargs_reach_the_norm():
    model = dlzoo.create_model("resnet50", norm_layer="dyt", norm_kwargs={"alpha_init": 1.0})
    alphas = [m.alpha for m in model.modules() if type(m).__name__ == "DyT"]
    assert alphas and all(torch.allclose(a, torch.ones_like(a)) for a in alphas)
    bn = dlzoo.create_model("googlenet", num_classes=3)
    assert bn.conv1.bn.eps == 1e-3  # torchvision's GoogLeNet BatchNorm eps
    assert dlzoo.create_model("densenet121", norm_kwargs={"momentum": 0.01}).features.norm0.momentum == 0.01
    vgg = dlzoo.create_model("vgg11_bn", norm_layer="groupnorm", mlp_hidden=8, pool_size=1)
    assert "GroupNorm" in {type(m).__name__ for m in vgg.features}
    with pytest.raises(ValueError, match="_bn variant"):
        dlzoo.create_model("vgg11", norm_layer="dyt")


def test_googlenet_aux_heads_in_training():
    model = dlzoo.create_model("googlenet", num_classes=4, aux_logits=True)
    out = model(torch.randn(2, 3, 64, 64))
    assert out.logits.shape == out.aux_logits1.shape == out.aux_logits2.shape == (2, 4)
    model.eval()
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 4)
    model.reset_classifier(6)  # the auxiliary heads follow the new class count
    assert model.fc.out_features == model.aux1.fc2.out_features == model.aux2.fc2.out_features == 6
    assert model.train()(torch.randn(2, 3, 32, 32)).aux_logits1.shape == (2, 6)


def test_googlenet_options_and_errors():
    with pytest.raises(ValueError, match="transform_input .* in_chans=1"):
        dlzoo.create_model("googlenet", in_chans=1, transform_input=True)
    # torchvision's init_weights=False keeps torch's default init (uniform), True its truncated normal
    torch.manual_seed(0)
    default = dlzoo.create_model("googlenet", init_weights=False).fc.weight.detach()
    assert default.abs().max().item() <= 1024**-0.5 and default.std().item() > 0.015
    assert dlzoo.create_model("googlenet").fc.weight.std().item() == pytest.approx(0.01, rel=0.05)
    # the family's BN eps is data for the resolved norm, whatever spelling names it
    assert dlzoo.create_model("googlenet", norm_layer="Batch-Norm").conv1.bn.eps == 1e-3
    assert dlzoo.create_model("googlenet", norm_kwargs={"eps": 1e-5}).conv1.bn.eps == 1e-5


# torch.nn classes a model may use (containers); every layer must be dlzoo's so reference_mode reaches it
_CONTAINERS = (torch.nn.Sequential, torch.nn.ModuleList, torch.nn.ModuleDict)
MY_FAMILIES = sorted(n for n in PUBLISHED if not n.startswith(("res", "seres"))) + ["mlp_digits", "unet3d"]


@pytest.mark.parametrize("name", MY_FAMILIES)
def test_layers_are_dlzoo_modules(name):
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    foreign = {type(m).__name__ for m in model.modules()
               if type(m).__module__.startswith("torch.") and not isinstance(m, _CONTAINERS)}
    assert not foreign, f"{name}: torch.nn layers {sorted(foreign)}"


@pytest.mark.parametrize("name", ["vgg11_bn", "alexnet", "densenet121", "googlenet", "mobilenetv4_conv_small",
                                  "nin_cifar10", "lenet5_modern", "mlp_digits", "unet3d_tiny"])
def test_act_layer_by_name(name):
    from dlzoo.nn import ReLU, SiLU

    kw = dict(mlp_hidden=8, pool_size=1) if name.startswith(("vgg", "alex")) else {}
    with torch.device("meta"):
        model = dlzoo.create_model(name, act_layer="silu", **kw)
    kinds = {type(m) for m in model.modules()}
    assert SiLU in kinds and ReLU not in kinds


def test_alexnet_single_tower_has_no_norm_and_mobilenetv4_drop_path_schedule():
    from dlzoo.nn import DropPath, drop_path_rates

    with pytest.raises(ValueError, match="alexnet_original"):
        dlzoo.create_model("alexnet", norm_layer="batchnorm")
    with torch.device("meta"):
        model = dlzoo.create_model("mobilenetv4_conv_small", drop_path_rate=0.2)
    schedule = [r for stage in drop_path_rates(0.2, [2, 2, 6, 6, 1]) for r in stage]
    blocks = [b for stage in model.blocks for b in stage]
    residual = [(i, b.drop_path.drop_prob) for i, b in enumerate(blocks)
                if isinstance(getattr(b, "drop_path", None), DropPath)]
    assert len(residual) == 12 and all(rate == schedule[i] for i, rate in residual)


def test_lenet5_c3_connection_table_is_sparse():
    from dlzoo.models.lenet import C3_TABLE

    model = dlzoo.create_model("lenet5")
    dense = model.c3.dense_weight()
    for o, inputs in enumerate(C3_TABLE):
        for i in range(6):
            assert bool(dense[o, i].abs().sum() > 0) == (i in inputs)
    # the explicit per-connection path agrees with the dense conv
    x = torch.randn(2, 6, 14, 14, dtype=torch.float64)
    c3 = model.c3.double()
    with dlzoo.reference_mode():
        ref = c3(x)
    torch.testing.assert_close(c3(x), ref)
    # a change to input map 3 does not reach output map 0 (connected to 0, 1, 2 only)
    y = x.clone()
    y[:, 3] += 1.0
    torch.testing.assert_close(c3(y)[:, 0], c3(x)[:, 0])
    # the RBF centres are the logits layer's fixed weight: a buffer (not trained), saved with the model
    assert model.get_classifier() is model.output and model.output.weight.shape == (10, 84)
    assert "output.weight" in model.state_dict() and "output.weight" in dict(model.named_buffers())


def test_resnet_blocks_match_paper_shapes():
    with torch.device("meta"):
        model = dlzoo.create_model("resnext50_32x4d")
        se = dlzoo.create_model("seresnet50").layer4[0].se
    conv2 = model.layer1[0].conv2
    assert (conv2.in_channels, conv2.groups) == (128, 32)  # 32 groups of 4 channels
    assert (se.fc1.in_channels, se.fc1.out_channels) == (2048, 128)


def test_bad_input_shape_is_reported():
    with pytest.raises(ValueError, match=r"ResNet: expected input of shape \(N, 3, H, W\)"):
        dlzoo.create_model("resnet18")(torch.randn(2, 1, 32, 32))
    with pytest.raises(ValueError, match="LeNet5"):
        dlzoo.create_model("lenet5")(torch.randn(2, 1, 28, 28))


@pytest.mark.parametrize("name", ["resnet18", "googlenet", "densenet121", "mobilenetv4_conv_small", "lenet5"])
def test_reference_mode_matches_fused_for_whole_model(name):
    in_chans = 1 if name.startswith("lenet") else 3
    model = dlzoo.create_model(name, num_classes=4, in_chans=in_chans).double().eval()
    x = torch.randn(2, in_chans, 32, 32, dtype=torch.float64)
    with torch.no_grad():
        fused = model(x)
        with dlzoo.reference_mode():
            reference = model(x)
    torch.testing.assert_close(reference, fused, rtol=1e-9, atol=1e-9)


def test_drop_path_and_dropout_are_wired():
    model = dlzoo.create_model("resnet50", drop_path_rate=0.2, drop_rate=0.3)
    rates = [m.drop_prob for m in model.modules() if type(m).__name__ == "DropPath"]
    assert len(rates) == 15 and rates[-1] == pytest.approx(0.2) and rates == sorted(rates)
    assert model.drop.p == 0.3
    torch.manual_seed(0)
    x = torch.randn(2, 3, 32, 32)
    model.train()
    a, b = model(x), model(x)
    assert not torch.allclose(a, b)  # stochastic in training
    model.eval()
    torch.testing.assert_close(model(x), model(x))


def test_img_size_is_accepted_uniformly():
    for name in sorted(PUBLISHED):
        with torch.device("meta"):
            dlzoo.create_model(name, img_size=32)
    with pytest.raises(ValueError, match="32x32"):
        dlzoo.create_model("lenet5", img_size=28)
    assert dlzoo.create_model("lenet5_modern", img_size=28)(torch.randn(2, 1, 28, 28)).shape == (2, 10)
