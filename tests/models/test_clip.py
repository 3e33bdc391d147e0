"""CLIP (Radford et al. 2021, arXiv:2103.00020): QuickGELU, masks, pooling, input errors, and a tiny CLIP
trained on 8x8 digits paired with captions reaching zero-shot accuracy far above chance.

Equality with transformers' CLIPModel (logits, features, gradients) is in tests/interop/test_hf_clip.py."""

from __future__ import annotations

import time

import pytest
import torch

import dlzoo
from dlzoo.data import create_dataset
from dlzoo.losses import ClipLoss
from dlzoo.nn import QuickGELU, create_act

WORDS = ["<pad>", "<sot>", "<eot>", "a", "photo", "of", "the", "digit",
         "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"]
EOT = WORDS.index("<eot>")


def _tokenize(label: int) -> list[int]:
    """Word-level ids of "<sot> a photo of the digit seven <eot>"."""
    caption = f"a photo of the digit {WORDS[8 + label]}"
    return [WORDS.index("<sot>")] + [WORDS.index(w) for w in caption.split()] + [EOT]


def test_quick_gelu_is_x_sigmoid_1702x_in_both_modes():
    x = torch.linspace(-6, 6, 101, dtype=torch.float64)
    expected = x * torch.sigmoid(1.702 * x)  # Hendrycks & Gimpel 2016, Sec. 2 approximation
    torch.testing.assert_close(QuickGELU()(x), expected, atol=1e-15, rtol=0)
    with dlzoo.reference_mode():
        torch.testing.assert_close(QuickGELU()(x), expected, atol=1e-15, rtol=0)
    assert type(create_act("quick_gelu")) is QuickGELU and type(create_act("QuickGELU")) is QuickGELU
    transformers = pytest.importorskip("transformers.activations")
    torch.testing.assert_close(QuickGELU()(x), transformers.QuickGELUActivation()(x), atol=1e-15, rtol=0)


def test_text_tower_is_causal_and_pools_argmax_or_first_eos():
    torch.manual_seed(0)
    model = dlzoo.create_model("clip_tiny").eval()
    ids = torch.tensor([[1, 3, 4, 31, 5, 6]])
    changed = ids.clone()
    changed[0, -1] = 7  # after the argmax position 3: must not change the pooled feature
    with torch.no_grad():
        torch.testing.assert_close(model.get_text_features(ids), model.get_text_features(changed))
        model.text_model.eos_token_id = 5  # first 5 at position 4 -> it sees position 4 but not 5
        a = model.get_text_features(ids)
        b = model.get_text_features(changed)
        torch.testing.assert_close(a, b)
        c = model.get_text_features(torch.tensor([[1, 3, 4, 30, 5, 6]]))
    assert not torch.allclose(a, c)


def test_padding_mask_hides_padded_keys():
    torch.manual_seed(0)
    model = dlzoo.create_model("clip_tiny", eos_token_id=EOT).eval()
    ids = torch.tensor(_tokenize(3) + [0, 0])
    other = ids.clone()
    other[-2:] = torch.tensor([9, 9])  # different padding tokens: masked out, cannot matter
    mask = (torch.arange(len(ids)) < len(ids) - 2).long()
    with torch.no_grad():
        a = model.get_text_features(ids[None], mask[None])
        b = model.get_text_features(other[None], mask[None])
        torch.testing.assert_close(a, b)
        torch.testing.assert_close(a, model.get_text_features(ids[None, :-2]))


def test_bad_inputs_raise_clear_errors():
    model = dlzoo.create_model("clip_tiny")
    with pytest.raises(ValueError, match="CLIPTextTransformer: expected integer input_ids"):
        model.get_text_features(torch.randn(2, 5))
    with pytest.raises(ValueError, match="context_length 16"):
        model.get_text_features(torch.zeros(2, 17, dtype=torch.long))
    with pytest.raises(ValueError, match="attention_mask must have the shape"):
        model.get_text_features(torch.zeros(2, 5, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(ValueError, match="CLIPVisionTransformer: width"):
        dlzoo.create_model("clip_tiny", vision_width=0)


@pytest.fixture
def one_thread():
    """A model this small trains fastest on one thread (on a shared CPU, 2 threads spin: 1 s a step)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tiny_clip_learns_digits_from_captions_zero_shot(one_thread):
    """ClipLoss on (image, caption) pairs; zero-shot = nearest of the 10 caption embeddings. Chance is 10%.

    Each step draws 4 groups of 10 images, one per digit, each group against the 10 captions (so no batch
    holds two pairs of the same class: no false negatives in the InfoNCE denominator)."""
    torch.manual_seed(0)
    splits = create_dataset("digits")
    x_train, y_train = splits.train.x, splits.train.y
    x_test, y_test = splits.test.x, splits.test.y
    by_class = [torch.nonzero(y_train == k).squeeze(1) for k in range(10)]
    captions = torch.tensor([_tokenize(k) for k in range(10)])  # (10, 9)
    model = dlzoo.create_model("clip_tiny", eos_token_id=EOT)
    loss_fn = ClipLoss()
    opt = torch.optim.AdamW([*model.parameters(), *loss_fn.parameters()], lr=3e-3, weight_decay=0.0)
    start = time.perf_counter()
    model.train()
    groups, steps = 4, 120
    for _ in range(steps):
        idx = torch.stack([c[torch.randint(0, len(c), (groups,))] for c in by_class], 1)  # (G, 10)
        image = model.get_image_features(x_train[idx.flatten()]).view(groups, 10, -1)  # (G, 10, E)
        text = model.get_text_features(captions)  # (10, E)
        loss = sum(loss_fn(image[g], text) for g in range(groups)) / groups
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        out = model(captions, x_test)  # logits_per_image (N_test, 10)
        accuracy = (out.logits_per_image.argmax(-1) == y_test).float().mean().item()
    print(f"clip_tiny digits zero-shot test accuracy {accuracy:.3f} after {steps} steps "
          f"({time.perf_counter() - start:.1f} s)")
    assert accuracy > 0.5, accuracy  # chance: 0.1
