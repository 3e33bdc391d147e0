"""torchvision-layout checkpoints load into our ResNet-18 (key list written from torchvision's layout)."""

from __future__ import annotations

import collections

import pytest
import torch
from safetensors.torch import save_file

import dlzoo
from dlzoo.interop.torchvision import load_torchvision_state_dict

BN = ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")


def _torchvision_resnet18_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision.models.resnet18().state_dict() names and shapes, written out from its documented layout."""
    shapes: dict[str, tuple[int, ...]] = {"conv1.weight": (64, 3, 7, 7)}
    shapes.update({f"bn1.{b}": (64,) for b in BN})
    cin = 64
    for layer, planes in zip((1, 2, 3, 4), (64, 128, 256, 512)):
        for block in (0, 1):
            p = f"layer{layer}.{block}."
            shapes[p + "conv1.weight"] = (planes, cin if block == 0 else planes, 3, 3)
            shapes.update({p + f"bn1.{b}": (planes,) for b in BN})
            shapes[p + "conv2.weight"] = (planes, planes, 3, 3)
            shapes.update({p + f"bn2.{b}": (planes,) for b in BN})
            if block == 0 and layer > 1:
                shapes[p + "downsample.0.weight"] = (planes, cin, 1, 1)
                shapes.update({p + f"downsample.1.{b}": (planes,) for b in BN})
        cin = planes
    shapes["fc.weight"] = (1000, 512)
    shapes["fc.bias"] = (1000,)
    for k in list(shapes):
        if k.endswith("num_batches_tracked"):
            shapes[k] = ()
    return shapes


def _fake_checkpoint() -> dict[str, torch.Tensor]:
    state = {}
    for k, shape in _torchvision_resnet18_shapes().items():
        if k.endswith("num_batches_tracked"):
            state[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            state[k] = torch.rand(shape) + 0.5
        else:
            state[k] = torch.randn(shape)
    return state


def test_key_layout_matches_torchvision_exactly():
    ours = dlzoo.create_model("resnet18").state_dict()
    expected = _torchvision_resnet18_shapes()
    assert len(expected) == 122
    assert list(ours) == list(expected)  # same names in the same order
    assert {k: tuple(v.shape) for k, v in ours.items()} == expected


@pytest.mark.parametrize("fmt", ["pth", "safetensors", "wrapped"])
def test_load_checkpoint_files(tmp_path, fmt):
    state = _fake_checkpoint()
    if fmt == "safetensors":
        path = tmp_path / "resnet18.safetensors"
        save_file(state, str(path))
    elif fmt == "pth":
        path = tmp_path / "resnet18.pth"
        torch.save(collections.OrderedDict(state), path)
    else:  # a training checkpoint with a DataParallel prefix
        path = tmp_path / "ckpt.pth"
        torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, path)
    model = dlzoo.create_model("resnet18")
    assert load_torchvision_state_dict(model, path) == []
    loaded = model.state_dict()
    for k, v in state.items():
        assert torch.equal(loaded[k], v), k


def test_old_checkpoints_without_num_batches_tracked_and_errors(tmp_path):
    state = {k: v for k, v in _fake_checkpoint().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    model = dlzoo.create_model("resnet18")
    load_torchvision_state_dict(model, path)
    torch.testing.assert_close(model.fc.bias, state["fc.bias"])
    with pytest.raises(ValueError, match="shape mismatch for fc.weight"):
        load_torchvision_state_dict(dlzoo.create_model("resnet18", num_classes=10), path)
    with pytest.raises(ValueError, match="missing keys"):
        load_torchvision_state_dict(dlzoo.create_model("resnet34"), path)


class _Evil:
    def __reduce__(self):
        return (print, ("pickle code ran",))


def test_refuses_pickled_objects(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": _Evil()}, path)
    with pytest.raises(ValueError, match="weights_only"):
        load_torchvision_state_dict(dlzoo.create_model("resnet18"), path)


# torchvision names and shapes of characteristic tensors (from torchvision's module layout)
TV_KEYS = {
    "vgg16": {f"features.{i}.weight": None for i in (0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28)}
    | {
        "features.28.weight": (512, 512, 3, 3),
        "classifier.0.weight": (4096, 25088),
        "classifier.6.bias": (1000,),
    },
    "vgg16_bn": {
        "features.1.running_mean": (64,),
        "features.40.weight": (512, 512, 3, 3),
        "features.41.num_batches_tracked": (),
        "classifier.3.weight": (4096, 4096),
    },
    "alexnet": {
        "features.0.weight": (64, 3, 11, 11),
        "features.10.weight": (256, 256, 3, 3),
        "classifier.1.weight": (4096, 9216),
        "classifier.4.weight": (4096, 4096),
        "classifier.6.weight": (1000, 4096),
    },
    "densenet121": {
        "features.conv0.weight": (64, 3, 7, 7),
        "features.denseblock1.denselayer1.norm1.weight": (64,),
        "features.denseblock4.denselayer16.conv2.weight": (32, 128, 3, 3),
        "features.transition3.conv.weight": (512, 1024, 1, 1),
        "features.norm5.running_var": (1024,),
        "classifier.weight": (1000, 1024),
    },
    "googlenet": {
        "conv1.conv.weight": (64, 3, 7, 7),
        "conv3.bn.running_var": (192,),
        "inception3a.branch2.1.conv.weight": (128, 96, 3, 3),
        "inception4e.branch3.1.conv.weight": (128, 32, 3, 3),  # torchvision's 3x3 (Table 1: 5x5)
        "inception5b.branch4.1.conv.weight": (128, 832, 1, 1),
        "fc.weight": (1000, 1024),
    },
}


@pytest.mark.parametrize("name", sorted(TV_KEYS))
def test_other_families_use_torchvision_names(name):
    with torch.device("meta"):
        state = dlzoo.create_model(name).state_dict()
    for key, shape in TV_KEYS[name].items():
        assert key in state, key
        if shape is not None:
            assert tuple(state[key].shape) == shape, key
    assert not any(k.startswith("aux") for k in state)  # GoogLeNet aux heads are off by default
