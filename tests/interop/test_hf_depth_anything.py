"""HF transformers Depth Anything (random small config, saved offline) -> dlzoo.from_pretrained gives the same
``predicted_depth``; the converter refuses what it cannot express."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.interop.huggingface import PretrainedLoadError
from dlzoo.models.depth_anything._convert_hf import convert_depth_anything

transformers = pytest.importorskip("transformers")


def _config(depth_type="relative", **bb):
    backbone = transformers.Dinov2Config(**{**dict(
        hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=64, image_size=28,
        patch_size=14, out_indices=[1, 2, 3, 4], reshape_hidden_states=False, layerscale_value=0.7), **bb})
    return transformers.DepthAnythingConfig(
        backbone_config=backbone, patch_size=14, reassemble_hidden_size=32, neck_hidden_sizes=[8, 16, 16, 32],
        fusion_hidden_size=16, head_hidden_size=8, depth_estimation_type=depth_type, max_depth=5)


def _hf(config):
    model = transformers.DepthAnythingForDepthEstimation(config)
    with torch.no_grad():  # every tensor random: unit norms / zero biases would hide mapping mistakes
        for p in model.parameters():
            p.copy_(torch.randn_like(p) * 0.2)
    return model.eval()


@pytest.mark.parametrize("depth_type", ["relative", "metric"])
def test_hf_depth_anything_predicted_depth_matches(tmp_path, depth_type):
    hf = _hf(_config(depth_type))
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.backbone.blocks[0].ls1.gamma.shape == (32,)
    # 28 x 28 is the stored 2 x 2 grid; 42 x 56 resizes the position embeddings (bicubic) to 3 x 4
    for shape in [(2, 3, 28, 28), (2, 3, 42, 56)]:
        x = torch.randn(*shape)
        with torch.no_grad():
            expected = hf(pixel_values=x).predicted_depth  # (B, H, W)
            got = ours(x)
            assert got.shape == expected.shape == (shape[0], *shape[2:])
            assert expected.std() > 1e-3
            torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
            with dlzoo.reference_mode():
                torch.testing.assert_close(ours(x), expected, atol=1e-4, rtol=1e-4)


def test_hf_depth_anything_float64_outputs_and_gradients():
    hf = _hf(_config()).double()
    name, kwargs, state = convert_depth_anything(hf.config.to_dict(), hf.state_dict())  # in-memory key layout
    ours = dlzoo.create_model(name, **kwargs).double().eval()
    ours.load_state_dict(state, strict=True)
    x = torch.randn(2, 3, 28, 42, dtype=torch.float64)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    expected, got = hf(pixel_values=xr).predicted_depth, ours(xo)
    torch.testing.assert_close(got, expected, atol=1e-10, rtol=1e-9)
    w = torch.randn_like(expected)
    (w * expected).sum().backward()
    (w * got).sum().backward()
    torch.testing.assert_close(xo.grad, xr.grad, atol=1e-10, rtol=1e-8)
    hf_grads = dict(hf.named_parameters())
    # every converted weight's gradient: neck/head by name; q/k/v stacked into qkv; lambda1 -> gamma
    for key, p in ours.named_parameters():
        assert p.grad is not None, key
    g = ours.backbone.blocks[1].attn.qkv.weight.grad
    ref = torch.cat([hf_grads[f"backbone.encoder.layer.1.attention.{n}_proj.weight"].grad for n in "qkv"])
    torch.testing.assert_close(g, ref, atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(ours.backbone.blocks[2].ls2.gamma.grad,
                               hf_grads["backbone.encoder.layer.2.layer_scale2.lambda1"].grad)
    torch.testing.assert_close(ours.backbone.pos_embed.grad,
                               hf_grads["backbone.embeddings.position_embeddings"].grad)
    for key in ("neck.reassemble_stage.layers.0.resize.weight", "neck.convs.1.weight", "head.conv3.weight",
                "neck.fusion_stage.layers.3.projection.weight"):
        torch.testing.assert_close(ours.get_parameter(key).grad, hf_grads[key].grad, atol=1e-10, rtol=1e-8)


def test_hf_depth_anything_unsupported_configs_are_errors(tmp_path):
    hf = _hf(_config())
    cfg = hf.config.to_dict()
    state = dict(hf.state_dict())
    with pytest.raises(ValueError, match="unexpected weight"):
        convert_depth_anything(cfg, {**state, "backbone.something.weird": torch.zeros(1)})
    with pytest.raises(ValueError, match="use_swiglu_ffn"):
        convert_depth_anything({**cfg, "backbone_config": {**cfg["backbone_config"], "use_swiglu_ffn": True}},
                               state)
    with pytest.raises(ValueError, match="backbone_config"):
        convert_depth_anything({**cfg, "backbone_config": None}, state)
    hf.save_pretrained(tmp_path)
    (tmp_path / "config.json").write_text((tmp_path / "config.json").read_text().replace(
        '"hidden_act": "gelu"', '"hidden_act": "mish"'))
    with pytest.raises(PretrainedLoadError, match="hidden_act"):
        dlzoo.from_pretrained(tmp_path)
