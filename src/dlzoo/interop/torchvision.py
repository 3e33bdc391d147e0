"""Load torchvision / timm-layout state dicts into dlzoo CNNs (ResNet, VGG, AlexNet, DenseNet, GoogLeNet).

Our classic CNNs keep torchvision's module names (``conv1``, ``bn1``, ``layer1.0.conv1``, ``fc``;
``features.N``/``classifier.N``; ``features.denseblock1.denselayer1.norm1``), so a checkpoint saved by
torchvision loads without renaming. Files are read without executing pickle code: ``.safetensors``
through safetensors, anything else through ``torch.load(weights_only=True)``.

    model = dlzoo.create_model("resnet18")
    load_torchvision_state_dict(model, "resnet18-f37072fd.pth")
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
    out = {}
    for key, value in state.items():
        out[key[len("module."):] if key.startswith("module.") else key] = value
    return out


def load_torchvision_state_dict(model: nn.Module, path: str | Path, strict: bool = True) -> list[str]:
    """Copy the tensors of a torchvision-layout checkpoint at ``path`` into ``model``.

    Missing ``num_batches_tracked`` buffers (checkpoints older than torch 0.4.1) are tolerated.
    With ``strict`` any other missing or unexpected key, or any shape mismatch, raises ``ValueError``
    listing the offending names. Returns the list of keys that were not loaded (non-strict).
    """
    state = read_state_dict(path)
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
