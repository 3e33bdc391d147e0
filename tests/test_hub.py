"""dlzoo.hub: from_pretrained returns eval mode; unreadable directories give one-line errors naming the file;
writes are atomic; no pickle is ever loaded."""

from __future__ import annotations

import ast
import json
import pickle
import struct
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

import dlzoo
from dlzoo import hub
from dlzoo.hub import PretrainedLoadError


def _model():
    # BatchNorm and Dropout both behave differently in train mode
    return dlzoo.create_model("mlp_digits", norm_layer="batchnorm1d", drop_rate=0.5, hidden_dims=[16])


def _saved(tmp_path: Path) -> Path:
    model = _model()
    with torch.no_grad():  # non-trivial running statistics
        for m in model.modules():
            if hasattr(m, "running_mean"):
                m.running_mean.normal_(0, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    return dlzoo.save_pretrained(model.train(), tmp_path / "m")


def test_from_pretrained_returns_the_model_in_eval_mode(tmp_path):
    directory = _saved(tmp_path)
    loaded = dlzoo.from_pretrained(directory)
    assert loaded.training is False
    assert not any(m.training for m in loaded.modules())
    # behaviour, not only the flag: eval-mode BN (running stats) and no dropout, as torch computes it
    reference = _model()
    reference.load_state_dict(loaded.state_dict())
    reference.eval()
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), reference(x), rtol=0, atol=0)
        torch.testing.assert_close(loaded(x), loaded(x), rtol=0, atol=0)
    assert "model.train()" in dlzoo.from_pretrained.__doc__


def _hf_vit(directory: Path, **kw) -> Path:
    transformers = pytest.importorskip("transformers")
    cfg = transformers.ViTConfig(**{**dict(hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                           intermediate_size=32, image_size=8, patch_size=4, num_channels=1,
                                           num_labels=3), **kw})
    transformers.ViTForImageClassification(cfg).train().save_pretrained(directory)
    return directory


def test_from_pretrained_of_a_transformers_directory_is_in_eval_mode(tmp_path):
    directory = _hf_vit(tmp_path, hidden_dropout_prob=0.5, attention_probs_dropout_prob=0.5)
    loaded = dlzoo.from_pretrained(directory)
    assert loaded.training is False
    assert not any(m.training for m in loaded.modules())


# --------------------------------------------------------------- unreadable directories: one-line errors


def _lying_header(path: Path) -> None:
    """A safetensors file whose header claims a larger tensor than the data holds."""
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + n])
    key = next(k for k, v in header.items() if k != "__metadata__" and v["shape"])
    header[key]["shape"] = [s * 2 for s in header[key]["shape"]]
    raw = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + data[8 + n:])


def _header_length_lies(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(struct.pack("<Q", len(data) * 4) + data[8:])


_WEIGHTS = "model.safetensors"
_CONFIG = "config.json"
_CORRUPTIONS = {
    "truncated weights": (_WEIGHTS, lambda p: p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])),
    "random bytes": (_WEIGHTS, lambda p: p.write_bytes(bytes(range(256)) * 8)),
    "empty weights": (_WEIGHTS, lambda p: p.write_bytes(b"")),
    "header length lies": (_WEIGHTS, _header_length_lies),
    "header shape lies": (_WEIGHTS, _lying_header),
    "no weights": (_WEIGHTS, lambda p: p.unlink()),
    "weights of another model": (_WEIGHTS, lambda p: save_file({"x": torch.zeros(2)}, str(p))),
    "invalid json": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": "mlp_digits", ')),
    "json list": (_CONFIG, lambda p: p.write_text("[1, 2]")),
    "json number": (_CONFIG, lambda p: p.write_text("5")),
    "not utf-8": (_CONFIG, lambda p: p.write_bytes(b"\xff\xfe\x00")),
    "no model key": (_CONFIG, lambda p: p.write_text('{"kwargs": {}}')),
    "unknown model": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": "no_such_model", "kwargs": {}}')),
    "model name not a string": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": 3}')),
    "kwargs not an object": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": "mlp_digits", "kwargs": [1]}')),
    "bad kwargs": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": "mlp_digits", "kwargs": {"nope": 1}}')),
    "shape mismatch": (_CONFIG, lambda p: p.write_text('{"dlzoo_model": "mlp_digits", "kwargs": '
                                                       '{"hidden_dims": [7], "norm_layer": "batchnorm1d"}}')),
}


def _assert_clear(err: pytest.ExceptionInfo, filename: str) -> None:
    message = str(err.value)
    assert filename in message and "\n" not in message, message


@pytest.mark.parametrize("case", list(_CORRUPTIONS))
def test_unreadable_dlzoo_directory_gives_one_line_error_naming_the_file(tmp_path, case):
    directory = _saved(tmp_path)
    filename, corrupt = _CORRUPTIONS[case]
    corrupt(directory / filename)
    with pytest.raises(PretrainedLoadError) as err:
        dlzoo.from_pretrained(directory)
    _assert_clear(err, filename)
    assert isinstance(err.value, ValueError)


def test_missing_directory_is_a_file_not_found_load_error(tmp_path):
    with pytest.raises(PretrainedLoadError, match="config.json") as err:
        dlzoo.from_pretrained(tmp_path / "nowhere")
    assert isinstance(err.value, FileNotFoundError)


def _edit_config(path: Path, **changes) -> None:
    config = json.loads(path.read_text())
    for k, v in changes.items():
        if v is None:
            config.pop(k)
        else:
            config[k] = v
    path.write_text(json.dumps(config))


class _Evil:
    def __reduce__(self):
        return (exec, ("import pathlib; pathlib.Path('PWNED').touch()",))


def _pickled_bin(directory: Path) -> None:
    (directory / _WEIGHTS).unlink()
    with open(directory / "pytorch_model.bin", "wb") as f:
        pickle.dump({"w": _Evil()}, f)


_HF_CORRUPTIONS = {
    "truncated weights": (_WEIGHTS, lambda d: _CORRUPTIONS["truncated weights"][1](d / _WEIGHTS)),
    "random bytes": (_WEIGHTS, lambda d: _CORRUPTIONS["random bytes"][1](d / _WEIGHTS)),
    "header shape lies": (_WEIGHTS, lambda d: _lying_header(d / _WEIGHTS)),
    "no weights": ("pytorch_model", lambda d: (d / _WEIGHTS).unlink()),
    "pickled object in .bin": ("pytorch_model.bin", _pickled_bin),
    "unknown model_type": (_CONFIG, lambda d: _edit_config(d / _CONFIG, model_type="no_such_arch")),
    # a missing key falls back to the transformers default (hidden_size 768): the weights no longer fit
    "missing key": (_CONFIG, lambda d: _edit_config(d / _CONFIG, hidden_size=None)),
    "value of the wrong type": (_CONFIG, lambda d: _edit_config(d / _CONFIG, hidden_size="wide")),
    "json list": (_CONFIG, lambda d: (d / _CONFIG).write_text('[{"model_type": "vit"}]')),
}


@pytest.mark.parametrize("case", list(_HF_CORRUPTIONS))
def test_unreadable_transformers_directory_gives_one_line_error(tmp_path, monkeypatch, case):
    directory = _hf_vit(tmp_path / "hf")
    monkeypatch.chdir(tmp_path)
    filename, corrupt = _HF_CORRUPTIONS[case]
    corrupt(directory)
    with pytest.raises(PretrainedLoadError) as err:
        dlzoo.from_pretrained(directory)
    _assert_clear(err, filename)
    assert not (tmp_path / "PWNED").exists()


# --------------------------------------------------------------- atomic writes


def test_failed_save_pretrained_leaves_the_previous_directory_loadable(tmp_path, monkeypatch):
    directory = _saved(tmp_path)
    before = dlzoo.from_pretrained(directory).state_dict()

    def crash(tensors, filename, *args, **kwargs):
        Path(filename).write_bytes(b"half")  # a partial file on disk, then the process "dies"
        raise OSError("disk full")

    monkeypatch.setattr(hub, "save_file", crash)
    with pytest.raises(OSError, match="disk full"):
        dlzoo.save_pretrained(_model(), directory)
    after = dlzoo.from_pretrained(directory).state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert sorted(p.name for p in directory.iterdir()) == [_CONFIG, _WEIGHTS]  # no temporary left behind


def test_atomic_write_bytes_keeps_the_old_file_on_failure(tmp_path, monkeypatch):
    target = tmp_path / "f.txt"
    hub.atomic_write_bytes(target, b"old")

    def failing_fsync(fd):
        raise OSError("I/O error")

    monkeypatch.setattr(hub.os, "fsync", failing_fsync)
    with pytest.raises(OSError, match="I/O error"):
        hub.atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["f.txt"]


# --------------------------------------------------------------- no pickle


def test_library_never_unpickles():
    """Every torch.load in src/ passes weights_only=True; pickle / np.load(allow_pickle) are never used."""
    src = Path(dlzoo.__file__).parent
    offenders = []
    for path in sorted(src.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] + [getattr(node, "module", None) or ""]
                if any(n.split(".")[0] in ("pickle", "dill", "cloudpickle", "joblib") for n in names):
                    offenders.append(f"{path}:{node.lineno} imports pickle")
            if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
                continue
            kw = {k.arg: k.value for k in node.keywords}
            if node.func.attr == "load" and ast.unparse(node.func.value) == "torch":
                ok = isinstance(kw.get("weights_only"), ast.Constant) and kw["weights_only"].value is True
                if not ok:
                    offenders.append(f"{path}:{node.lineno} torch.load without weights_only=True")
            if node.func.attr == "load" and ast.unparse(node.func.value) in ("np", "numpy"):
                if "allow_pickle" in kw and not (isinstance(kw["allow_pickle"], ast.Constant)
                                                 and kw["allow_pickle"].value is False):
                    offenders.append(f"{path}:{node.lineno} np.load(allow_pickle=...)")
    assert not offenders, offenders
