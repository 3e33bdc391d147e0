"""HF transformers GPT-2 (random weights, saved offline) <-> dlzoo GPT: logits, grads, generate, export."""

from __future__ import annotations

import json

import pytest
import torch

import dlzoo
from dlzoo.hub import PretrainedLoadError
from dlzoo.models.language.gpt2._convert_hf import convert_gpt2

transformers = pytest.importorskip("transformers")

V, P = 97, 32


def _config(**kw):
    base = dict(vocab_size=V, n_positions=P, n_embd=32, n_layer=2, n_head=4, bos_token_id=None,
                eos_token_id=None, embd_pdrop=0.0, attn_pdrop=0.0, resid_pdrop=0.0)
    return transformers.GPT2Config(**{**base, **kw})


def _hf(**kw):
    torch.manual_seed(0)
    hf = transformers.GPT2LMHeadModel(_config(**kw))
    with torch.no_grad():  # LayerNorm ones/zeros and zero biases would hide mapping mistakes
        for name, p in hf.named_parameters():
            if "ln" in name or name.endswith("bias"):
                centre = 1.0 if "ln" in name and name.endswith("weight") else 0.0
                p.copy_(torch.randn_like(p) * 0.2 + centre)
    return hf.eval()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    """(hf model, its directory, dlzoo model loaded from it)."""
    directory = tmp_path_factory.mktemp("gpt2")
    hf = _hf()
    hf.save_pretrained(directory)
    return hf, directory, dlzoo.from_pretrained(directory)


def _ids(batch=2, length=10, seed=1):
    return torch.randint(0, V, (batch, length), generator=torch.Generator().manual_seed(seed))


def test_logits_equal_float32_float64_and_reference_mode(pair):
    hf, directory, ours = pair
    assert not ours.training and ours.lm_head.weight is ours.wte.weight
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-4, rtol=0)
        with dlzoo.reference_mode():
            torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-4, rtol=0)
    hf64, ours64 = _hf().double(), dlzoo.from_pretrained(directory).double()
    with torch.no_grad():
        torch.testing.assert_close(ours64(ids), hf64(ids).logits, atol=1e-10, rtol=0)


@pytest.mark.parametrize("kw", [{"activation_function": "gelu", "layer_norm_epsilon": 1e-3, "n_inner": 48},
                                {"activation_function": "relu", "n_head": 2, "tie_word_embeddings": False}])
def test_config_variants_load_with_equal_logits(tmp_path, kw):
    hf = _hf(**kw)
    if not hf.config.tie_word_embeddings:
        with torch.no_grad():
            hf.lm_head.weight.normal_()
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.h[0].ln_1.eps == hf.config.layer_norm_epsilon
    assert (ours.lm_head.weight is ours.wte.weight) == hf.config.tie_word_embeddings
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, atol=1e-4, rtol=0)


def test_gradients_equal_after_transplant_float64(pair):
    hf, directory, _ = pair
    hf64, ours = _hf().double().train(), dlzoo.from_pretrained(directory).double().train()
    ids = _ids(length=12)
    target = _ids(length=12, seed=2)
    loss_fn = torch.nn.functional.cross_entropy
    loss_fn(hf64(ids).logits.flatten(0, 1), target.flatten()).backward()
    loss_fn(ours(ids).flatten(0, 1), target.flatten()).backward()
    hf_grads = {k: p.grad for k, p in hf64.named_parameters()}
    # map HF grads through the converter (the same transposes/splits as the weights)
    name, _, converted = convert_gpt2(hf64.config.to_dict(), hf_grads)
    ours_grads = {k: p.grad for k, p in ours.named_parameters()}
    assert set(ours_grads) == set(converted)
    for key, grad in converted.items():
        torch.testing.assert_close(ours_grads[key], grad, atol=1e-10, rtol=1e-8, msg=key)


def test_greedy_generate_identical_to_hf_with_and_without_cache_and_eos(pair):
    hf, _, ours = pair
    ids = _ids(batch=3, length=5)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        expected = hf.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0)
    assert torch.equal(ours.generate(ids, max_new_tokens=12), expected)
    assert torch.equal(ours.generate(ids, max_new_tokens=12, use_cache=False), expected)
    # an eos that row 0 emits at its 4th new token: HF pads finished rows with it and may stop early
    eos = int(expected[0, 5 + 3])
    with torch.no_grad():
        expected = hf.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False,
                               eos_token_id=eos, pad_token_id=eos)
    got = ours.generate(ids, max_new_tokens=12, eos_token_id=eos)
    assert torch.equal(got, expected) and (got[0, 8:] == eos).all()


@pytest.mark.parametrize("kw", [dict(temperature=0.7, top_k=5, top_p=0.9), dict(temperature=1.3, top_p=0.6)])
def test_sampling_identical_to_hf_under_the_same_seed(pair, kw):
    hf, directory, _ = pair
    hf64, ours = _hf().double(), dlzoo.from_pretrained(directory).double()
    ids = _ids(batch=4, length=3)
    hf_kw = {"top_k": 0, "top_p": 1.0, "temperature": 1.0, **kw}
    torch.manual_seed(7)
    with torch.no_grad():
        expected = hf64.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=True,
                                 pad_token_id=0, **hf_kw)
    torch.manual_seed(7)
    assert torch.equal(ours.generate(ids, max_new_tokens=8, do_sample=True, **kw), expected)


@pytest.mark.parametrize("tied", [True, False])
def test_save_pretrained_hf_format_loads_into_transformers(tmp_path, tied):
    torch.manual_seed(0)
    ours = dlzoo.create_model("gpt_tiny", vocab_size=V, max_seq_len=P, embed_dim=32, num_layers=2,
                              num_heads=4, tie_word_embeddings=tied, act_layer="gelu").eval()
    with torch.no_grad():
        for name, p in ours.named_parameters():
            if "ln" in name or name.endswith("bias"):
                p.add_(torch.randn_like(p) * 0.2)
    dlzoo.save_pretrained(ours, tmp_path, format="hf")
    config = json.loads((tmp_path / "config.json").read_text())
    assert config["model_type"] == "gpt2" and config["activation_function"] == "gelu"
    hf, info = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, output_loading_info=True)
    assert type(hf).__name__ == "GPT2LMHeadModel"
    assert not info["missing_keys"] and not info["unexpected_keys"] and not info["mismatched_keys"]
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(hf.eval()(ids).logits, ours(ids), atol=1e-5, rtol=0)
    # and back into dlzoo, bit for bit
    again = dlzoo.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(again(ids), ours(ids), atol=0, rtol=0)


def test_bare_gpt2model_directory_loads_with_tied_head(tmp_path):
    hf_lm = _hf()
    hf = transformers.GPT2Model(hf_lm.config)
    hf.load_state_dict(hf_lm.transformer.state_dict())
    hf.save_pretrained(tmp_path)
    ours = dlzoo.from_pretrained(tmp_path)
    ids = _ids()
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf_lm(ids).logits, atol=1e-4, rtol=0)


def test_errors_are_one_line(tmp_path, pair):
    _, _, ours = pair
    errors = []
    with pytest.raises(ValueError, match=r"vocab_size=97\), got 97") as info:
        ours(torch.tensor([[1, 97]]))
    errors.append(info)
    with pytest.raises(ValueError, match="exceeds the context length max_seq_len=32") as info:
        ours(torch.zeros(1, 33, dtype=torch.long))
    errors.append(info)
    with pytest.raises(ValueError, match="exceeds the context length max_seq_len=32") as info:
        ours.generate(torch.zeros(1, 30, dtype=torch.long), max_new_tokens=3)
    errors.append(info)
    # a transformers directory of an architecture dlzoo does not convert
    bert = transformers.BertConfig(vocab_size=50, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                                   intermediate_size=32)
    transformers.BertModel(bert).save_pretrained(tmp_path / "bert")
    with pytest.raises(PretrainedLoadError, match="unsupported transformers model_type 'bert'") as info:
        dlzoo.from_pretrained(tmp_path / "bert")
    errors.append(info)
    # a GPT-2 variant dlzoo's GPT does not implement
    _hf(scale_attn_by_inverse_layer_idx=True).save_pretrained(tmp_path / "scaled")
    with pytest.raises(PretrainedLoadError, match="scale_attn_by_inverse_layer_idx=True is not") as info:
        dlzoo.from_pretrained(tmp_path / "scaled")
    errors.append(info)
    # and a checkpoint with a head dlzoo's GPT has not (sequence classification)
    transformers.GPT2ForSequenceClassification(_config(num_labels=3)).save_pretrained(tmp_path / "cls")
    with pytest.raises(PretrainedLoadError, match="unexpected weight 'score.weight'") as info:
        dlzoo.from_pretrained(tmp_path / "cls")
    errors.append(info)
    assert all("\n" not in str(e.value) for e in errors)
