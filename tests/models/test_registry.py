"""Every registered model, the day it is registered (timm's tests/test_models.py habit).

For each name in ``dlzoo.list_models()``:
* it builds on the meta device with exactly its card's published parameter count;
* at its card's small test size it runs forward and backward in train mode with finite gradients for
  every parameter, and eval-mode outputs survive ``save_pretrained`` / ``from_pretrained`` bit for bit;
* it meets its task's contract: classifiers follow timm's interface (``forward_head(forward_features)``,
  ``pre_logits`` width ``num_features``, ``get_classifier``, ``reset_classifier(0)`` -> pooled features,
  ``reset_classifier(k)``), segmentation models return per-voxel logits.

Each task is one entry of :data:`TASKS`: how to build the test input from the card (and the model, e.g. its
vocabulary) and which contract to check. A new task adds its entry here the day its first model is registered.
"""

from __future__ import annotations

import pytest
import torch

import dlzoo

NAMES = dlzoo.list_models()
BIG = 30_000_000  # parameters: building, saving and loading these costs seconds each -> slow marker


def _params(name: str) -> list:
    card = dlzoo.model_info(name)
    big = (card.reference_params or 0) > BIG
    return pytest.param(name, marks=pytest.mark.slow) if big else name


def _image_input(card, model) -> torch.Tensor:
    size = card.test_input_size or card.input_size
    return torch.randn(2, *size)


def _call(model, x):
    """Inputs are one tensor, or a tuple of positional arguments (e.g. ``(src, tgt)`` for seq2seq)."""
    return model(*x) if isinstance(x, tuple) else model(x)


def _logits(out):
    """The main output of a forward: a tensor, or the first field of a tuple / named output."""
    if isinstance(out, torch.Tensor):
        return out
    if isinstance(out, (tuple, list)):
        return out[0]
    return out.logits


def test_registry_is_not_empty_and_cards_are_complete():
    assert len(NAMES) >= 40
    for name in NAMES:
        card = dlzoo.model_info(name)
        assert card.family and card.paper and card.year and card.input_size, name
        assert card.task in TASKS, (name, card.task)
        assert card.reference_params is not None or card.source, f"{name}: no count and no source"


@pytest.mark.parametrize("name", NAMES)
def test_meta_build_matches_published_count(name):
    card = dlzoo.model_info(name)
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    count = sum(p.numel() for p in model.parameters())
    if card.reference_params is not None:
        assert count == card.reference_params, f"{name}: {count:,} != {card.reference_params:,}"
    assert all(p.is_meta for p in model.parameters())


@pytest.mark.parametrize("name", [_params(n) for n in NAMES])
def test_forward_backward_roundtrip_and_contract(name, tmp_path):
    card = dlzoo.model_info(name)
    torch.manual_seed(0)
    model = dlzoo.create_model(name, **card.test_kwargs)
    make_input, check_contract = TASKS[card.task]
    x = make_input(card, model)

    model.train()
    out = _logits(_call(model, x))
    assert torch.isfinite(out).all(), name
    (out.float() ** 2).mean().backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: parameters without gradient in training: {missing[:5]}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not torch.isfinite(p.grad).all()]
    assert not bad, f"{name}: non-finite gradients: {bad[:5]}"

    model.eval()
    with torch.no_grad():
        y = _logits(_call(model, x))
    dlzoo.save_pretrained(model, tmp_path)
    loaded = dlzoo.from_pretrained(tmp_path)
    assert type(loaded) is type(model) and not loaded.training
    with torch.no_grad():
        torch.testing.assert_close(_logits(_call(loaded, x)), y, rtol=0, atol=0)

    check_contract(name, model, x, y)


def _check_classifier_contract(name, model, x, logits):
    assert logits.shape == (x.shape[0], model.num_classes), name
    with torch.no_grad():
        feats = model.forward_features(x)
        torch.testing.assert_close(model.forward_head(feats), logits)
        pooled = model.forward_head(feats, pre_logits=True)
    assert pooled.shape == (x.shape[0], model.num_features), (name, pooled.shape)
    fc = model.get_classifier()
    assert isinstance(fc, torch.nn.Module) and fc.weight.shape == (model.num_classes, model.num_features)

    model.reset_classifier(0)
    assert model.num_classes == 0
    with torch.no_grad():
        torch.testing.assert_close(model(x), pooled)  # no logits layer: forward returns pooled features
    model.reset_classifier(7)
    assert model.get_classifier().weight.shape == (7, model.num_features)
    with torch.no_grad():
        assert model(x).shape == (x.shape[0], 7)
    with pytest.raises(ValueError, match="num_classes"):
        model.reset_classifier(-1)
    with pytest.raises(ValueError, match="num_classes"):
        dlzoo.create_model(name, num_classes=-1, **dlzoo.model_info(name).test_kwargs)


def _check_segmentation_contract(name, model, x, logits):
    """Dense logits over the input's spatial grid."""
    assert logits.dim() == x.dim() and logits.shape[0] == x.shape[0], (name, logits.shape)


def _token_input(card, model) -> torch.Tensor:
    """Token ids (2, T) below the model's vocabulary; T from the card's ``test_input_size``."""
    (length,) = card.test_input_size or card.input_size
    return torch.randint(0, model.vocab_size, (2, length))


def _check_causal_lm_contract(name, model, ids, logits):
    """logits (B, T, V); a token only sees its past; greedy generate equal with and without the KV cache."""
    assert logits.shape == (*ids.shape, model.vocab_size), (name, logits.shape)
    changed = ids.clone()
    changed[:, -1] = (changed[:, -1] + 1) % model.vocab_size
    with torch.no_grad():
        # causal: the past ignores the future
        torch.testing.assert_close(model(changed)[:, :-1], logits[:, :-1])
        cached = model.generate(ids, max_new_tokens=3, use_cache=True)
        uncached = model.generate(ids, max_new_tokens=3, use_cache=False)
    assert cached.shape == (ids.shape[0], ids.shape[1] + 3) and torch.equal(cached[:, : ids.shape[1]], ids)
    assert torch.equal(cached, uncached), name


def _seq2seq_input(card, model) -> tuple[torch.Tensor, torch.Tensor]:
    """(src ids (2, S), tgt ids (2, T)) with ``test_input_size = (S, T)``."""
    src_len, tgt_len = card.test_input_size or card.input_size
    src = torch.randint(0, model.src_vocab_size, (2, src_len))
    return src, torch.randint(0, model.tgt_vocab_size, (2, tgt_len))


def _check_seq2seq_contract(name, model, inputs, logits):
    """logits (B, T, V_tgt) for teacher-forced targets."""
    src, tgt = inputs
    assert logits.shape == (*tgt.shape, model.tgt_vocab_size), (name, logits.shape)


def _sequence_input(card, model) -> torch.Tensor:
    """Real-valued sequences (2, T, F) with ``test_input_size = (T, F)``."""
    return torch.randn(2, *(card.test_input_size or card.input_size))


def _check_sequence_regression_contract(name, model, x, y):
    """One output vector per input step: (B, T, F) -> (B, T, out_features)."""
    assert y.shape == (*x.shape[:2], model.out_features), (name, y.shape)


def _graph_input(card, model) -> tuple[torch.Tensor, ...]:
    """Two random graphs of ``N`` nodes each (``test_input_size = (N, F)``): (x, edge_index, batch)."""
    nodes, _ = card.test_input_size or card.input_size
    g = torch.Generator().manual_seed(0)
    edges = torch.randint(0, nodes, (2, 3 * nodes), generator=g)
    edge_index = torch.cat([edges, edges + nodes], dim=1)  # graph 1 uses ids N..2N-1
    batch = torch.arange(2).repeat_interleave(nodes)
    return torch.randn(2 * nodes, model.in_channels, generator=g), edge_index, batch


def _node_input(card, model) -> tuple[torch.Tensor, torch.Tensor]:
    x, edge_index, _ = _graph_input(card, model)
    return x, edge_index


def _check_node_classification(name, model, inputs, logits):
    assert logits.shape == (inputs[0].shape[0], model.num_classes), (name, logits.shape)


def _check_graph_classification(name, model, inputs, logits):
    assert logits.shape == (int(inputs[2].max()) + 1, model.num_classes), (name, logits.shape)


def _tabular_input(card, model) -> torch.Tensor:
    """Feature vectors (2, F) with ``test_input_size = (F,)``."""
    return torch.randn(2, *(card.test_input_size or card.input_size))


def _check_tabular_contract(name, model, x, y):
    """Scores (B,) with one output (binary classifiers, scalar regression), else (B, out_features)."""
    expected = (x.shape[0],) if model.out_features == 1 else (x.shape[0], model.out_features)
    assert y.shape == expected, (name, y.shape)


def _bipolar_input(card, model) -> torch.Tensor:
    """+-1 states (2, N). Associative memories have no backprop-trained parameters (their weights are buffers
    set by a storage rule), so the input carries the autograd graph the generic backward needs."""
    (units,) = card.test_input_size or card.input_size
    return (torch.randint(0, 2, (2, units)).float() * 2 - 1).requires_grad_()


def _check_associative_memory_contract(name, model, s, out):
    """Recall returns +-1 states of the input's shape."""
    assert out.shape == s.shape and bool(((out == 1) | (out == -1)).all()), name


def _binary_input(card, model) -> torch.Tensor:
    """{0, 1} visible units (2, V) with ``test_input_size = (V,)``."""
    return torch.randint(0, 2, (2, *(card.test_input_size or card.input_size))).float()


def _check_energy_contract(name, model, v, energy):
    """One energy (the free energy) per sample."""
    assert energy.shape == (v.shape[0],), (name, energy.shape)


def _generative_input(card, model) -> tuple[torch.Tensor, int]:
    """(images in [0, 1] (2, C, H, W), seed): the seed fixes the model's draws, so eval outputs repeat."""
    return torch.rand(2, *(card.test_input_size or card.input_size)), 0


def _check_generative_contract(name, model, inputs, loss):
    """forward = the scalar training objective; ``sample(n, generator)`` gives seeded images in [0, 1]."""
    x, _ = inputs
    assert loss.dim() == 0, (name, loss.shape)
    with torch.no_grad():
        torch.testing.assert_close(model.loss(x, generator=0), loss, rtol=0, atol=0)
        samples = model.sample(3, generator=0)
        again = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (3, *x.shape[1:]), (name, samples.shape)
    assert samples.min() >= 0 and samples.max() <= 1 and torch.equal(samples, again), name


def _row_ids_input(card, model) -> torch.Tensor:
    """Row indices (2,) of the factorized matrix."""
    return torch.randint(0, model.num_rows, (2,))


def _check_matrix_factorization_contract(name, model, rows, out):
    """Reconstructed rows (B, num_cols), equal to those rows of the full reconstruction."""
    assert out.shape == (rows.shape[0], model.num_cols), (name, out.shape)
    with torch.no_grad():
        torch.testing.assert_close(model.reconstruction()[rows], out)


def _check_reconstruction_contract(name, model, x, out):
    """Autoencoders reconstruct their input: (B, F) -> (B, F)."""
    assert out.shape == x.shape, (name, out.shape)


def _word_pairs_input(card, model) -> tuple[torch.Tensor, torch.Tensor]:
    """(input word ids (2, C), target word ids (2, T)) with ``test_input_size = (C, T)``."""
    c, t = card.test_input_size or card.input_size
    return torch.randint(0, model.vocab_size, (2, c)), torch.randint(0, model.vocab_size, (2, t))


def _check_word_embedding_contract(name, model, inputs, scores):
    """One score per target word: (B, T)."""
    assert scores.shape == inputs[1].shape, (name, scores.shape)


def _labelled_image_input(card, model) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (2, C, H, W), labels (2,)): ``model(x, y)`` is a training loss that reaches every parameter
    (a policy trained by REINFORCE gets no gradient from the logits alone)."""
    return torch.randn(2, *(card.test_input_size or card.input_size)), torch.tensor([1, 3])


def _check_reinforce_classifier_contract(name, model, inputs, loss):
    """The hybrid loss is a scalar; ``model(x)`` meets the classifier contract."""
    x, _ = inputs
    assert loss.dim() == 0, (name, loss.shape)
    with torch.no_grad():
        logits = model(x)
    _check_classifier_contract(name, model, x, logits)


def _capsule_input(card, model) -> tuple[torch.Tensor, torch.Tensor]:
    """(images in [0, 1] (2, C, H, W), class targets (2,)): the target masks the decoder's input and gives
    the loss, which leads the output (so the decoder is in the backward too)."""
    return torch.rand(2, *(card.test_input_size or card.input_size)), torch.tensor([0, 1])


def _check_capsule_contract(name, model, inputs, loss):
    """forward(x, target) leads with the scalar margin + reconstruction loss; without a target the loss is
    None, the capsule lengths (B, K) lie in [0, 1) and the reconstruction has the input's shape."""
    x, _ = inputs
    assert loss.dim() == 0, (name, loss.shape)
    with torch.no_grad():
        out = model(x)
    assert out.loss is None and out.logits.shape == (x.shape[0], model.num_classes), name
    assert float(out.logits.max()) < 1 and out.reconstruction.shape == x.shape, name


def _contrastive_input(card, model):
    """(input_ids (3, T), pixel_values (2, C, H, W)): a different number of captions and images."""
    size = card.test_input_size or card.input_size
    return torch.randint(0, model.vocab_size, (3, min(8, model.context_length))), torch.randn(2, *size)


def _check_contrastive_contract(name, model, inputs, logits):
    """logits_per_image (B_img, B_txt) = exp(logit_scale) * cosine similarity of the projected features;
    logits_per_text is its transpose and the returned embeddings are the unit-norm features."""
    ids, pixels = inputs
    assert logits.shape == (pixels.shape[0], ids.shape[0]), (name, logits.shape)
    with torch.no_grad():
        out = model(ids, pixels)
        image = torch.nn.functional.normalize(model.get_image_features(pixels), dim=-1)
        text = torch.nn.functional.normalize(model.get_text_features(ids), dim=-1)
        torch.testing.assert_close(out.logits_per_text, out.logits_per_image.t())
        torch.testing.assert_close(out.image_embeds, image)
        torch.testing.assert_close(out.text_embeds, text)
        torch.testing.assert_close(logits, model.logit_scale.exp() * image @ text.t())


# task -> (make_input(card, model), check_contract(name, model, x, eval_output))
def _check_depth_contract(name, model, x, depth):
    """Dense depth (B, H, W) over the input image's grid."""
    assert depth.shape == (x.shape[0], *x.shape[2:]), (name, depth.shape)


TASKS = {
    "capsule-classification": (_capsule_input, _check_capsule_contract),
    "classification": (_image_input, _check_classifier_contract),
    "segmentation": (_image_input, _check_segmentation_contract),
    "depth-estimation": (_image_input, _check_depth_contract),
    "causal-lm": (_token_input, _check_causal_lm_contract),
    "seq2seq": (_seq2seq_input, _check_seq2seq_contract),
    "sequence-regression": (_sequence_input, _check_sequence_regression_contract),
    "node-classification": (_node_input, _check_node_classification),
    "graph-classification": (_graph_input, _check_graph_classification),
    "generative": (_generative_input, _check_generative_contract),
    "classification-reinforce": (_labelled_image_input, _check_reinforce_classifier_contract),
    "tabular-classification": (_tabular_input, _check_tabular_contract),
    "tabular-regression": (_tabular_input, _check_tabular_contract),
    "associative-memory": (_bipolar_input, _check_associative_memory_contract),
    "energy": (_binary_input, _check_energy_contract),
    "matrix-factorization": (_row_ids_input, _check_matrix_factorization_contract),
    "reconstruction": (_tabular_input, _check_reconstruction_contract),
    "word-embedding": (_word_pairs_input, _check_word_embedding_contract),
    "contrastive": (_contrastive_input, _check_contrastive_contract),
}


def test_create_model_rejects_non_string_names():
    with pytest.raises(TypeError, match="model name must be a string"):
        dlzoo.create_model(None)
    with pytest.raises(KeyError, match="did you mean 'resnet50'"):
        dlzoo.create_model("resnet5O")
