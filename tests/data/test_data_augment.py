"""Batch augmentation against the papers' equations, written out per sample."""

from __future__ import annotations

import pytest
import torch

from dlzoo.data.augment import (
    BatchAugment,
    cutmix,
    cutmix_box,
    mixup,
    one_hot_smooth,
    random_crop,
    random_hflip,
)


def test_mixup_is_the_convex_combination_with_the_reversed_batch():
    x = torch.randn(5, 2, 4, 4, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1])
    t = one_hot_smooth(y, 4).double()
    xm, tm = mixup(x, t, 0.3)
    for i in range(5):
        j = 4 - i  # partner: the batch flipped along dim 0
        torch.testing.assert_close(xm[i], 0.3 * x[i] + 0.7 * x[j])
        torch.testing.assert_close(tm[i], 0.3 * t[i] + 0.7 * t[j])


@pytest.mark.parametrize("lam,cy,cx", [(0.75, 4, 4), (0.36, 0, 7), (0.9, 7, 0), (0.0, 3, 3)])
def test_cutmix_pastes_the_paper_box_and_weights_labels_by_area(lam, cy, cx):
    h = w = 8
    x = torch.arange(3 * 1 * h * w, dtype=torch.float64).view(3, 1, h, w)
    t = one_hot_smooth(torch.tensor([0, 1, 2]), 3).double()
    out, tm, lam_adj = cutmix(x, t, lam, cy, cx)
    # paper (Yun et al. 2019, Alg. 1): r_w = W sqrt(1 - lam), r_h = H sqrt(1 - lam), box clipped to the image
    rw, rh = int(w * (1 - lam) ** 0.5), int(h * (1 - lam) ** 0.5)
    y0, y1 = max(cy - rh // 2, 0), min(cy + rh // 2, h)
    x0, x1 = max(cx - rw // 2, 0), min(cx + rw // 2, w)
    assert cutmix_box(h, w, lam, cy, cx) == (y0, y1, x0, x1)
    inside = torch.zeros(h, w, dtype=torch.bool)
    inside[y0:y1, x0:x1] = True
    for i in range(3):
        j = 2 - i
        torch.testing.assert_close(out[i, 0][inside], x[j, 0][inside])
        torch.testing.assert_close(out[i, 0][~inside], x[i, 0][~inside])
    assert lam_adj == pytest.approx(1 - inside.sum().item() / (h * w))
    torch.testing.assert_close(tm, lam_adj * t + (1 - lam_adj) * t.flip(0))


def test_random_crop_equals_per_sample_slicing_of_the_padded_image():
    x = torch.randn(6, 3, 5, 7)
    torch.manual_seed(11)
    out = random_crop(x, 2)
    torch.manual_seed(11)
    oy, ox = torch.randint(0, 5, (6,)), torch.randint(0, 5, (6,))
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2))
    for i in range(6):
        torch.testing.assert_close(out[i], padded[i, :, oy[i] : oy[i] + 5, ox[i] : ox[i] + 7])
    assert random_crop(x, 0) is x


def test_random_hflip_flips_each_image_or_not():
    x = torch.randn(64, 1, 3, 4)
    out = random_hflip(x, 0.5)
    flipped = [(torch.equal(o, xi.flip(-1))) for o, xi in zip(out, x)]
    kept = [torch.equal(o, xi) for o, xi in zip(out, x)]
    assert all(f or k for f, k in zip(flipped, kept)) and 10 < sum(flipped) < 54
    assert torch.equal(random_hflip(x, 1.0), x.flip(-1)) and torch.equal(random_hflip(x, 0.0), x)


def test_batch_augment_targets():
    x, y = torch.randn(8, 1, 6, 6), torch.randint(0, 5, (8,))
    assert BatchAugment(5)(x, y)[1] is y  # nothing configured: labels pass through
    for kw in ({"mixup_alpha": 0.4}, {"cutmix_alpha": 1.0}, {"mixup_alpha": 0.2, "cutmix_alpha": 1.0}):
        xa, t = BatchAugment(5, label_smoothing=0.1, **kw)(x, y)
        assert xa.shape == x.shape and t.shape == (8, 5)
        torch.testing.assert_close(t.sum(1), torch.ones(8))
        assert t.min() >= 0.1 / 5 - 1e-7  # smoothing mass kept on every class
    smooth = one_hot_smooth(torch.tensor([2]), 4, 0.2)
    torch.testing.assert_close(smooth, torch.tensor([[0.05, 0.05, 0.85, 0.05]]))
