"""Registered GPT models: only the numbers of each configuration (``_component_builders.gpt`` builds them).

Counts follow ``V d + P d + L (12 d^2 + 13 d) + 2 d`` (tied head) and equal transformers' ``GPT2LMHeadModel``
for the GPT-2 sizes (tested on the meta device against transformers' own model).
"""

from __future__ import annotations

from typing import Any

from ... import register_model
from ._component_builders import gpt
from .model import GPT

__all__ = ["gpt2", "gpt2_medium", "gpt2_large", "gpt2_xl", "gpt3_small", "gpt_tiny"]

_GPT2_PAPER = dict(family="gpt2", paper="Language Models are Unsupervised Multitask Learners", year=2019,
                   arxiv="OpenAI 2019", task="causal-lm", test_input_size=(8,),
                   test_kwargs={"vocab_size": 97, "max_seq_len": 16, "embed_dim": 32, "num_layers": 2,
                                "num_heads": 4})
_HF_COUNT = "transformers GPT2Config (tied head), REFERENCES.md"
# GPT2Config's defaults: dropouts 0.1, LayerNorm eps 1e-5, gelu_new, initializer_range 0.02
_GPT2 = dict(vocab_size=50257, max_seq_len=1024, embd_dropout=0.1, attn_dropout=0.1, resid_dropout=0.1)


def _build(numbers: dict[str, Any], overrides: dict[str, Any]) -> GPT:
    return gpt(**{**numbers, **overrides})


@register_model(input_size=(1024,), reference_params=124_439_808, source=_HF_COUNT, **_GPT2_PAPER)
def gpt2(**kwargs: Any) -> GPT:
    """GPT-2 small (124M): d 768, 12 layers, 12 heads."""
    return _build(dict(_GPT2, embed_dim=768, num_layers=12, num_heads=12), kwargs)


@register_model(input_size=(1024,), reference_params=354_823_168, source=_HF_COUNT, **_GPT2_PAPER)
def gpt2_medium(**kwargs: Any) -> GPT:
    """GPT-2 medium (355M): d 1024, 24 layers, 16 heads."""
    return _build(dict(_GPT2, embed_dim=1024, num_layers=24, num_heads=16), kwargs)


@register_model(input_size=(1024,), reference_params=774_030_080, source="transformers GPT2Config "
                "(n_embd 1280, n_layer 36, n_head 20)", **_GPT2_PAPER)
def gpt2_large(**kwargs: Any) -> GPT:
    """GPT-2 large (774M): d 1280, 36 layers, 20 heads."""
    return _build(dict(_GPT2, embed_dim=1280, num_layers=36, num_heads=20), kwargs)


@register_model(input_size=(1024,), reference_params=1_557_611_200, source="transformers GPT2Config "
                "(n_embd 1600, n_layer 48, n_head 25)", **_GPT2_PAPER)
def gpt2_xl(**kwargs: Any) -> GPT:
    """GPT-2 XL (1.5B): d 1600, 48 layers, 25 heads."""
    return _build(dict(_GPT2, embed_dim=1600, num_layers=48, num_heads=25), kwargs)


@register_model(family="gpt2", paper="Language Models are Few-Shot Learners", year=2020, arxiv="2005.14165",
                input_size=(2048,), reference_params=125_226_240, task="causal-lm",
                source="GPT-3 paper Table 2.1 (Small: d 768, 12 layers, 12 heads, context 2048), "
                "REFERENCES.md",
                test_input_size=(12,),
                test_kwargs={"vocab_size": 97, "max_seq_len": 16, "embed_dim": 32, "num_layers": 2,
                             "num_heads": 4, "sliding_window": 4})
def gpt3_small(**kwargs: Any) -> GPT:
    """GPT-3 Small (125M): GPT-2 small's shape with a 2048 context and alternating dense / locally banded
    attention layers. The paper does not give the band width; 256 is our choice (an eighth of the
    context)."""
    return _build(dict(vocab_size=50257, max_seq_len=2048, embed_dim=768, num_layers=12, num_heads=12,
                       sliding_window=256), kwargs)


@register_model(family="gpt2", paper="Language Models are Unsupervised Multitask Learners", year=2019,
                arxiv="OpenAI 2019", input_size=(256,), reference_params=891_648, task="causal-lm",
                source="V d + P d + L (12 d^2 + 13 d) + 2 d with V 512, P 256, d 128, L 4",
                test_input_size=(8,), test_kwargs={"max_seq_len": 16})
def gpt_tiny(**kwargs: Any) -> GPT:
    """A GPT-2-shaped model that trains on a laptop CPU in minutes: d 128, 4 layers, 4 heads, context 256,
    vocabulary 512 (set ``vocab_size`` to the tokenizer's)."""
    return _build(dict(vocab_size=512, max_seq_len=256, embed_dim=128, num_layers=4, num_heads=4), kwargs)
