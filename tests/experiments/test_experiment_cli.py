"""``dlzoo experiment``: override parsing, unknown keys -> exit 2 with a suggestion, listing."""

from __future__ import annotations

import pytest

from dlzoo.cli import main as dlzoo_main
from dlzoo.errors import UsageError
from dlzoo.experiments import build_config, get_experiment
from dlzoo.experiments.norm_comparison import NormComparisonConfig, trainer_config, variants


def test_overrides_parse_yaml_values_and_dotted_keys():
    args = ["seeds=[0]", "epochs=2", "norms=[layernorm,dyt]", "dyt_alphas=[0.5,1]", "train.optim.lr=1e-3",
            "model_kwargs.depth=2"]
    cfg = build_config(NormComparisonConfig, args)
    assert cfg.seeds == [0] and cfg.epochs == 2 and cfg.norms == ["layernorm", "dyt"]
    assert cfg.dyt_alphas == [0.5, 1.0]
    assert cfg.train == {"optim": {"lr": 0.001}}
    assert cfg.model_kwargs == {"depth": 2}
    labels = [v["label"] for v in variants(cfg)]
    assert labels == ["layernorm", "dyt(alpha=0.5)", "dyt(alpha=1.0)"]


def test_trainer_config_layers_defaults_overrides_and_per_run(tmp_path):
    cfg = build_config(NormComparisonConfig, ["train.optim.lr=5e-3", "train.train.epochs=99", "epochs=3",
                                              "train.data.batch_size=16"])
    dyt = [v for v in variants(cfg) if v["norm"] == "dyt"][0]
    tc = trainer_config(cfg, dyt, seed=7, run_dir=tmp_path / "runs" / "x")
    assert tc["optim"]["lr"] == 0.005 and tc["data"]["batch_size"] == 16
    assert tc["optim"]["name"] == "adamw" and tc["checkpoint"]["every_epochs"] == 1  # trainer default / ours
    assert tc["train"]["epochs"] == 3  # the experiment's epochs win
    assert tc["seed"] == 7 and tc["model"]["name"] == "vit_tiny_digits"
    assert tc["model"]["kwargs"] == {"norm_layer": "dyt", "norm_kwargs": {"alpha_init": 0.5}}


def test_unknown_key_raises_usage_error_with_suggestion():
    with pytest.raises(UsageError, match="unknown key 'seedz'.*did you mean 'seeds'"):
        build_config(NormComparisonConfig, ["seedz=[0]"])
    with pytest.raises(UsageError, match="epochs"):
        build_config(NormComparisonConfig, ["epochs=zero"])
    with pytest.raises(UsageError, match="norms: unknown norm 'layernrom'"):
        variants(build_config(NormComparisonConfig, ["norms=[layernrom]"]))


@pytest.mark.parametrize("args,needle", [
    (["seedz=[0]"], "did you mean 'seeds'"),
    (["train.optim.lrr=0.1"], "lrr"),
    (["epochs"], "key=value"),
])
def test_cli_exits_2_on_bad_keys(args, needle, capsys, tmp_path):
    code = dlzoo_main(["experiment", "run", "norm-comparison", f"output_dir={tmp_path}", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "norm-comparison").exists()  # nothing written before validation


def test_cli_unknown_experiment_and_list(capsys):
    assert dlzoo_main(["experiment", "run", "norm-comparisn"]) == 2
    assert "did you mean 'norm-comparison'" in capsys.readouterr().err
    assert dlzoo_main(["experiment", "list"]) == 0
    assert "norm-comparison" in capsys.readouterr().out
    assert get_experiment("norm-comparison").config is NormComparisonConfig


def test_progress_reads_finished_epochs_from_metrics_jsonl(tmp_path):
    from dlzoo.experiments.runner import epochs_logged

    assert epochs_logged(tmp_path) == (0, None)
    (tmp_path / "metrics.jsonl").write_text(
        '{"epoch": 1, "train_loss": 2.0, "val_loss": 1.9, "val_acc": 0.4}\n'
        '{"epoch": 2, "train_loss": 1.0, "val_loss": null, "val_acc": null}\n'
        '{"epoch": 3, "train_lo'  # a line still being written
    )
    assert epochs_logged(tmp_path) == (2, 0.4)
