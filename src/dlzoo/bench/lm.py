"""``dlzoo bench lm``: causal-LM training step and KV-cached greedy generation, dlzoo vs HF transformers.

Each entry of :data:`PAIRS` names a transformers causal-LM class and a small configuration (4 layers,
d 256). A randomly initialised transformers model is saved and loaded into dlzoo with
:func:`dlzoo.from_pretrained`, so both sides run the same weights; logits and greedy outputs are checked to
agree before anything is timed. Then, with medians of interleaved repeats
(:func:`dlzoo.bench.timing.time_interleaved`):

* ``train step``: train-mode forward + next-token cross-entropy + backward on ``(batch, seq_len)`` ids
  (dropout 0 on both sides, so both do the same work);
* ``generate``: greedy decoding of ``new_tokens`` tokens after a ``prompt_len`` prompt with the KV cache
  (``model.generate(..., use_cache=True)`` against transformers' ``generate(do_sample=False)``).

The ratio is ours / HF **time** (<= 1 means dlzoo is at least as fast; targets: train step <= 1.05,
generate <= 1.0). Results go to ``lm.json`` and ``lm.md``; rows of pairs not re-run are
kept from an earlier run with the same settings. transformers is imported only here.

    dlzoo bench lm [--quick] [--pairs gpt2,llama] [--batch-size 4] [--seq-len 128] [--prompt-len 16]
                   [--new-tokens 64] [--rounds N] [--threads N] [--out DIR]

Adding a family is one entry of :data:`PAIRS`: ``name -> (transformers class, config class, config kwargs)``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import UsageError
from .output import add_output_args, dry_run, resolve_out
from .report import write_results
from .timing import time_interleaved

__all__ = ["main", "PAIRS"]

VOCAB, CONTEXT = 8192, 512
# name -> (transformers causal-LM class, config class, config kwargs): 4 layers, d 256, no dropout
PAIRS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "gpt2": ("GPT2LMHeadModel", "GPT2Config",
             dict(vocab_size=VOCAB, n_positions=CONTEXT, n_embd=256, n_layer=4, n_head=4, embd_pdrop=0.0,
                  attn_pdrop=0.0, resid_pdrop=0.0, bos_token_id=None, eos_token_id=None)),
    "llama": ("LlamaForCausalLM", "LlamaConfig",
              dict(vocab_size=VOCAB, max_position_embeddings=CONTEXT, hidden_size=256, intermediate_size=688,
                   num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=2, attention_dropout=0.0,
                   bos_token_id=None, eos_token_id=None, pad_token_id=None)),
}

_SETTINGS = ("batch_size", "seq_len", "prompt_len", "new_tokens", "threads", "torch", "transformers")
_USAGE = ("usage: dlzoo bench lm [--quick] [--pairs a,b] [--batch-size N] [--seq-len N] [--prompt-len N] "
          "[--new-tokens N] [--rounds N] [--threads N] [--out DIR]")


def _parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="dlzoo bench lm", description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", default=",".join(PAIRS), help="comma-separated subset of " + ", ".join(PAIRS))
    p.add_argument("--batch-size", type=int, default=4, help="training batch (generation runs batch 1)")
    p.add_argument("--seq-len", type=int, default=128, help="training sequence length")
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--new-tokens", type=int, default=64)
    p.add_argument("--quick", action="store_true", help="few rounds, short sequences (a smoke run)")
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 9, quick 2)")
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads for the run")
    add_output_args(p, "lm.json / lm.md")
    try:
        args = p.parse_args(argv)
    except SystemExit as exc:
        if exc.code == 0:
            raise
        raise UsageError(_USAGE) from None
    unknown = [m for m in args.pairs.split(",") if m not in PAIRS]
    if unknown:
        raise UsageError(f"dlzoo bench lm: unknown pair(s) {unknown}; choose from {list(PAIRS)}")
    for name in ("batch_size", "seq_len", "prompt_len", "new_tokens"):
        if getattr(args, name) < 1:
            raise UsageError(f"dlzoo bench lm: --{name.replace('_', '-')} must be >= 1")
    if args.seq_len > CONTEXT or args.prompt_len + args.new_tokens > CONTEXT:
        raise UsageError(f"dlzoo bench lm: sequences must fit the benchmark context of {CONTEXT} tokens")
    if args.quick:
        args.seq_len, args.new_tokens = min(args.seq_len, 32), min(args.new_tokens, 8)
    if args.rounds is None:
        args.rounds = 2 if args.quick else 9
    return args


def _import_transformers() -> Any:
    """transformers, or None. A torchvision whose compiled ops do not load beside this torch build makes
    transformers' lazy model imports fail; it is hidden from transformers for this process (text models
    never need it)."""
    if "torchvision" not in sys.modules:
        try:
            import torchvision  # noqa: F401
        except Exception:  # broken install: the import itself raises (RuntimeError), not ImportError
            sys.modules["torchvision"] = None  # type: ignore[assignment]
    try:
        import transformers
    except ImportError:
        return None
    return transformers


def _pair(name: str, tmp: Path) -> tuple[nn.Module, nn.Module]:
    """(ours, reference): a random transformers model and the same weights loaded into dlzoo."""
    import transformers

    import dlzoo

    model_cls, cfg_cls, cfg_kw = PAIRS[name]
    ref = getattr(transformers, model_cls)(getattr(transformers, cfg_cls)(**cfg_kw))
    directory = tmp / name
    ref.save_pretrained(directory)
    return dlzoo.from_pretrained(directory), ref


def _logits(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    out = model(ids)
    return out.logits if hasattr(out, "logits") else out


def _train_step(model: nn.Module, ids: torch.Tensor) -> Callable[[], None]:
    def step() -> None:
        model.train()
        logits = _logits(model, ids[:, :-1])  # (B, T - 1, V)
        loss = nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten())
        loss.backward()
        for p in model.parameters():
            p.grad = None

    return step


def _generate(model: nn.Module, prompt: torch.Tensor, new_tokens: int,
              hf: bool) -> Callable[[], torch.Tensor]:
    def run() -> torch.Tensor:
        model.eval()
        with torch.no_grad():
            if hf:
                return model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                      max_new_tokens=new_tokens, min_new_tokens=new_tokens, do_sample=False,
                                      use_cache=True, pad_token_id=0)
            return model.generate(prompt, max_new_tokens=new_tokens, use_cache=True)

    return run


def _bench_pair(name: str, args: argparse.Namespace, tmp: Path) -> list[dict[str, Any]]:
    torch.manual_seed(0)
    ours, ref = _pair(name, tmp)
    ids = torch.randint(0, VOCAB, (args.batch_size, args.seq_len + 1))
    prompt = torch.randint(0, VOCAB, (1, args.prompt_len))
    ours.eval(), ref.eval()
    with torch.no_grad():
        max_diff = (_logits(ours, ids) - _logits(ref, ids)).abs().max().item()
    if max_diff > 1e-3:
        raise RuntimeError(f"{name}: dlzoo and transformers logits differ by {max_diff:.2e}; not comparable")
    gen_ours, gen_ref = (_generate(ours, prompt, args.new_tokens, False),
                         _generate(ref, prompt, args.new_tokens, True))
    if not torch.equal(gen_ours(), gen_ref()):
        raise RuntimeError(f"{name}: greedy generations differ; not comparable")
    cases = {
        "train step": ({"ours": _train_step(ours, ids), "hf": _train_step(ref, ids)},
                       f"B {args.batch_size} x T {args.seq_len}", 1.05),
        "generate": ({"ours": gen_ours, "hf": gen_ref},
                     f"B 1, prompt {args.prompt_len} + {args.new_tokens} new (greedy, KV cache)", 1.0),
    }
    rows = []
    for task, (fns, shape, target) in cases.items():
        start = time.perf_counter()
        times = time_interleaved(fns, rounds=args.rounds, inner=1, warmup=1)
        ratio = times["ours"] / times["hf"]
        rows.append(dict(pair=name, task=task, shape=shape, ours_ms=1e3 * times["ours"],
                         hf_ms=1e3 * times["hf"], ratio=ratio, target=target,
                         meets_target="yes" if ratio <= target else "no", max_logit_diff=max_diff,
                         rounds=args.rounds, wall_s=time.perf_counter() - start))
        print(f"{name:8s} {task:10s} ours {rows[-1]['ours_ms']:9.2f} ms  hf {rows[-1]['hf_ms']:9.2f} ms  "
              f"ours/hf {ratio:.3f} (target <= {target})", flush=True)
    return rows


COLUMNS = [("pair", "pair", "{}"), ("task", "task", "{}"), ("shape", "shape", "{}"),
           ("dlzoo ms", "ours_ms", "{:.2f}"), ("HF ms", "hf_ms", "{:.2f}"),
           ("ours / HF time", "ratio", "{:.3f}"),
           ("target", "target", "<= {:.2f}"), ("met", "meets_target", "{}")]


def _previous_rows(path: Path, meta: dict[str, Any], names: list[str]) -> list[dict[str, Any]]:
    """Rows of *other* pairs from an earlier run with the same settings (pairs can be run one at a time)."""
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(old, dict) or any(old.get("meta", {}).get(k) != meta[k] for k in _SETTINGS):
        return []
    return [r for r in old.get("rows", []) if r.get("pair") not in names]


def main(argv: list[str]) -> int:
    """Run the benchmark; returns 0 (1 if transformers is missing or a pair fails)."""
    args = _parse(argv)
    transformers = _import_transformers()
    if transformers is None:
        print("dlzoo bench lm needs the `transformers` package as the reference implementation "
              "(pip install transformers); it is not installed.")
        return 1
    if dry_run("lm", args):
        return 0
    resolve_out(args)
    if args.threads:
        torch.set_num_threads(args.threads)
    meta = dict(device="cpu", torch=torch.__version__, transformers=transformers.__version__,
                threads=torch.get_num_threads(), machine=platform.processor() or platform.machine(),
                batch_size=args.batch_size, seq_len=args.seq_len, prompt_len=args.prompt_len,
                new_tokens=args.new_tokens, rounds=args.rounds, quick=args.quick, vocab_size=VOCAB,
                loadavg=[round(v, 2) for v in os.getloadavg()] if hasattr(os, "getloadavg") else None)
    out = Path(args.out)
    names = args.pairs.split(",")
    rows = _previous_rows(out / "lm.json", meta, names)
    failed = False
    notes = [f"CPU, {meta['threads']} threads, torch {meta['torch']}, transformers {meta['transformers']}; "
             f"4 layers, d 256, vocab {VOCAB}; medians of {args.rounds} interleaved rounds; load average at "
             f"the start {meta['loadavg']}. ratio = ours / HF time (<= 1: dlzoo at least as fast). Same "
             "weights (the HF model saved and loaded with dlzoo.from_pretrained); logits and greedy tokens "
             "checked equal before timing. On a shared, loaded machine single ratios move by several percent "
             "between runs."]
    with tempfile.TemporaryDirectory() as tmp:
        for name in names:
            try:
                rows.extend(_bench_pair(name, args, Path(tmp)))
            except Exception as exc:  # report and go on with the other pairs
                failed = True
                print(f"{name}: FAILED: {type(exc).__name__}: {exc}")
            if rows:
                write_results(out / "lm", "dlzoo vs HF transformers: causal LMs (time per call)", COLUMNS,
                              rows, meta, notes)
    print(f"wrote {out / 'lm.json'} and {out / 'lm.md'}")
    return 1 if failed else 0
