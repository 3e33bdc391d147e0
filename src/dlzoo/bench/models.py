"""``dlzoo bench models``: training and inference samples/s of dlzoo models against HF transformers.

For each architecture (ResNet-50, ViT-S/16, ConvNeXt-T) a randomly initialised transformers model is
built, saved, and loaded into dlzoo with :func:`dlzoo.from_pretrained`, so both run the same weights and the
same math; the outputs are checked to agree before timing. Inference (eval, no_grad forward) and training
(train-mode forward + cross-entropy + backward) are timed eagerly and under ``torch.compile``, with
medians of interleaved repeats (:func:`dlzoo.bench.timing.time_interleaved`), and reported as samples/s and
the ratio ours / reference measured in the same run. Results go to ``models.json`` and
``models.md``. transformers is imported only here, inside the benchmark.

    dlzoo bench models [--quick] [--no-compile] [--models resnet50,convnext_tiny] [--batch-size 8]
                       [--img-size 224] [--channels-last] [--threads N] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .timing import time_interleaved

__all__ = ["main", "ARCHS"]

# dlzoo name -> (transformers model class, config class, config kwargs at 224x224)
ARCHS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "resnet50": ("ResNetForImageClassification", "ResNetConfig",
                 dict(layer_type="bottleneck", depths=[3, 4, 6, 3], hidden_sizes=[256, 512, 1024, 2048],
                      embedding_size=64)),
    "vit_small_patch16_224": ("ViTForImageClassification", "ViTConfig",
                              dict(hidden_size=384, num_hidden_layers=12, num_attention_heads=6,
                                   intermediate_size=1536, patch_size=16, qkv_bias=True,
                                   layer_norm_eps=1e-6)),
    "convnext_tiny": ("ConvNextForImageClassification", "ConvNextConfig",
                      dict(depths=[3, 3, 9, 3], hidden_sizes=[96, 192, 384, 768])),
}


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench models", description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(ARCHS), help="comma-separated subset of " + ", ".join(ARCHS))
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--img-size", type=int, default=224)
    p.add_argument("--quick", action="store_true", help="few repeats and 64x64 inputs (a smoke run)")
    p.add_argument("--no-compile", action="store_true", help="eager only (compiling is slow on CPU)")
    p.add_argument("--channels-last", action="store_true", help="channels_last memory format for both sides")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7, quick 2)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
    add_output_args(p, "models.json / models.md")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError("usage: dlzoo bench models [--quick] [--no-compile] [--models a,b] [--batch-size N] "
                         "[--img-size N] [--channels-last] [--rounds N] [--threads N] [--out DIR]") from None
    unknown = [m for m in args.models.split(",") if m not in ARCHS]
    if unknown:
        raise UsageError(f"dlzoo bench models: unknown model(s) {unknown}; choose from {list(ARCHS)}")
    if args.quick:
        args.img_size = 64 if args.img_size == 224 else args.img_size
    if args.rounds is None:
        args.rounds = 2 if args.quick else 7
    return args


def _pair(name: str, img_size: int, tmp: Path) -> tuple[nn.Module, nn.Module]:
    """(ours, reference): a random transformers model and the same weights loaded into dlzoo."""
    import transformers

    import dlzoo

    model_cls, cfg_cls, cfg_kw = ARCHS[name]
    cfg = getattr(transformers, cfg_cls)(num_labels=1000, image_size=img_size, **cfg_kw)
    ref = getattr(transformers, model_cls)(cfg)
    directory = tmp / name
    ref.save_pretrained(directory)
    ours = dlzoo.from_pretrained(directory)
    return ours, ref


def _logits(model: nn.Module, x: torch.Tensor) -> torch.Tensor:
    out = model(x)
    return out.logits if hasattr(out, "logits") else out


def _step_fns(model: nn.Module, x: torch.Tensor, y: torch.Tensor, compiled: bool) -> dict[str, Callable]:
    fwd = torch.compile(model) if compiled else model

    def infer() -> None:
        model.eval()
        with torch.no_grad():
            _logits(fwd, x)

    def train() -> None:
        model.train()
        loss = nn.functional.cross_entropy(_logits(fwd, x), y)
        loss.backward()
        for p in model.parameters():
            p.grad = None

    return {"inference": infer, "training": train}


def _bench_model(name: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    ours, ref = _pair(name, args.img_size, tmp)
    x = torch.randn(args.batch_size, 3, args.img_size, args.img_size)
    y = torch.randint(0, 1000, (args.batch_size,))
    if args.channels_last:
        ours, ref = ours.to(memory_format=torch.channels_last), ref.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    ours.eval(), ref.eval()
    with torch.no_grad():
        max_diff = (_logits(ours, x) - _logits(ref, x)).abs().max().item()
    if max_diff > 1e-3:
        raise RuntimeError(f"{name}: dlzoo and transformers logits differ by {max_diff:.2e}; not comparable")
    rows = []
    for compiled in ([False] if args.no_compile else [False, True]):
        fns_ours = _step_fns(ours, x, y, compiled)
        fns_ref = _step_fns(ref, x, y, compiled)
        for mode in ("inference", "training"):
            start = time.perf_counter()
            times = time_interleaved({"ours": fns_ours[mode], "hf": fns_ref[mode]}, rounds=args.rounds,
                                     inner=1, warmup=2 if compiled else 1)
            row = dict(model=name, mode=mode, compiled=compiled, batch_size=args.batch_size,
                       img_size=args.img_size, ours_s=times["ours"], hf_s=times["hf"],
                       ours_samples_s=args.batch_size / times["ours"],
                       hf_samples_s=args.batch_size / times["hf"],
                       ratio=times["hf"] / times["ours"], max_logit_diff=max_diff, rounds=args.rounds,
                       wall_s=time.perf_counter() - start)
            rows.append(row)
            print(f"{name:24s} {mode:9s} {'compiled' if compiled else 'eager':8s} "
                  f"ours {row['ours_samples_s']:8.2f}/s  hf {row['hf_samples_s']:8.2f}/s  "
                  f"ratio {row['ratio']:.3f}", flush=True)
    return rows


def _markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = [
        "# dlzoo vs HF transformers: samples/s (same weights, same math)",
        "",
        f"CPU, {meta['threads']} threads, torch {meta['torch']}, transformers {meta['transformers']}, "
        f"batch {meta['batch_size']}, {meta['img_size']}x{meta['img_size']}, "
        f"{'channels_last' if meta['channels_last'] else 'contiguous NCHW'}; medians of {meta['rounds']} "
        "interleaved rounds. ratio = ours / HF samples/s (>= 1 means dlzoo is at least as fast). "
        f"Load average at the start: {meta.get('loadavg', 'n/a')}. On a shared, loaded machine the ratio "
        "of two models with identical op sequences can move by tens of percent between runs: read single "
        "ratios as noisy, and rerun on an idle machine (more --rounds) for a decision.",
        "",
        "| model | mode | compiled | dlzoo samples/s | HF samples/s | ratio |",
        "|---|---|---|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r['model']} | {r['mode']} | {'yes' if r['compiled'] else 'no'} | "
                     f"{r['ours_samples_s']:.2f} | {r['hf_samples_s']:.2f} | {r['ratio']:.3f} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    """Run the benchmark; returns 0 (1 if transformers is missing or a model fails)."""
    args = _parse(argv)
    try:
        import transformers
    except ImportError:
        print("dlzoo bench models needs the `transformers` package as the reference implementation "
              "(pip install transformers); it is not installed.")
        return 1
    if dry_run("models", args):
        return 0
    resolve_out(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = dict(torch=torch.__version__, transformers=transformers.__version__,
                threads=torch.get_num_threads(),
                batch_size=args.batch_size, img_size=args.img_size, channels_last=args.channels_last,
                rounds=args.rounds, quick=args.quick, compile=not args.no_compile,
                machine=platform.processor() or platform.machine(),
                loadavg=[round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    names = args.models.split(",")
    rows = _previous_rows(out / "models.json", meta, names)
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                rows.extend(_bench_model(name, args, Path(tmp)))
            except Exception as exc:  # report and go on with the other models
                failed = True
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            _write(out, meta, rows)  # after every model, so a long run that is cut short keeps its rows
    print(f"wrote {out / 'models.json'} and {out / 'models.md'}")
    return 1 if failed else 0


_SETTINGS = ("batch_size", "img_size", "channels_last", "threads", "torch", "transformers")


def _previous_rows(path: Path, meta: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Rows of *other* models from an earlier run with the same settings (so models can be run one at a
    time and end up in one table); rows of the models being re-run are dropped."""
    if not path.is_file():
        return []
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if any(old.get("meta", {}).get(k) != meta[k] for k in _SETTINGS):
        return []
    return [r for r in old.get("results", []) if r.get("model") not in names]


def _write(out: Path, meta: dict[str, Any], rows: list[dict[str, Any]]) -> None:
    (out / "models.json").write_text(json.dumps({"meta": meta, "results": rows}, indent=2))
    (out / "models.md").write_text(_markdown(rows, meta))
