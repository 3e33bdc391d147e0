"""Depth Anything: parameter count against transformers' model built from the published config, the ViT
``dynamic_img_size`` / ``forward_intermediates`` additions against the plain ViT path, and bad input."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.depth_anything.builders import HF_SMALL_PARAMS

TINY = dlzoo.model_info("depth_anything_small").test_kwargs


def test_small_count_equals_hf_minus_its_unused_weights():
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):  # DepthAnythingConfig() is LiheYoung/depth-anything-small-hf's config
        hf = transformers.DepthAnythingForDepthEstimation(transformers.DepthAnythingConfig())
        ours = dlzoo.create_model("depth_anything_small")
    hf_count = sum(p.numel() for p in hf.parameters())
    assert hf_count == HF_SMALL_PARAMS == 24_785_089
    dead = ("backbone.embeddings.mask_token", "neck.fusion_stage.layers.0.residual_layer1.")  # never read
    unused = sum(p.numel() for n, p in hf.named_parameters() if n.startswith(dead))
    assert unused == 384 + 73_856
    assert sum(p.numel() for p in ours.parameters()) == hf_count - unused == 24_710_849


def test_dynamic_img_size_equals_fixed_path_on_the_stored_grid_and_resizes_otherwise():
    fixed = dlzoo.create_model("vit_tiny_patch16_224", img_size=32, init_values=0.5).eval()
    dyn = dlzoo.create_model("vit_tiny_patch16_224", img_size=32, init_values=0.5,
                             dynamic_img_size=True).eval()
    dyn.load_state_dict(fixed.state_dict())
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(dyn(x), fixed(x), rtol=0, atol=0)
        assert dyn(torch.randn(2, 3, 48, 16)).shape == (2, 1000)
        pos = dyn.resized_pos_embed((3, 1))  # (1, 1 + 3, D): class part kept, a 2x2 grid resized to 3x1
    assert pos.shape == (1, 4, 192)
    torch.testing.assert_close(pos[:, 0], dyn.pos_embed[:, 0], rtol=0, atol=0)
    with pytest.raises(ValueError, match="divisible by the patch size"):
        dyn(torch.randn(1, 3, 30, 32))
    with pytest.raises(ValueError, match=r"expected input \(B, 3, 32, 32\)"):
        fixed(torch.randn(1, 3, 48, 32))


def test_forward_intermediates_last_block_is_forward_features():
    vit = dlzoo.create_model("vit_tiny_patch16_224", img_size=32, depth=3).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        outs = vit.forward_intermediates(x, (0, -1))
        torch.testing.assert_close(outs[1], vit.forward_features(x), rtol=0, atol=0)
        raw = vit.forward_intermediates(x, (0,), norm=False)[0]
        torch.testing.assert_close(outs[0], vit.norm(raw), rtol=0, atol=0)
    with pytest.raises(ValueError, match="indices must lie"):
        vit.forward_intermediates(x, (3,))


def test_depth_output_shape_metric_range_and_bad_input():
    model = dlzoo.create_model("depth_anything_small", **TINY, depth_estimation_type="metric", max_depth=20.0)
    with torch.no_grad():
        d = model.eval()(torch.randn(2, 3, 42, 28))
    assert d.shape == (2, 42, 28) and d.min() >= 0 and d.max() <= 20.0
    with pytest.raises(ValueError, match="divisible by the patch size"):
        model(torch.randn(1, 3, 40, 28))
    with pytest.raises(ValueError, match=r"expected input \(B, 3, H, W\)"):
        model(torch.randn(1, 1, 42, 28))
    with pytest.raises(ValueError, match="depth_estimation_type"):
        dlzoo.create_model("depth_anything_small", **TINY, depth_estimation_type="absolute")
    with pytest.raises(ValueError, match="same non-zero length"):
        dlzoo.create_model("depth_anything_small", **{**TINY, "out_indices": (0, 1, 2)})
    with pytest.raises(ValueError, match="out_indices must lie"):
        dlzoo.create_model("depth_anything_small", **{**TINY, "out_indices": (0, 1, 2, 4)})
