"""LLaMA model builders: only numbers (torchtune's ``_model_builders``); every one accepts keyword overrides
of :func:`~._component_builders.llama` (``norm_layer="dyt"``, ``vocab_size``, ``num_layers``, ...).

Counts (parameters, untied unless noted) follow ``2 V d + L (2 d^2 + 2 d kv hd + 3 d F + 2 d) + d`` and equal
the published Hugging Face checkpoints (REFERENCES.md, "Language models").
"""

from __future__ import annotations

from typing import Any

from ... import register_model
from ._component_builders import llama
from .model import LlamaForCausalLM

__all__ = ["llama1_7b", "llama2_7b", "llama2_13b", "llama3_8b", "tinyllama_1_1b", "llama_tiny"]

_LLAMA1 = dict(paper="LLaMA: Open and Efficient Foundation Language Models", year=2023, arxiv="2302.13971")
_LLAMA2 = dict(paper="Llama 2: Open Foundation and Fine-Tuned Chat Models", year=2023, arxiv="2307.09288")
_LLAMA3 = dict(paper="The Llama 3 Herd of Models", year=2024, arxiv="2407.21783")
_TINY = dict(paper="TinyLlama: An Open-Source Small Language Model", year=2024, arxiv="2401.02385")
_TEST = dict(
    task="causal-lm",
    family="llama",
    test_input_size=(8,),
    test_kwargs={
        "vocab_size": 64,
        "num_layers": 2,
        "embed_dim": 32,
        "num_heads": 4,
        "num_kv_heads": 2,
        "intermediate_dim": 48,
        "max_seq_len": 32,
    },
)

_LLAMA_7B: dict[str, Any] = dict(
    vocab_size=32_000, num_layers=32, num_heads=32, num_kv_heads=32, embed_dim=4096, intermediate_dim=11_008
)


def _build(numbers: dict[str, Any], overrides: dict[str, Any]) -> LlamaForCausalLM:
    return llama(**{**numbers, **overrides})


@register_model(
    input_size=(2048,),
    reference_params=6_738_415_616,
    source="LLaMA paper Table 2 (7B: d 4096, 32 layers, 32 heads); HF huggyllama/llama-7b",
    **_LLAMA1,
    **_TEST,
)
def llama1_7b(**overrides: Any) -> LlamaForCausalLM:
    """LLaMA-1 7B: context 2048, RMSNorm eps 1e-6."""
    return _build({**_LLAMA_7B, "max_seq_len": 2048, "norm_eps": 1e-6}, overrides)


@register_model(
    input_size=(4096,),
    reference_params=6_738_415_616,
    source="HF meta-llama/Llama-2-7b-hf (6,738,415,616 parameters)",
    **_LLAMA2,
    **_TEST,
)
def llama2_7b(**overrides: Any) -> LlamaForCausalLM:
    """LLaMA-2 7B: as LLaMA-1 7B with context 4096, RMSNorm eps 1e-5."""
    return _build({**_LLAMA_7B, "max_seq_len": 4096, "norm_eps": 1e-5}, overrides)


@register_model(
    input_size=(4096,),
    reference_params=13_015_864_320,
    source="HF meta-llama/Llama-2-13b-hf (d 5120, 40 layers, 40 heads, FFN 13824): 13,015,864,320",
    **_LLAMA2,
    **_TEST,
)
def llama2_13b(**overrides: Any) -> LlamaForCausalLM:
    """LLaMA-2 13B."""
    return _build(
        dict(
            vocab_size=32_000,
            num_layers=40,
            num_heads=40,
            num_kv_heads=40,
            embed_dim=5120,
            intermediate_dim=13_824,
            max_seq_len=4096,
            norm_eps=1e-5,
        ),
        overrides,
    )


@register_model(
    input_size=(8192,),
    reference_params=8_030_261_248,
    source="HF meta-llama/Meta-Llama-3-8B (8,030,261,248 parameters)",
    **_LLAMA3,
    **_TEST,
)
def llama3_8b(**overrides: Any) -> LlamaForCausalLM:
    """LLaMA-3 8B: vocab 128256, 8 KV heads, FFN 14336, RoPE theta 500000, context 8192."""
    return _build(
        dict(
            vocab_size=128_256,
            num_layers=32,
            num_heads=32,
            num_kv_heads=8,
            embed_dim=4096,
            intermediate_dim=14_336,
            max_seq_len=8192,
            rope_base=500_000.0,
            norm_eps=1e-5,
        ),
        overrides,
    )


@register_model(
    input_size=(2048,),
    reference_params=1_100_048_384,
    source="HF TinyLlama/TinyLlama-1.1B-intermediate-step-1431k-3T (1,100,048,384 parameters)",
    **_TINY,
    **_TEST,
)
def tinyllama_1_1b(**overrides: Any) -> LlamaForCausalLM:
    """TinyLlama 1.1B: d 2048, 22 layers, 32 heads, 4 KV heads, FFN 5632."""
    return _build(
        dict(
            vocab_size=32_000,
            num_layers=22,
            num_heads=32,
            num_kv_heads=4,
            embed_dim=2048,
            intermediate_dim=5632,
            max_seq_len=2048,
            norm_eps=1e-5,
        ),
        overrides,
    )


@register_model(
    input_size=(256,),
    reference_params=3_950_848,
    source="2 V d + L (2 d^2 + 2 d kv hd + 3 d F + 2 d) + d - V d (tied) with V 4096, d 256, L 4, "
    "kv hd 128, F 688",
    **_LLAMA2,
    **_TEST,
)
def llama_tiny(**overrides: Any) -> LlamaForCausalLM:
    """A LLaMA that trains on a CPU in minutes: d 256, 4 layers, 4 query / 2 KV heads (head_dim 64),
    SwiGLU FFN 688 (~8/3 d), vocab 4096, context 256, tied embeddings."""
    return _build(
        dict(
            vocab_size=4096,
            num_layers=4,
            num_heads=4,
            num_kv_heads=2,
            embed_dim=256,
            intermediate_dim=688,
            max_seq_len=256,
            norm_eps=1e-5,
            tie_word_embeddings=True,
        ),
        overrides,
    )
