"""Sample-quality metrics: the Frechet distance equals the FID formula computed with scipy.linalg.sqrtm; on
classifier features it is near 0 for two halves of the test set and large for noise; confidence / coverage
react to real digits vs one collapsed class; the grid writer makes a PNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy import linalg

from dlzoo.analysis.sample_quality import (
    digits_in_unit_range,
    feature_frechet_distance,
    frechet_distance,
    save_sample_grid,
    score_samples,
    train_digits_classifier,
)


def _scipy_fd(mu1, s1, mu2, s2) -> float:
    covmean = linalg.sqrtm(s1 @ s2)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean.real))


@pytest.mark.parametrize("dim", [2, 7, 32])
def test_frechet_distance_equals_scipy_sqrtm_formula(dim):
    rng = np.random.default_rng(dim)
    a, b = rng.normal(size=(dim, dim)), rng.normal(size=(dim, dim))
    s1, s2 = a @ a.T + 0.1 * np.eye(dim), b @ b.T + 0.1 * np.eye(dim)
    mu1, mu2 = rng.normal(size=dim), rng.normal(size=dim)
    ours = frechet_distance(*(torch.from_numpy(t) for t in (mu1, s1, mu2, s2)))
    assert ours == pytest.approx(_scipy_fd(mu1, s1, mu2, s2), rel=1e-8, abs=1e-8)
    assert frechet_distance(*(torch.from_numpy(t) for t in (mu1, s1, mu1, s1))) == pytest.approx(0, abs=1e-8)


def test_feature_frechet_distance_of_random_gaussians_matches_scipy_on_the_fitted_moments():
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(500, 6)), rng.normal(loc=0.5, scale=2.0, size=(400, 6))
    want = _scipy_fd(x.mean(0), np.cov(x, rowvar=False), y.mean(0), np.cov(y, rowvar=False))
    got = feature_frechet_distance(torch.from_numpy(x), torch.from_numpy(y))
    assert got == pytest.approx(want, rel=1e-8)


@pytest.fixture(scope="module")
def scored():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny ops on shared cores
    try:
        data = digits_in_unit_range()
        yield data, train_digits_classifier(data, epochs=6)
    finally:
        torch.set_num_threads(threads)


@pytest.mark.slow  # trains a classifier (15-20 s on the shared cores)
def test_classifier_fd_is_small_between_test_halves_and_large_for_noise(scored):
    data, clf = scored
    assert clf.test_accuracy > 0.93
    ref = data.test_x
    perm = torch.randperm(len(ref), generator=torch.Generator().manual_seed(0))
    first, second = ref[perm[: len(ref) // 2]], ref[perm[len(ref) // 2:]]
    real = score_samples(first, clf, second)
    uniform = torch.rand(len(first), 1, 8, 8, generator=torch.Generator().manual_seed(1))
    noise = score_samples(uniform, clf, second)
    assert real.frechet_distance < 0.1 * noise.frechet_distance, (real, noise)
    assert real.confidence > 0.9 and real.coverage == 1.0 and real.class_entropy > 0.95
    collapsed = score_samples(ref[data.test_y == 3], clf, second, min_share=0.1)  # collapse onto one digit
    assert collapsed.coverage <= 0.2 and collapsed.class_entropy < 0.3
    assert collapsed.frechet_distance > real.frechet_distance


def test_sample_grid_png(tmp_path):
    path = save_sample_grid(torch.rand(23, 1, 8, 8), tmp_path / "grid.png", nrow=10, title="noise")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(ValueError, match="save_sample_grid: expected images"):
        save_sample_grid(torch.rand(3, 8, 8), tmp_path / "bad.png")


@pytest.mark.slow
@pytest.mark.parametrize("name", ["dcgan", "vae"])
def test_train_generative_updates_every_trained_part(name):
    from dlzoo.analysis.sample_quality import train_generative

    torch.manual_seed(0)
    x = torch.rand(32, 1, 8, 8)
    import dlzoo

    torch.manual_seed(0)
    before = {k: v.clone() for k, v in dlzoo.create_model(name).state_dict().items()}
    model = train_generative(name, x, steps=2, batch_size=8, seed=0)
    assert not model.training
    changed = {k.split(".")[0] for k, v in model.state_dict().items()
               if v.is_floating_point() and not torch.equal(v, before[k])}
    want = {"generator", "discriminator"} if name == "dcgan" else {"enc_hidden", "dec_out"}
    assert want <= changed, changed
