"""transformers LlamaForCausalLM (random weights, saved offline) <-> dlzoo LLaMA: equal logits, gradients,
greedy generation; dlzoo -> save_pretrained(format="hf") -> transformers; Meta's interleaved layout."""

from __future__ import annotations

import json

import pytest
import torch

import dlzoo
from dlzoo.hub import PretrainedLoadError
from dlzoo.models.language.llama._convert_hf import (
    convert_meta_state_dict,
    permute_meta_qk,
    unpermute_meta_qk,
)
from dlzoo.nn.rotary import RotaryEmbedding, apply_rotary_pos_emb

transformers = pytest.importorskip("transformers")

LLAMA3 = {
    "rope_type": "llama3",
    "rope_theta": 500000.0,
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 8,
}


def _config(**kw):
    base = dict(
        vocab_size=97,
        hidden_size=32,
        intermediate_size=56,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=48,
        rms_norm_eps=1e-5,
        bos_token_id=None,
        eos_token_id=None,
        pad_token_id=None,
    )
    return transformers.LlamaConfig(**{**base, **kw})


def _random_hf(**kw):
    hf = transformers.LlamaForCausalLM(_config(**kw))
    with torch.no_grad():  # every tensor random: norm weights of ones would hide mapping mistakes
        for p in hf.parameters():
            p.copy_(torch.randn_like(p) * 0.3)
    return hf.eval()


CONFIGS = {
    "gqa-untied": {},
    "gqa-tied-llama3": {"tie_word_embeddings": True, "rope_parameters": LLAMA3},
    "mha-linear": {
        "num_key_value_heads": 4,
        "rope_parameters": {"rope_type": "linear", "rope_theta": 1000.0, "factor": 2.0},
    },
    "mqa-head_dim-bias": {"num_key_value_heads": 1, "head_dim": 12, "attention_bias": True, "mlp_bias": True},
}


@pytest.fixture(params=list(CONFIGS), scope="module")
def pair(request, tmp_path_factory):
    """(HF model, dlzoo model loaded from the HF directory, directory)."""
    torch.manual_seed(0)
    hf = _random_hf(**CONFIGS[request.param])
    path = tmp_path_factory.mktemp(request.param)
    hf.save_pretrained(path)
    return hf, dlzoo.from_pretrained(path), path


def test_logits_equal_float32_and_reference_mode(pair, tmp_path):
    hf, ours, _ = pair
    assert not ours.training and ours.tie_word_embeddings == hf.config.tie_word_embeddings
    if hf.config.tie_word_embeddings:
        assert ours.lm_head.weight is ours.embed_tokens.weight
    ids = torch.randint(0, 97, (3, 40))  # longer than llama3's original 8 positions: the scaled band matters
    with torch.no_grad():
        expected = hf(ids).logits
        torch.testing.assert_close(ours(ids), expected, rtol=1e-4, atol=1e-4)
        with dlzoo.reference_mode():
            torch.testing.assert_close(ours(ids), expected, rtol=1e-4, atol=1e-4)
    dlzoo.save_pretrained(ours, tmp_path)  # the converted model as a dlzoo directory (rope config as kwargs)
    with torch.no_grad():
        torch.testing.assert_close(dlzoo.from_pretrained(tmp_path)(ids), ours(ids), rtol=0, atol=0)


def _float64_pair(hf, ours):
    """Both models in float64. transformers computes RMSNorm and cos/sin in float32 even in a float64 model
    (``hidden_states.to(torch.float32)``, ``inv_freq.float() @ positions.float()``): its norms become
    ``torch.nn.RMSNorm`` with the same weights, and ours takes its rotary table (the frequencies are compared
    here, the whole rotary rule in the float32 tests)."""
    hf64 = transformers.LlamaForCausalLM(hf.config).double()
    hf64.load_state_dict(hf.state_dict())
    for parent in list(
        hf64.modules()
    ):  # LlamaRMSNorm computes in float32 whatever the input: torch's instead
        for child_name, child in parent.named_children():
            if type(child).__name__ == "LlamaRMSNorm":
                norm = torch.nn.RMSNorm(child.weight.shape, eps=child.variance_epsilon, dtype=torch.float64)
                norm.weight.data.copy_(child.weight.data)
                setattr(parent, child_name, norm)
    ours64 = dlzoo.create_model(ours.dlzoo_config["name"], **ours.dlzoo_config["kwargs"])
    ours64.load_state_dict(ours.state_dict())
    ours64.double()
    rot = ours64.rotary_emb
    inv = rot._inv_freq(rot.max_position_embeddings)  # float64, our scaling rule
    torch.testing.assert_close(hf64.model.rotary_emb.inv_freq.double(), inv, rtol=1e-6, atol=0)
    positions = torch.arange(rot.max_position_embeddings)[None]
    with torch.no_grad():
        cos, sin = hf64.model.rotary_emb(torch.zeros(1, dtype=torch.float64), positions)
    rot.cos_cached, rot.sin_cached = cos[0], sin[0]
    return hf64, ours64


def test_logits_and_gradients_equal_float64(pair):
    hf, ours, _ = pair
    hf64, ours64 = _float64_pair(hf, ours)
    hf64.train()
    ours64.train()
    ids = torch.randint(0, 97, (2, 33))
    out_hf = hf64(ids).logits
    out = ours64(ids)
    torch.testing.assert_close(out, out_hf, rtol=1e-10, atol=1e-10)
    target = torch.randn_like(out)
    ((out_hf - target) ** 2).mean().backward()
    ((out - target) ** 2).mean().backward()
    hf_params = dict(hf64.named_parameters())
    for name, p in ours64.named_parameters():
        ref = hf_params[name if name == "lm_head.weight" and name in hf_params else f"model.{name}"]
        torch.testing.assert_close(p.grad, ref.grad, rtol=1e-8, atol=1e-10, msg=name)


def test_kv_cached_forward_equals_full_and_hf(pair):
    hf, ours, _ = pair
    ids = torch.randint(0, 97, (2, 20))
    with torch.no_grad():
        full = hf(ids).logits
        caches = ours.new_kv_caches(2, 20)
        steps = [ours(ids[:, :7], kv_caches=caches)] + [
            ours(ids[:, t : t + 1], kv_caches=caches) for t in range(7, 20)
        ]
        torch.testing.assert_close(torch.cat(steps, 1), full, rtol=1e-4, atol=1e-4)


def test_greedy_generate_identical_to_hf(pair):
    hf, ours, _ = pair
    ids = torch.randint(0, 97, (2, 5))
    with torch.no_grad():
        expected = hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=8, do_sample=False)
    got = ours.generate(ids, max_new_tokens=8)
    assert torch.equal(got, expected)
    assert torch.equal(ours.generate(ids, max_new_tokens=8, use_cache=False), expected)


def test_save_pretrained_hf_loads_back_into_transformers(pair, tmp_path):
    hf, ours, _ = pair
    dlzoo.save_pretrained(ours, tmp_path, format="hf")
    back = transformers.LlamaForCausalLM.from_pretrained(tmp_path).eval()
    assert back.config.tie_word_embeddings == hf.config.tie_word_embeddings
    assert back.config.num_key_value_heads == hf.config.num_key_value_heads
    ids = torch.randint(0, 97, (2, 30))
    with torch.no_grad():
        torch.testing.assert_close(back(ids).logits, hf(ids).logits, rtol=1e-5, atol=1e-5)
    # and the exported directory round-trips into dlzoo
    again = dlzoo.from_pretrained(tmp_path)
    with torch.no_grad():
        torch.testing.assert_close(again(ids), ours(ids), rtol=0, atol=0)


def test_transformers4_rope_keys_and_dynamic_ntk(tmp_path):
    """4.x configs carry ``rope_theta`` + ``rope_scaling`` (``type``); dynamic NTK works past the trained
    length."""
    hf = _random_hf(rope_parameters={"rope_type": "dynamic", "rope_theta": 5000.0, "factor": 2.0})
    hf.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    rope = cfg.pop("rope_parameters")
    cfg["rope_theta"] = rope["rope_theta"]
    cfg["rope_scaling"] = {"type": "dynamic", "factor": 2.0}
    (tmp_path / "config.json").write_text(json.dumps(cfg))
    ours = dlzoo.from_pretrained(tmp_path)
    assert ours.rotary_emb.base == 5000.0 and ours.rotary_emb.rope_type == "dynamic"
    ids = torch.randint(0, 97, (2, 70))  # 70 > max_position_embeddings 48: the base is rescaled
    with torch.no_grad():
        torch.testing.assert_close(ours(ids), hf(ids).logits, rtol=1e-4, atol=1e-4)


def test_unsupported_configs_are_one_line_errors(tmp_path):
    hf = _random_hf()
    hf.save_pretrained(tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    cases = {
        "hidden_act": {**cfg, "hidden_act": "gelu"},
        "rope_type 'yarn'": {
            **cfg,
            "rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4, "factor": 4.0},
        },
        "partial_rotary_factor": {
            **cfg,
            "rope_parameters": {**cfg["rope_parameters"], "partial_rotary_factor": 0.5},
        },
        "only LlamaForCausalLM": {**cfg, "architectures": ["LlamaForSequenceClassification"]},
        "unsupported transformers model_type 'mistral'": {**cfg, "model_type": "mistral"},
    }
    for expected, config in cases.items():
        (tmp_path / "config.json").write_text(json.dumps(config))
        with pytest.raises(PretrainedLoadError, match=expected) as err:
            dlzoo.from_pretrained(tmp_path)
        assert "\n" not in str(err.value)


def test_export_refuses_what_transformers_cannot_express(tmp_path):
    small = dict(vocab_size=16, num_layers=1, embed_dim=16, num_heads=2, intermediate_dim=8, max_seq_len=8)
    with pytest.raises(ValueError, match="RMSNorm everywhere"):
        dlzoo.save_pretrained(
            dlzoo.create_model("llama_tiny", norm_layer="dyt", **small), tmp_path, format="hf"
        )
    with pytest.raises(ValueError, match="embedding scalar"):
        dlzoo.save_pretrained(
            dlzoo.create_model("llama_tiny", embed_scale=True, **small), tmp_path, format="hf"
        )


# ----------------------------------------------------------------------------- Meta's interleaved layout


def test_meta_interleaved_weights_equal_rotate_half_on_permuted_weights():
    """Meta rotates adjacent pairs of x W^T; HF/dlzoo rotate halves of x W'^T with W' = permute(W): the same
    attention scores, and the same rotated features up to that permutation."""
    torch.manual_seed(0)
    H, Hk, hd, C, T = 4, 2, 8, 16, 7
    wq, wk = torch.randn(H * hd, C, dtype=torch.float64), torch.randn(Hk * hd, C, dtype=torch.float64)
    x = torch.randn(2, T, C, dtype=torch.float64)
    pos = torch.arange(T)

    def heads(y, n):
        return y.view(2, T, n, hd).transpose(1, 2)  # (B, n, T, hd)

    previous = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)  # cos/sin tables in float64
    try:
        cos_m, sin_m = RotaryEmbedding(hd, 16, interleaved=True)(x, pos)
        cos_h, sin_h = RotaryEmbedding(hd, 16)(x, pos)
    finally:
        torch.set_default_dtype(previous)
    q_m, k_m = apply_rotary_pos_emb(heads(x @ wq.T, H), heads(x @ wk.T, Hk), cos_m, sin_m, interleaved=True)
    q_h, k_h = apply_rotary_pos_emb(
        heads(x @ permute_meta_qk(wq, H).T, H), heads(x @ permute_meta_qk(wk, Hk).T, Hk), cos_h, sin_h
    )
    order = torch.cat([torch.arange(0, hd, 2), torch.arange(1, hd, 2)])  # Meta feature of each HF feature
    torch.testing.assert_close(q_h, q_m[..., order], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(k_h, k_m[..., order], rtol=1e-12, atol=1e-12)
    g = H // Hk
    scores_m = q_m @ k_m.repeat_interleave(g, dim=1).transpose(-1, -2)
    scores_h = q_h @ k_h.repeat_interleave(g, dim=1).transpose(-1, -2)
    torch.testing.assert_close(scores_h, scores_m, rtol=1e-12, atol=1e-12)
    # the permuted weights differ from the originals (the test would catch an identity permutation)
    assert not torch.equal(permute_meta_qk(wq, H), wq)
    assert torch.equal(unpermute_meta_qk(permute_meta_qk(wq, H), H), wq)


def test_convert_meta_state_dict_matches_transformers_conversion():
    """A dlzoo model's weights written in Meta's layout convert back to the same model (GQA)."""
    model = dlzoo.create_model(
        "llama_tiny",
        vocab_size=32,
        num_layers=2,
        embed_dim=32,
        num_heads=4,
        num_kv_heads=2,
        intermediate_dim=24,
        max_seq_len=16,
        tie_word_embeddings=False,
    )
    sd = model.state_dict()
    meta = {
        "tok_embeddings.weight": sd["embed_tokens.weight"],
        "norm.weight": sd["norm.weight"],
        "output.weight": sd["lm_head.weight"],
        "rope.freqs": torch.zeros(4),
    }
    names = {
        "attention.wv": "self_attn.v_proj",
        "attention.wo": "self_attn.o_proj",
        "feed_forward.w1": "mlp.gate_proj",
        "feed_forward.w2": "mlp.down_proj",
        "feed_forward.w3": "mlp.up_proj",
        "attention_norm": "input_layernorm",
        "ffn_norm": "post_attention_layernorm",
    }
    for i in range(2):
        for m, o in names.items():
            meta[f"layers.{i}.{m}.weight"] = sd[f"layers.{i}.{o}.weight"]
        meta[f"layers.{i}.attention.wq.weight"] = unpermute_meta_qk(
            sd[f"layers.{i}.self_attn.q_proj.weight"], 4
        )
        meta[f"layers.{i}.attention.wk.weight"] = unpermute_meta_qk(
            sd[f"layers.{i}.self_attn.k_proj.weight"], 2
        )
    converted = convert_meta_state_dict(meta, num_heads=4, num_kv_heads=2)
    assert sorted(converted) == sorted(sd)
    for k, v in sd.items():
        assert torch.equal(converted[k], v), k
    with pytest.raises(ValueError, match="unexpected key"):
        convert_meta_state_dict({"layers.0.attention.wz.weight": torch.zeros(1)}, 4)
