"""HF transformers Swin directories load into dlzoo with the same logits."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.swin import SwinTransformer

tr = pytest.importorskip("transformers")


@pytest.mark.parametrize(
    "cfg",
    [
        # 16x16 -> 8x8 -> 4x4 grids with window 4: shifted windows + mask in the first two stages
        dict(image_size=32, patch_size=2, embed_dim=16, depths=[2, 2, 2], num_heads=[2, 4, 4], window_size=4),
        # window 7 on a 56 -> 28 -> 14 -> 7 pyramid, like Swin-T but thin; no qkv bias, 1 channel
        dict(image_size=224, patch_size=4, embed_dim=8, depths=[2, 2, 2, 2], num_heads=[1, 2, 2, 4],
             window_size=7, qkv_bias=False, num_channels=1),
    ],
)
def test_hf_swin_logits_match(tmp_path, cfg):
    config = tr.SwinConfig(num_labels=6, drop_path_rate=0.0, **cfg)
    ref = tr.SwinForImageClassification(config).eval()
    with torch.no_grad():  # make the relative position bias tables and norms matter
        for name, p in ref.named_parameters():
            if "relative_position_bias_table" in name:
                p.normal_()
            elif "norm" in name:
                p.add_(torch.randn_like(p) * 0.3)
    ref.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert isinstance(ours, SwinTransformer)
    x = torch.randn(2, config.num_channels, config.image_size, config.image_size)
    with torch.no_grad():
        expected = ref(pixel_values=x).logits
        got = ours(x)
    torch.testing.assert_close(got, expected, atol=1e-4, rtol=1e-4)
