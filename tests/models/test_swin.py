"""Swin Transformer: published counts, forward/backward at small sizes, norm swap, shapes, errors."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.models.swin import SwinTransformer, SwinTransformerBlock
from dlzoo.nn import DyT, LayerNorm

SMALL = dict(img_size=32, patch_size=2, embed_dim=16, depths=(2, 2, 2), num_heads=(2, 4, 8), window_size=4,
             num_classes=5)


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", ["swin_tiny_patch4_window7_224", "swin_small_patch4_window7_224",
                                  "swin_base_patch4_window7_224"])
def test_published_param_counts(name):
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    assert _count(model) == dlzoo.model_info(name).reference_params


def test_tiny_count_matches_hf_config():
    tr = pytest.importorskip("transformers")
    with torch.device("meta"):
        hf = tr.SwinForImageClassification(tr.SwinConfig(num_labels=1000))
        assert _count(dlzoo.create_model("swin_tiny_patch4_window7_224")) == _count(hf) == 28_288_354


def test_forward_backward_small():
    model = dlzoo.create_model("swin_tiny_patch4_window7_224", **SMALL, drop_path_rate=0.2, drop_rate=0.1)
    out = model(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 5) and torch.isfinite(out).all()
    out.square().mean().backward()
    for n, p in model.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), n
    blocks = [m for m in model.modules() if isinstance(m, SwinTransformerBlock)]
    # 16x16 / 8x8 grids: shifted odd blocks; 4x4 grid (= window): no shift
    assert [b.shift_size for b in blocks] == [0, 2, 0, 2, 0, 0]
    for b in blocks:
        assert b.attn_mask is None or b.attn_mask.shape[0] == (b.input_resolution[0] // 4) ** 2


def test_shift_changes_output():
    """The shifted blocks must mix information across window borders: a perturbation in one corner
    reaches a token in another window after one W-MSA + SW-MSA pair, but not after a W-MSA block alone."""
    torch.manual_seed(0)
    w_block = SwinTransformerBlock(8, (8, 8), 2, window_size=4, shift_size=0).eval()
    sw_block = SwinTransformerBlock(8, (8, 8), 2, window_size=4, shift_size=2).eval()
    x = torch.randn(1, 8, 8, 8)
    x2 = x.clone()
    x2[0, 3, 3] += torch.randn(8)  # last token of window (0, 0); not a constant shift, which LN removes
    with torch.no_grad():
        d_w = (w_block(x2) - w_block(x)).abs()[0, 4, 4].max()
        d_sw = (sw_block(w_block(x2)) - sw_block(w_block(x))).abs()[0, 4, 4].max()
    assert d_w == 0 and d_sw > 0


def test_dyt_swaps_every_norm_and_reference_mode():
    model = dlzoo.create_model("swin_tiny_patch4_window7_224", **SMALL, norm_layer="dyt",
                               norm_kwargs={"alpha_init": 0.8}).eval()
    assert not any(isinstance(m, (LayerNorm, torch.nn.LayerNorm)) for m in model.modules())
    # patch embed, 2 per block, 2 patch mergings, final norm
    assert sum(isinstance(m, DyT) for m in model.modules()) == 1 + 2 * 6 + 2 + 1
    x = torch.randn(2, 3, 32, 32)
    with dlzoo.reference_mode():
        ref = model(x)
    torch.testing.assert_close(model(x), ref, atol=1e-4, rtol=1e-4)


def test_interface_and_errors():
    model = SwinTransformer(**SMALL)
    feats = model.forward_features(torch.randn(1, 3, 32, 32))
    assert feats.shape == (1, 4, 4, 64) and model.num_features == 64
    assert model.forward_head(feats, pre_logits=True).shape == (1, 64)
    model.reset_classifier(0)
    assert model(torch.randn(1, 3, 32, 32)).shape == (1, 64)
    with pytest.raises(ValueError, match=r"SwinTransformer: expected input \(B, 3, 32, 32\)"):
        model(torch.randn(1, 3, 64, 64))
    with pytest.raises(ValueError, match="divisible"):
        SwinTransformer(img_size=30, patch_size=4)
    one = SwinTransformer(**{**SMALL, "in_chans": 1, "img_size": 64, "window_size": 4})
    assert one(torch.randn(1, 1, 64, 64)).shape == (1, 5)


def test_classifier_contract_pooling_and_no_weight_decay():
    model = SwinTransformer(**SMALL).eval()
    assert model.get_classifier() is model.head.fc
    assert isinstance(model.layers[0].blocks[0].mlp.act, dlzoo.nn.GELU)
    x = torch.randn(2, 3, 32, 32)
    model.reset_classifier(3, global_pool="max")
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.head.fc(model.forward_features(x).amax(dim=(1, 2))))
    names = model.no_weight_decay()
    assert len(names) == 6 and all(n.endswith("attn.relative_position_bias_table") for n in names)


def test_window_padding_when_map_is_not_a_multiple_of_the_window():
    """An 8x8 map with window 7 is padded to 14x14 (2x2 windows, shift 3) and cropped back (timm's rule;
    logits equal timm's in tests/interop/test_parity_swin.py)."""
    block = SwinTransformerBlock(8, (8, 8), 2, window_size=7, shift_size=3)
    assert block.window_size == 7 and block.attn_mask.shape == (4, 49, 49)
    x = torch.randn(2, 8, 8, 8)
    assert block(x).shape == x.shape
