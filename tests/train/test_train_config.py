"""Config loading: YAML + dotted overrides, unknown keys with suggestions, types and ranges -> UsageError."""

from __future__ import annotations

import pytest

from dlzoo.errors import UsageError
from dlzoo.train import TrainConfig, load_config
from dlzoo.train.config import apply_overrides, config_to_yaml, parse_value


def test_defaults_and_overrides_are_typed():
    cfg = load_config(None, ["optim.lr=3e-3", "model.kwargs.norm_layer=dyt", "train.epochs=5",
                             "model.kwargs.norm_kwargs.alpha_init=1.0", "train.grad_clip=null",
                             "data.img_size=16"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.lr == pytest.approx(3e-3) and isinstance(cfg.optim.lr, float)
    assert cfg.model.kwargs == {"norm_layer": "dyt", "norm_kwargs": {"alpha_init": 1.0}}
    assert cfg.train.epochs == 5 and cfg.train.grad_clip is None and cfg.data.img_size == 16
    assert TrainConfig().model.name == "vit_tiny_digits" and TrainConfig().schedule.name == "warmup_cosine"


@pytest.mark.parametrize("text,value", [("3e-3", 3e-3), ("1", 1), ("true", True), ("null", None),
                                        ("[1, 2]", [1, 2]), ("dyt", "dyt"), ("-2.5E+1", -25.0), ("", "")])
def test_parse_value_reads_yaml_scalars_and_exponent_floats(text, value):
    assert parse_value(text) == value


def test_yaml_file_and_round_trip(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("name: x\nmodel: {name: mlp_digits, kwargs: {drop_rate: 0.1}}\ntrain: {epochs: 2}\n")
    cfg = load_config(path, ["seed=7"])
    assert (cfg.name, cfg.seed, cfg.train.epochs, cfg.model.kwargs["drop_rate"]) == ("x", 7, 2, 0.1)
    again = tmp_path / "resolved.yaml"
    again.write_text(config_to_yaml(cfg))
    assert load_config(again) == cfg
    assert load_config(cfg.model_dump()) == cfg


@pytest.mark.parametrize("override,pattern", [
    (["optim.lrr=1"], r"unknown key 'optim.lrr'; did you mean 'optim.lr'\?"),
    (["optimizer.lr=1"], r"unknown key 'optimizer'; did you mean 'optim'\?"),
    (["train.epcohs=3"], r"did you mean 'train.epochs'"),
    (["train.epochs=0"], r"train.epochs: .*greater than or equal to 1"),
    (["data.batch_size=abc"], r"data.batch_size: .*valid integer"),
    (["train.amp=fp8"], r"train.amp: .*'none', 'bf16' or 'fp16'"),
    (["optim.lr=-1"], r"optim.lr: .*greater than 0"),
    (["optim.lr"], r"key.sub=value"),
    (["optim=3", "optim.lr=1"], r"optim is a value"),
])
def test_bad_configs_give_one_readable_usage_error(override, pattern):
    with pytest.raises(UsageError, match=pattern) as info:
        load_config(None, override)
    assert "\n" not in str(info.value)


def test_missing_and_malformed_files(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("model: {name: [unclosed\n")
    with pytest.raises(UsageError, match="not valid YAML"):
        load_config(bad)
    bad.write_text("- a\n- b\n")
    with pytest.raises(UsageError, match="mapping"):
        load_config(bad)


def test_apply_overrides_does_not_mutate_its_input():
    data = {"optim": {"lr": 1.0}}
    out = apply_overrides(data, ["optim.lr=2", "train.epochs=3"])
    assert data == {"optim": {"lr": 1.0}} and out == {"optim": {"lr": 2}, "train": {"epochs": 3}}
