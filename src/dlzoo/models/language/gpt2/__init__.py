"""GPT-2 / GPT-3-style decoder-only language models (:class:`GPT`), built the torchtune way."""

from ._component_builders import gpt, gpt_attention, gpt_block, gpt_decoder, gpt_mlp
from ._model_builders import gpt2, gpt2_large, gpt2_medium, gpt2_xl, gpt3_small, gpt_tiny
from .model import GPT, GPTBlock

__all__ = ["GPT", "GPTBlock", "gpt", "gpt_attention", "gpt_block", "gpt_decoder", "gpt_mlp", "gpt2",
           "gpt2_medium", "gpt2_large", "gpt2_xl", "gpt3_small", "gpt_tiny"]
