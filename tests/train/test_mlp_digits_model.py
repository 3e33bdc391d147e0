"""mlp_digits (the trainer's tiny reference model): closed-form parameter count and the block equation."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.nn import DyT


def _count(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_parameter_count_matches_the_closed_form_and_the_card():
    card = dlzoo.model_info("mlp_digits")
    model = dlzoo.create_model("mlp_digits")
    closed_form = (64 + 1) * 128 + 2 * 128 + (128 + 1) * 128 + 2 * 128 + (128 + 1) * 10
    assert _count(model) == card.reference_params == closed_form
    wide = dlzoo.create_model("mlp_digits", in_chans=3, img_size=4, hidden_dims=[32], num_classes=5,
                              norm_layer="dyt")
    assert _count(wide) == (48 + 1) * 32 + (2 * 32 + 1) + (32 + 1) * 5  # DyT: weight, bias and one alpha


def test_forward_is_linear_norm_gelu_then_head():
    model = dlzoo.create_model("mlp_digits", hidden_dims=[16, 8], norm_layer="layernorm").double().eval()
    x = torch.randn(3, 1, 8, 8, dtype=torch.float64)
    h = x.flatten(1)
    for i in (0, 4):
        lin, norm = model.blocks[i], model.blocks[i + 1]
        h = F.gelu(F.layer_norm(h @ lin.weight.T + lin.bias, (lin.out_features,), norm.weight, norm.bias))
    expected = h @ model.head.weight.T + model.head.bias
    torch.testing.assert_close(model(x), expected)
    torch.testing.assert_close(model.forward_head(model.forward_features(x), pre_logits=True), h)


def test_norm_swap_classifier_reset_and_input_errors():
    model = dlzoo.create_model("mlp_digits", norm_layer="dyt", norm_kwargs={"alpha_init": 1.0})
    dyts = [m for m in model.modules() if isinstance(m, DyT)]
    assert len(dyts) == 2 and all(m.alpha.item() == 1.0 for m in dyts)
    model.reset_classifier(3)
    assert model(torch.randn(2, 1, 8, 8)).shape == (2, 3)
    with pytest.raises(ValueError, match=r"MlpClassifier: expected input \(B, 1, 8, 8\), got \(2, 1, 9, 9\)"):
        model(torch.randn(2, 1, 9, 9))
