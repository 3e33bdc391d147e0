"""The command line a newcomer expects: --version, --help everywhere, did-you-mean, flag hints."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml

import dlzoo
from dlzoo.bench.cli import SUITES
from dlzoo.cli import SUBCOMMANDS, main
from dlzoo.train.config import TrainConfig, load_config


def test_version_in_a_fresh_process():
    out = subprocess.run([sys.executable, "-m", "dlzoo.cli", "--version"], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"dlzoo {dlzoo.__version__}"


@pytest.mark.parametrize("command", sorted(SUBCOMMANDS))
def test_help_on_every_subcommand_exits_0_with_usage(command, capsys):
    assert main([command, "--help"]) == 0
    out = capsys.readouterr().out
    assert "usage:" in out and (f"dlzoo {command}" in out), out


@pytest.mark.parametrize("suite", SUITES)
def test_help_on_every_bench_suite(suite, capsys):
    assert main(["bench", suite, "--help"]) == 0
    assert "usage:" in capsys.readouterr().out


def test_models_help_was_an_empty_listing_and_info_help_an_unknown_model(capsys):
    assert main(["models", "-h"]) == 0
    assert "PATTERN" in capsys.readouterr().out
    assert main(["info", "-h"]) == 0
    out = capsys.readouterr()
    assert "MODEL" in out.out and "unknown" not in (out.out + out.err).lower()


@pytest.mark.parametrize("typo, meant", [("trian", "train"), ("experimnet", "experiment"),
                                         ("modles", "models"), ("catalgo", "catalog"), ("bnech", "bench")])
def test_mistyped_subcommand_suggests_the_closest(typo, meant, capsys):
    assert main([typo]) == 2
    assert f"did you mean {meant!r}?" in capsys.readouterr().err


def test_no_suggestion_for_something_unrelated(capsys):
    assert main(["xyzzy"]) == 2
    err = capsys.readouterr().err
    assert "unknown command 'xyzzy'" in err and "did you mean" not in err


def test_mistyped_bench_suite_suggests(capsys):
    assert main(["bench", "nroms"]) == 2
    assert "did you mean 'norms'?" in capsys.readouterr().err


@pytest.mark.parametrize("argv, hint", [
    (["--epochs", "2"], "train.epochs=2"),
    (["--epochs=2"], "train.epochs=2"),
    (["--lr", "3e-3"], "optim.lr=3e-3"),
    (["--batch-size", "8"], "data.batch_size=8"),
    (["--seed", "1"], "seed=1"),
])
def test_double_dash_config_flags_hint_at_the_override(argv, hint, capsys):
    assert main(["train", "configs/mlp_digits.yaml", *argv]) == 2
    err = capsys.readouterr().err
    assert f"did you mean {hint}?" in err, err


def test_unknown_flag_without_a_config_key_has_no_hint(capsys):
    assert main(["train", "configs/mlp_digits.yaml", "--frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "unknown option '--frobnicate'" in err and "did you mean" not in err


def test_config_show_prints_the_defaults_as_yaml(capsys):
    assert main(["config", "show"]) == 0
    shown = yaml.safe_load(capsys.readouterr().out)
    assert shown == TrainConfig().model_dump(mode="json")


def test_config_show_of_a_file_with_overrides_round_trips(capsys, tmp_path):
    assert main(["config", "show", "configs/vit_digits.yaml", "train.epochs=2", "optim.lr=0.01"]) == 0
    text = capsys.readouterr().out
    shown = yaml.safe_load(text)
    expected = load_config("configs/vit_digits.yaml", ["train.epochs=2", "optim.lr=0.01"])
    assert shown == expected.model_dump(mode="json")
    assert shown["train"]["epochs"] == 2 and shown["optim"]["lr"] == 0.01
    path = tmp_path / "shown.yaml"
    path.write_text(text)  # the output is itself a valid config
    assert load_config(path) == expected


def test_config_show_errors_are_usage_errors(capsys):
    assert main(["config", "show", "configs/vit_digits.yaml", "train.epoch=2"]) == 2
    assert "did you mean 'train.epochs'" in capsys.readouterr().err
    assert main(["config", "shwo"]) == 2
    assert main(["config", "show", "does-not-exist.yaml"]) == 2


def test_models_pattern_without_match_says_so_and_exits_1(capsys):
    assert main(["models", "no_such_model_*"]) == 1
    out = capsys.readouterr()
    assert out.out == "" and "no registered model matches 'no_such_model_*'" in out.err
    assert main(["models", "gpt_tiny"]) == 0
    assert capsys.readouterr().out.startswith("gpt_tiny ")


def test_help_command_shows_a_subcommands_usage(capsys):
    assert main(["help", "train"]) == 0
    assert "usage: dlzoo train" in capsys.readouterr().out
    assert main(["help"]) == 0
    assert "commands:" in capsys.readouterr().out


def test_mistyped_experiment_command_suggests(capsys):
    assert main(["experiment", "runn"]) == 2
    assert "did you mean 'run'?" in capsys.readouterr().err
