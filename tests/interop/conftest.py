"""The one parity check of dlzoo models against a reference implementation (torchvision, timm, or a
network written in a test from torch.nn), as the fixture ``reference_parity``:

    reference_parity(ref, ours, x_or_input_size, load=None)

1. The reference's parameters that start at trivial values get random ones so every weight matters:
   BatchNorm running statistics (var in [0.5, 2]) and affine parameters, LayerNorm weights/biases,
   ConvNeXt-V2 GRN, layer scale, class token, position embeddings, relative position bias tables, biases.
2. Its state dict loads into ours with ``strict=True``, or through ``load(ours, state_dict)`` (dlzoo's
   converter, or a copy by position for a network written in a test), which may return the key mapping
   ``{our key: reference key}`` when the names differ.
3. In float64: the eval-mode outputs agree; in training mode the outputs, the gradients of the input and
   of every parameter (by name), and the updated running statistics agree.

A fixture because test modules are imported with ``--import-mode=importlib`` and cannot import a helper
module next to them.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

_TRIVIAL_INIT = ("norm", "gamma", "grn", "bias", "cls_token", "pos_embed", "relative_position_bias_table")


def randomize_trivial_params(model: nn.Module, std: float = 0.3) -> None:
    """Non-trivial values for every parameter and buffer whose init would hide a mapping or math mistake."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None:
                m.running_mean.normal_(0.0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            module = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            if isinstance(module, nn.modules.batchnorm._BatchNorm) or any(k in name for k in _TRIVIAL_INIT):
                base = 1.0 if leaf == "weight" and ("norm" in name or isinstance(
                    module, nn.modules.batchnorm._BatchNorm)) else 0.0
                p.copy_(base + std * torch.randn_like(p))


def _outputs(out) -> list[torch.Tensor]:
    """Every tensor a forward returns (GoogLeNet's training outputs are a named tuple)."""
    return [out] if isinstance(out, torch.Tensor) else [t for t in out if t is not None]


def assert_reference_parity(
    ref: nn.Module,
    ours: nn.Module,
    x: torch.Tensor | tuple[int, ...],
    load: Callable[[nn.Module, dict], dict[str, str] | None] | None = None,
    rtol: float = 1e-9,
    atol: float = 1e-10,
) -> None:
    """See the module docstring. ``x``: an input batch, or an input size ``(C, H, W)`` (batch of 2)."""
    randomize_trivial_params(ref)
    if load is None:
        ours.load_state_dict(ref.state_dict(), strict=True)
        names = None
    else:
        names = load(ours, ref.state_dict())
    names = names or {k: k for k in ours.state_dict()}
    x = torch.randn(2, *x) if isinstance(x, tuple) else x
    ref, ours, x = ref.double(), ours.double(), x.double()

    ref.eval()
    ours.eval()
    with torch.no_grad():
        expected, got = _outputs(ref(x)), _outputs(ours(x))
    assert len(got) == len(expected) == 1
    assert expected[0].std() > 1e-3  # the outputs depend on the input: not a degenerate comparison
    torch.testing.assert_close(got[0], expected[0], rtol=rtol, atol=atol)

    ref.train()
    ours.train()
    xr, xo = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ref, out = _outputs(ref(xr)), _outputs(ours(xo))
    assert len(out) == len(out_ref)
    weights = [torch.randn_like(t) for t in out_ref]  # a loss whose gradient reaches every output entry
    sum((w * t).sum() for w, t in zip(weights, out_ref)).backward()
    sum((w * t).sum() for w, t in zip(weights, out)).backward()
    for a, b in zip(out, out_ref):
        torch.testing.assert_close(a, b, rtol=rtol, atol=atol)
    torch.testing.assert_close(xo.grad, xr.grad, rtol=rtol * 10, atol=atol)
    ref_grads = {n: p.grad for n, p in ref.named_parameters()}
    grads = {names[n]: p.grad for n, p in ours.named_parameters()}
    assert grads.keys() == ref_grads.keys()
    for name, g in grads.items():
        assert g is not None and ref_grads[name] is not None, name
        scale = max(1.0, ref_grads[name].abs().max().item())
        torch.testing.assert_close(g.reshape(ref_grads[name].shape), ref_grads[name], rtol=rtol * 10,
                                   atol=atol * scale, msg=lambda m, n=name: f"{n}: {m}")
    ref_buffers = dict(ref.named_buffers())
    for name, buf in ours.named_buffers():
        if names.get(name) in ref_buffers:  # running stats updated with the same batch statistics
            torch.testing.assert_close(buf, ref_buffers[names[name]], rtol=rtol, atol=1e-12, msg=name)


@pytest.fixture
def reference_parity():
    """:func:`assert_reference_parity`."""
    return assert_reference_parity
