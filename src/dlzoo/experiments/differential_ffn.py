"""``differential-ffn``: DifferentialFFN vs an MLP and a SwiGLU of (nearly) equal parameter count on a task
whose class signal is buried under common-mode noise shared by every input feature.

The fourth seed (the dl_techniques library) evaluates its ``DifferentialFFN``
(:class:`dlzoo.nn.DifferentialFFN`: a ``relu(x)`` and a ``relu(-x)`` pathway, each
``Linear -> LayerNorm -> act -> Linear -> sigmoid``, whose difference is normalised and projected) on
synthetic data. Its motivation is the Differential Transformer's (Ye et al., "Differential Transformer",
ICLR 2025, arXiv:2410.05258): the difference of two pathways cancels what both respond to alike, the way a
differential amplifier rejects common-mode noise. The task tests exactly that. Per example (``d``
features, ``m = 2`` latent factors):

    s ~ N(0, I_2),   c ~ N(0, sigma_c^2),   e ~ N(0, I_d)
    x = A s + c 1_d + sigma_n e                              (N, d)
    y = 2 [s_1 > 0] + [s_2 > 0]                              4 classes (the quadrant of s: XOR-like)

with a fixed random mixing ``A (d, 2)`` whose columns sum to zero (``1^T A = 0``, so the class signal lives
entirely in feature differences; ``||A||_F^2 = d``, unit mean signal variance per feature), ``c`` one
scalar per example added to every feature (the common mode), ``sigma_n`` small independent noise. The
inputs are standardised with training-set statistics. ``sigma_c`` is swept (default 0, 10, 30: from no
common mode to one thirty times the per-feature signal std), with few training examples (default 400),
where the models differ. A model rejects the common mode when its output does not move along ``1_d``;
every model here can learn that (a first layer with rows orthogonal to ``1_d``), the question is which
learns it from ``num_train`` examples. An ablation ``mlp_ln`` (an MLP with a LayerNorm on its hidden
units, as each DifferentialFFN pathway has) separates the effect of the normalisation from the
subtraction.

Reported per model and ``sigma_c``: test accuracy and loss (mean +- std over seeds, t-tests), the
common-mode gain ``E||f(x + delta 1/sqrt(d)) - f(x)|| / E||f(x + delta v) - f(x)||`` (``v`` random unit
vectors orthogonal to ``1_d``; below 1: the model is less sensitive to the common mode than to feature
differences), and a reference decoder that knows ``A``, ``sigma_c`` and ``sigma_n``: the quadrant of the
Gaussian posterior mean ``E[s | x] = A^T (A A^T + sigma_c^2 1 1^T + sigma_n^2 I)^-1 x``.
A run whose training loss becomes non-finite is reported as diverged and left out of the means and tests.

    dlzoo experiment run differential-ffn seeds=[0,1] common_stds=[0,10] epochs=20
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from pydantic import BaseModel, ConfigDict, Field
from torch import Tensor, nn

from ..errors import UsageError
from .registry import register_experiment
from .runner import run_jobs, save_experiment_config

__all__ = [
    "DifferentialFFNConfig",
    "CommonModeData",
    "common_mode_task",
    "build_model",
    "matched_width",
    "MODELS",
    "param_count",
    "common_mode_gain",
    "reference_accuracy",
    "train_job",
    "run",
]

MODELS = ("differential_ffn", "mlp", "mlp_ln", "swiglu")
NUM_CLASSES = 4


class DifferentialFFNConfig(BaseModel):
    """Settings of the differential-FFN experiment (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    models: list[str] = Field(default_factory=lambda: list(MODELS), min_length=1)
    common_stds: list[float] = Field(
        default_factory=lambda: [0.0, 10.0, 30.0],
        min_length=1,
        description="sigma_c values swept (std of the common mode)",
    )
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2, 3, 4], min_length=1)
    num_features: int = Field(16, ge=3)
    noise_std: float = Field(0.3, ge=0.0, description="sigma_n, independent per-feature noise")
    num_train: int = Field(400, ge=16)
    num_val: int = Field(500, ge=16)
    num_test: int = Field(2000, ge=16)
    hidden: int = Field(32, ge=2, description="DifferentialFFN hidden width (even); baselines are matched")
    epochs: int = Field(60, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(0.01, ge=0)
    workers: int = Field(1, ge=1, description="worker processes (1: run in this process)")
    threads: int = Field(1, ge=1)
    output_dir: str = "runs"


class CommonModeData:
    """Standardised splits of the common-mode task; raw inputs and latents kept for the reference."""

    def __init__(
        self, mixing: Tensor, raw: dict[str, Tensor], latent: dict[str, Tensor], y: dict[str, Tensor]
    ):
        self.mixing = mixing  # (d, 2)
        self.raw, self.latent, self.y = raw, latent, y
        self.mean = raw["train"].mean(0)  # (d,)
        self.std = raw["train"].std(0).clamp_min(1e-6)  # (d,)
        self.x = {k: (v - self.mean) / self.std for k, v in raw.items()}  # standardised (N, d)


def common_mode_task(
    num_train: int,
    num_val: int,
    num_test: int,
    num_features: int,
    common_std: float,
    noise_std: float,
    seed: int,
) -> CommonModeData:
    """Draw the task of the module docstring; ``A`` depends on ``seed`` only (not on ``common_std``), so a
    seed sees the same mixing and latents at every common-mode level."""
    if num_features < 3:
        raise ValueError(f"common_mode_task: num_features must be >= 3, got {num_features}")
    gen = torch.Generator().manual_seed(seed)
    a = torch.randn(num_features, 2, generator=gen, dtype=torch.float64)
    a = a - a.mean(0, keepdim=True)  # 1^T A = 0: no signal along the common-mode direction
    a = a * (num_features / 2.0 / a.pow(2).sum(0, keepdim=True)).sqrt()  # ||A||_F^2 = d: mean signal var 1
    sizes = {"train": num_train, "val": num_val, "test": num_test}
    raw, latent, y = {}, {}, {}
    for split, n in sizes.items():
        s = torch.randn(n, 2, generator=gen, dtype=torch.float64)  # (n, 2)
        c = torch.randn(n, 1, generator=gen, dtype=torch.float64)  # (n, 1), scaled below
        e = torch.randn(n, num_features, generator=gen, dtype=torch.float64)  # (n, d)
        raw[split] = (s @ a.T + common_std * c + noise_std * e).float()  # (n, d)
        latent[split] = s.float()
        y[split] = 2 * (s[:, 0] > 0).long() + (s[:, 1] > 0).long()  # (n,) quadrant
    return CommonModeData(a.float(), raw, latent, y)


def param_count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def _make(name: str, d: int, width: int) -> nn.Module:
    from ..nn import DifferentialFFN, Mlp, SwiGLU

    if name == "differential_ffn":
        return DifferentialFFN(d, width, NUM_CLASSES)
    if name == "mlp":
        return Mlp(d, width, NUM_CLASSES)
    if name == "mlp_ln":  # ablation: the LayerNorm DifferentialFFN has, without the two pathways
        return Mlp(d, width, NUM_CLASSES, norm_layer="layernorm")
    if name == "swiglu":
        return SwiGLU(d, width, NUM_CLASSES)
    raise UsageError(f"models: unknown model {name!r}; choose from {', '.join(MODELS)}")


def matched_width(name: str, d: int, target: int) -> int:
    """The hidden width of ``name`` whose parameter count is closest to ``target`` (closed forms:
    MLP ``d h + h + 4 h + 4``, MLP with hidden LayerNorm ``+ 2 h``, SwiGLU ``2 (d h + h) + 4 h + 4``)."""
    per_unit = {
        "mlp": d + 1 + NUM_CLASSES,
        "mlp_ln": d + 3 + NUM_CLASSES,
        "swiglu": 2 * (d + 1) + NUM_CLASSES,
    }[name]
    return max(1, round((target - NUM_CLASSES) / per_unit))


def build_model(name: str, d: int, hidden: int) -> nn.Module:
    """``name`` with ``d`` inputs and 4 logits; DifferentialFFN at ``hidden``, the others width-matched."""
    if hidden % 2:
        raise UsageError(f"hidden must be even (DifferentialFFN halves it), got {hidden}")
    if name == "differential_ffn":
        return _make(name, d, hidden)
    if name not in MODELS:
        _make(name, d, hidden)  # raises the usage error
    target = param_count(_make("differential_ffn", d, hidden))
    return _make(name, d, matched_width(name, d, target))


@torch.no_grad()
def common_mode_gain(model: nn.Module, x: Tensor, delta: float = 1.0, seed: int = 0) -> float:
    """``E||f(x + delta u_cm) - f(x)|| / E||f(x + delta v) - f(x)||``, ``u_cm = 1/sqrt(d)``, ``v`` random unit
    vectors orthogonal to ``1_d`` (one per example); 1 means no preference, below 1 common-mode rejection."""
    d = x.shape[1]
    gen = torch.Generator().manual_seed(seed)
    v = torch.randn(x.shape, generator=gen)
    v = v - v.mean(1, keepdim=True)  # orthogonal to 1_d
    v = v / v.norm(dim=1, keepdim=True)
    base = model(x)
    cm = (model(x + delta / d**0.5) - base).norm(dim=1).mean()
    diff = (model(x + delta * v) - base).norm(dim=1).mean()
    return float(cm / diff) if diff > 0 else float("nan")


def reference_accuracy(
    data: CommonModeData, common_std: float, noise_std: float, split: str = "test"
) -> float:
    """Accuracy of the quadrant of ``E[s | x]`` (Gaussian posterior mean, knows A, sigma_c, sigma_n)."""
    a = data.mixing.double()  # (d, 2)
    d = a.shape[0]
    cov = (
        a @ a.T
        + common_std**2 * torch.ones(d, d, dtype=torch.float64)
        + noise_std**2 * torch.eye(d, dtype=torch.float64)
        + 1e-9 * torch.eye(d, dtype=torch.float64)
    )
    s_hat = torch.linalg.solve(cov, data.raw[split].double().T).T @ a  # (n, 2) = x^T cov^-1 A
    pred = 2 * (s_hat[:, 0] > 0).long() + (s_hat[:, 1] > 0).long()
    return float((pred == data.y[split]).double().mean())


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (model, sigma_c, seed); return JSON-able results."""
    import torch.nn.functional as F

    from .tensor_fit import FitDiverged, diverged_result, fit

    cfg = DifferentialFFNConfig.model_validate(job["cfg"])
    data = common_mode_task(
        cfg.num_train,
        cfg.num_val,
        cfg.num_test,
        cfg.num_features,
        job["common_std"],
        cfg.noise_std,
        job["seed"],
    )
    torch.manual_seed(job["seed"])
    model = build_model(job["model"], cfg.num_features, cfg.hidden)

    def loss_fn(m: nn.Module, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(m(x), y)

    def evaluate(m: nn.Module) -> dict[str, float]:
        logits = m(data.x["val"])
        return {
            "val_loss": float(F.cross_entropy(logits, data.y["val"])),
            "val_acc": float((logits.argmax(1) == data.y["val"]).float().mean()),
        }

    try:
        res = fit(
            model,
            loss_fn,
            (data.x["train"], data.y["train"]),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=job["seed"],
            evaluate=evaluate,
        )
    except FitDiverged as err:  # a result to report, not a crash
        known = {"model": job["model"], "common_std": job["common_std"], "params": param_count(model)}
        return diverged_result(job, err, **known)
    with torch.no_grad():
        logits = model(data.x["test"])
    return {
        "label": job["label"],
        "model": job["model"],
        "common_std": job["common_std"],
        "seed": job["seed"],
        "run_dir": job["run_dir"],
        "params": param_count(model),
        "test_acc": float((logits.argmax(1) == data.y["test"]).float().mean()),
        "test_loss": float(F.cross_entropy(logits, data.y["test"])),
        "common_mode_gain": common_mode_gain(model, data.x["test"], seed=job["seed"]),
        "reference_acc": reference_accuracy(data, job["common_std"], cfg.noise_std),
        "wall_time": res.wall_time,
        "history": res.history,
    }


def _make_jobs(cfg: DifferentialFFNConfig, out_dir: Path) -> list[dict[str, Any]]:
    for name in cfg.models:
        build_model(name, cfg.num_features, cfg.hidden)  # unknown names / odd hidden fail before any run
    if len(set(cfg.models)) != len(cfg.models):
        raise UsageError(f"models: duplicate entries {cfg.models}")
    jobs = []
    for cs in cfg.common_stds:
        for name in cfg.models:
            for seed in cfg.seeds:
                jobs.append(
                    {
                        "label": f"{name} sigma_c={cs:g}",
                        "model": name,
                        "common_std": float(cs),
                        "seed": seed,
                        "epochs": cfg.epochs,
                        "cfg": cfg.model_dump(mode="json"),
                        "run_dir": str(out_dir / "runs" / f"{name}_cm{cs:g}_seed{seed}"),
                    }
                )
    return jobs


@register_experiment(
    "differential-ffn",
    config=DifferentialFFNConfig,
    description="DifferentialFFN vs parameter-matched MLP, MLP+LayerNorm and SwiGLU under common-mode noise",
    paper="Differential Transformer",
    year=2025,
    arxiv="2410.05258",
)
def run(cfg: DifferentialFFNConfig, out_dir: Path) -> Path:
    """Train every (model, sigma_c, seed), then write ``results.json``, ``plots/`` and the report."""
    from .differential_ffn_report import write_report
    from .tensor_fit import require_finished

    out_dir = Path(out_dir)
    if any(cs < 0 for cs in cfg.common_stds):
        raise UsageError(f"common_stds must be >= 0, got {cfg.common_stds}")
    jobs = _make_jobs(cfg, out_dir)
    save_experiment_config(cfg, out_dir)
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=min(cfg.workers, len(jobs)), threads=cfg.threads)
    require_finished("differential-ffn", results)
    meta = {
        "total_wall_time": time.perf_counter() - start,
        "num_runs": len(jobs),
        "params": {r["model"]: r["params"] for r in results},
        "diverged": [r["run_dir"] for r in results if r.get("diverged")],
    }
    report = write_report(cfg, results, meta, out_dir)
    payload = {"meta": meta, **report, "runs": results}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1))
    return out_dir
