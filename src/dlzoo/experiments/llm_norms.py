"""``llm-norms``: a tiny LLaMA language model trained with RMSNorm, LayerNorm and DyT, several seeds each.

A CPU-scale version of the LLaMA experiment of Zhu, Chen, He, LeCun, Liu, "Transformers without
Normalization", CVPR 2025, arXiv:2503.10622 (Section 7 / Table 10): ``llama_tiny`` narrowed to d 128,
2 layers, FFN 344 (as ``configs/llama_tiny_pydoc.yaml``) trained on the embedded Python reference docs
(``data.name: pydoc``, byte-level BPE of 1024 ids) with

* RMSNorm (LLaMA's own), LayerNorm,
* LLaMA-DyT (``norm_layer="dyt"``: weight-only DyT(x) = gamma * tanh(alpha x), alpha of the attention /
  other DyT layers from the paper's width rule ``dyt_alpha_init(d)``, a learnable scalar after the
  embedding), and DyT with other alpha inits (``dyt_alpha_attn`` / ``dyt_alpha_other``).

The report (``report.md`` + ``report.html``) holds validation-loss curves (mean, min..max band over seeds),
final perplexities (mean +- std) with Welch / paired t-tests against RMSNorm, DyT alpha traces, S-curves
of every norm layer on real test blocks, one generated sample per variant and the training wall time per
optimizer step of each norm.

    dlzoo experiment run llm-norms seeds=[0,1,2] epochs=6 norms=[rmsnorm,dyt] dyt_alphas=[null,0.5]

``dyt_alphas`` entries: ``null`` (the paper's rule), a number (both attention and other DyT layers) or
``[attn, other]``. ``train.*`` keys pass through to the trainer config; ``max_steps`` caps each run.
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UsageError
from .norm_comparison import _json_default
from .registry import register_experiment
from .runner import (
    diverged_record,
    float_history,
    norm_variants,
    run_jobs,
    save_experiment_config,
    scurve_record,
    train_or_resume,
    validated_trainer_config,
)

__all__ = ["LLMNormsConfig", "DEFAULT_RECIPE", "variants", "trainer_config", "train_job", "run"]

# configs/llama_tiny_pydoc.yaml's recipe (data, optimizer, schedule, loop), without its model/epochs.
DEFAULT_RECIPE: dict[str, Any] = {
    "data": {
        "name": "pydoc",
        "tokenizer": "bpe",
        "vocab_size": 1024,
        "block_size": 128,
        "batch_size": 8,
        "val_fraction": 0.1,
        "test_fraction": 0.1,
        "split_seed": 0,
    },
    "optim": {"name": "adamw", "lr": 3.0e-3, "weight_decay": 0.1},
    "schedule": {"name": "warmup_cosine", "warmup_epochs": 0.2, "min_lr_ratio": 0.1},
    "loss": {"name": "lm_cross_entropy"},
    "train": {"grad_clip": 1.0, "grad_accum_steps": 2, "log_every": 10},
    "sample": {"prompt": "The for statement", "max_new_tokens": 48, "temperature": 0.8, "top_k": 40},
}


class LLMNormsConfig(BaseModel):
    """Settings of the LM norm comparison (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = "llama_tiny"
    model_kwargs: dict[str, Any] = Field(
        default_factory=lambda: {
            "max_seq_len": 128,
            "embed_dim": 128,
            "num_layers": 2,
            "intermediate_dim": 344,
        }
    )
    norms: list[str] = Field(default_factory=lambda: ["rmsnorm", "layernorm", "dyt"], min_length=1)
    dyt_alphas: list[float | list[float] | None] = Field(
        default_factory=lambda: [None, 0.5, 2.0],
        min_length=1,
        description="DyT alpha inits: null = paper rule, a number = attn and other, [attn, other]",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1], min_length=1)
    epochs: int = Field(4, ge=1)
    max_steps: int | None = Field(None, ge=1, description="optimizer-step cap per run")
    baseline: str = Field("rmsnorm", description="label every variant is t-tested against")
    workers: int = Field(1, ge=1, description="worker processes (1: run in this process)")
    threads: int = Field(1, ge=1, description="torch threads per worker")
    output_dir: str = "runs"
    scurve_samples: int = Field(4, ge=1, description="test blocks fed through each model for the S-curves")
    scurve_points: int = Field(3000, ge=100, description="points plotted per norm layer")
    train: dict[str, Any] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_RECIPE), description="trainer config overrides"
    )


def _fmt(a: float) -> str:
    return f"{float(a):g}"


def variants(cfg: LLMNormsConfig) -> list[dict[str, Any]]:
    """One entry per (norm, alpha init): ``label``, ``slug``, ``norm``, ``model_kwargs``, ``alpha_init``."""
    from ..nn.dyt import dyt_alpha_init

    width = int(cfg.model_kwargs.get("embed_dim", 0) or 0)

    def dyt() -> list[dict[str, Any]]:
        out = []
        for spec in cfg.dyt_alphas:
            if spec is None:
                if width < 1:
                    raise UsageError("dyt_alphas: null (the paper's rule) needs model_kwargs.embed_dim")
                attn, other = dyt_alpha_init(width, attention=True), dyt_alpha_init(width, attention=False)
                label, slug = f"dyt(paper: attn {_fmt(attn)}, other {_fmt(other)})", "dyt_paper"
                kwargs: dict[str, Any] = {"norm_layer": "dyt"}
            else:
                pair = [spec, spec] if isinstance(spec, int | float) else list(spec)
                if len(pair) != 2:
                    raise UsageError(f"dyt_alphas: expected null, a number or [attn, other], got {spec!r}")
                attn, other = float(pair[0]), float(pair[1])
                same = attn == other
                label = f"dyt(alpha={_fmt(attn)})" if same else f"dyt(attn={_fmt(attn)}, other={_fmt(other)})"
                slug = f"dyt_alpha{_fmt(attn)}" + ("" if same else f"_{_fmt(other)}")
                kwargs = {"norm_layer": "dyt", "dyt_alpha_attn": attn, "dyt_alpha_other": other}
            out.append({"label": label, "slug": slug, "norm": "dyt", "model_kwargs": kwargs,
                        "alpha_init": attn if attn == other else None, "alpha_attn": attn,
                        "alpha_other": other})
        return out

    def plain(norm: str, key: str) -> dict[str, Any]:
        return {"label": norm, "slug": key, "norm": norm, "model_kwargs": {"norm_layer": norm},
                "alpha_init": None}

    return norm_variants(cfg.norms, "dyt", dyt, plain, duplicates="norms/dyt_alphas: duplicate variants")


def trainer_config(cfg: LLMNormsConfig, variant: dict[str, Any], seed: int, run_dir: Path) -> dict[str, Any]:
    """The validated trainer config (as a dict) of one run: defaults < ``cfg.train`` < per-run settings."""
    base = {
        "model": {"name": cfg.model, "kwargs": dict(cfg.model_kwargs)},
        "checkpoint": {"every_epochs": 1, "keep_last": 1},
    }
    loop: dict[str, Any] = {"epochs": cfg.epochs}
    if cfg.max_steps is not None:
        loop["max_steps"] = cfg.max_steps
    per_run = {
        "name": f"llm-norms-{variant['slug']}",
        "seed": seed,
        "output_dir": str(run_dir.parent),
        "model": {"kwargs": dict(variant["model_kwargs"])},
        "train": loop,
    }
    return validated_trainer_config(base, cfg.train, per_run)


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train (or resume) one (variant, seed); return JSON-able results (+ S-curve samples when
    ``job['scurve']``)."""
    from ..train import TrainingDiverged

    try:
        result = train_or_resume(job)
    except TrainingDiverged as err:
        return diverged_record(job, err)
    history = float_history(result.history)
    steps = int(history[-1].get("step", 0)) if history else 0
    train_time = sum(float(r.get("epoch_time") or 0.0) for r in history)
    samples = [r["sample"] for r in history if isinstance(r.get("sample"), str)]
    out: dict[str, Any] = {
        "label": job["label"],
        "seed": job["seed"],
        "run_dir": str(result.run_dir),
        "test_loss": float(result.test["loss"]),
        "test_ppl": float(result.test["ppl"]),
        "val_loss": next(
            (float(r["val_loss"]) for r in reversed(history) if r.get("val_loss") is not None), float("nan")
        ),
        "wall_time": float(result.wall_time),
        "steps": steps,
        "train_time": train_time,
        "step_time": train_time / steps if steps else float("nan"),
        "sample": samples[-1] if samples else None,
        "history": history,
    }
    if job.get("scurve"):
        splits = getattr(result.data, "splits", result.data)
        model = result.model.cpu().float().eval()
        tokens = splits.test.x[: job["scurve_samples"]]  # (B, T) real test token blocks
        out.update(scurve_record(model, tokens, job))
    return out


def _make_jobs(cfg: LLMNormsConfig, out_dir: Path) -> list[dict[str, Any]]:
    jobs = []
    for v in variants(cfg):
        for i, seed in enumerate(cfg.seeds):
            run_dir = out_dir / "runs" / f"{v['slug']}_seed{seed}"
            jobs.append(
                {
                    "label": v["label"],
                    "slug": v["slug"],
                    "norm": v["norm"],
                    "alpha_init": v["alpha_init"],
                    "seed": seed,
                    "epochs": cfg.epochs,
                    "run_dir": str(run_dir),
                    "config": trainer_config(cfg, v, seed, run_dir),
                    "scurve": i == 0,
                    "scurve_samples": cfg.scurve_samples,
                    "scurve_points": cfg.scurve_points,
                }
            )
    return jobs


@register_experiment(
    "llm-norms",
    config=LLMNormsConfig,
    description="llama_tiny LM on pydoc: RMSNorm vs LayerNorm vs DyT (paper alpha, 0.5, 2.0), 2 seeds",
    paper="Transformers without Normalization",
    year=2025,
    arxiv="2503.10622",
)
def run(cfg: LLMNormsConfig, out_dir: Path) -> Path:
    """Train every (variant, seed), then write ``results.json``, ``plots/`` and ``report.md``/``.html``."""
    from .llm_norms_report import write_report

    out_dir = Path(out_dir)
    jobs = _make_jobs(cfg, out_dir)  # validates every trainer config before anything is written
    save_experiment_config(cfg, out_dir)
    workers = min(cfg.workers, len(jobs))
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=workers, threads=cfg.threads)
    total = time.perf_counter() - start
    for job, res in zip(jobs, results):
        res.update(norm=job["norm"], alpha_init=job["alpha_init"], slug=job["slug"])
    ok = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    meta = {
        "total_wall_time": total,
        "workers": workers,
        "threads": cfg.threads,
        "num_runs": len(jobs),
        "trainer_config": jobs[0]["config"],
        "failed": failed,
    }
    if not ok:
        raise RuntimeError(f"llm-norms: every run failed; first error: {failed[0]['error']}")
    report = write_report(cfg, ok, meta, out_dir)
    serial = [{k: v for k, v in r.items() if k != "scurve"} for r in ok]
    payload = {"meta": meta, **report, "runs": serial}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, default=_json_default))
    return out_dir
