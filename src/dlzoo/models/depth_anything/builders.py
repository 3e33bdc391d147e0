"""Registered Depth Anything sizes (transformers ``LiheYoung/depth-anything-*-hf`` configurations)."""

from __future__ import annotations

from typing import Any

from .. import register_model
from .model import DepthAnythingForDepthEstimation, build

__all__ = ["depth_anything_small"]

# HF's 24,785,089 for LiheYoung/depth-anything-small-hf (DepthAnythingForDepthEstimation built from its
# config) includes two things no depth forward reads: DINOv2's 384-entry ``mask_token`` (masked-image-
# modeling pre-training only) and ``neck.fusion_stage.layers.0.residual_layer1`` (two 64->64 3x3 convs with
# bias, 2 * (64 * 64 * 9 + 64) = 73,856: the coarsest fusion layer gets no residual). dlzoo leaves both out,
# so every parameter gets a gradient.
HF_SMALL_PARAMS = 24_785_089
_SMALL_PARAMS = HF_SMALL_PARAMS - 384 - 2 * (64 * 64 * 9 + 64)


@register_model(family="depth_anything",
                paper="Depth Anything: Unleashing the Power of Large-Scale Unlabeled Data", year=2024,
                arxiv="2401.10891", input_size=(3, 518, 518), task="depth-estimation",
                reference_params=_SMALL_PARAMS,
                source="transformers DepthAnythingForDepthEstimation(DepthAnythingConfig()) = "
                       "LiheYoung/depth-anything-small-hf: 24,785,089 parameters, minus the unused 384-entry "
                       "DINOv2 mask_token and the unused first fusion residual unit (73,856) "
                       "(meta-device count in tests/models/test_depth_anything.py)",
                test_input_size=(3, 28, 42),
                test_kwargs=dict(img_size=28, embed_dim=32, depth=4, num_heads=2, out_indices=(0, 1, 2, 3),
                                 neck_hidden_sizes=(8, 16, 16, 32), fusion_hidden_size=16,
                                 head_hidden_size=8))
def depth_anything_small(**kwargs: Any) -> DepthAnythingForDepthEstimation:
    """Depth-Anything-Small: DINOv2 ViT-S/14 (dim 384, 12 blocks, 6 heads, layer scale), taps after blocks
    9-12, DPT neck (48, 96, 192, 384) with factors (4, 2, 1, 1/2), fusion width 64, head width 32."""
    return build(dict(img_size=518, patch_size=14, embed_dim=384, depth=12, num_heads=6,
                      out_indices=(8, 9, 10, 11), neck_hidden_sizes=(48, 96, 192, 384),
                      reassemble_factors=(4, 2, 1, 0.5), fusion_hidden_size=64, head_hidden_size=32), kwargs)
