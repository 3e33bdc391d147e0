"""Swap the normalization layers of a model with ``dlzoo.nn.convert_norm``.

The DyT paper (Zhu et al., "Transformers without Normalization", CVPR 2025, arXiv:2503.10622) replaces every
LayerNorm of a transformer with DyT(x) = weight * tanh(alpha * x) + bias. ``convert_norm`` does that for any
registered norm, on any model, in place, and says what it replaced:

    python examples/swap_norms.py                  # vit_tiny_digits: LayerNorm -> DyT
    python examples/swap_norms.py --to rmsnorm --model resnet18 --source batchnorm
"""

from __future__ import annotations

import argparse

import torch

import dlzoo
from dlzoo.nn import convert_norm


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="vit_tiny_digits", help="a registered model (dlzoo models)")
    p.add_argument("--to", default="dyt", help="target norm: dyt, rmsnorm, layernorm, ...")
    p.add_argument("--source", default=None, help="only this kind of norm (default: every norm)")
    args = p.parse_args(argv)

    torch.manual_seed(0)
    model = dlzoo.create_model(args.model).eval()
    card = dlzoo.model_info(args.model)
    x = torch.randn(2, *card.test_input_size or card.input_size)  # (B, C, H, W)
    before = model(x)

    report = convert_norm(model, args.to, source=args.source)
    model = report.module
    print(report)
    after = model(x)
    kinds = sorted({type(m).__name__ for m in model.modules() if type(m).__name__ in {r.target for r in
                                                                                      report.replaced}})
    print(f"{args.model}: output {tuple(after.shape)} (was {tuple(before.shape)}), now uses {kinds}")
    print(f"outputs changed by the swap: max |diff| = {(after - before).abs().max().item():.3f} "
          "(fresh norms: fine-tune or train from scratch)")
    if len(report) == 0:
        print("nothing was replaced")
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
