"""dlzoo GPT: published parameter counts (meta), GPT-2 init, norm swaps, banded attention, KV cache, errors.

Numerical parity with transformers' GPT2LMHeadModel lives in tests/interop/test_hf_gpt2.py.
"""

from __future__ import annotations

import math

import pytest
import torch

import dlzoo
from dlzoo.models.language.gpt2 import GPT, gpt
from dlzoo.nn import DyT, LayerNorm, RMSNorm

SMALL = dict(vocab_size=61, max_seq_len=24, embed_dim=32, num_layers=2, num_heads=4)


def _closed_form(V: int, P: int, d: int, L: int) -> int:
    return V * d + P * d + L * (12 * d * d + 13 * d) + 2 * d  # REFERENCES.md


@pytest.mark.parametrize(
    "name, d, L, H, P",
    [
        ("gpt2", 768, 12, 12, 1024),
        ("gpt2_medium", 1024, 24, 16, 1024),
        ("gpt2_large", 1280, 36, 20, 1024),
        ("gpt2_xl", 1600, 48, 25, 1024),
        ("gpt3_small", 768, 12, 12, 2048),
    ],
)
def test_meta_counts_equal_transformers_and_the_closed_form(name, d, L, H, P):
    with torch.device("meta"):
        model = dlzoo.create_model(name)
    count = sum(p.numel() for p in model.parameters())
    assert all(p.is_meta for p in model.parameters())
    assert count == _closed_form(50257, P, d, L) == dlzoo.model_info(name).reference_params
    assert (model.embed_dim, model.num_layers, model.h[0].attn.num_heads, model.max_seq_len) == (d, L, H, P)
    transformers = pytest.importorskip("transformers")
    with torch.device("meta"):
        hf = transformers.GPT2LMHeadModel(
            transformers.GPT2Config(n_embd=d, n_layer=L, n_head=H, n_positions=P)
        )
    assert count == sum(p.numel() for p in hf.parameters())


def test_reference_counts():
    assert dlzoo.model_info("gpt2").reference_params == 124_439_808
    assert dlzoo.model_info("gpt2_medium").reference_params == 354_823_168
    assert dlzoo.model_info("gpt3_small").reference_params == 125_226_240
    tiny = dlzoo.create_model("gpt_tiny")
    assert sum(p.numel() for p in tiny.parameters()) == _closed_form(512, 256, 128, 4)


def test_gpt2_init_statistics_and_tied_head():
    torch.manual_seed(0)
    model = gpt(vocab_size=512, max_seq_len=256, embed_dim=128, num_layers=8, num_heads=4)
    assert model.lm_head.weight is model.wte.weight
    for tensor, std in (
        (model.wte.weight, 0.02),
        (model.wpe.weight, 0.02),
        (model.h[0].attn.q_proj.weight, 0.02),
        (model.h[3].mlp.fc1.weight, 0.02),
        (model.h[0].attn.o_proj.weight, 0.02 / math.sqrt(16)),
        (model.h[5].mlp.fc2.weight, 0.02 / math.sqrt(16)),
    ):
        assert abs(tensor.std().item() / std - 1) < 0.05, std
        assert abs(tensor.mean().item()) < std / 10
    for block in model.h:
        assert not block.attn.q_proj.bias.any() and not block.mlp.fc2.bias.any()
        assert torch.equal(block.ln_1.weight, torch.ones(128)) and not block.ln_1.bias.any()


@pytest.mark.parametrize("norm, cls", [("layernorm", LayerNorm), ("rmsnorm", RMSNorm), ("dyt", DyT)])
def test_norm_layer_override_swaps_every_norm(norm, cls):
    model = gpt(**SMALL, norm_layer=norm, norm_eps=1e-6)
    norms = [model.ln_f] + [n for b in model.h for n in (b.ln_1, b.ln_2)]
    assert all(type(n) is cls for n in norms)
    if norm != "dyt":
        assert all(n.eps == 1e-6 for n in norms)
    ids = torch.randint(0, 61, (2, 7))
    model(ids).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


def test_dropout_args_reach_their_layers():
    model = gpt(**SMALL, embd_dropout=0.1, attn_dropout=0.2, resid_dropout=0.3)
    assert model.drop.p == 0.1 and model.h[0].attn.dropout == 0.2
    assert model.h[1].resid_drop.p == 0.3 and model.h[1].mlp.drop2.p == 0.3 and model.h[1].mlp.drop1.p == 0.0
    assert gpt(**SMALL, dropout=0.25).h[0].attn.dropout == 0.25
    assert dlzoo.create_model("gpt2", **SMALL).drop.p == 0.1  # GPT2Config's defaults


def test_gpt3_small_alternates_dense_and_banded_layers():
    with torch.device("meta"):
        model = dlzoo.create_model("gpt3_small")
    assert [b.attn.sliding_window for b in model.h] == [None, 256] * 6
    # one banded layer: logits at t depend on tokens t - w < j <= t only
    torch.manual_seed(0)
    model = gpt(**{**SMALL, "num_layers": 1}, sliding_window=4, sliding_window_layers="all").eval()
    ids = torch.randint(0, 61, (1, 12))
    changed = ids.clone()
    changed[0, 2] = (changed[0, 2] + 1) % 61
    with torch.no_grad():
        a, b = model(ids), model(changed)
    same = (a - b).abs().amax(-1)[0] == 0  # (T,)
    assert same[:2].all() and not same[2:6].any() and same[6:].all()


@pytest.mark.parametrize("kw", [{}, {"sliding_window": 3}])
def test_cached_forward_in_chunks_equals_full_forward(kw):
    torch.manual_seed(0)
    model = gpt(**SMALL, **kw).eval()
    ids = torch.randint(0, 61, (2, 11))
    with torch.no_grad():
        full = model(ids)
        caches = model.new_kv_caches(2, 11)
        chunks = [model(ids[:, a:b], kv_caches=caches) for a, b in ((0, 4), (4, 5), (5, 9), (9, 11))]
        with dlzoo.reference_mode():
            reference = model(ids)
    torch.testing.assert_close(torch.cat(chunks, dim=1), full, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(reference, full, atol=1e-5, rtol=1e-5)
    assert caches[0].seq_len == 11
    assert torch.equal(model.generate(ids[:, :5], 6), model.generate(ids[:, :5], 6, use_cache=False))


def test_bad_inputs_are_one_line_errors():
    model = gpt(**SMALL)
    cases = [
        (
            lambda: model(torch.tensor([[0, 61]])),
            ValueError,
            r"GPT: token ids must lie in \[0, vocab_size=61\)",
        ),
        (
            lambda: model(torch.zeros(1, 25, dtype=torch.long)),
            ValueError,
            "exceeds the context length max_seq_len=24",
        ),
        (lambda: model(torch.zeros(1, 3)), TypeError, "integer tensor"),
        (lambda: model(torch.zeros(3, dtype=torch.long)), ValueError, r"\(B, T\)"),
        (
            lambda: model(torch.zeros(1, 3, dtype=torch.long), kv_caches=model.new_kv_caches(1, 4)[:1]),
            ValueError,
            "expected 2 kv_caches",
        ),
        (lambda: model.new_kv_caches(1, 25), ValueError, "exceeds the context length"),
        (
            lambda: model.generate(torch.zeros(1, 20, dtype=torch.long), max_new_tokens=5),
            ValueError,
            r"20 \+ max_new_tokens 5 = 25 exceeds the context length max_seq_len=24",
        ),
        (lambda: gpt(**{**SMALL, "num_heads": 5}), ValueError, "divisible by num_heads"),
        (
            lambda: gpt(**SMALL, sliding_window=4, sliding_window_layers="odd"),
            ValueError,
            "sliding_window_layers",
        ),
    ]
    for fn, error, message in cases:
        with pytest.raises(error, match=message) as info:
            fn()
        assert "\n" not in str(info.value)


def test_hf_export_refuses_what_gpt2_cannot_express(tmp_path):
    for kw, message in (
        ({"sliding_window": 4}, "sliding_window=4"),
        ({"norm_layer": "rmsnorm"}, "LayerNorm"),
    ):
        with pytest.raises(ValueError, match=message):
            dlzoo.save_pretrained(gpt(**SMALL, **kw), tmp_path, format="hf")
    with pytest.raises(ValueError, match="no Hugging Face exporter for LeNet5"):
        dlzoo.save_pretrained(dlzoo.create_model("lenet5"), tmp_path, format="hf")
    with pytest.raises(ValueError, match="format must be 'dlzoo' or 'hf'"):
        dlzoo.save_pretrained(gpt(**SMALL), tmp_path, format="onnx")


def test_module_structure_and_keys():
    model = gpt(**SMALL)
    assert isinstance(model, GPT)
    keys = set(model.state_dict())
    for key in (
        "wte.weight",
        "wpe.weight",
        "h.0.ln_1.weight",
        "h.0.attn.q_proj.bias",
        "h.1.attn.o_proj.weight",
        "h.1.ln_2.bias",
        "h.1.mlp.fc1.weight",
        "h.1.mlp.fc2.bias",
        "ln_f.weight",
        "lm_head.weight",
    ):
        assert key in keys, key
