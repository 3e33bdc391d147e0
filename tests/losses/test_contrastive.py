"""CLIP loss against Hugging Face CLIPModel's own loss (random tiny model) and the paper's pseudo-code."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from dlzoo.losses import create_loss
from dlzoo.losses.contrastive import ClipLoss, clip_contrastive_loss


def test_matches_paper_pseudocode_in_numpy():
    img, txt = np.random.default_rng(0).normal(size=(2, 6, 5))
    t = math.log(1 / 0.07)
    i_e = img / np.linalg.norm(img, axis=1, keepdims=True)
    t_e = txt / np.linalg.norm(txt, axis=1, keepdims=True)
    logits = i_e @ t_e.T * np.exp(t)

    def ce_rows(z):  # cross-entropy with labels arange(n) along axis 1
        z = z - z.max(1, keepdims=True)
        return -(np.diag(z) - np.log(np.exp(z).sum(1))).mean()

    ref = (ce_rows(logits) + ce_rows(logits.T)) / 2
    ours = clip_contrastive_loss(torch.from_numpy(img), torch.from_numpy(txt), t)
    assert ours.item() == pytest.approx(ref, rel=1e-12)


@pytest.mark.slow
def test_matches_hf_clip_model_loss_and_grads():
    transformers = pytest.importorskip("transformers")
    cfg = transformers.CLIPConfig(
        text_config=dict(vocab_size=50, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                         num_attention_heads=2, max_position_embeddings=12),
        vision_config=dict(hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                           image_size=8, patch_size=4),
        projection_dim=8,
    )
    model = transformers.CLIPModel(cfg).eval()
    ids = torch.randint(0, 50, (5, 7))
    pixels = torch.randn(5, 3, 8, 8)
    out = model(input_ids=ids, pixel_values=pixels, return_loss=True)
    loss_fn = ClipLoss()
    with torch.no_grad():
        loss_fn.logit_scale.copy_(model.logit_scale)
    ours = loss_fn(out.image_embeds, out.text_embeds)
    torch.testing.assert_close(ours, out.loss, rtol=1e-5, atol=1e-6)
    g_hf = torch.autograd.grad(out.loss, model.logit_scale)[0]
    g_ours = torch.autograd.grad(ours, loss_fn.logit_scale)[0]
    torch.testing.assert_close(g_ours, g_hf, rtol=1e-4, atol=1e-6)


def test_temperature_is_learnable_and_clipped():
    m = create_loss("clip")
    assert isinstance(m, ClipLoss) and m.logit_scale.requires_grad
    assert m.logit_scale.item() == pytest.approx(math.log(1 / 0.07))
    x = torch.randn(4, 3)
    with torch.no_grad():
        m.logit_scale.fill_(10.0)  # exp(10) > 100: clipped
    torch.testing.assert_close(m(x, x), clip_contrastive_loss(x, x, math.log(100.0)))
    perfect = torch.eye(4)
    assert m(perfect, perfect).item() < 1e-10  # orthogonal pairs at scale 100 -> loss ~ 0
    with pytest.raises(ValueError, match="same shape"):
        m(torch.randn(4, 3), torch.randn(5, 3))
