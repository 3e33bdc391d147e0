"""``dlzoo experiment run --resume DIR``: finished runs are read back, interrupted ones continue from their
checkpoint (ending bit for bit where the uninterrupted run ended), and the report is written again."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from dlzoo.cli import main as dlzoo_main
from dlzoo.train.checkpoint import list_checkpoints

ARGS = ["model=mlp_digits", "norms=[layernorm,rmsnorm]", "seeds=[0]", "epochs=2", "workers=1",
        "scurve_samples=8", "scurve_points=100", "train.checkpoint.keep_last=2", "train.data.batch_size=128"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """One uninterrupted tiny experiment: two runs (layernorm, rmsnorm) of 2 epochs, 10 steps each."""
    root = tmp_path_factory.mktemp("exp")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert dlzoo_main(["experiment", "run", "norm-comparison", f"output_dir={root}", *ARGS]) == 0
    return Path(out.getvalue().strip().splitlines()[-1])


def _interrupt(run: Path) -> None:
    """Make ``run`` look killed after its first epoch: no final files, no second checkpoint, its dead
    process's lock and a 'running' status left behind."""
    for name in ("model.safetensors", "config.json", "results.json"):
        (run / name).unlink()
    shutil.rmtree(list_checkpoints(run / "checkpoints")[-1])  # keep step 10 (end of epoch 1)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    (run / "run.lock").write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname()}))
    (run / "status.json").write_text(json.dumps({"state": "running", "pid": dead.pid}))


def test_resume_skips_finished_runs_and_continues_interrupted_ones(finished, tmp_path, capsys):
    exp = tmp_path / "norm-comparison" / finished.name
    shutil.copytree(finished, exp)
    for name in ("results.json", "report.md", "report.html"):
        (exp / name).unlink()  # killed before the report
    done, cut = exp / "runs" / "layernorm_seed0", exp / "runs" / "rmsnorm_seed0"
    _interrupt(cut)
    untouched = {p: p.stat().st_mtime_ns for p in done.rglob("*")}

    assert dlzoo_main(["experiment", "run", "--resume", str(exp)]) == 0  # name read from the directory
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1] == str(exp)
    assert f"resuming {exp}" in err
    assert f"resuming {cut} from step 10" in out  # the interrupted run, from its checkpoint
    assert f"resuming {done}" not in out  # the finished run is not trained again
    assert {p: p.stat().st_mtime_ns for p in done.rglob("*")} == untouched
    for run in (done, cut):  # both end bit for bit where the uninterrupted experiment ended
        original = finished / "runs" / run.name
        assert (run / "model.safetensors").read_bytes() == (original / "model.safetensors").read_bytes()
        assert json.loads((run / "status.json").read_text())["state"] == "finished"
        assert not (run / "run.lock").exists()
    before = json.loads((finished / "results.json").read_text())["runs"]
    after = json.loads((exp / "results.json").read_text())["runs"]
    assert [(r["label"], r["test_acc"], r["test_loss"]) for r in after] == \
        [(r["label"], r["test_acc"], r["test_loss"]) for r in before]
    assert (exp / "report.html").is_file() and not (exp / "run.lock").exists()


def test_resume_refuses_bad_directories(finished, tmp_path, capsys):
    assert dlzoo_main(["experiment", "run", "--resume", str(tmp_path / "nope")]) == 2
    assert "not an experiment directory (no config.yaml)" in capsys.readouterr().err
    run = finished / "runs" / "layernorm_seed0"
    assert dlzoo_main(["experiment", "run", "--resume", str(run)]) == 2
    assert f"dlzoo train --resume {run}" in capsys.readouterr().err
    odd = tmp_path / "somewhere"
    shutil.copytree(finished, odd, ignore=shutil.ignore_patterns("runs"))
    assert dlzoo_main(["experiment", "run", "--resume", str(odd)]) == 2
    assert "cannot tell which experiment" in capsys.readouterr().err


def test_resume_of_an_experiment_in_use_is_refused(finished, tmp_path, capsys):
    exp = tmp_path / "norm-comparison" / "x"
    shutil.copytree(finished, exp)
    sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (exp / "run.lock").write_text(json.dumps({"pid": sleeper.pid, "host": socket.gethostname()}))
        assert dlzoo_main(["experiment", "run", "norm-comparison", "--resume", str(exp)]) == 2
        err = capsys.readouterr().err
        assert f"is in use by another run (pid {sleeper.pid}" in err and "Traceback" not in err
    finally:
        sleeper.kill()
        sleeper.wait()
