"""Train a tiny GPT for a few steps on the embedded corpus and print a sample.

The corpus is the Python reference documentation that ships with CPython (``dlzoo.data.text``, "pydoc":
no download), byte-level tokens (``ByteTokenizer``: 256 bytes + end-of-text), packed into next-token blocks
(``LMBlockDataset``: y is x shifted left by one). The model is ``gpt_tiny`` (GPT-2 shaped, Radford et al.
2019) trained with AdamW on the next-token cross entropy; the validation loss is measured before and after.
The full recipe (BPE, schedule, checkpoints) is ``dlzoo train configs/gpt_tiny_pydoc.yaml``.

    python examples/train_tiny_gpt.py                   # 40 steps, a few seconds per 10 steps on a CPU
    python examples/train_tiny_gpt.py --steps 300 --prompt "The with statement"
"""

from __future__ import annotations

import argparse

import torch
import torch.nn.functional as F

import dlzoo
from dlzoo.data.text import LMBlockDataset, encode_documents, load_corpus
from dlzoo.data.tokenizer import ByteTokenizer


@torch.no_grad()
def mean_loss(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    logits = model(x)  # (B, T, V)
    return F.cross_entropy(logits.flatten(0, 1), y.flatten()).item()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--block-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--prompt", default="The for statement")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    torch.manual_seed(args.seed)

    corpus = load_corpus("pydoc", val_fraction=0.1, test_fraction=0.1, split_seed=0)
    tok = ByteTokenizer()
    train = LMBlockDataset(encode_documents(tok, corpus.train), block_size=args.block_size)
    val = LMBlockDataset(encode_documents(tok, corpus.val), block_size=args.block_size)
    val_x, val_y = val[:64]  # (64, T) each
    print(f"pydoc: {len(corpus.train)} train / {len(corpus.val)} val documents, {len(train)} train blocks "
          f"of {args.block_size} byte tokens")

    model = dlzoo.create_model("gpt_tiny", vocab_size=tok.vocab_size, max_seq_len=128, num_layers=2)
    params = sum(q.numel() for q in model.parameters())
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.1)
    start = mean_loss(model, val_x, val_y)
    print(f"gpt_tiny (2 layers): {params:,} parameters; val loss {start:.3f} before training "
          f"(uniform guess: ln {tok.vocab_size} = {torch.tensor(float(tok.vocab_size)).log().item():.3f})")

    for step in range(1, args.steps + 1):
        model.train()
        idx = torch.randint(0, len(train), (args.batch_size,))
        x, y = train[idx]  # (B, T) each
        loss = F.cross_entropy(model(x).flatten(0, 1), y.flatten())  # next-token cross entropy
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        if step % 10 == 0 or step == args.steps:
            print(f"step {step:4d}  train loss {loss.item():.3f}")

    end = mean_loss(model, val_x, val_y)
    print(f"val loss {start:.3f} -> {end:.3f}")
    prompt = torch.tensor([tok.encode(args.prompt)])  # (1, T)
    model.eval()
    out = model.generate(prompt, max_new_tokens=48, do_sample=True, temperature=0.8, top_k=40,
                         generator=torch.Generator().manual_seed(args.seed))
    print("sample:", repr(tok.decode(out[0].tolist())))
    return 0 if end < start else 1


if __name__ == "__main__":
    raise SystemExit(main())
