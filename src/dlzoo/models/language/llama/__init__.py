"""LLaMA 1/2/3 (and TinyLlama, LLaMA-DyT), built the torchtune way, with Hugging Face interop.

* :mod:`.model` -- ``LlamaForCausalLM``, ``LlamaDecoderLayer``, ``LlamaMLP`` (modules that take their parts).
* :mod:`._component_builders` -- :func:`llama` (numbers -> modules), the LLaMA-DyT norms.
* :mod:`._model_builders` -- registered names (only numbers): llama1_7b, llama2_7b, llama2_13b, llama3_8b,
  tinyllama_1_1b, llama_tiny.
* :mod:`._convert_hf` -- transformers ``LlamaForCausalLM`` directories in and out; Meta's checkpoint layout.
"""

from ._component_builders import llama
from ._model_builders import llama1_7b, llama2_7b, llama2_13b, llama3_8b, llama_tiny, tinyllama_1_1b
from .model import LlamaDecoderLayer, LlamaForCausalLM, LlamaMLP

__all__ = [
    "llama",
    "llama1_7b",
    "llama2_7b",
    "llama2_13b",
    "llama3_8b",
    "tinyllama_1_1b",
    "llama_tiny",
    "LlamaForCausalLM",
    "LlamaDecoderLayer",
    "LlamaMLP",
]
