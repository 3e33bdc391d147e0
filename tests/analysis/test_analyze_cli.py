"""``dlzoo analyze RUN_DIR`` on a freshly trained tiny run: numbers agree with what the trainer measured."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

import dlzoo
from dlzoo.analysis import weight_spectra
from dlzoo.analysis.calibration import brier_score
from dlzoo.cli import main as dlzoo_main
from dlzoo.train import load_config, train
from dlzoo.train.build import build_data


def test_analyze_reports_the_trainers_test_metrics(tmp_path, capsys):
    cfg = {"name": "tiny", "output_dir": str(tmp_path), "model": {"name": "mlp_digits",
           "kwargs": {"norm_layer": "dyt", "hidden_dims": [32, 32]}},
           "train": {"epochs": 1}, "checkpoint": {"every_epochs": 0}}
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    capsys.readouterr()
    assert dlzoo_main(["analyze", str(result.run_dir), "--samples", "32", "--bins", "10"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    out_dir = Path(out[-1])
    assert out_dir == result.run_dir / "analysis"
    trainer_test = json.loads((result.run_dir / "results.json").read_text())["test"]
    assert out[0].startswith(f"test acc {100 * trainer_test['acc']:.2f}%  loss {trainer_test['loss']:.4f}")
    md = (out_dir / "report.md").read_text()
    assert f"| accuracy % | {100 * trainer_test['acc']:.2f} |" in md
    assert "| blocks.1 | DyT |" in md and "| blocks.5 | DyT |" in md  # S-curve rows per norm layer
    page = (out_dir / "report.html").read_text()
    # reliability diagram, confidence histogram, ESD grid, alpha by depth, S-curves, activations by depth
    assert page.count('src="data:image/png;base64,') == 6
    # the weight-spectra rows are weight_spectra() of the saved model; calibration numbers its own functions
    model = dlzoo.from_pretrained(result.run_dir).float()
    for sp in weight_spectra(model):
        shape = "x".join(map(str, sp.shape))
        assert f"| {sp.name} | {sp.type} | {shape} | {sp.num_evals} | {sp.alpha:.3f} |" in md
    assert "## Weight spectra" in md and "Mean alpha over" in md
    cfg_ = load_config(result.run_dir / "config.yaml")
    test = build_data(cfg_.data, cfg_.seed).splits.test
    with torch.no_grad():
        brier = brier_score(model.eval()(test.x).float().softmax(-1), test.y)
    assert f"| Brier score (sum over classes) | {brier:.4f} |" in md and "MCE bin (predictions in it)" in md
    assert out[0].endswith(f"Brier {brier:.4f}")


def test_analyze_missing_run_dir_exits_2(tmp_path, capsys):
    assert dlzoo_main(["analyze", str(tmp_path / "nope")]) == 2
    assert "does not exist" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert dlzoo_main(["analyze", str(tmp_path / "empty")]) == 2
    assert "config.yaml is missing" in capsys.readouterr().err


@pytest.mark.parametrize("flag", ["--samples", "--bins"])
def test_analyze_rejects_nonpositive_options(tmp_path, capsys, flag):
    assert dlzoo_main(["analyze", str(tmp_path), flag, "0"]) == 2


def test_analyze_with_corrupt_weights_exits_2_naming_the_file(tmp_path, capsys):
    cfg = {"name": "tiny", "output_dir": str(tmp_path), "model": {"name": "mlp_digits",
           "kwargs": {"hidden_dims": [16]}}, "train": {"epochs": 1}, "checkpoint": {"every_epochs": 1}}
    result = train(cfg, run_dir=tmp_path / "run", progress=False)
    capsys.readouterr()
    (result.run_dir / "model.safetensors").write_bytes(b"\x00garbage")
    assert dlzoo_main(["analyze", str(result.run_dir)]) == 2
    err = capsys.readouterr().err
    assert "model.safetensors" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
    # a resume from a corrupt checkpoint is the same kind of error: exit 2, one line naming the file
    for state in (result.run_dir / "checkpoints").rglob("state.json"):
        state.write_text("{not json")
    (result.run_dir / "status.json").unlink(missing_ok=True)
    (result.run_dir / "results.json").unlink(missing_ok=True)
    code = dlzoo_main(["train", "--resume", str(result.run_dir), "train.epochs=2", "-q"])
    err = capsys.readouterr().err
    assert code == 2 and "state.json" in err and "Traceback" not in err, err


@pytest.mark.parametrize("config", ["vae_digits.yaml", "gpt_tiny_pydoc.yaml", "gcn_karate.yaml"])
def test_analyze_refuses_runs_that_are_not_classification(tmp_path, capsys, config):
    """A generative, language-model or graph run gets one line naming its task, not a traceback."""
    import shutil

    repo_configs = Path(__file__).resolve().parents[2] / "configs"
    shutil.copy(repo_configs / config, tmp_path / "config.yaml")
    for name in ("config.json", "model.safetensors"):
        (tmp_path / name).write_bytes(b"")
    assert dlzoo_main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "only classification runs" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1
