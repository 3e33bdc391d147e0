"""Shared fixture of the ConvNeXt / Swin / ViT parity tests (test_parity_{convnext,swin,vit}.py) against timm.

``timm_parity(ref, ours, input_size)``:

The timm model is built with random weights; the parameters that start at trivial values (LayerNorm ones
and zeros, ConvNeXt-V2 GRN zeros, layer scale 1e-6, class token ~1e-6, relative position bias tables)
get random ones so every weight matters; its state dict loads into ours with ``strict=True`` (timm's key
names and shapes are ours); then in float64 the eval-mode logits, and in training mode the gradients of
the input and of every parameter (by name), agree.
"""

from __future__ import annotations

import pytest
import torch

NUM_CLASSES = 5
_TRIVIAL_INIT = ("norm", "gamma", "grn", "bias", "cls_token", "pos_embed", "relative_position_bias_table")


def randomize_trivial_params(model: torch.nn.Module, std: float = 0.3) -> None:
    """Non-trivial values for parameters whose init would hide a mapping or math mistake."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            if any(key in name for key in _TRIVIAL_INIT):
                base = 1.0 if (leaf == "weight" and "norm" in name) else 0.0
                p.copy_(base + std * torch.randn_like(p))


def assert_timm_parity(ref: torch.nn.Module, ours: torch.nn.Module, input_size: tuple[int, ...],
                       rtol: float = 1e-9, atol: float = 1e-10) -> None:
    """Strict load of ``ref``'s weights into ``ours``; float64 eval logits and train-mode grads agree."""
    randomize_trivial_params(ref)
    ref.double()
    ours.load_state_dict(ref.state_dict(), strict=True)
    ours.double()
    x = torch.randn(2, *input_size, dtype=torch.float64)
    ref.eval()
    ours.eval()
    with torch.no_grad():
        expected = ref(x)
        got = ours(x)
    assert expected.shape == (2, NUM_CLASSES)
    assert expected.std() > 1e-3  # the logits depend on the input: not a degenerate comparison
    torch.testing.assert_close(got, expected, rtol=rtol, atol=atol)

    ref.train()
    ours.train()
    w = torch.randn(2, NUM_CLASSES, dtype=torch.float64)
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    (ref(xr) * w).sum().backward()
    (ours(xo) * w).sum().backward()
    torch.testing.assert_close(xo.grad, xr.grad, rtol=rtol * 10, atol=atol)
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    our_grads = {n: p.grad for n, p in ours.named_parameters()}
    assert our_grads.keys() == ref_grads.keys()
    for name, g in ref_grads.items():
        assert g is not None and our_grads[name] is not None, name
        torch.testing.assert_close(our_grads[name], g, rtol=rtol * 10, atol=atol,
                                   msg=lambda m, n=name: f"{n}: {m}")


@pytest.fixture
def timm_parity():
    """:func:`assert_timm_parity` (a fixture: test modules are imported with --import-mode=importlib, so
    they cannot import a helper module next to them)."""
    return assert_timm_parity
