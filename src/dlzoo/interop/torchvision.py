"""Load torchvision / timm-layout state dicts into dlzoo CNNs (ResNet, VGG, AlexNet, DenseNet, GoogLeNet,
MobileNetV4).

Our classic CNNs keep torchvision's module names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``fc``;
``features.N``/``classifier.N``; ``features.denseblock1.denselayer1.norm1``) and timm's for MobileNetV4
(``conv_stem``, ``blocks.i.j.pw_exp.conv``, ``conv_head``, ``classifier``), so a checkpoint saved by
torchvision or timm loads without renaming. Files are read without executing pickle code:
``.safetensors`` through safetensors, anything else through ``torch.load(weights_only=True)``; an
in-memory ``state_dict()`` is accepted too.

    model = dlzoo.create_model("resnet18")
    load_torchvision_state_dict(model, "resnet18-f37072fd.pth")

torchvision's pretrained GoogLeNet checkpoint carries (untrained) auxiliary heads ``aux1.*``/``aux2.*``;
as torchvision's own builder does, they are dropped when the model was built without them
(``aux_logits=False``). Those weights expect ``transform_input=True``:
``create_model("googlenet", transform_input=True)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import torch
from torch import Tensor, nn

__all__ = ["load_torchvision_state_dict", "read_state_dict"]

_WRAPPER_KEYS = ("state_dict", "model", "model_state_dict", "module")


def read_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a flat ``{name: tensor}`` dict from ``.safetensors`` or a ``weights_only`` torch file.

    Unwraps ``{"state_dict": ...}`` / ``{"model": ...}`` containers and strips a DataParallel
    ``module.`` prefix.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"load_torchvision_state_dict: no such file {str(path)!r}")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        state: object = load_file(str(path))
    else:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # weights_only refuses arbitrary pickled objects
            raise ValueError(f"load_torchvision_state_dict: {path.name} is not a plain tensor state dict "
                             f"(weights_only load failed: {err})") from None
    for _ in range(2):
        if isinstance(state, Mapping):
            inner = next((state[k] for k in _WRAPPER_KEYS if isinstance(state.get(k), Mapping)), None)
            if inner is not None:
                state = inner
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise ValueError(f"load_torchvision_state_dict: {path.name} does not hold a name -> tensor mapping")
    return _strip_module_prefix(state)


def _strip_module_prefix(state: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """Drop DataParallel's ``module.`` prefix from every key."""
    return {k[len("module."):] if k.startswith("module.") else k: v for k, v in state.items()}


# optional heads a checkpoint may carry that a model built without them drops (torchvision's GoogLeNet)
_OPTIONAL_HEADS = ("aux1", "aux2")


def _drop_absent_optional_heads(model: nn.Module, state: dict[str, Tensor]) -> dict[str, Tensor]:
    absent = tuple(f"{name}." for name in _OPTIONAL_HEADS if getattr(model, name, "not a head") is None)
    return {k: v for k, v in state.items() if not k.startswith(absent)} if absent else state


def load_torchvision_state_dict(
    model: nn.Module, source: str | Path | Mapping[str, Tensor], strict: bool = True
) -> list[str]:
    """Copy the tensors of a torchvision- or timm-layout checkpoint into ``model``.

    Args:
        model: a dlzoo model with the reference's module names.
        source: a checkpoint file (see :func:`read_state_dict`) or a ``{name: tensor}`` mapping, e.g.
            ``torchvision.models.vgg16().state_dict()``.
        strict: raise on missing or unexpected keys.

    Missing ``num_batches_tracked`` buffers (checkpoints older than torch 0.4.1) are tolerated; auxiliary
    heads the model was built without are dropped (module docstring). With ``strict`` any other missing
    or unexpected key, or any shape mismatch, raises ``ValueError`` listing the offending names. Returns
    the list of keys that were not loaded (non-strict).
    """
    if isinstance(source, (str, Path)):
        state = read_state_dict(source)
    elif isinstance(source, Mapping) and all(isinstance(v, Tensor) for v in source.values()):
        state = _strip_module_prefix(source)
    else:
        raise TypeError(f"load_torchvision_state_dict: source must be a file path or a name -> tensor "
                        f"mapping, got {type(source).__name__}")
    state = _drop_absent_optional_heads(model, state)
    own = model.state_dict()
    mismatched = [f"{k}: checkpoint {list(v.shape)} vs model {list(own[k].shape)}"
                  for k, v in state.items() if k in own and own[k].shape != v.shape]
    if mismatched:
        raise ValueError("load_torchvision_state_dict: shape mismatch for " + "; ".join(mismatched[:5]))
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if strict and (missing or unexpected):
        raise ValueError(f"load_torchvision_state_dict: {len(missing)} missing keys {missing[:5]}, "
                         f"{len(unexpected)} unexpected keys {unexpected[:5]} for {type(model).__name__}")
    model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False)
    return missing + unexpected
