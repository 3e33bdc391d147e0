"""HF transformers ResNet directories of any structure load into dlzoo's ResNet with HF's logits.

Random ``ResNetForImageClassification`` models (basic and bottleneck blocks, non-default stem and stage
widths, 2-4 stages, ``downsample_in_first_stage`` and ``downsample_in_bottleneck`` on and off) get
non-trivial BatchNorm statistics, are written with ``save_pretrained`` and read back with
``dlzoo.from_pretrained``; eval logits are compared in float64 against HF's own forward.
"""

from __future__ import annotations

import json

import pytest
import torch

import dlzoo

tr = pytest.importorskip("transformers")


def _randomize_bn(model: torch.nn.Module) -> None:
    """Non-trivial BN statistics and affine params, so the eval-mode comparison exercises every buffer."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.normal_(0, 0.2)
                m.running_var.uniform_(0.5, 2.0)
                m.weight.normal_(1, 0.2)
                m.bias.normal_(0, 0.1)


def _save(tmp_path, model_cls=None, **config):
    cfg = tr.ResNetConfig(**config)
    ref = (model_cls or tr.ResNetForImageClassification)(cfg).eval()
    _randomize_bn(ref)
    ref.save_pretrained(tmp_path)
    return ref


def _compare(ref, ours, in_chans: int = 3, size: int = 32) -> None:
    """float32 weights are exact in float64: compare both models' float64 eval outputs tightly."""
    assert not ours.training
    ref, ours = ref.double(), ours.double()
    x = torch.randn(2, in_chans, size, size, dtype=torch.float64)
    with torch.no_grad():
        out = ref(pixel_values=x)
        expected = out.logits if hasattr(out, "logits") else out.pooler_output.flatten(1)
        got = ours(x)
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-10)


CONFIGS = {
    "tiny-basic": dict(layer_type="basic", depths=[1, 2], hidden_sizes=[8, 16], embedding_size=8),
    "basic-first-stage-down": dict(layer_type="basic", depths=[2, 1, 1], hidden_sizes=[12, 8, 20],
                                   embedding_size=12, downsample_in_first_stage=True),
    "tiny-bottleneck": dict(layer_type="bottleneck", depths=[1, 1], hidden_sizes=[16, 32], embedding_size=8),
    "bottleneck-v1-stride-in-1x1": dict(layer_type="bottleneck", depths=[2, 1, 1, 1],
                                        hidden_sizes=[16, 32, 24, 48], embedding_size=12,
                                        downsample_in_bottleneck=True),
    "bottleneck-both-downsamples": dict(layer_type="bottleneck", depths=[1, 2, 1],
                                        hidden_sizes=[32, 16, 64], embedding_size=20,
                                        downsample_in_first_stage=True, downsample_in_bottleneck=True),
    "basic-ignores-downsample-in-bottleneck": dict(layer_type="basic", depths=[1, 1], hidden_sizes=[8, 8],
                                                   embedding_size=4, downsample_in_bottleneck=True),
}


@pytest.mark.parametrize("key", sorted(CONFIGS))
def test_hf_resnet_any_structure_logits_match(tmp_path, key):
    config = CONFIGS[key]
    ref = _save(tmp_path, num_labels=3, num_channels=2, **config)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.num_features == config["hidden_sizes"][-1] and ours.num_classes == 3
    _compare(ref, ours, in_chans=2)


@pytest.mark.parametrize(
    "layer_type,depths,widths,name",
    [("basic", [2, 2, 2, 2], [64, 128, 256, 512], "resnet18"),
     ("bottleneck", [3, 4, 6, 3], [256, 512, 1024, 2048], "resnet50")],
)
def test_hf_resnet_standard_networks_keep_their_names(tmp_path, layer_type, depths, widths, name):
    ref = _save(tmp_path, layer_type=layer_type, depths=depths, hidden_sizes=widths, embedding_size=64,
                num_labels=4)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.dlzoo_config["name"] == name
    _compare(ref, ours)


def test_hf_resnet_bare_model_returns_pooled_features_and_roundtrips(tmp_path):
    ref = _save(tmp_path / "hf", tr.ResNetModel, layer_type="bottleneck", depths=[1, 1, 1],
                hidden_sizes=[16, 32, 8], embedding_size=8, downsample_in_bottleneck=True)
    ours = dlzoo.from_pretrained(tmp_path / "hf")
    assert ours.num_classes == 0
    _compare(ref, ours)
    dlzoo.save_pretrained(ours, tmp_path / "dlzoo")  # the converted structure survives dlzoo's own format
    _compare(ref, dlzoo.from_pretrained(tmp_path / "dlzoo"))


@pytest.mark.parametrize(
    "config,key",
    [(dict(layer_type="basic", hidden_act="gelu"), "hidden_act"),
     (dict(layer_type="bottleneck", hidden_sizes=[16, 30], depths=[1, 1]), "hidden_sizes"),
     (dict(layer_type="basic", hidden_sizes=[8, 16, 32], depths=[1, 1]), "hidden_sizes"),
     (dict(layer_type="basic", hidden_sizes=[8, 16], depths=[1, 0]), "depths")],
)
def test_hf_resnet_unrepresentable_configs_name_the_key(tmp_path, config, key):
    base = dict(embedding_size=8, hidden_sizes=[8, 16], depths=[1, 1], num_labels=2)
    tr.ResNetForImageClassification(tr.ResNetConfig(**{**base, **config})).save_pretrained(tmp_path)
    with pytest.raises(ValueError, match=f"config '{key}'"):
        dlzoo.from_pretrained(tmp_path)


def test_hf_resnet_unknown_layer_type_names_the_key(tmp_path):
    tr.ResNetForImageClassification(tr.ResNetConfig(layer_type="basic", embedding_size=8, hidden_sizes=[8],
                                                    depths=[1])).save_pretrained(tmp_path)
    path = tmp_path / "config.json"
    path.write_text(json.dumps({**json.loads(path.read_text()), "layer_type": "preact"}))
    with pytest.raises(ValueError, match="config 'layer_type' must be 'basic' or 'bottleneck', got 'preact'"):
        dlzoo.from_pretrained(tmp_path)
