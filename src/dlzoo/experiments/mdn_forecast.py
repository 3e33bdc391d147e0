"""``mdn-forecast``: a mixture density network forecasting a regime-switching time series, against a Gaussian
(one-component) head and an MSE regression, scored by NLL and by the calibration of its predictive intervals.

The fourth seed (dl_techniques) forecasts time series with an MDN (:class:`dlzoo.nn.MixtureDensityHead`;
Bishop, "Mixture Density Networks", Aston University NCRG/94/004, 1994). The series here is a two-regime
Markov-switching AR(1) (Hamilton, "A new approach to the economic analysis of nonstationary time series and
the business cycle", Econometrica 1989):

    r_t in {0, 1},  P(r_t != r_{t-1}) = p_switch,   r_1 ~ U{0, 1}
    x_t = a x_{t-1} + m_{r_t} + sigma e_t,   m = (-b, +b),  e_t ~ N(0, 1),  x_0 = 0

so the one-step predictive density given the past is exactly a two-component Gaussian mixture,

    p(x_{t+1} | x_{0..t}) = sum_j P(r_{t+1} = j | x_{0..t}) N(x_{t+1} | a x_t + m_j, sigma^2),

with the regime probabilities from the forward filter (:func:`regime_filter`): bimodal whenever the regime is
uncertain (after a switch), with modes ``2 b`` apart. That oracle is the lower bound on the expected NLL and a
perfectly calibrated forecaster. The models see the last ``window`` values and predict the next one; the split
is chronological (first 70% train, 15% val, 15% test). Variants: MDN heads with ``components`` (K=1 is the
Gaussian baseline, trained by the same NLL), and an MSE regression whose predictive distribution is a Gaussian
around its prediction with the validation RMSE as std. Scores on the test steps: NLL (nats per step), RMSE of
the predictive mean, coverage of the central 50/80/95% intervals from the mixture CDF, PIT histogram and its
KS distance from uniform (:mod:`dlzoo.analysis.mixture_calibration`), mean interval widths (sharpness).

    dlzoo experiment run mdn-forecast seeds=[0,1] components=[1,3] epochs=20
"""

from __future__ import annotations

import json
import math
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
    "MDNForecastConfig",
    "regime_series",
    "regime_filter",
    "windows",
    "predictive",
    "score",
    "train_job",
    "run",
]


class MDNForecastConfig(BaseModel):
    """Settings of the MDN forecasting experiment (every key can be overridden with ``key=value``)."""

    model_config = ConfigDict(extra="forbid", protected_namespaces=())

    components: list[int] = Field(
        default_factory=lambda: [1, 3],
        min_length=1,
        description="mixture sizes of the MDN heads (1: the Gaussian baseline)",
    )
    mse_baseline: bool = True
    seeds: list[int] = Field(default_factory=lambda: [0, 1, 2], min_length=1)
    length: int = Field(6000, ge=100, description="steps of the series (one series per seed)")
    window: int = Field(16, ge=1, description="past values the models see")
    ar: float = Field(0.5, gt=-1, lt=1, description="a, the AR(1) coefficient")
    shift: float = Field(1.0, ge=0, description="b, the regime means are -b and +b")
    noise_std: float = Field(0.5, gt=0, description="sigma")
    switch_prob: float = Field(0.15, ge=0, le=1, description="p_switch per step")
    hidden: int = Field(64, ge=1)
    epochs: int = Field(30, ge=1)
    batch_size: int = Field(128, ge=1)
    lr: float = Field(3e-3, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    levels: list[float] = Field(default_factory=lambda: [0.5, 0.8, 0.95], min_length=1)
    pit_bins: int = Field(10, ge=2)
    density_examples: int = Field(4, ge=0, description="test steps whose predicted densities are plotted")
    workers: int = Field(1, ge=1)
    threads: int = Field(1, ge=1)
    output_dir: str = "runs"


def regime_series(
    length: int, ar: float, shift: float, noise_std: float, switch_prob: float, seed: int
) -> tuple[Tensor, Tensor]:
    """``x (length + 1,)`` float64 with ``x_0 = 0`` and the regimes ``r (length + 1,)`` (``r_0`` unused)."""
    gen = torch.Generator().manual_seed(seed)
    switches = torch.rand(length, generator=gen, dtype=torch.float64) < switch_prob
    noise = torch.randn(length, generator=gen, dtype=torch.float64)
    r = torch.zeros(length + 1, dtype=torch.long)
    r1 = int(torch.randint(0, 2, (1,), generator=gen))
    flips = torch.cumsum(switches[1:].long(), 0)  # r_t = r_1 xor (number of switches up to t)
    r[1] = r1
    r[2:] = (r1 + flips) % 2
    drive = (shift * (2 * r[1:] - 1) + noise_std * noise).tolist()  # m_{r_t} + sigma e_t, t = 1..length
    values = [0.0]
    for d in drive:  # the AR(1) recursion, in Python floats (float64)
        values.append(ar * values[-1] + d)
    x = torch.tensor(values, dtype=torch.float64)
    return x, r


def regime_filter(
    x: Tensor, ar: float, shift: float, noise_std: float, switch_prob: float
) -> tuple[Tensor, Tensor, Tensor]:
    """The exact predictive mixtures of ``x_{t+1}`` given ``x_0..x_t`` for ``t = 0..T-1``: ``(log weights,
    means, stds)``, each ``(T, 2)`` (Hamilton filter: predict with the transition, update with the
    likelihood)."""
    p = switch_prob
    xs = x.tolist()
    n = len(xs) - 1
    weights = []
    post0, post1 = 0.5, 0.5  # P(r_1 = j) before seeing x_1 (uniform); two states, in Python floats
    for t in range(n):
        if t == 0:
            pred0, pred1 = post0, post1
        else:  # predict: P(r_{t+1} = j | x_0..x_t) = sum_i post_i T_ij
            pred0, pred1 = post0 * (1 - p) + post1 * p, post0 * p + post1 * (1 - p)
        weights.append((pred0, pred1))
        base = xs[t + 1] - ar * xs[t]
        z0, z1 = (base + shift) / noise_std, (base - shift) / noise_std
        zmin = min(z0 * z0, z1 * z1)  # update with the likelihood (common factors cancel)
        post0, post1 = pred0 * math.exp(-0.5 * (z0 * z0 - zmin)), pred1 * math.exp(-0.5 * (z1 * z1 - zmin))
        total = post0 + post1
        post0, post1 = (post0 / total, post1 / total) if total > 0 else (0.5, 0.5)
    log_w = torch.tensor(weights, dtype=torch.float64).clamp_min(1e-300).log()  # (T, 2)
    m = torch.tensor([-shift, shift], dtype=torch.float64)
    means = ar * x[:-1, None] + m  # (T, 2)
    return log_w, means, torch.full((n, 2), noise_std, dtype=torch.float64)


def windows(x: Tensor, window: int) -> tuple[Tensor, Tensor, Tensor]:
    """Inputs ``(N, window)`` = ``x_{t-window+1..t}``, targets ``(N,)`` = ``x_{t+1}`` and ``t (N,)``, for
    every ``t >= window`` (so each input lies after ``x_0``)."""
    t = torch.arange(window, x.numel() - 1)
    idx = t[:, None] + torch.arange(-window + 1, 1)[None, :]  # (N, window)
    return x[idx].float(), x[t + 1].float(), t


def chrono_split(n: int) -> dict[str, slice]:
    a, b = int(0.7 * n), int(0.85 * n)
    return {"train": slice(0, a), "val": slice(a, b), "test": slice(b, n)}


class Forecaster(nn.Module):
    """``window -> hidden -> hidden`` GELU MLP trunk (:class:`dlzoo.nn.Mlp`) and a mixture-density or
    point head."""

    def __init__(self, window: int, hidden: int, components: int | None) -> None:
        super().__init__()
        from ..nn import GELU, Linear, MixtureDensityHead, Mlp

        self.trunk = nn.Sequential(Mlp(window, hidden, hidden), GELU())
        self.components = components
        self.head = Linear(hidden, 1) if components is None else MixtureDensityHead(hidden, 1, components)

    def forward(self, x: Tensor):
        return self.head(self.trunk(x))


def predictive(model: Forecaster, x: Tensor, point_std: float | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """The predictive mixture ``(pi_logits, mu, sigma)`` each ``(N, K)``; a point model is a Gaussian with
    std ``point_std``."""
    out = model(x)
    if model.components is None:
        mu = out  # (N, 1)
        return torch.zeros_like(mu), mu, torch.full_like(mu, float(point_std))
    pi_logits, mu, sigma = out
    return pi_logits, mu[..., 0], sigma[..., 0]  # (N, K, 1) -> (N, K)


def score(
    pi_logits: Tensor, mu: Tensor, sigma: Tensor, y: Tensor, levels: list[float], bins: int
) -> dict[str, Any]:
    """NLL, RMSE of the mean, coverage / mean width per level, PIT histogram and KS distance."""
    from ..analysis.mixture_calibration import (
        central_interval,
        interval_coverage,
        ks_uniform,
        mixture_mean,
        pit,
        pit_histogram,
    )
    from ..losses.mdn import mdn_log_prob

    p, m, s, yy = pi_logits.double(), mu.double(), sigma.double(), y.double()
    u = pit(p, m, s, yy)
    widths = {}
    for level in levels:
        lo, hi = central_interval(p, m, s, level)
        widths[str(level)] = float((hi - lo).mean())
    return {
        "nll": float(-mdn_log_prob(p, m, s, yy).mean()),
        "rmse": float((mixture_mean(p, m) - yy).pow(2).mean().sqrt()),
        "coverage": {str(k): v for k, v in interval_coverage(u, levels).items()},
        "width": widths,
        "pit_hist": pit_histogram(u, bins),
        "ks": ks_uniform(u),
    }


def _variants(cfg: MDNForecastConfig) -> list[dict[str, Any]]:
    if any(k < 1 for k in cfg.components):
        raise UsageError(f"components must be >= 1, got {cfg.components}")
    if len(set(cfg.components)) != len(cfg.components):
        raise UsageError(f"components: duplicate entries {cfg.components}")
    if any(not 0.0 < lv < 1.0 for lv in cfg.levels):
        raise UsageError(f"levels must lie in (0, 1), got {cfg.levels}")
    out = [{"label": "gaussian (K=1)" if k == 1 else f"mdn (K={k})", "components": k} for k in cfg.components]
    if cfg.mse_baseline:
        out.append({"label": "mse regression", "components": None})
    return out


def _density_indices(log_w: Tensor, count: int) -> list[int]:
    """Test steps to plot: the most bimodal by the oracle (largest minority weight), then a confident one."""
    if count == 0:
        return []
    minority = log_w.exp().min(1).values
    order = torch.argsort(minority, descending=True).tolist()
    picks = order[: max(1, count - 1)]
    if count > 1:
        picks.append(order[-1])  # the most confident step
    return picks


def train_job(job: dict[str, Any]) -> dict[str, Any]:
    """Train one (variant, seed) and score it (and the oracle) on the test steps."""
    from ..losses.mdn import mdn_nll
    from .tensor_fit import FitDiverged, diverged_result, fit

    cfg = MDNForecastConfig.model_validate(job["cfg"])
    x, _ = regime_series(cfg.length, cfg.ar, cfg.shift, cfg.noise_std, cfg.switch_prob, job["seed"])
    inputs, targets, t = windows(x, cfg.window)
    split = chrono_split(len(targets))
    torch.manual_seed(job["seed"])
    model = Forecaster(cfg.window, cfg.hidden, job["components"])

    def loss_fn(m: nn.Module, xb: Tensor, yb: Tensor) -> Tensor:
        out = m(xb)
        if m.components is None:
            return (out[:, 0] - yb).pow(2).mean()
        return mdn_nll(*out, yb[:, None])

    xv, yv = inputs[split["val"]], targets[split["val"]]

    def evaluate(m: nn.Module) -> dict[str, float]:
        return {"val_loss": float(loss_fn(m, xv, yv))}

    try:
        res = fit(
            model,
            loss_fn,
            (inputs[split["train"]], targets[split["train"]]),
            epochs=cfg.epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            weight_decay=cfg.weight_decay,
            seed=job["seed"],
            evaluate=evaluate,
        )
    except FitDiverged as err:  # a result to report, not a crash
        return diverged_result(job, err, components=job["components"])
    point_std = None
    with torch.no_grad():
        if job["components"] is None:
            point_std = float((model(xv)[:, 0] - yv).pow(2).mean().sqrt())  # validation RMSE
        xt, yt = inputs[split["test"]], targets[split["test"]]
        pred = predictive(model, xt, point_std)
    oracle_all = regime_filter(x, cfg.ar, cfg.shift, cfg.noise_std, cfg.switch_prob)
    oracle = tuple(o[t[split["test"]]] for o in oracle_all)  # predictive of x_{t+1} given x_0..x_t
    out = {
        "label": job["label"],
        "components": job["components"],
        "seed": job["seed"],
        "run_dir": job["run_dir"],
        "num_test": int(yt.numel()),
        "point_std": point_std,
        "wall_time": res.wall_time,
        "history": res.history,
        **score(*pred, yt, cfg.levels, cfg.pit_bins),
        "oracle": score(*oracle, yt, cfg.levels, cfg.pit_bins),
    }
    if job.get("densities"):
        idx = _density_indices(oracle[0], cfg.density_examples)
        lo = (oracle[1][idx] - 4 * cfg.noise_std).min(1).values
        hi = (oracle[1][idx] + 4 * cfg.noise_std).max(1).values
        grid = lo[:, None] + (hi - lo)[:, None] * torch.linspace(0, 1, 200, dtype=torch.float64)  # (E, 200)
        from ..analysis.mixture_calibration import mixture_pdf

        p, m, s = (v[idx].double() for v in pred)
        out["densities"] = {
            "index": idx,
            "grid": grid.tolist(),
            "y": yt[idx].double().tolist(),
            "model": mixture_pdf(p, m, s, grid).tolist(),
            "oracle": mixture_pdf(*(o[idx] for o in oracle), grid).tolist(),
        }
    return out


@register_experiment(
    "mdn-forecast",
    config=MDNForecastConfig,
    description="MDN vs Gaussian head vs MSE regression on a regime-switching AR(1): NLL, coverage, PIT",
    paper="Mixture Density Networks",
    year=1994,
    arxiv="NCRG/94/004",
)
def run(cfg: MDNForecastConfig, out_dir: Path) -> Path:
    """Train every (variant, seed), then write ``results.json``, ``plots/`` and the report."""
    from .mdn_forecast_report import write_report
    from .tensor_fit import require_finished

    out_dir = Path(out_dir)
    variants = _variants(cfg)
    if cfg.length * 0.15 < cfg.window + 10:
        raise UsageError(f"length {cfg.length} is too short for window {cfg.window}")
    jobs = [
        {
            "label": v["label"],
            "components": v["components"],
            "seed": seed,
            "epochs": cfg.epochs,
            "cfg": cfg.model_dump(mode="json"),
            "densities": i == 0,
            "run_dir": str(
                out_dir / "runs" / f"{v['label'].split(' ')[0]}{v['components'] or ''}_seed{seed}"
            ),
        }
        for v in variants
        for i, seed in enumerate(cfg.seeds)
    ]
    save_experiment_config(cfg, out_dir)
    start = time.perf_counter()
    results = run_jobs(train_job, jobs, workers=min(cfg.workers, len(jobs)), threads=cfg.threads)
    require_finished("mdn-forecast", results)
    meta = {
        "total_wall_time": time.perf_counter() - start,
        "num_runs": len(jobs),
        "diverged": [r["run_dir"] for r in results if r.get("diverged")],
    }
    report = write_report(cfg, results, meta, out_dir)
    payload = {"meta": meta, **report, "runs": results}
    (out_dir / "results.json").write_text(json.dumps(payload, indent=1, allow_nan=True))
    return out_dir
