"""The trainer's generative task: chosen by the model card, pixels mapped exactly to sklearn's digits / 16,
the DCGAN step equal to two separate torch Adams (discriminator, then generator through the updated
discriminator), and a `dlzoo train` run writing the sample grid and the sample-quality numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from dlzoo.errors import UsageError
from dlzoo.train import load_config
from dlzoo.train.build import build_optimizer
from dlzoo.train.entry import train
from dlzoo.train.tasks import create_task, task_name

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
QUICK = ["data.kwargs.quality_samples=200", "data.kwargs.classifier_epochs=2"]


def _cfg(model: str, *overrides: str):
    return load_config(
        {
            "name": "gen",
            "model": {"name": model},
            "data": {"name": "digits", "batch_size": 16},
            "optim": {"name": "adam", "lr": 2e-4, "weight_decay": 0.0, "kwargs": {"betas": [0.5, 0.999]}},
            "schedule": {"name": "none"},
            "train": {"epochs": 1, "grad_clip": None},
        },
        overrides=list(overrides),
    )


def test_the_model_card_selects_the_task():
    assert [task_name(_cfg(m)) for m in ("vae", "ddpm", "dcgan", "rbm")] == ["generative"] * 4
    assert task_name(_cfg("simple_cnn")) == "classification"
    with pytest.raises(UsageError, match="data.kwargs.cd_k must be an integer >= 1"):
        create_task(_cfg("rbm", "data.kwargs.cd_k=0"))


def test_pixels_are_sklearn_digits_over_16_and_the_rbm_sees_them_binarised():
    from sklearn.datasets import load_digits

    from dlzoo.data.splits import stratified_split

    bunch = load_digits()
    train, _, _ = stratified_split(bunch.target, 0.15, 0.15, 0)  # the split of data.split_seed 0
    x = create_task(_cfg("vae")).build_data().splits.train.x  # (N, 1, 8, 8) in [0, 1]
    assert x.shape == (len(train), 1, 8, 8)
    np.testing.assert_allclose(x.flatten(1).numpy() * 16, bunch.data[train], atol=1e-4)
    v = create_task(_cfg("rbm")).build_data().splits.train.x  # (N, 64)
    np.testing.assert_array_equal(v.numpy(), (bunch.data[train] >= 8).astype(np.float32))  # on at 8/16


def test_dcgan_step_is_a_discriminator_adam_step_then_a_generator_adam_step():
    task = create_task(_cfg("dcgan"))
    data = task.build_data()
    torch.manual_seed(0)
    model = task.build_model(data)
    ref = task.build_model(data)
    ref.load_state_dict(model.state_dict())
    initial = {k: v.clone() for k, v in model.state_dict().items()}
    task.setup(data, torch.device("cpu"))
    optimizer = build_optimizer(task.cfg.optim, model)  # the trainer's one optimizer over both players
    opt_d = torch.optim.Adam(ref.discriminator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_g = torch.optim.Adam(ref.generator.parameters(), lr=2e-4, betas=(0.5, 0.999))
    batches = list(data.train_loader.iter_epoch(0))[:2]
    for step, (x, y) in enumerate(batches):
        torch.manual_seed(100 + step)  # the trainer's step: loss, backward, step, then the task's hook
        optimizer.zero_grad(set_to_none=True)
        loss, _ = task.train_loss(model, x, y)
        loss.backward()
        optimizer.step()
        stats = task.after_optimizer_step(model, optimizer)
        torch.manual_seed(100 + step)  # Goodfellow et al. Algorithm 1 (k = 1), non-saturating generator loss
        opt_d.zero_grad()
        with torch.no_grad():
            fake = ref.generator(torch.randn(x.shape[0], ref.latent_dim).view(-1, ref.latent_dim, 1, 1))
        d_loss = F.softplus(-ref.discriminator(x * 2 - 1)).mean() + F.softplus(ref.discriminator(fake)).mean()
        d_loss.backward()
        opt_d.step()
        opt_g.zero_grad()
        fake = ref.generator(torch.randn(x.shape[0], ref.latent_dim).view(-1, ref.latent_dim, 1, 1))
        g_loss = F.softplus(-ref.discriminator(fake)).mean()
        g_loss.backward()
        opt_g.step()
        assert loss.item() == pytest.approx(d_loss.item(), rel=1e-5)
        assert stats["g_loss"] / stats["g_count"] == pytest.approx(g_loss.item(), rel=1e-5)
    for (name, p), q in zip(model.state_dict().items(), ref.state_dict().values()):
        torch.testing.assert_close(p, q, rtol=1e-5, atol=1e-6, msg=name)
    for part in ("generator.0.weight", "discriminator.0.weight"):  # both players moved
        assert not torch.equal(model.state_dict()[part], initial[part])


@pytest.fixture(scope="module")
def vae_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs")
    cfg = load_config(
        CONFIGS / "vae_digits.yaml",
        overrides=[*QUICK, "train.epochs=2", f"output_dir={out}", "checkpoint.every_epochs=0"],
    )
    return train(cfg, progress=False)


def test_dlzoo_train_writes_the_sample_grid_and_quality_numbers(vae_run):
    run = vae_run.run_dir
    assert (run / "plots" / "samples.png").stat().st_size > 1000
    test = json.loads((run / "results.json").read_text())["test"]
    for who in ("sample", "real"):
        assert 0.1 <= test[f"{who}_confidence"] <= 1 and 0 <= test[f"{who}_coverage"] <= 1
        assert test[f"{who}_count"] == 200
    # 200 real training images hold every class and lie closer to the test images than a 2-epoch VAE's samples
    assert test["real_coverage"] == 1.0 and test["classifier_acc"] > 0.5
    assert test["real_fd"] < test["sample_fd"]
    assert test["loss"] == pytest.approx(vae_run.test["loss"])
    assert vae_run.history[-1]["val_loss"] < vae_run.history[0]["train_loss"]  # the negative ELBO fell


def test_a_gan_run_extended_by_resume_equals_the_uninterrupted_run(tmp_path):
    from dlzoo.train.entry import resume

    quick = ["data.kwargs.quality_samples=0", "data.batch_size=128", "checkpoint.every_epochs=1"]
    full = train(_cfg("dcgan", *quick, "train.epochs=2", f"output_dir={tmp_path / 'a'}"), progress=False)
    first = train(_cfg("dcgan", *quick, "train.epochs=1", f"output_dir={tmp_path / 'b'}"), progress=False)
    again = resume(first.run_dir, progress=False, overrides=["train.epochs=2"])
    assert [r["train_g_loss"] for r in again.history] == [r["train_g_loss"] for r in full.history]
    for p, q in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(p, q)


def test_rbm_run_reports_the_pseudo_log_likelihood_of_its_saved_model(tmp_path):
    import dlzoo

    cfg = _cfg(
        "rbm",
        "data.kwargs.quality_samples=50",
        "data.kwargs.gibbs_steps=5",
        "data.kwargs.classifier_epochs=1",
        "train.max_steps=5",
        f"output_dir={tmp_path}",
    )
    result = train(cfg, progress=False)
    saved = dlzoo.from_pretrained(result.run_dir)
    v = result.data.splits.test.x  # (N, 64) binary
    assert set(v.unique().tolist()) <= {0.0, 1.0}
    want = saved.pseudo_log_likelihood(v).mean().item()
    assert result.test["pseudo_log_likelihood"] == pytest.approx(want, rel=1e-5)
    assert (result.run_dir / "plots" / "samples.png").is_file() and result.test["sample_count"] == 50


def test_an_rbm_run_extended_by_resume_equals_the_uninterrupted_run(tmp_path):
    """The PCD chains are in the checkpoint: with every batch full (drop_last) they persist across epochs,
    and a 1-epoch run resumed to 2 epochs ends bitwise equal to the 2-epoch run (without the chains in the
    checkpoint the resumed run restarts them at its first batch and differs)."""
    from dlzoo.train.entry import resume

    quick = ["data.kwargs.quality_samples=0", "data.batch_size=128", "data.drop_last=true"]
    quick += ["checkpoint.every_epochs=1"]
    full = train(_cfg("rbm", *quick, "train.epochs=2", f"output_dir={tmp_path / 'a'}"), progress=False)
    first = train(_cfg("rbm", *quick, "train.epochs=1", f"output_dir={tmp_path / 'b'}"), progress=False)
    again = resume(first.run_dir, progress=False, overrides=["train.epochs=2"])
    assert [r["train_loss"] for r in again.history] == [r["train_loss"] for r in full.history]
    assert again.test["pseudo_log_likelihood"] == full.test["pseudo_log_likelihood"]
    for p, q in zip(full.model.state_dict().values(), again.model.state_dict().values()):
        assert torch.equal(p, q)
    assert again.model.chain.shape == (128, 64) and torch.equal(again.model.chain, full.model.chain)


def test_a_checkpointed_pcd_chain_of_the_wrong_width_is_refused_in_one_line():
    task = create_task(_cfg("rbm"))
    model = task.build_model(task.build_data())
    assert task.checkpoint_state(model)["pcd_chain"].shape == (0, 64)  # no step taken yet
    with pytest.raises(UsageError, match=r"PCD chains must be \(B, 64\), got \(4, 63\)"):
        task.load_checkpoint_state(model, {"pcd_chain": torch.zeros(4, 63)})
    assert create_task(_cfg("vae")).checkpoint_state(model) == {}  # other generative models keep nothing
