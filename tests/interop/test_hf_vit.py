"""HF transformers ViT (random weights, saved offline) -> dlzoo.from_pretrained gives the same outputs."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.interop.hf_vit import convert_vit

transformers = pytest.importorskip("transformers")


def _randomize(model):
    # every tensor random (LayerNorm ones/zeros and zero cls tokens would hide mapping mistakes)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model.eval()


def _config(**kw):
    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=48,
                image_size=8, patch_size=2, num_channels=1, num_labels=5)
    return transformers.ViTConfig(**{**base, **kw})


@pytest.mark.parametrize("kw", [
    {},
    {"qkv_bias": False, "hidden_act": "gelu_new", "layer_norm_eps": 1e-6},
    {"image_size": 12, "patch_size": 4, "num_channels": 3, "num_attention_heads": 2},
])
def test_hf_vit_classifier_logits_match(tmp_path, kw):
    hf = _randomize(transformers.ViTForImageClassification(_config(**kw)))
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.blocks[0].norm1.eps == hf.config.layer_norm_eps
    c = hf.config
    x = torch.randn(3, c.num_channels, c.image_size, c.image_size)
    with torch.no_grad():
        expected = hf(pixel_values=x).logits
        torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
        with dlzoo.reference_mode():
            torch.testing.assert_close(ours(x), expected, atol=1e-5, rtol=1e-5)
    # the loaded model can be saved as a dlzoo directory and reloaded
    dlzoo.save_pretrained(ours, tmp_path / "dlzoo")
    again = dlzoo.from_pretrained(tmp_path / "dlzoo").eval()
    with torch.no_grad():
        torch.testing.assert_close(again(x), expected, atol=1e-5, rtol=1e-5)


def test_hf_vit_bare_model_features_and_in_memory_layout(tmp_path):
    hf = _randomize(transformers.ViTModel(_config()))  # with pooler, no classifier
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.num_classes == 0
    x = torch.randn(2, 1, 8, 8)
    with torch.no_grad():
        expected = hf(pixel_values=x).last_hidden_state  # (B, 1 + N, D) after the final layernorm
        torch.testing.assert_close(ours.forward_features(x), expected, atol=1e-5, rtol=1e-5)
    # transformers 5 in-memory key names (q_proj/o_proj/mlp.fc1, layers.i) convert to the same state
    name, kwargs, state = convert_vit(hf.config.to_dict(), hf.state_dict())
    model = dlzoo.create_model(name, **kwargs).eval()
    model.load_state_dict(state, strict=True)
    with torch.no_grad():
        torch.testing.assert_close(model.forward_features(x), expected, atol=1e-5, rtol=1e-5)


def test_hf_vit_unknown_weight_is_an_error():
    hf = transformers.ViTForImageClassification(_config())
    state = dict(hf.state_dict())
    state["vit.something.weird"] = torch.zeros(1)
    with pytest.raises(ValueError, match="unexpected weight"):
        convert_vit(hf.config.to_dict(), state)
    with pytest.raises(ValueError, match="hidden_act"):
        convert_vit({**hf.config.to_dict(), "hidden_act": "mish"}, dict(hf.state_dict()))
