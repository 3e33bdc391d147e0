"""``norm-timing``: RMSNorm vs LayerNorm vs DyT (and Derf) latency, alone and inside real block stacks.

The analogue of Table 7 of Zhu, Chen, He, LeCun, Liu, "Transformers without Normalization", CVPR 2025,
arXiv:2503.10622 (LLaMA 7B, BF16: the RMSNorm layers take 2.1 s for 100 inference passes vs 1.0 s for
DyT, 8.3 s vs 4.8 s training; the revised paper notes that under torch.compile they are similar). Timed:

* **layers alone** on ``(rows, C)`` inputs over ``sizes``: every norm in each implementation it has,
  ``eager`` (dlzoo's explicit tensor-op math, ``dlzoo.reference_mode()``: what the paper's eager RMSNorm
  is), ``torch`` (``torch.nn.LayerNorm`` / ``torch.nn.RMSNorm``, ATen's fused kernels), ``fused`` (dlzoo's
  default path: :mod:`dlzoo.kernels` DyT / RMSNorm kernels, ``F.layer_norm``) and, with ``compile=true``,
  ``compile`` (the eager math under ``torch.compile``); plus ``x.clone()``, whose time gives the measured
  bandwidth ``B = 2 N s / t_copy`` (N elements of s bytes) and so the memory-traffic floor of each norm:
  ``bytes moved / B`` with the ideal traffic ``2 N s`` forward (read x, write y) and ``5 N s``
  forward+backward (also read dy and x again, write dx);
* **block stacks**: ``vit_depth`` ViT-S blocks (dim 384, 6 heads, MLP 4x; input (B, 197, 384)) and
  ``llama_depth`` LLaMA decoder layers (+ final norm; input (B, T, d) hidden states, RoPE), once per
  norm, with the norm layers in ``eager`` or ``fused`` form (the rest of the block unchanged), and once
  with every norm replaced by ``Identity``: the stack's time minus that is what its norm layers cost there.

Both in ``forward`` (no autograd) and ``forward+backward`` (gradients of x and every parameter), for
every dtype of ``dtypes`` (float32, bfloat16), on the CPU and, when present, on CUDA. Times are medians of
interleaved rounds (:func:`dlzoo.bench.timing.time_interleaved`). torch.compile is off by default (each
graph compiles for 5-20 s on this 2-core machine); ``compile=true`` adds it (dynamic shapes, one graph per
norm, dtype and mode).

    dlzoo experiment run norm-timing dtypes=[float32] sizes=[[3152,384],[512,4096]] compile=true
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from ..bench.rmsnorm import _runner
from ..bench.timing import time_interleaved
from ..errors import UsageError
from .registry import register_experiment
from .runner import save_experiment_config

__all__ = ["NormTimingConfig", "NORMS", "IMPLS", "layer_candidates", "block_stack", "run"]

NORMS = ("layernorm", "rmsnorm", "dyt", "derf")
IMPLS = ("eager", "torch", "fused", "compile")
_TORCH_NORMS = {"layernorm": nn.LayerNorm, "rmsnorm": nn.RMSNorm}
_FUSED = ("layernorm", "rmsnorm", "dyt")  # norms with a fused default path (Derf is eager math only)
_DTYPES = {"float32": torch.float32, "bfloat16": torch.bfloat16}
MODES = ("forward", "forward+backward")
TRAFFIC = {"forward": 2, "forward+backward": 5}  # ideal elements moved per input element


class NormTimingConfig(BaseModel):
    """Settings of the norm timing study (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid")

    norms: list[str] = Field(default_factory=lambda: list(NORMS), min_length=1)
    sizes: list[list[int]] = Field(
        default_factory=lambda: [[394, 384], [3152, 384], [12608, 384], [512, 4096]],
        description="[rows, C] of the standalone inputs (197 tokens x 2 / 16 / 64 images at ViT-S width)",
    )
    dtypes: list[str] = Field(default_factory=lambda: ["float32", "bfloat16"], min_length=1)
    compile: bool = Field(False, description="add torch.compile candidates (slow to compile)")
    blocks: bool = Field(True, description="also time the ViT-S and LLaMA block stacks")
    vit_depth: int = Field(2, ge=1)
    vit_dim: int = Field(384, ge=1, description="ViT-S: 384 wide, 6 heads, 197 tokens")
    vit_heads: int = Field(6, ge=1)
    vit_tokens: int = Field(197, ge=1)
    vit_batch: int = Field(2, ge=1)
    llama_depth: int = Field(2, ge=1)
    llama_dim: int = Field(512, ge=8)
    llama_seq: int = Field(256, ge=1)
    llama_batch: int = Field(1, ge=1)
    rounds: int = Field(7, ge=1, description="interleaved rounds (median reported)")
    threads: int = Field(1, ge=1, description="torch threads (CPU)")
    devices: list[str] = Field(default_factory=lambda: ["cpu", "cuda"], description="cuda skipped if absent")
    no_malloc_trim: bool = Field(
        True,
        description="glibc: keep freed heap pages for the whole process (see dlzoo bench norms "
        "--no-malloc-trim), so fresh outputs do not page-fault and x.clone() measures bandwidth",
    )
    output_dir: str = "runs"


class _Reference(nn.Module):
    """Runs ``inner`` under ``dlzoo.reference_mode()`` (its explicit tensor-op math)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..nn import reference_mode

        with reference_mode():
            return self.inner(x)


class _NoCompiledDyT(nn.Module):
    """DyT on its eager fused backend where the automatic choice would compile (CPU non-float32)."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        from ..kernels import dyt_backend

        with dyt_backend("eager"):
            return self.inner(x)


def _check(cfg: NormTimingConfig) -> None:
    from ..nn import get_norm_layer

    for norm in cfg.norms:
        if norm not in NORMS:
            raise UsageError(f"norms: expected some of {list(NORMS)}, got {norm!r}")
        get_norm_layer(norm)
    bad = [d for d in cfg.dtypes if d not in _DTYPES]
    if bad:
        raise UsageError(f"dtypes: expected some of {list(_DTYPES)}, got {bad}")
    if any(len(s) != 2 or min(s) < 1 for s in cfg.sizes):
        raise UsageError(f"sizes: expected [rows, C] pairs of positive ints, got {cfg.sizes}")


def _fused_backend(norm: str, x: torch.Tensor, use_compile: bool) -> tuple[str, bool]:
    """(backend name, whether DyT must be held off its compiled backend)."""
    from ..kernels import select_backend, select_rmsnorm_backend

    if norm == "dyt":
        backend = select_backend(x)
        if backend == "compiled" and not use_compile:
            return "eager (compile off)", True
        return backend, False
    if norm == "rmsnorm":
        return select_rmsnorm_backend(x), False
    return "F.layer_norm", False


def layer_candidates(
    norm: str, c: int, x: torch.Tensor, use_compile: bool, compiled: dict[Any, Callable]
) -> dict[str, tuple[nn.Module | Callable, str]]:
    """``{impl: (module, backend note)}`` of one norm for input ``x`` (B..., C)."""
    from ..nn import create_norm

    factory = {"device": x.device, "dtype": x.dtype}
    out: dict[str, tuple[nn.Module | Callable, str]] = {}
    base = create_norm(norm, c).to(**factory)
    out["eager"] = (_Reference(base), "explicit tensor ops")
    if norm in _TORCH_NORMS:
        out["torch"] = (_TORCH_NORMS[norm](c, **factory), "torch.nn (ATen)")
    if norm in _FUSED:
        backend, hold = _fused_backend(norm, x, use_compile)
        out["fused"] = (_NoCompiledDyT(base) if hold else base, backend)
    if use_compile:
        key = (norm, c, x.dtype, x.device.type)
        if key not in compiled:
            compiled[key] = torch.compile(_Reference(base), dynamic=True)
        out["compile"] = (compiled[key], "torch.compile of the eager math")
    return out


def _time_group(cands: dict[str, nn.Module], x: torch.Tensor, mode: str, rounds: int) -> dict[str, float]:
    """Median seconds per call of every module on its input (``x``, or the ``(module, input)`` pair given),
    plus ``copy`` of ``x``, interleaved; calls per round chosen so one round of a candidate takes ~5 ms."""
    fns: dict[str, Callable[[], object]] = {"copy": lambda: x.clone()}
    for name, entry in cands.items():
        module, inp = entry if isinstance(entry, tuple) else (entry, x)
        grad = torch.randn_like(inp) if mode != "forward" else None
        fns[name] = _runner(module, inp.detach().requires_grad_(grad is not None), grad)
    slowest = 0.0
    for name in cands:  # one untimed call, then one timed call of each: the slowest sets the inner count
        fns[name]()
        t0 = time.perf_counter()
        fns[name]()
        slowest = max(slowest, time.perf_counter() - t0)
    inner = max(1, min(20, round(0.005 / max(slowest, 1e-9))))
    return time_interleaved(fns, rounds=rounds, inner=inner, warmup=2, device=x.device)


def time_layers(cfg: NormTimingConfig, device: str, compiled: dict) -> list[dict[str, Any]]:
    """Rows of the standalone layers (and ``copy``) for every dtype, size and mode on ``device``."""
    rows = []
    for dtype_name in cfg.dtypes:
        for n_rows, c in cfg.sizes:
            torch.manual_seed(0)
            x = torch.randn(n_rows, c, device=device, dtype=_DTYPES[dtype_name])
            cands: dict[str, nn.Module] = {}
            notes: dict[str, str] = {}
            for norm in cfg.norms:
                for impl, (mod, note) in layer_candidates(norm, c, x, cfg.compile, compiled).items():
                    cands[f"{norm}/{impl}"], notes[f"{norm}/{impl}"] = mod, note
            for mode in MODES:
                print(f"[norm-timing] {device} {dtype_name} {n_rows}x{c} {mode}", flush=True)
                times = _time_group(cands, x, mode, cfg.rounds)
                floor = times["copy"] * TRAFFIC[mode] / 2
                bandwidth = 2 * x.numel() * x.element_size() / times["copy"]
                for name, sec in times.items():
                    norm, impl = name.split("/") if "/" in name else ("copy", "copy")
                    rows.append(
                        {
                            "section": "layer",
                            "device": device,
                            "dtype": dtype_name,
                            "mode": mode,
                            "shape": [n_rows, c],
                            "numel": x.numel(),
                            "norm": norm,
                            "impl": impl,
                            "backend": notes.get(name, "x.clone()"),
                            "us": sec * 1e6,
                            "floor_us": floor * 1e6,
                            "vs_floor": sec / floor if norm != "copy" else 1.0,
                            "bandwidth_gb_s": bandwidth / 1e9,
                        }
                    )
    return rows


class _LlamaStack(nn.Module):
    """The decoder layers + final norm of a LLaMA: hidden states (B, T, d) -> (B, T, d) (RoPE inside)."""

    def __init__(self, lm: nn.Module) -> None:
        super().__init__()
        self.layers, self.norm, self.rotary_emb = lm.layers, lm.norm, lm.rotary_emb

    def forward(self, h: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(h.shape[1], device=h.device)[None]  # (1, T)
        rope = self.rotary_emb(h, positions)
        for layer in self.layers:
            h = layer(h, rope)
        return self.norm(h)


def block_stack(stack: str, norm: str, cfg: NormTimingConfig) -> tuple[nn.Module, tuple[int, ...]]:
    """(module, input shape) of a ViT-S (``"vit_s"``) or LLaMA (``"llama"``) block stack with ``norm``."""
    import dlzoo

    from ..models.vit import Block
    from ..nn import get_norm_layer

    torch.manual_seed(0)
    if stack == "vit_s":
        make = get_norm_layer(norm)
        d = cfg.vit_dim
        blocks = [Block(d, cfg.vit_heads, norm_layer=make) for _ in range(cfg.vit_depth)]
        return nn.Sequential(*blocks, make(d)), (cfg.vit_batch, cfg.vit_tokens, d)
    d = cfg.llama_dim
    lm = dlzoo.create_model(
        "llama_tiny",
        vocab_size=256,
        embed_dim=d,
        num_layers=cfg.llama_depth,
        num_heads=max(1, d // 64),
        num_kv_heads=max(1, d // 128),
        intermediate_dim=round(8 * d / 3 / 8) * 8,
        max_seq_len=cfg.llama_seq,
        norm_layer=norm,
    )
    return _LlamaStack(lm), (cfg.llama_batch, cfg.llama_seq, d)


def _swap_norms(model: nn.Module, wrap: Callable[[nn.Module], nn.Module]) -> int:
    """Replace every norm layer of ``model`` by ``wrap(layer)``, in place; the number replaced."""
    from ..analysis import find_norm_layers

    layers = find_norm_layers(model)
    for name, layer in layers:
        parent_name, _, child = name.rpartition(".")
        setattr(model.get_submodule(parent_name) if parent_name else model, child, wrap(layer))
    return len(layers)


def time_blocks(cfg: NormTimingConfig, device: str) -> list[dict[str, Any]]:
    """Rows of the block stacks: each norm in eager / fused (/ compiled) form, the Identity-norm stack, and
    one of the stack's own norm layers alone on an input of the stack's activation shape (``layer`` rows:
    the norm layers' cost in the stack is their count times that)."""
    from ..analysis import find_norm_layers

    rows = []
    for dtype_name in cfg.dtypes:
        dtype = _DTYPES[dtype_name]
        for stack in ("vit_s", "llama"):
            cands: dict[str, Any] = {}
            torch.manual_seed(0)
            _, shape = block_stack(stack, cfg.norms[0], cfg)
            x = torch.randn(shape, device=device, dtype=dtype)
            counts: dict[str, int] = {}
            for norm in cfg.norms:
                for impl in ("eager", "fused") if norm in _FUSED else ("eager",):
                    model, _ = block_stack(stack, norm, cfg)
                    model = model.to(device=device, dtype=dtype)
                    norms = find_norm_layers(model)
                    counts[norm] = len(norms)
                    hold = impl == "fused" and norm == "dyt" and _fused_backend("dyt", x, cfg.compile)[1]
                    wrap = _Reference if impl == "eager" else _NoCompiledDyT if hold else None
                    layer = norms[-1][1]  # the final norm: the same kind and input shape as the others
                    cands[f"layer:{norm}/{impl}"] = (wrap(layer) if wrap else layer, x)
                    if wrap is not None:
                        _swap_norms(model, wrap)
                    cands[f"{norm}/{impl}"] = model
                if cfg.compile:  # the default model (fused paths) under torch.compile
                    model, _ = block_stack(stack, norm, cfg)
                    cands[f"{norm}/compile"] = torch.compile(model.to(device=device, dtype=dtype))
            model, _ = block_stack(stack, cfg.norms[0], cfg)
            _swap_norms(model, lambda _layer: nn.Identity())
            cands["identity/none"] = model.to(device=device, dtype=dtype)
            for mode in MODES:
                print(f"[norm-timing] {device} {dtype_name} {stack} {list(shape)} {mode}", flush=True)
                stacks = {k: v for k, v in cands.items() if not k.startswith("layer:")}
                times = _time_group(stacks, x, mode, cfg.rounds)  # layers alone: their own inner count
                times.update(
                    _time_group({k: v for k, v in cands.items() if k not in stacks}, x, mode, cfg.rounds)
                )
                for name, sec in times.items():
                    if name == "copy" or name.startswith("layer:"):
                        continue
                    norm, impl = name.split("/")
                    one = times.get(f"layer:{name}")
                    count = counts.get(norm, 0)
                    rows.append(
                        {
                            "section": "block",
                            "stack": stack,
                            "device": device,
                            "dtype": dtype_name,
                            "mode": mode,
                            "shape": list(shape),
                            "numel": x.numel(),
                            "norm": norm,
                            "impl": impl,
                            "us": sec * 1e6,
                            "identity_us": times["identity/none"] * 1e6,
                            "norm_layers": count,
                            "norm_us": None if one is None else count * one * 1e6,
                        }
                    )
    return rows


@register_experiment(
    "norm-timing",
    config=NormTimingConfig,
    description="LayerNorm / RMSNorm / DyT / Derf latency alone and in ViT-S / LLaMA blocks (DyT Table 7)",
    paper="Transformers without Normalization",
    year=2025,
    arxiv="2503.10622",
)
def run(cfg: NormTimingConfig, out_dir: Path) -> Path:
    """Time every candidate, then write ``results.json``, ``plots/`` and ``report.md``/``report.html``."""
    from .norm_timing_report import write_report

    _check(cfg)
    if cfg.compile:
        from ..kernels.compile import compile_available

        if not compile_available():
            raise UsageError("compile=true: torch.compile is not available here (no C compiler?)")
    devices = [d for d in cfg.devices if d == "cpu" or (d == "cuda" and torch.cuda.is_available())]
    if not devices:
        raise UsageError(f"devices: none of {cfg.devices} is available")
    if cfg.no_malloc_trim:
        from ..bench.norms import _no_malloc_trim

        _no_malloc_trim()
    out_dir = Path(out_dir)
    save_experiment_config(cfg, out_dir)
    previous = torch.get_num_threads()
    torch.set_num_threads(cfg.threads)
    start = time.perf_counter()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    rows: list[dict[str, Any]] = []
    compiled: dict = {}
    try:
        for device in devices:
            rows += time_layers(cfg, device, compiled)
            if cfg.blocks:
                rows += time_blocks(cfg, device)
    finally:
        torch.set_num_threads(previous)
    meta = {
        "torch": torch.__version__,
        "threads": cfg.threads,
        "rounds": cfg.rounds,
        "devices": devices,
        "cpu": platform.processor() or platform.machine(),
        "loadavg_at_start": load,
        "cuda": torch.cuda.get_device_name() if "cuda" in devices else None,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "total_wall_time": time.perf_counter() - start,
        "no_malloc_trim": cfg.no_malloc_trim,
    }
    report = write_report(cfg, rows, meta, out_dir)
    payload = {"meta": meta, **report, "rows": rows}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1))
    return out_dir
