"""HF transformers ConvNext / ConvNextV2 directories load into dlzoo with the same logits."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.convnext import ConvNeXt

tr = pytest.importorskip("transformers")


def _randomize(model: torch.nn.Module) -> None:
    # non-trivial layer scale / GRN / norm params so every weight matters in the comparison
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "layer_scale" in name or "grn" in name or "norm" in name:
                p.copy_(torch.randn_like(p) * 0.5 + (1.0 if name.endswith("norm.weight") else 0.0))


@pytest.mark.parametrize(
    "cls_name,cfg_name,extra",
    [
        ("ConvNextForImageClassification", "ConvNextConfig", {"layer_scale_init_value": 0.3}),
        ("ConvNextForImageClassification", "ConvNextConfig", {"layer_scale_init_value": 0.0,
                                                              "num_channels": 1, "patch_size": 2}),
        ("ConvNextV2ForImageClassification", "ConvNextV2Config", {}),
    ],
)
def test_hf_convnext_logits_match(tmp_path, cls_name, cfg_name, extra):
    cfg = getattr(tr, cfg_name)(hidden_sizes=[8, 16, 24], depths=[1, 2, 1], num_stages=3, num_labels=7,
                                **extra)
    ref = getattr(tr, cls_name)(cfg).eval()
    _randomize(ref)
    ref.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert isinstance(ours, ConvNeXt) and not ours.training
    x = torch.randn(2, cfg.num_channels, 32, 32)
    with torch.no_grad():
        expected = ref(pixel_values=x).logits
        got = ours(x)
    assert got.shape == (2, 7)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
    # and the round trip through dlzoo's own format keeps the logits
    dlzoo.save_pretrained(ours, tmp_path / "dlzoo")
    again = dlzoo.from_pretrained(tmp_path / "dlzoo").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), got)


def test_hf_convnextv2_atto_loads_into_timm_conv_mlp_layout(tmp_path):
    """An HF ConvNextV2 with atto's sizes becomes dlzoo's convnextv2_atto, whose MLPs are 1x1 convs (timm's
    layout): HF's Linear pwconv weights are reshaped, and the logits stay equal."""
    cfg = tr.ConvNextV2Config(depths=[2, 2, 6, 2], hidden_sizes=[40, 80, 160, 320], num_labels=3)
    ref = tr.ConvNextV2ForImageClassification(cfg).eval()
    _randomize(ref)
    ref.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.dlzoo_config["name"] == "convnextv2_atto"
    assert ours.stages[0].blocks[0].mlp.fc1.weight.shape == (160, 40, 1, 1)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), ref(pixel_values=x).logits, atol=1e-4, rtol=1e-4)
