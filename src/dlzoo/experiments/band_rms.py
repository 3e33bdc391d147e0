"""``band-rms``: BandRMS vs RMSNorm vs LayerNorm in the same small ViT on the embedded digits, several seeds.

BandRMS is the fourth seed's (dl_techniques, N. Markou) bounded RMS normalisation (:class:`dlzoo.nn.BandRMS`,
building on RMSNorm, Zhang & Sennrich, NeurIPS 2019, arXiv:1910.07467):

    y = s * x / sqrt(mean(x^2) + eps),   s = (1 - a) + a * sigmoid(5 * band_param),   s in [1 - a, 1]

so the output RMS is confined to the band ``[1 - a, 1]`` (``a = max_band_width``) by one learnable scalar per
layer, where RMSNorm learns a free per-channel gain (``C`` weights) and LayerNorm also centres and adds a
per-channel bias (``2 C``). The claim to test: does the bounded scalar scale train as well as the free
per-channel affine? Every norm layer of ``vit_tiny_digits`` (4 blocks x 2 + the final norm) is swapped by
config key, with the training machinery of ``norm-comparison`` (:mod:`dlzoo.experiments.norm_comparison`:
its trainer config, job function and runner) and its recipe (AdamW lr 3e-3, warmup-cosine). Each BandRMS
width in ``band_widths`` is one variant. The report gives test accuracy / loss / ECE (mean +- std over
seeds), Welch and paired t-tests of every BandRMS variant against RMSNorm and LayerNorm, training curves,
and where in its band each layer's learned scale ended.

    dlzoo experiment run band-rms seeds=[0,1] epochs=5 band_widths=[0.1]
"""

from __future__ import annotations

import copy
import json
import time
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import UsageError
from .norm_comparison import DEFAULT_RECIPE, train_job, trainer_config
from .registry import register_experiment
from .runner import norm_variants, run_jobs, save_experiment_config

__all__ = ["BandRMSConfig", "variants", "band_scale", "run"]


class BandRMSConfig(BaseModel):
    """Settings of the BandRMS comparison (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    model: str = "vit_tiny_digits"
    model_kwargs: dict[str, Any] = Field(default_factory=dict, description="extra kwargs for create_model")
    dataset: str = "digits"
    norms: list[str] = Field(default_factory=lambda: ["bandrms", "rmsnorm", "layernorm"], min_length=1)
    band_widths: list[float] = Field(
        default_factory=lambda: [0.1, 0.5],
        min_length=1,
        description="max_band_width values; a bandrms entry of norms runs once per value",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    epochs: int = Field(12, ge=1)
    workers: int = Field(2, ge=1, description="worker processes (1: run in this process)")
    threads: int = Field(1, ge=1, description="torch threads per worker")
    output_dir: str = "runs"
    train: dict[str, Any] = Field(
        default_factory=lambda: copy.deepcopy(DEFAULT_RECIPE), description="trainer config overrides"
    )


def variants(cfg: BandRMSConfig) -> list[dict[str, Any]]:
    """One entry per (norm, band width): ``label``, ``slug``, ``norm``, ``norm_kwargs``, ``band_width``."""

    def bandrms() -> list[dict[str, Any]]:
        out = []
        for a in map(float, cfg.band_widths):
            if not 0.0 < a < 1.0:
                raise UsageError(f"band_widths must lie in (0, 1), got {a}")
            out.append({"label": f"bandrms(a={a:g})", "slug": f"bandrms_a{a:g}", "norm": "bandrms",
                        "norm_kwargs": {"max_band_width": a}, "band_width": a})
        return out

    def plain(norm: str, key: str) -> dict[str, Any]:
        return {"label": norm, "slug": key, "norm": norm, "norm_kwargs": {}, "band_width": None}

    return norm_variants(cfg.norms, "bandrms", bandrms, plain)


def band_scale(band_param: float, width: float) -> float:
    """BandRMS's output scale ``(1 - a) + a * sigmoid(5 * band_param)``, computed by
    :meth:`dlzoo.nn.BandRMS.band_scale` itself."""
    import torch

    from ..nn import BandRMS

    layer = BandRMS(1, max_band_width=width)
    with torch.no_grad():
        layer.band_param.fill_(band_param)
        return float(layer.band_scale())


def _param_counts(cfg: BandRMSConfig, vs: list[dict[str, Any]]) -> dict[str, int]:
    import dlzoo

    counts = {}
    for v in vs:
        model = dlzoo.create_model(
            cfg.model, **{**cfg.model_kwargs, "norm_layer": v["norm"], "norm_kwargs": dict(v["norm_kwargs"])}
        )
        counts[v["label"]] = sum(p.numel() for p in model.parameters())
    return counts


def _num_test(tcfg: dict[str, Any]) -> int:
    from ..data import create_dataset

    d = tcfg["data"]
    splits = create_dataset(
        d["name"],
        val_fraction=d["val_fraction"],
        test_fraction=d["test_fraction"],
        split_seed=d["split_seed"],
        **d.get("kwargs", {}),
    )
    return len(splits.test)


@register_experiment(
    "band-rms",
    config=BandRMSConfig,
    description="ViT with BandRMS (band widths 0.1, 0.5) vs RMSNorm vs LayerNorm, 3 seeds, on the digits",
    paper="Root Mean Square Layer Normalization (BandRMS: dl_techniques)",
    year=2019,
    arxiv="1910.07467",
)
def run(cfg: BandRMSConfig, out_dir: Path) -> Path:
    """Train every (norm, seed), then write ``results.json``, ``plots/`` and ``report.md``/``report.html``."""
    from .band_rms_report import write_report

    out_dir = Path(out_dir)
    vs = variants(cfg)
    jobs = []
    for v in vs:
        for seed in cfg.seeds:
            run_dir = out_dir / "runs" / f"{v['slug']}_seed{seed}"
            jobs.append(
                {
                    "label": v["label"],
                    "slug": v["slug"],
                    "norm": v["norm"],
                    "band_width": v["band_width"],
                    "seed": seed,
                    "epochs": cfg.epochs,
                    "run_dir": str(run_dir),
                    "scurve": False,
                    "config": trainer_config(cfg, v, seed, run_dir),
                }
            )  # validated before any run
    save_experiment_config(cfg, out_dir)
    workers = min(cfg.workers, len(jobs))
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=workers, threads=cfg.threads)
    total = time.perf_counter() - start
    for job, res in zip(jobs, results):
        res.update(norm=job["norm"], band_width=job["band_width"], slug=job["slug"])
    ok = [r for r in results if "error" not in r]
    failed = [r for r in results if "error" in r]
    if not ok:
        raise RuntimeError(f"band-rms: every run failed; first error: {failed[0]['error']}")
    meta = {
        "total_wall_time": total,
        "workers": workers,
        "threads": cfg.threads,
        "num_runs": len(jobs),
        "trainer_config": jobs[0]["config"],
        "failed": failed,
        "params": _param_counts(cfg, vs),
        "num_test": _num_test(jobs[0]["config"]),
    }
    report = write_report(cfg, ok, meta, out_dir)
    (out_dir / "results.json").write_text(json.dumps({"meta": meta, **report, "runs": ok}, indent=1))
    return out_dir
