"""``dlzoo experiment run bn-to-dyt`` with tiny overrides on the digits and a fake CIFAR-10 binary folder.

Checked against what we did not write in the experiment: the trainer's own ``results.json``, scipy's
t-tests, and a BN -> DyT conversion done by hand (state-dict keys mapped into a model built with
``norm_layer="dyt"``), evaluated on the same test split.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import dlzoo
from dlzoo.cli import main as dlzoo_main
from dlzoo.errors import UsageError
from dlzoo.experiments.bn_to_dyt import BnToDytConfig, model_kwargs, run

SEEDS = (0, 1)


def _fake_cifar(root: Path, n_train: int = 96, n_test: int = 40) -> Path:
    """CIFAR-10's binary layout: records of one label byte + 3072 pixel bytes."""
    rng = np.random.default_rng(0)
    root.mkdir()
    for name, n in (("data_batch_1.bin", n_train), ("test_batch.bin", n_test)):
        rec = rng.integers(0, 256, size=(n, 3073), dtype=np.uint8)
        rec[:, 0] = np.arange(n) % 10
        (root / name).write_bytes(rec.tobytes())
    return root


@pytest.fixture(scope="module")
def experiment(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bn_to_dyt")
    cifar = _fake_cifar(tmp / "cifar")
    code = dlzoo_main(
        [
            "experiment",
            "run",
            "bn-to-dyt",
            f"output_dir={tmp}",
            "width=4",
            "epochs=1",
            "finetune_epochs=1",
            "seeds=[0,1]",
            "dyt_alphas=[1.0]",
            "finetune_alphas=[2.0]",
            f"cifar_root={cifar}",
            "train.schedule.warmup_epochs=0",
        ]
    )
    assert code == 0
    out_dir = sorted((tmp / "bn-to-dyt").iterdir())[-1]
    results = json.loads((out_dir / "results.json").read_text())
    return out_dir, results, (out_dir / "report.md").read_text()


def _runs(results, dataset, label):
    return sorted(
        (r for r in results["runs"] if r["dataset"] == dataset and r["label"] == label),
        key=lambda r: r["seed"],
    )


def test_every_run_matches_the_trainers_results(experiment):
    _, results, md = experiment
    labels = ["bn", "dyt(alpha=1)", "bn->dyt(alpha=2) finetuned"]
    for ds, test_size in (("digits", 269), ("cifar10", 40)):
        for label in labels:
            runs = _runs(results, ds, label)
            assert [r["seed"] for r in runs] == list(SEEDS)
            for r in runs:
                test = json.loads((Path(r["run_dir"]) / "results.json").read_text())["test"]
                assert r["test_acc"] == pytest.approx(test["acc"])
                assert r["test_size"] == test_size
        assert f"On {ds} (test set of {test_size} images: one image = {100 / test_size:.2f} points)" in md
    assert "## cifar10: findings" in md and "## digits: findings" in md
    kw = model_kwargs(BnToDytConfig(width=4))
    n_bn = sum(
        p.numel() for p in dlzoo.create_model("resnet18", num_classes=10, in_chans=1, **kw).parameters()
    )
    assert f"({n_bn:,} parameters with BN and {n_bn + 20:,} parameters with DyT on digits" in md  # 20 alphas


@pytest.mark.filterwarnings("ignore:Precision loss:RuntimeWarning")  # scipy, on equal accuracies
def test_t_tests_agree_with_scipy(experiment):
    from scipy import stats

    _, results, md = experiment
    for ds in ("digits", "cifar10"):
        bn = [r["test_acc"] for r in _runs(results, ds, "bn")]
        dyt = [r["test_acc"] for r in _runs(results, ds, "dyt(alpha=1)")]
        ours = results["datasets"][ds]["welch_vs_bn"]["dyt(alpha=1)"]
        if np.var(bn) + np.var(dyt) > 0:
            ref = stats.ttest_ind(dyt, bn, equal_var=False)
            assert ours["p"] == pytest.approx(ref.pvalue, rel=1e-6)
            assert ours["t"] == pytest.approx(ref.statistic, rel=1e-9)
        ft = results["datasets"][ds]["finetune"]["bn->dyt(alpha=2) finetuned"]
        after, source = [r["finetuned"] for r in ft], [r["bn"] for r in ft]
        assert source == bn
        diffs = np.subtract(after, source)
        if np.var(diffs) > 0:
            p = stats.ttest_rel(after, source).pvalue
            assert (
                f"paired t-test over seeds: t = {stats.ttest_rel(after, source).statistic:.2f}, df = 1.0, "
                f"p = {p:.3g}" in md
            )


def _by_hand(bn_state: dict, alpha: float, cfg: BnToDytConfig) -> torch.nn.Module:
    """A DyT ResNet holding the BN model's convs/fc and BN gamma/beta; alpha = the init."""
    model = dlzoo.create_model(
        cfg.model,
        num_classes=10,
        in_chans=1,
        norm_layer="dyt",
        norm_kwargs={"alpha_init": alpha},
        **model_kwargs(cfg),
    )
    target = model.state_dict()
    for key in target:
        if key in bn_state:
            target[key] = bn_state[key]
    model.load_state_dict(target)
    return model.eval()


def test_conversion_accuracy_and_fine_tuning_start(experiment):
    from dlzoo.data import create_dataset

    out_dir, results, _ = experiment
    cfg = BnToDytConfig(width=4)
    data = create_dataset("digits", img_size=32, val_fraction=0.15, test_fraction=0.15, split_seed=0)
    for bn_run, ft_run in zip(
        _runs(results, "digits", "bn"), _runs(results, "digits", "bn->dyt(alpha=2) finetuned")
    ):
        bn_model = dlzoo.from_pretrained(bn_run["run_dir"])
        manual = _by_hand(bn_model.state_dict(), 2.0, cfg)
        with torch.no_grad():
            acc = (manual(data.test.x).argmax(-1) == data.test.y).float().mean().item()
        assert ft_run["converted_acc"] == pytest.approx(acc, abs=1e-6)
        # fine-tuning started from the BN weights: one epoch at lr 0.01 moves them by little
        tuned = dlzoo.from_pretrained(ft_run["run_dir"])
        w_bn, w_ft = bn_model.layer2[0].conv1.weight, tuned.layer2[0].conv1.weight
        assert ((w_ft - w_bn).norm() / w_bn.norm()).item() < 0.2
        assert tuned.bn1.alpha.item() != 2.0 and isinstance(tuned.bn1, dlzoo.nn.DyT)


def test_alpha_traces_and_plots(experiment):
    out_dir, results, md = experiment
    run = _runs(results, "digits", "dyt(alpha=1)")
    keys = [k for k in run[0]["history"][-1] if k.startswith("param/") and k.endswith("alpha")]
    assert len(keys) == 20  # resnet18: stem + 8 blocks x 2 + 3 downsample norms
    finals = results["datasets"]["digits"]["alpha_final"]["dyt(alpha=1)"]
    for k in keys:
        assert finals[k[len("param/") :]] == pytest.approx(np.mean([r["history"][-1][k] for r in run]))
    pngs = sorted(p.name for p in (out_dir / "plots").glob("*.png"))
    for ds in ("digits", "cifar10"):
        for stem in ("accuracy", "alpha", "alpha_depth", "curves"):
            assert f"{stem}_{ds}.png" in pngs
            assert f"](plots/{stem}_{ds}.png)" in md


def test_bad_config(tmp_path):
    with pytest.raises(UsageError, match="ResNet-family"):
        run(BnToDytConfig(model="vit_tiny_digits"), tmp_path)
    with pytest.raises(UsageError, match="cifar_root"):
        run(BnToDytConfig(cifar_root=str(tmp_path / "missing")), tmp_path)
    with pytest.raises(UsageError, match="duplicate"):
        run(BnToDytConfig(dyt_alphas=[1.0, 1.0]), tmp_path)


def test_epochs_to_accuracy_level():
    from dlzoo.experiments.bn_to_dyt_report import epochs_to

    runs = [
        {"label": "bn", "history": [{"epoch": 1, "val_acc": 0.3}, {"epoch": 2, "val_acc": 0.6}]},
        {"label": "bn", "history": [{"epoch": 1, "val_acc": 0.1}, {"epoch": 2, "val_acc": None}]},
        {"label": "dyt", "history": [{"epoch": 1, "val_acc": 0.9}]},
    ]
    assert epochs_to(runs, "bn") == [2.0, float("inf")]
    assert epochs_to(runs, "dyt", level=0.95) == [float("inf")]
