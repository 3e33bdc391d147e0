"""ConvNeXt V1/V2: published parameter counts, HF parity of a block, forward/backward, norm swaps."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.convnext import ConvNeXt, ConvNeXtBlock
from dlzoo.nn import DyT, LayerNorm, LayerNorm2d
from dlzoo.nn.grn import GlobalResponseNorm

TINY = dict(depths=(1, 1), dims=(8, 16), num_classes=5)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["convnext_tiny", "convnext_small", "convnext_base",
                                  "convnextv2_atto", "convnextv2_nano", "convnextv2_tiny", "convnextv2_base"])
def test_published_param_counts(name):
    card = dlzoo.model_info(name)
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    assert _count(model) == card.reference_params


def test_counts_match_hf_transformers_configs():
    """Independent count: HF's own ConvNext/ConvNextV2 built from the same config (meta device)."""
    tr = pytest.importorskip("transformers")
    with torch.device("meta"):
        hf1 = tr.ConvNextForImageClassification(tr.ConvNextConfig(num_labels=1000))
        hf2 = tr.ConvNextV2ForImageClassification(tr.ConvNextV2Config(num_labels=1000))
        assert _count(dlzoo.create_model("convnext_tiny")) == _count(hf1) == 28_589_128
        assert _count(dlzoo.create_model("convnextv2_tiny")) == _count(hf2)


@pytest.mark.parametrize("use_grn", [False, True])
def test_block_matches_hf_layer(use_grn):
    tr = pytest.importorskip("transformers")
    if use_grn:
        from transformers.models.convnextv2.modeling_convnextv2 import ConvNextV2Layer as Layer
        cfg = tr.ConvNextV2Config()
    else:
        from transformers.models.convnext.modeling_convnext import ConvNextLayer as Layer
        cfg = tr.ConvNextConfig(layer_scale_init_value=0.5)
    ref = Layer(cfg, dim=8).eval()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_(0, 0.3)
    ours = ConvNeXtBlock(8, ls_init_value=None if use_grn else 0.5, use_grn=use_grn).eval()
    names = {"dwconv": "conv_dw", "layernorm": "norm", "pwconv1": "mlp.fc1", "pwconv2": "mlp.fc2",
             "grn": "mlp.grn", "layer_scale_parameter": "gamma"}
    state = {}
    for k, v in ref.state_dict().items():
        head, _, tail = k.partition(".")
        state[names[head] + ("." + tail if tail else "")] = v.reshape(-1) if head == "grn" else v
    ours.load_state_dict(state)
    x = torch.randn(2, 8, 9, 9)
    torch.testing.assert_close(ours(x), ref(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", ["convnext_tiny", "convnextv2_tiny"])
def test_forward_backward_small(name):
    model = dlzoo.create_model(name, **TINY, drop_path_rate=0.1, drop_rate=0.1)
    x = torch.randn(2, 3, 32, 32)
    out = model(x)
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None, n
        assert torch.isfinite(p.grad).all(), n
    if name.startswith("convnextv2"):
        assert any(isinstance(m, GlobalResponseNorm) for m in model.modules())
        assert all(b.gamma is None for b in model.modules() if isinstance(b, ConvNeXtBlock))


def test_reference_mode_agrees():
    model = dlzoo.create_model("convnextv2_tiny", **TINY).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    x = torch.randn(2, 3, 32, 32)
    with dlzoo.reference_mode():
        ref = model(x)
    torch.testing.assert_close(model(x), ref, atol=1e-4, rtol=1e-4)


def test_dyt_swaps_every_norm():
    model = dlzoo.create_model("convnext_tiny", norm_layer="dyt", norm_kwargs={"alpha_init": 1.0}, **TINY)
    assert not any(isinstance(m, (LayerNorm, torch.nn.LayerNorm)) for m in model.modules())
    dyts = [m for m in model.modules() if isinstance(m, DyT)]
    # stem + 1 downsample (channels-first), 2 blocks + head (channels-last)
    assert sorted(m.channels_last for m in dyts) == [False, False, True, True, True]
    assert all(m.alpha_init == 1.0 for m in dyts)
    out = model(torch.randn(2, 3, 32, 32))
    out.sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_default_norms_and_interface():
    model = dlzoo.create_model("convnext_tiny", **TINY)
    assert isinstance(model.stem[1], LayerNorm2d) and model.stem[1].eps == 1e-6
    assert model.stages[0].blocks[0].norm.eps == 1e-6
    x = torch.randn(1, 3, 64, 64)
    feats = model.forward_features(x)
    assert feats.shape == (1, model.num_features, 8, 8)  # two stages: stride 4 * 2
    assert model.forward_head(feats, pre_logits=True).shape == (1, 16)
    model.reset_classifier(3)
    assert model(x).shape == (1, 3)
    one_chan = dlzoo.create_model("convnext_tiny", **{**TINY, "num_classes": 2}, in_chans=1)
    assert one_chan(torch.randn(1, 1, 32, 32)).shape == (1, 2)


def test_bad_input_raises():
    model = ConvNeXt(**TINY)
    with pytest.raises(ValueError, match=r"ConvNeXt: expected input \(N, 3, H, W\)"):
        model(torch.randn(1, 4, 32, 32))
    with pytest.raises(ValueError, match="differ in length"):
        ConvNeXt(depths=(1, 1), dims=(8,))


def test_classifier_contract_and_pooling_switch():
    model = dlzoo.create_model("convnext_tiny", **TINY).eval()
    assert model.get_classifier() is model.head.fc
    x = torch.randn(2, 3, 32, 32)
    feats = model.forward_features(x)
    model.reset_classifier(4, global_pool="max")
    with torch.no_grad():
        expected = model.head.fc(model.head.norm(feats.amax(dim=(2, 3))))
        torch.testing.assert_close(model(x), expected)
    with pytest.raises(ValueError, match="global_pool"):
        model.reset_classifier(4, global_pool="")  # the head norm needs pooled (N, C) features
    with pytest.raises(ValueError, match="num_classes"):
        dlzoo.create_model("convnext_tiny", **{**TINY, "num_classes": -1})


def test_conv_mlp_blocks_are_channels_first_and_use_dlzoo_gelu():
    model = dlzoo.create_model("convnextv2_atto", depths=(1, 1), dims=(8, 16), num_classes=3)
    block = model.stages[0].blocks[0]
    assert isinstance(block.norm, LayerNorm2d) and block.norm.eps == 1e-6
    assert block.mlp.fc1.weight.shape == (32, 8, 1, 1) and block.mlp.grn.channels_last is False
    assert isinstance(block.mlp.act, dlzoo.nn.GELU)
    dyt = dlzoo.create_model("convnextv2_atto", depths=(1, 1), dims=(8, 16), num_classes=3, norm_layer="dyt")
    # stem, downsample and both blocks channels-first; only the head norm (on pooled (N, C)) channels-last
    assert sorted(m.channels_last for m in dyt.modules() if isinstance(m, DyT)) == [False] * 4 + [True]
    out = dyt(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 3) and torch.isfinite(out).all()
