"""HF transformers ResNet directories load into dlzoo's (torchvision-layout) ResNet with the same logits."""

from __future__ import annotations

import pytest
import torch

import dlzoo

tr = pytest.importorskip("transformers")


def _randomize_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine params, so the eval-mode comparison exercises every buffer."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.1)


@pytest.mark.parametrize(
    "layer_type,depths,widths,name",
    [("basic", [2, 2, 2, 2], [64, 128, 256, 512], "resnet18"),
     ("bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048], "resnet50")],
)
def test_hf_resnet_logits_match(tmp_path, layer_type, depths, widths, name):
    cfg = tr.ResNetConfig(layer_type=layer_type, depths=depths, hidden_sizes=widths, embedding_size=64,
                          num_labels=4, num_channels=2)
    ref = tr.ResNetForImageClassification(cfg).eval()
    _randomize_bn(ref)
    ref.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.dlzoo_config["name"] == name and not ours.training
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        expected = ref(pixel_values=x).logits
        got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)


def test_hf_resnet_unsupported_configs(tmp_path):
    cfg = tr.ResNetConfig(layer_type="basic", depths=[1, 1], hidden_sizes=[8, 16], embedding_size=8,
                          num_labels=2)
    tr.ResNetForImageClassification(cfg).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="torchvision's widths"):
        dlzoo.from_pretrained(tmp_path)
