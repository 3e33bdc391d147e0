"""Load a Hugging Face transformers checkpoint into dlzoo and check it computes the same logits.

A small GPT-2 and a small LLaMA are built by ``transformers`` with random weights (no download), written
with ``save_pretrained`` and read back with ``dlzoo.from_pretrained``, which reads config.json and
model.safetensors (transformers is not imported by dlzoo). The two implementations then see the same tokens:

    python examples/load_hf_weights.py              # gpt2 and llama
    python examples/load_hf_weights.py --arch llama
"""

from __future__ import annotations

import argparse
import tempfile

import torch

import dlzoo


def tiny_hf_model(arch: str):
    """A random transformers causal LM small enough to build in a second."""
    import transformers as T

    try:  # transformers' modeling code imports torchvision when it is installed
        T.PreTrainedModel  # noqa: B018
    except (ImportError, RuntimeError) as err:
        raise SystemExit(f"load_hf_weights: transformers' model classes do not import here ({err}); a "
                         "torchvision build that does not match torch is the usual cause (tests/conftest.py "
                         "tolerates it; pip uninstall torchvision or install the matching build)") from err
    if arch == "gpt2":
        config = T.GPT2Config(vocab_size=128, n_positions=64, n_embd=32, n_layer=2, n_head=4,
                              bos_token_id=0, eos_token_id=0)
        return T.GPT2LMHeadModel(config)
    config = T.LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=64)
    return T.LlamaForCausalLM(config)


def compare(arch: str) -> float:
    torch.manual_seed(0)
    hf = tiny_hf_model(arch).eval()
    with tempfile.TemporaryDirectory() as directory:
        hf.save_pretrained(directory)
        ours = dlzoo.from_pretrained(directory)
    ids = torch.randint(0, 128, (2, 16))  # (B, T)
    with torch.no_grad():
        expected = hf(ids).logits  # (B, T, V)
        got = ours(ids)
    diff = (got - expected).abs().max().item()
    print(f"{arch}: transformers {type(hf).__name__} -> dlzoo {type(ours).__name__}, "
          f"logits {tuple(got.shape)}, max |diff| = {diff:.2e}")
    return diff


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--arch", choices=("gpt2", "llama", "both"), default="both")
    args = p.parse_args(argv)
    archs = ("gpt2", "llama") if args.arch == "both" else (args.arch,)
    worst = max(compare(arch) for arch in archs)
    ok = worst < 1e-4
    print("same logits (float32 tolerance 1e-4)" if ok else f"MISMATCH: {worst:.2e}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
