"""Registry, norm factory and save/from_pretrained round trip."""

from __future__ import annotations

import pytest
import torch

import dlzoo
from dlzoo.nn import DyT, LayerNorm, LayerNorm2d, RMSNorm, create_norm
from dlzoo.registry import Registry


def test_registry_patterns_and_suggestions():
    reg = Registry("thing")
    reg.add("alpha_small", lambda: 1, family="a")
    reg.add("alpha_large", lambda: 2, family="a")
    assert reg.names("alpha_*") == ["alpha_large", "alpha_small"]
    with pytest.raises(KeyError, match="alpha_small"):
        reg.get("alpha_smal")
    with pytest.raises(ValueError, match="already registered"):
        reg.add("alpha_small", lambda: 3)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape,normalized", [((3, 5, 7), 7), ((2, 4, 3, 6), (3, 6))])
def test_layernorm_and_rmsnorm_match_torch(dtype, shape, normalized):
    for ours_cls, ref_cls in [(LayerNorm, torch.nn.LayerNorm), (RMSNorm, torch.nn.RMSNorm)]:
        ref = ref_cls(normalized, dtype=dtype)
        with torch.no_grad():
            for p in ref.parameters():
                p.copy_(torch.randn_like(p))
        ours = ours_cls(normalized, dtype=dtype)
        ours.load_state_dict(ref.state_dict())
        x = torch.randn(shape, dtype=dtype, requires_grad=True)
        for fused in (True, False):
            with dlzoo.reference_mode(not fused):
                out = ours(x)
            expected = ref(x)
            tol = 1e-12 if dtype == torch.float64 else 1e-5
            torch.testing.assert_close(out, expected, atol=tol, rtol=tol)
            g = torch.randn_like(out)
            grads = torch.autograd.grad(out, [x, *ours.parameters()], g)
            ref_grads = torch.autograd.grad(expected, [x, *ref.parameters()], g)
            for a, b in zip(grads, ref_grads):
                torch.testing.assert_close(a, b, atol=tol * 10, rtol=tol * 10)


def test_dyt_equation_and_factory():
    layer = create_norm("dyt", 4, alpha_init=0.7)
    assert isinstance(layer, DyT)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([1.0, 2.0, -1.0, 0.5]))
        layer.bias.copy_(torch.tensor([0.0, 0.1, 0.2, 0.3]))
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    expected = layer.weight.double() * torch.tanh(0.7 * x) + layer.bias.double()
    torch.testing.assert_close(layer.double()(x), expected)
    assert isinstance(create_norm("LayerNorm", 8, channels_first=True), LayerNorm2d)
    with pytest.raises(KeyError, match="layernorm"):
        create_norm("layernrom", 8)


def test_save_and_from_pretrained_round_trip_and_mismatch(tmp_path):
    model = dlzoo.create_model("mlp_digits").eval()
    dlzoo.save_pretrained(model, tmp_path / "m")
    loaded = dlzoo.from_pretrained(tmp_path / "m").eval()
    x = torch.randn(3, 1, 8, 8)
    torch.testing.assert_close(loaded(x), model(x), rtol=0, atol=0)
    # same name, different architecture: the weights no longer fit and the error says so
    with pytest.raises((ValueError, RuntimeError), match="size mismatch|do not match"):
        dlzoo.from_pretrained(tmp_path / "m", hidden_dims=[7])
    with pytest.raises(FileNotFoundError, match="config.json"):
        dlzoo.from_pretrained(tmp_path / "nowhere")
