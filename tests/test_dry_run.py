"""--dry-run of `dlzoo experiment run` and `dlzoo bench`, and where benchmarks write.

The runner's plain progress lines on a non-terminal are checked by the worker-pool run of
tests/experiments/test_norm_comparison.py."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from dlzoo.bench.cli import SUITES
from dlzoo.bench.output import resolve_out
from dlzoo.cli import main
from dlzoo.dryrun import DryRunStop, planning
from dlzoo.errors import UsageError
from dlzoo.experiments.norm_comparison import NormComparisonConfig
from dlzoo.experiments.registry import EXPERIMENTS, _import_experiments
from dlzoo.train import load_config
from dlzoo.train.trainer import Trainer


def test_experiment_dry_run_lists_every_job_and_writes_nothing(tmp_path, capsys):
    out_root = tmp_path / "out"
    assert main(["experiment", "run", "norm-comparison", f"output_dir={out_root}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    cfg = NormComparisonConfig()
    n_variants = sum(len(cfg.dyt_alphas) if n == "dyt" else 1 for n in cfg.norms)
    jobs = re.findall(r"^ +\[(\d+)/(\d+)\] (\S+) seed (\d+), (\d+) epochs -> (\S+)$", out, re.M)
    assert len(jobs) == n_variants * len(cfg.seeds), out
    assert {int(j[3]) for j in jobs} == set(cfg.seeds) and {int(j[4]) for j in jobs} == {cfg.epochs}
    assert all(j[5].startswith(str(out_root / "norm-comparison")) for j in jobs)  # the real paths
    assert len({j[5] for j in jobs}) == len(jobs)
    assert not out_root.exists()


_import_experiments()


@pytest.mark.parametrize("name", EXPERIMENTS.names())
def test_every_registered_experiment_dry_runs_without_writing(name, tmp_path, capsys):
    """An experiment that neither trains through the runner/Trainer nor times through time_interleaved would
    run to its end here; this keeps every new experiment stoppable by --dry-run."""
    assert main(["experiment", "run", name, f"output_dir={tmp_path}", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"dlzoo experiment {name} (dry run): would write" in out and "nothing was written" in out
    assert list(tmp_path.iterdir()) == []


def test_experiment_dry_run_uses_the_overrides_and_rejects_bad_ones(tmp_path, capsys):
    args = ["experiment", "run", "norm-comparison", f"output_dir={tmp_path}"]
    assert main([*args, "norms=[layernorm]", "seeds=[3]", "epochs=2", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "1 run(s), 2 epochs in all" in out and "layernorm seed 3, 2 epochs" in out
    assert main([*args, "norms=[nonorm]", "--dry-run"]) == 2
    assert main([*args, "epochs=0", "--dry-run"]) == 2
    assert list(tmp_path.iterdir()) == []


def test_planning_stops_a_trainer_before_it_builds_anything(tmp_path):
    cfg = load_config(None, [f"output_dir={tmp_path}", "name=planned", "seed=4"])
    with planning(), pytest.raises(DryRunStop) as stop:
        Trainer(cfg)
    assert [(j["label"], j["seed"]) for j in stop.value.plan.jobs] == [("planned", 4)]
    assert list(tmp_path.iterdir()) == []


def test_bench_output_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = resolve_out(argparse.Namespace(out=None, update_results=False))
    assert re.fullmatch(r"runs/bench/\d{8}-\d{6}(-\d+)?", default.as_posix()) and not default.exists()
    assert resolve_out(argparse.Namespace(out=None, update_results=True)).as_posix() == "benchmarks/results"
    assert resolve_out(argparse.Namespace(out="x/y", update_results=False)).as_posix() == "x/y"
    with pytest.raises(UsageError, match="not both"):
        resolve_out(argparse.Namespace(out="x", update_results=True))


@pytest.mark.parametrize("suite", SUITES)
def test_every_bench_suite_shows_the_default_and_dry_runs(suite, tmp_path, monkeypatch, capsys):
    assert main(["bench", suite, "--help"]) == 0
    help_text = " ".join(capsys.readouterr().out.split())
    assert "runs/bench/<UTC timestamp>/" in help_text and "--update-results" in help_text
    assert "--dry-run" in help_text
    monkeypatch.chdir(tmp_path)
    assert main(["bench", suite, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert f"dlzoo bench {suite} (dry run): would write runs/bench/" in out
    assert list(tmp_path.iterdir()) == []
    assert main(["bench", suite, "--rounds", "zero", "--dry-run"]) == 2  # options are still checked


def test_experiment_resume_dry_run_says_what_each_run_would_do(tmp_path, capsys):
    import yaml

    # an experiment directory by hand: its config.yaml, one finished run, one never started
    out_dir = tmp_path / "norm-comparison" / "20260101-000000"
    cfg = NormComparisonConfig(model="mlp_digits", seeds=[0], epochs=1, norms=["layernorm", "rmsnorm"])
    out_dir.mkdir(parents=True)
    (out_dir / "config.yaml").write_text(yaml.safe_dump(cfg.model_dump(mode="json")))
    mlp = str(Path(__file__).resolve().parents[1] / "configs" / "mlp_digits.yaml")
    assert main(["train", mlp, "train.epochs=1", "data.batch_size=512", "--quiet",
                 "--run-dir", str(out_dir / "runs" / "layernorm_seed0")]) == 0
    capsys.readouterr()
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    assert main(["experiment", "run", "--resume", str(out_dir), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"layernorm seed 0, 1 epochs -> \S+/layernorm_seed0 \(finished: read back\)", out), out
    assert re.search(r"rmsnorm seed 0, 1 epochs -> \S+/rmsnorm_seed0 \(starts\)", out), out
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def test_planning_stops_a_timing_before_any_call():
    from dlzoo.bench.timing import time_interleaved

    calls = []
    with planning(), pytest.raises(DryRunStop) as stop:
        time_interleaved({"ours": lambda: calls.append(1), "torch": lambda: calls.append(2)}, rounds=3)
    assert calls == [] and stop.value.plan.jobs == [] and "ours, torch" in stop.value.plan.note
    assert time_interleaved({"ours": lambda: calls.append(1)}, rounds=2, inner=1, warmup=1)["ours"] >= 0
    assert calls == [1, 1, 1]  # outside a dry run it times as before (1 warmup + 2 rounds)
