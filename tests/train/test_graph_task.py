"""The trainer's graph task: GCN on the karate club and GIN / DiffPool on the synthetic graph set train
through `dlzoo train`, a crashed graph run resumes to the same weights, and mismatched configs exit 2 with
one line."""

from __future__ import annotations

import json

import pytest

from dlzoo.cli import main as cli_main
from dlzoo.train import resume, train
from dlzoo.train.trainer import Trainer


def _cfg(model: str, data: dict, epochs: int, lr: float = 0.01, **model_kwargs) -> dict:
    return {
        "model": {"name": model, "kwargs": model_kwargs},
        "data": data,
        "optim": {"name": "adam", "lr": lr, "weight_decay": 5e-4},
        "train": {"epochs": epochs},
    }


def test_gcn_trains_on_the_karate_club(tmp_path):
    result = train(_cfg("gcn", {"name": "karate_club"}, 60), run_dir=tmp_path / "gcn", progress=False)
    assert result.test["acc"] >= 0.8  # 32 members predicted from the two leaders' labels
    assert result.history[-1]["train_acc"] == 1.0  # the two labelled nodes
    assert result.history[0]["step"] == 1  # full batch: one optimizer step per epoch


@pytest.mark.parametrize(
    "model, kwargs",
    [
        ("gin", {"hidden_channels": 16, "num_layers": 3}),
        ("diffpool", {"hidden_channels": 16, "max_nodes": 24}),
    ],
)
def test_graph_classifiers_run_through_the_trainer(tmp_path, model, kwargs):
    data = {"name": "synthetic_graphs", "batch_size": 16, "kwargs": {"num_graphs": 60}}
    result = train(_cfg(model, data, 2, **kwargs), run_dir=tmp_path / model, progress=False)
    assert result.history[-1]["step"] == 2 * 3  # 42 training graphs / 16 per batch
    assert 0.0 <= result.test["acc"] <= 1.0 and result.test["loss"] > 0


def test_a_crashed_graph_run_resumes_to_the_same_weights(tmp_path, monkeypatch):
    data = {"name": "synthetic_graphs", "batch_size": 16, "kwargs": {"num_graphs": 60}}
    cfg = {**_cfg("gin", data, 2, hidden_channels=8, num_layers=2), "checkpoint": {"every_steps": 2}}
    ref = train(cfg, run_dir=tmp_path / "ref", progress=False)
    original = Trainer._train_step

    def crash_at_step_4(self, x, y):
        if self.step == 4:
            raise RuntimeError("simulated crash")
        return original(self, x, y)

    monkeypatch.setattr(Trainer, "_train_step", crash_at_step_4)
    with pytest.raises(RuntimeError, match="simulated crash"):
        train(cfg, run_dir=tmp_path / "crashed", progress=False)
    monkeypatch.setattr(Trainer, "_train_step", original)
    assert json.loads((tmp_path / "crashed" / "status.json").read_text())["state"] == "failed"
    done = resume(tmp_path / "crashed", progress=False)
    assert done.history[-1]["step"] == ref.history[-1]["step"]
    assert (tmp_path / "crashed" / "model.safetensors").read_bytes() == (
        ref.run_dir / "model.safetensors"
    ).read_bytes()


@pytest.mark.parametrize(
    "model, data, message",
    [
        ("gcn", "synthetic_graphs", "is a node-classification model"),
        ("gin", "karate_club", "is a graph-classification model"),
        ("resnet18", "karate_club", "is a classification model"),
    ],
)
def test_mismatched_graph_configs_exit_2(tmp_path, capsys, model, data, message):
    path = tmp_path / "cfg.yaml"
    path.write_text(json.dumps(_cfg(model, {"name": data}, 1)))
    assert cli_main(["train", str(path), "--run-dir", str(tmp_path / "run"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
