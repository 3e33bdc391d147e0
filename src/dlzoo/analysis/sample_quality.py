"""Honest sample quality for generative models of the 8x8 digits.

A digits classifier trained with dlzoo (``simple_cnn``, dlzoo's Adam) scores generated images:

* **confidence**: mean over samples of the classifier's top softmax probability (a digit-like sample is
  classified confidently);
* **coverage**: fraction of the 10 classes that receive at least ``min_share`` of the samples' argmax
  predictions (mode collapse lowers it), and the normalised entropy of that class histogram;
* **Frechet distance** (the FID formula of Heusel et al., "GANs Trained by a Two Time-Scale Update Rule
  Converge to a Local Nash Equilibrium", NeurIPS 2017, arXiv:1706.08500) on that classifier's penultimate
  features (``pre_logits``, 128-d) between samples and the held-out test images::

      FD = ||mu_1 - mu_2||^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})

  ``tr (S_1 S_2)^{1/2}`` is the sum of the square roots of the eigenvalues of ``S_1^{1/2} S_2 S_1^{1/2}``
  (symmetric PSD, so an ``eigh`` in float64 replaces a general matrix square root).

:func:`evaluate_generative_models` trains each generative model briefly on the digits' training split and
reports those numbers next to baselines (test half vs the other half, training images, uniform noise);
:func:`save_sample_grid` writes a PNG grid.
``python -m dlzoo.analysis.sample_quality --steps 1500 --out DIR``.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["DigitsUnit", "SampleQuality", "digits_in_unit_range", "train_digits_classifier",
           "classifier_features", "frechet_distance", "feature_frechet_distance", "score_samples",
           "train_generative", "evaluate_generative_models", "save_sample_grid", "LEARNING_RATES"]


class DigitsUnit(NamedTuple):
    """The digits' splits with pixels in [0, 1] (raw 0..16 / 16): images (N, 1, 8, 8), labels (N,)."""

    train_x: Tensor
    train_y: Tensor
    test_x: Tensor
    test_y: Tensor


@dataclass
class SampleQuality:
    """Scores of one set of images (see module docstring)."""

    confidence: float
    coverage: float
    class_entropy: float
    frechet_distance: float
    num_samples: int


def digits_in_unit_range(split_seed: int = 0) -> DigitsUnit:
    """dlzoo's digits splits (train = train + val), de-normalised to [0, 1]."""
    from ..data.digits import digits

    data = digits(split_seed=split_seed)

    def unit(x: Tensor) -> Tensor:
        return (data.denormalize(x) / 16).clamp(0, 1)

    train_x = torch.cat([unit(data.train.x), unit(data.val.x)])
    train_y = torch.cat([data.train.y, data.val.y])
    return DigitsUnit(train_x, train_y, unit(data.test.x), data.test.y)


def train_digits_classifier(data: DigitsUnit | None = None, epochs: int = 15, seed: int = 0) -> nn.Module:
    """``simple_cnn`` trained with dlzoo's Adam on [0, 1] digits; in eval mode, with ``test_accuracy``."""
    import dlzoo

    from ..optim import Adam

    data = data or digits_in_unit_range()
    torch.manual_seed(seed)
    model = dlzoo.create_model("simple_cnn")
    opt = Adam(model.parameters(), lr=2e-3)
    g = torch.Generator().manual_seed(seed)
    for _ in range(epochs):
        order = torch.randperm(len(data.train_x), generator=g)
        for i in range(0, len(order), 64):
            idx = order[i:i + 64]
            opt.zero_grad()
            F.cross_entropy(model(data.train_x[idx]), data.train_y[idx]).backward()
            opt.step()
    model.eval()
    with torch.no_grad():
        model.test_accuracy = (model(data.test_x).argmax(1) == data.test_y).float().mean().item()
    return model


@torch.no_grad()
def classifier_features(classifier: nn.Module, x: Tensor) -> tuple[Tensor, Tensor]:
    """``(penultimate features (N, F), logits (N, K))`` of images (N, 1, 8, 8) in [0, 1]."""
    feats = classifier.forward_head(classifier.forward_features(x), pre_logits=True)
    return feats, classifier.get_classifier()(feats)


def frechet_distance(mu1: Tensor, sigma1: Tensor, mu2: Tensor, sigma2: Tensor) -> float:
    """Frechet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``: means (D,), covariances (D, D)."""
    mu1, mu2, s1, s2 = (t.double() for t in (mu1, mu2, sigma1, sigma2))
    evals, evecs = torch.linalg.eigh((s1 + s1.T) / 2)
    root1 = evecs @ torch.diag(evals.clamp_min(0).sqrt()) @ evecs.T  # S_1^{1/2}
    inner = root1 @ s2 @ root1
    tr_sqrt = torch.linalg.eigvalsh((inner + inner.T) / 2).clamp_min(0).sqrt().sum()  # tr (S_1 S_2)^{1/2}
    return float((mu1 - mu2).square().sum() + torch.trace(s1) + torch.trace(s2) - 2 * tr_sqrt)


def _stats(feats: Tensor) -> tuple[Tensor, Tensor]:
    f = feats.double()
    return f.mean(0), torch.cov(f.T)  # (D,), (D, D) with the unbiased 1/(N-1) of numpy.cov


def feature_frechet_distance(feats1: Tensor, feats2: Tensor) -> float:
    """FD between the Gaussians fitted to two feature sets (N1, D), (N2, D)."""
    return frechet_distance(*_stats(feats1), *_stats(feats2))


def score_samples(samples: Tensor, classifier: nn.Module, reference: Tensor, min_share: float = 0.02
                  ) -> SampleQuality:
    """Confidence, coverage, class entropy and FD (to ``reference`` images) of ``samples`` (N, 1, 8, 8)."""
    feats, logits = classifier_features(classifier, samples.clamp(0, 1))
    ref_feats, _ = classifier_features(classifier, reference)
    probs = logits.softmax(-1)  # (N, K)
    counts = torch.bincount(probs.argmax(-1), minlength=probs.shape[-1]).double()
    share = counts / counts.sum()
    entropy = -(share[share > 0] * share[share > 0].log()).sum() / torch.log(torch.tensor(float(len(share))))
    return SampleQuality(
        confidence=probs.max(-1).values.mean().item(),
        coverage=(share >= min_share).double().mean().item(),
        class_entropy=entropy.item(),
        frechet_distance=feature_frechet_distance(feats, ref_feats),
        num_samples=samples.shape[0],
    )


#: Adam learning rates of the brief training runs (a GAN uses Radford et al.'s 2e-4, beta1 0.5)
LEARNING_RATES = {"vae": 3e-3, "ddpm": 1e-3}


def train_generative(name: str, train_x: Tensor, steps: int = 1500, batch_size: int = 64, seed: int = 0,
                     lr: float | None = None, **overrides) -> nn.Module:
    """Train a registered generative model briefly with dlzoo's Adam; a GAN alternates one D and one G step
    (Radford et al.: lr 2e-4, beta1 0.5), the others minimise ``loss`` (lr from :data:`LEARNING_RATES`,
    else 1e-3). Returned in eval mode."""
    import dlzoo

    from ..optim import Adam

    torch.manual_seed(seed)
    model = dlzoo.create_model(name, **overrides)
    model.train()
    g = torch.Generator().manual_seed(seed)
    gan = hasattr(model, "discriminator_loss")
    if gan:
        opt_d = Adam(model.discriminator.parameters(), lr=lr or 2e-4, betas=(0.5, 0.999))
        opt_g = Adam(model.generator.parameters(), lr=lr or 2e-4, betas=(0.5, 0.999))
    else:
        opt = Adam(model.parameters(), lr=lr or LEARNING_RATES.get(name, 1e-3))
    for _ in range(steps):
        batch = train_x[torch.randint(0, len(train_x), (batch_size,), generator=g)]
        if gan:
            opt_d.zero_grad()
            model.discriminator_loss(batch, generator=g).backward()
            opt_d.step()
            opt_g.zero_grad()
            model.generator_loss(batch_size, generator=g).backward()
            opt_g.step()
        else:
            opt.zero_grad()
            model.loss(batch, generator=g).backward()
            opt.step()
    return model.eval()


def save_sample_grid(images: Tensor, path: str | Path, nrow: int = 10, title: str | None = None) -> Path:
    """Write images (N, 1, H, W) in [0, 1] as a grid PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if images.dim() != 4 or images.shape[1] != 1:
        raise ValueError(f"save_sample_grid: expected images (N, 1, H, W), got {tuple(images.shape)}")
    n = images.shape[0]
    rows = (n + nrow - 1) // nrow
    fig, axes = plt.subplots(rows, nrow, figsize=(nrow * 0.6, rows * 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(images[i, 0].detach().cpu().numpy(), cmap="gray_r", vmin=0, vmax=1)
    if title:
        fig.suptitle(title, fontsize=8)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, bbox_inches="tight")
    plt.close(fig)
    return path


def evaluate_generative_models(names: tuple[str, ...] = ("vae", "dcgan", "ddpm"), steps: int = 1500,
                               num_samples: int = 1000, out_dir: str | Path | None = None, seed: int = 0,
                               overrides: dict[str, dict] | None = None) -> dict[str, dict]:
    """Train each model briefly, sample ``num_samples`` images, score them; baselines included.

    Returns ``{name: SampleQuality fields + train_seconds}``, plus ``"classifier"`` (its test accuracy) and
    the rows ``"baseline: test half"``, ``"baseline: train images"``, ``"baseline: uniform noise"``.
    With ``out_dir``: ``<name>.png`` sample grids and ``sample_quality.json``.
    """
    data = digits_in_unit_range()
    clf = train_digits_classifier(data, seed=seed)
    ref = data.test_x
    g = torch.Generator().manual_seed(seed)
    half = torch.randperm(len(ref), generator=g)
    first, second = ref[half[: len(ref) // 2]], ref[half[len(ref) // 2:]]
    results: dict[str, dict] = {"classifier": {"test_accuracy": clf.test_accuracy}}
    results["baseline: test half"] = asdict(score_samples(first, clf, second))
    results["baseline: train images"] = asdict(score_samples(data.train_x[:num_samples], clf, ref))
    results["baseline: uniform noise"] = asdict(score_samples(torch.rand(num_samples, 1, 8, 8, generator=g),
                                                              clf, ref))
    for name in names:
        start = time.perf_counter()
        kwargs = (overrides or {}).get(name, {})
        model = train_generative(name, data.train_x, steps=steps, seed=seed, **kwargs)
        elapsed = time.perf_counter() - start
        samples = model.sample(num_samples, generator=seed)
        results[name] = {**asdict(score_samples(samples, clf, ref)), "train_steps": steps,
                         "train_seconds": round(elapsed, 1)}
        if out_dir is not None:
            save_sample_grid(samples[:100], Path(out_dir) / f"{name}.png", title=f"{name}, {steps} steps")
    if out_dir is not None:
        Path(out_dir, "sample_quality.json").write_text(json.dumps(results, indent=2))
    return results


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Train generative models briefly, score samples")
    parser.add_argument("--models", default="vae,dcgan,ddpm")
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    res = evaluate_generative_models(tuple(args.models.split(",")), args.steps, args.samples, args.out)
    print(f"classifier test accuracy {res.pop('classifier')['test_accuracy']:.3f}")
    print(f"{'images':<26}{'confidence':>11}{'coverage':>9}{'entropy':>8}{'FD':>9}")
    for name, r in res.items():
        print(f"{name:<26}{r['confidence']:>11.3f}{r['coverage']:>9.2f}{r['class_entropy']:>8.3f}"
              f"{r['frechet_distance']:>9.2f}")


if __name__ == "__main__":
    _main()
