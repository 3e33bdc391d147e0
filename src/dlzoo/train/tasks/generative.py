"""Generative modelling in the trainer: VAE, DDPM, DCGAN (card task ``generative``) and the RBM (``energy``).

Chosen by the model: a model whose card ``task`` is ``generative`` or ``energy`` trains here, on an image
dataset of :data:`dlzoo.data.DATASETS` (the 8x8 ``digits``). Pixels are mapped to [0, 1] with the training
split's range (digits: raw 0..16 / 16, as :func:`dlzoo.analysis.sample_quality.digits_in_unit_range`); the
RBM sees them binarised (on where >= 1/2: raw >= 8) and flattened to ``(B, C*H*W)``. Labels are not used
for training.

The objective is the model's own (the ``loss`` section is not used):

* VAE / DDPM: ``model(x)`` = ``model.loss(x)`` (negative ELBO in nats per image / the epsilon MSE).
* DCGAN (Radford et al. 2016; Goodfellow et al. 2014, Algorithm 1 with k = 1): each trainer step is one
  discriminator update on ``L_D = -log D(x) - log(1 - D(G(z)))`` (the trainer's backward and step; the
  generator runs without gradients) followed by one generator update on the non-saturating
  ``L_G = -log D(G(z))`` through the *updated* discriminator, done by
  :meth:`GenerativeTask.after_optimizer_step` (the trainer calls it right after its optimizer step). Both
  players live in the trainer's one optimizer: Adam's state is per parameter and a parameter without a
  gradient is skipped, so a step with only the discriminator's (generator's) gradients is exactly that
  player's own Adam step; they share the schedule.
* RBM (Hinton 2002; Tieleman 2008): ``cd_loss`` (PCD-1 by default), whose gradient is the CD estimate of
  ``-d log p / d theta``; evaluation reports the exact pseudo-log-likelihood per image.

Evaluation: the mean objective over the split with a fixed noise seed (comparable across epochs; a GAN adds
``d_loss``/``g_loss``). On the test split of the 8x8 digits the task also samples ``quality_samples`` images,
scores them with :func:`dlzoo.analysis.sample_quality.score_samples` (a ``simple_cnn`` trained by dlzoo on the
run's train+val images: top-class confidence, class coverage, class entropy, Frechet distance of its
penultimate features to the test images) next to the same scores of as many real training images (the
reference a perfect model would reach), and writes ``plots/samples.png`` (100 samples) into the run directory.
Task settings live in ``data.kwargs`` (removed before the dataset is built): ``quality_samples`` (default
1000; 0 turns scoring off), ``classifier_epochs`` (default 15), ``gibbs_steps`` (RBM sampling, default 1000),
``cd_k`` / ``persistent`` (RBM training, default 1 / true).

A GAN or an RBM trains in one process (their extra update and persistent chains are not data-parallel);
``train.amp: fp16`` is refused for a GAN (the generator update has no loss scaler). The PCD chains are in
every checkpoint (:meth:`GenerativeTask.checkpoint_state`; the GAN's generator needs nothing extra, its
Adam state is in the trainer's one optimizer), so a resumed RBM run equals the uninterrupted one bit for
bit on CPU. Chains are one per batch row and restart at the data when the batch size changes (the last,
smaller batch of an epoch): ``data.drop_last: true`` keeps them across epochs.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from ...errors import UsageError
from ...optim.clip import clip_grad_norm_
from ..build import TrainData, autocast_context, build_data
from ..checkpoint import capture_rng_state, restore_rng_state
from .base import Task, create_task_model

__all__ = ["GenerativeTask", "unit_range"]

_TASK_KEYS = {
    "quality_samples": 1000,
    "classifier_epochs": 15,
    "gibbs_steps": 1000,
    "cd_k": 1,
    "persistent": True,
}


def unit_range(x: Tensor, lo: float, hi: float) -> Tensor:
    """``(x - lo) / (hi - lo)`` clamped to [0, 1]: (N, C, H, W) -> same."""
    return ((x - lo) / (hi - lo)).clamp(0, 1)


def _unwrap(model: nn.Module) -> nn.Module:
    """The module under DDP (``module``) and ``torch.compile`` (``_orig_mod``) wrappers."""
    while hasattr(model, "module") or hasattr(model, "_orig_mod"):
        model = getattr(model, "_orig_mod", None) or model.module
    return model


class GenerativeTask(Task):
    """Trains a generative model on images in [0, 1] and scores its samples (see the module docstring)."""

    name = "generative"
    unit = "img"

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        from ...models import model_info

        card = model_info(cfg.model.name)
        self.card_task = card.task
        self.is_rbm = card.task == "energy"
        self.is_gan = (
            False  # two players (the alternating update of the module docstring): set by build_model
        )
        self.world_size = 1
        self.settings = {**_TASK_KEYS, **{k: cfg.data.kwargs[k] for k in _TASK_KEYS if k in cfg.data.kwargs}}
        for key, least in (("quality_samples", 0), ("classifier_epochs", 0), ("gibbs_steps", 1), ("cd_k", 1)):
            value = self.settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < least:
                raise UsageError(f"data.kwargs.{key} must be an integer >= {least}, got {value!r}")
        if not isinstance(self.settings["persistent"], bool):
            raise UsageError(
                f"data.kwargs.persistent must be true or false, got {self.settings['persistent']!r}"
            )
        self.run_dir: Path | None = None
        self._pending = 0  # images of the trainer step whose generator update is still to come (GAN)

    # ------------------------------------------------------------------ building
    def build_data(self, rank: int = 0, world_size: int = 1, run_dir: Path | None = None) -> TrainData:
        self.world_size = world_size
        rest = {k: v for k, v in self.cfg.data.kwargs.items() if k not in _TASK_KEYS}
        data = build_data(self.cfg.data.model_copy(update={"kwargs": rest}), self.cfg.seed, rank, world_size)
        splits = data.splits
        if not hasattr(splits, "denormalize") or splits.train.x.dim() != 4:
            raise UsageError(
                f"data.name={self.cfg.data.name!r}: a generative model needs an image dataset "
                f"(N, C, H, W) such as digits"
            )
        raw = splits.denormalize(splits.train.x)
        lo, hi = raw.min().item(), raw.max().item()
        if hi <= lo:
            raise UsageError(f"data ({self.cfg.data.name}): the training images are constant")
        for split in (splits.train, splits.val, splits.test):  # in place: the loaders hold these datasets
            split.x = self.transform(unit_range(splits.denormalize(split.x), lo, hi))
        return data

    def transform(self, x: Tensor) -> Tensor:
        """Images in [0, 1] -> what the model sees (the RBM: on where >= 1/2, i.e. raw digits >= 8 of 16,
        flattened to (N, C*H*W); the 1e-4 absorbs the float round trip of the normalisation)."""
        return (x >= 0.5 - 1e-4).float().flatten(1) if self.is_rbm else x

    def images(self, x: Tensor) -> Tensor:
        """What the model sees -> images (N, C, H, W) in [0, 1] (for scoring and the sample grid)."""
        return x.view(x.shape[0], *self.image_shape) if self.is_rbm else x

    def build_model(self, data: TrainData) -> nn.Module:
        x = data.splits.train.x
        c, h = data.splits.in_chans, int(data.splits.img_size or 8)
        self.image_shape = (c, h, h)
        if self.is_rbm:
            kwargs: dict[str, Any] = {"n_visible": x.shape[1]}
            example = "rbm"
        else:
            kwargs = {"in_chans": x.shape[1], "img_size": x.shape[-1]}
            example = "vae, ddpm or dcgan"
        model = create_task_model(self.cfg, self.card_task, example, kwargs)
        self.is_gan = hasattr(model, "discriminator_loss") and hasattr(model, "generator_loss")
        if self.world_size > 1 and (self.is_gan or self.is_rbm):
            raise UsageError(
                f"model.name={self.cfg.model.name!r} trains in one process (its "
                f"{'generator update' if self.is_gan else 'persistent chains'} are not "
                f"data-parallel); run it without torchrun"
            )
        return model

    def check_fit(self, data: TrainData, model: nn.Module) -> None:
        if self.is_gan and self.cfg.train.amp == "fp16":
            raise UsageError(
                "train.amp=fp16: the GAN's generator update has no loss scaler; use bf16 or none"
            )
        x = data.splits.train.x[:2]
        was_training = model.training
        try:
            with torch.no_grad():
                model.eval()
                value = self._objective(model, x, generator=0, persistent=False)
        except (RuntimeError, ValueError, TypeError) as err:
            raise UsageError(
                f"model ({self.cfg.model.name}) does not fit the data "
                f"{tuple(x.shape[1:])}: {' '.join(str(err).split())[:300]}"
            ) from None
        finally:
            model.train(was_training)
        if value.dim() != 0:
            raise UsageError(f"model ({self.cfg.model.name}): its objective is not a scalar")

    def setup(self, data: TrainData, device: torch.device) -> None:
        self.data, self.device = data, device
        self.autocast = lambda: autocast_context(self.cfg.train, device)

    def save_files(self, run_dir: Path) -> None:
        self.run_dir = run_dir  # where the sample grid goes (main process only)

    # ------------------------------------------------------------------ training
    def _objective(
        self,
        model: nn.Module,
        x: Tensor,
        generator: torch.Generator | int | None = None,
        persistent: bool | None = None,
    ) -> Tensor:
        """The training objective of a batch (a GAN: the discriminator's ``L_D``)."""
        m = _unwrap(model)
        if self.is_rbm:
            gen = (
                torch.Generator(x.device).manual_seed(generator) if isinstance(generator, int) else generator
            )
            keep = self.settings["persistent"] if persistent is None else persistent
            return m.cd_loss(x, k=self.settings["cd_k"], persistent=bool(keep), generator=gen)
        if self.is_gan:
            return m.discriminator_loss(x, generator=generator)
        return model(x) if generator is None else m.loss(x, generator=generator)

    def train_loss(self, model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, dict[str, float]]:
        self._pending += x.shape[0]
        return self._objective(model, x), {"count": float(x.shape[0])}

    def new_sums(self) -> dict[str, float]:
        return {"loss": 0.0, "count": 0.0, **({"g_loss": 0.0, "g_count": 0.0} if self.is_gan else {})}

    def after_optimizer_step(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, float]:
        """A GAN's generator update after the trainer's discriminator step (nothing for other models):
        ``L_G`` on as many fresh latents as the step had images, gradients taken for the generator only,
        clipped at ``train.grad_clip``, then the optimizer steps (the discriminator, gradient-free, is
        skipped). Returns the sums to add (``g_loss`` x count, ``g_count``)."""
        n, self._pending = self._pending, 0
        if not self.is_gan or n == 0:
            return {}
        m = _unwrap(model)
        params = [p for p in m.generator.parameters() if p.requires_grad]
        optimizer.zero_grad(set_to_none=True)
        with self.autocast():
            g_loss = m.generator_loss(n)
        value = g_loss.item()
        if not math.isfinite(value):
            from ..trainer import TrainingDiverged

            raise TrainingDiverged(f"training diverged: the generator loss is {value}; try a lower optim.lr")
        for p, g in zip(params, torch.autograd.grad(g_loss, params)):
            p.grad = g
        if self.cfg.train.grad_clip:
            clip_grad_norm_(params, self.cfg.train.grad_clip)
        optimizer.step()
        return {"g_loss": value * n, "g_count": float(n)}

    def checkpoint_state(self, model: nn.Module) -> dict[str, Any]:
        """An RBM trained by PCD: its chains (``chain``, ``(B, V)``; a non-persistent buffer, so not in the
        model's ``state_dict``), so a resumed run continues them instead of restarting at its next batch."""
        if not (self.is_rbm and self.settings["persistent"]):
            return {}
        return {"pcd_chain": _unwrap(model).chain}

    def load_checkpoint_state(self, model: nn.Module, state: dict[str, Any]) -> None:
        chain = state.get("pcd_chain")
        if chain is None or not (self.is_rbm and self.settings["persistent"]):
            return
        m = _unwrap(model)
        if not isinstance(chain, Tensor) or chain.dim() != 2 or chain.shape[1] != m.n_visible:
            raise UsageError(
                f"checkpoint: the RBM's PCD chains must be (B, {m.n_visible}), got "
                f"{tuple(chain.shape) if isinstance(chain, Tensor) else type(chain).__name__}"
            )
        m.chain = chain.to(device=m.weight.device, dtype=m.weight.dtype)

    def epoch_metrics(self, sums: dict[str, float]) -> dict[str, Any]:
        out = super().epoch_metrics(sums)
        if self.is_gan:  # train_loss is the discriminator's
            out["train_g_loss"] = sums["g_loss"] / max(sums["g_count"], 1)
        return out

    # ------------------------------------------------------------------ evaluation
    @torch.no_grad()
    def evaluate(
        self,
        model: nn.Module,
        loader: Any,
        device: torch.device,
        autocast: Callable[[], contextlib.AbstractContextManager],
    ) -> dict[str, float]:
        was_training = model.training
        model.eval()
        gen = torch.Generator(device).manual_seed(self.cfg.seed)  # the same noise at every evaluation
        sums: dict[str, float] = {}
        count = 0
        for x, _ in loader:
            x = x.to(device)
            with autocast():
                values = {"loss": self._objective(model, x, generator=gen, persistent=False)}
                if self.is_gan:
                    d_loss, g_loss = _unwrap(model).losses(x, generator=gen)
                    values.update(d_loss=d_loss, g_loss=g_loss)
            if self.is_rbm:
                values["pseudo_log_likelihood"] = _unwrap(model).pseudo_log_likelihood(x).mean()
            for key, v in values.items():
                sums[key] = sums.get(key, 0.0) + float(v) * x.shape[0]
            count += x.shape[0]
        metrics = {k: v / count for k, v in sums.items()} if count else {"loss": float("nan")}
        if loader is getattr(getattr(self, "data", None), "test_loader", None) and count:
            metrics.update(self.sample_quality(_unwrap(model)))
        model.train(was_training)
        return metrics

    def sample(self, model: nn.Module, n: int, seed: int) -> Tensor:
        """``n`` samples as images (n, C, H, W) in [0, 1] (the RBM: Gibbs chains from uniform noise)."""
        if not self.is_rbm:
            return model.sample(n, generator=seed).float().clamp(0, 1)
        gen = torch.Generator(self.device).manual_seed(seed)
        v = (torch.rand(n, model.n_visible, generator=gen, device=self.device) < 0.5).float()
        return self.images(model.gibbs(v, k=self.settings["gibbs_steps"], generator=gen))

    def sample_quality(self, model: nn.Module) -> dict[str, float]:
        """Scores of ``quality_samples`` samples and of as many real training images (8x8 digits only);
        writes ``plots/samples.png``."""
        from ...analysis.sample_quality import (
            DigitsUnit,
            save_sample_grid,
            score_samples,
            train_digits_classifier,
        )

        n = self.settings["quality_samples"]
        splits = self.data.splits
        if n == 0 or getattr(splits, "name", "") != "digits" or self.image_shape != (1, 8, 8):
            return {}
        cpu = torch.device("cpu")
        train_x = torch.cat([self.images(splits.train.x), self.images(splits.val.x)])
        train_y = torch.cat([splits.train.y, splits.val.y])
        test_x = self.images(splits.test.x)
        rng = capture_rng_state()  # the classifier's training seeds torch: the run's RNG stream is kept
        with torch.enable_grad():
            clf = train_digits_classifier(
                DigitsUnit(train_x, train_y, test_x, splits.test.y),
                epochs=self.settings["classifier_epochs"],
                seed=self.cfg.seed,
            )
        restore_rng_state(rng)
        samples = self.sample(model, n, self.cfg.seed).to(cpu)
        real = train_x[
            torch.randperm(len(train_x), generator=torch.Generator().manual_seed(self.cfg.seed))[:n]
        ]
        out = {"classifier_acc": clf.test_accuracy}
        for prefix, images in (("sample", samples), ("real", real)):
            q = score_samples(images, clf, test_x)
            out.update(
                {
                    f"{prefix}_confidence": q.confidence,
                    f"{prefix}_coverage": q.coverage,
                    f"{prefix}_class_entropy": q.class_entropy,
                    f"{prefix}_fd": q.frechet_distance,
                    f"{prefix}_count": float(q.num_samples),
                }
            )
        if self.run_dir is not None:
            save_sample_grid(
                samples[:100],
                self.run_dir / "plots" / "samples.png",
                title=f"{self.cfg.model.name}: 100 samples (FD {out['sample_fd']:.2f}, "
                f"real images {out['real_fd']:.2f})",
            )
        return out

    def summary(self, prefix: str, metrics: dict[str, float]) -> str:
        """The loss line, then samples vs real images (confidence, coverage, Frechet distance)."""
        head = "  ".join(
            f"{prefix}_{k} {v:.4f}"
            for k, v in metrics.items()
            if not k.startswith(("sample_", "real_", "classifier_"))
        )
        if "sample_fd" not in metrics:
            return head
        rows = [
            f"{who:<8} confidence {metrics[f'{key}_confidence']:.3f}  "
            f"coverage {metrics[f'{key}_coverage']:.2f}  "
            f"class entropy {metrics[f'{key}_class_entropy']:.3f}  FD {metrics[f'{key}_fd']:.2f}"
            for who, key in (("samples", "sample"), ("real", "real"))
        ]
        return "\n".join(
            [
                head,
                f"sample quality ({int(metrics['sample_count'])} each, scored by a digits "
                f"classifier of test accuracy {metrics['classifier_acc']:.3f}):",
                *rows,
            ]
        )
