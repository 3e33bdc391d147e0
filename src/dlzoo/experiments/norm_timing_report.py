"""Report of the ``norm-timing`` experiment: Table 7 analogue, floor ratios, plots, findings from the numbers.

The paper's claim (arXiv:2503.10622, Table 7 and the revised text): DyT is faster than RMSNorm in eager
PyTorch and about as fast under torch.compile. It is tested per (device, dtype, mode) on the ratio
``t(DyT) / t(RMSNorm)`` of the same implementation at every size: a ratio under 1 - TOL is called
"faster", over 1 + TOL "slower", otherwise "similar" (TOL = 10%, the size of run-to-run drift of medians
on this shared machine). Times are medians of interleaved rounds; no significance test is made on them.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import yaml  # noqa: E402

from ..report import Report  # noqa: E402

__all__ = ["write_report", "ratio_verdict", "claim_ratios", "claim_summary", "TOL"]

TOL = 0.10
_STYLE = {"eager": "-", "torch": "--", "fused": "-.", "compile": ":"}
_MARKER = {"eager": "o", "torch": "s", "fused": "^", "compile": "x"}
_COLOR = {"layernorm": "C0", "rmsnorm": "C1", "dyt": "C2", "derf": "C3", "copy": "k", "identity": "0.5"}


def ratio_verdict(ratios: Sequence[float]) -> str:
    """ "faster" / "slower" / "similar" / "mixed" for DyT/RMSNorm time ratios over sizes."""
    words = {"faster" if r < 1 - TOL else "slower" if r > 1 + TOL else "similar" for r in ratios}
    return words.pop() if len(words) == 1 else "mixed"


def _geomean(values: Sequence[float]) -> float:
    return math.exp(statistics.fmean(math.log(v) for v in values))


def _pick(rows: Sequence[dict[str, Any]], **match: Any) -> list[dict[str, Any]]:
    return [r for r in rows if all(r.get(k) == v for k, v in match.items())]


def claim_ratios(
    rows: Sequence[dict[str, Any]], impl: str, a: str = "dyt", b: str = "rmsnorm", section: str = "layer"
) -> dict[tuple[str, str, str], list[tuple[list[int], float]]]:
    """``{(device, dtype, mode): [(shape, t_a / t_b), ...]}`` for implementation ``impl``."""
    out: dict[tuple[str, str, str], list[tuple[list[int], float]]] = {}
    for ra in _pick(rows, section=section, norm=a, impl=impl):
        key = {k: ra[k] for k in ("device", "dtype", "mode", "shape")}
        if section == "block":
            key["stack"] = ra["stack"]
        match = _pick(rows, section=section, norm=b, impl=impl, **key)
        if match:
            out.setdefault((ra["device"], ra["dtype"], ra["mode"]), []).append(
                (ra["shape"], ra["us"] / match[0]["us"])
            )
    return out


def claim_summary(rows: Sequence[dict[str, Any]], impl: str, expected: str) -> str:
    """How many (device, dtype, mode) groups give the verdict the paper expects for ``impl``."""
    ratios = claim_ratios(rows, impl)
    if not ratios:
        return ""
    verdicts = {key: ratio_verdict([r for _, r in pairs]) for key, pairs in ratios.items()}
    hits = [" ".join(k) for k, v in verdicts.items() if v == expected]
    where = f" ({'; '.join(hits)})" if hits else ""
    holds = (
        "holds here"
        if len(hits) == len(verdicts)
        else "holds only in part here"
        if hits
        else "does not hold here"
    )
    return (
        f"Verdict: DyT is {expected} {'to' if expected == 'similar' else 'than'} RMSNorm at every size in "
        f"{len(hits)} of {len(verdicts)} (device, dtype, mode) groups{where}, so the claim "
        f"{holds}."
    )


def _claim_text(rows: Sequence[dict[str, Any]], impl: str, what: str) -> list[str]:
    ratios = claim_ratios(rows, impl)
    if not ratios:
        return [f"{what}: not measured (no {impl} rows for both DyT and RMSNorm)."]
    text = []
    for (device, dtype, mode), pairs in ratios.items():
        values = [r for _, r in pairs]
        verdict = ratio_verdict(values)
        sizes = ", ".join(f"{'x'.join(map(str, s))}: {r:.2f}" for s, r in pairs)
        if verdict == "mixed":
            counts = {
                w: sum(ratio_verdict([r]) == w for r in values) for w in ("faster", "similar", "slower")
            }
            said = ", ".join(f"{w} at {n}" for w, n in counts.items() if n)
            tail = f"so the answer depends on the size: DyT is {said} of {len(values)} sizes"
        else:
            tail = f"so DyT is {verdict} {'to' if verdict == 'similar' else 'than'} RMSNorm at every size"
        backends = sorted(
            {
                r["backend"]
                for r in _pick(
                    rows, section="layer", norm="dyt", impl=impl, device=device, dtype=dtype, mode=mode
                )
            }
        )
        kernel = f" (DyT backend: {', '.join(backends)})" if impl == "fused" else ""
        text.append(
            f"{what}, {device} {dtype} {mode}{kernel}: DyT / RMSNorm time = {sizes} (geometric mean "
            f"{_geomean(values):.2f}), {tail}."
        )
    return text


def _block_text(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Per (device, stack, dtype): DyT / RMSNorm time of the norm layers and of the whole stack."""
    block = [r for r in rows if r["section"] == "block"]
    text = []
    for device, stack, dtype in dict.fromkeys((r["device"], r["stack"], r["dtype"]) for r in block):
        layer_parts, stack_parts = [], []
        shape = ""
        for r in _pick(block, device=device, stack=stack, dtype=dtype, norm="dyt"):
            b = _pick(
                block, device=device, stack=stack, dtype=dtype, norm="rmsnorm", impl=r["impl"], mode=r["mode"]
            )
            if not b:
                continue
            shape = "x".join(map(str, r["shape"]))
            where = f"{r['mode']} {r['impl']}"
            stack_parts.append(f"{where} {r['us'] / b[0]['us']:.2f}x")
            if r.get("norm_us") and b[0].get("norm_us"):
                layer_parts.append(f"{where} {r['norm_us'] / b[0]['norm_us']:.2f}x")
        if not stack_parts:
            continue
        s = f"{stack} stack ({shape}), {device} {dtype}: DyT / RMSNorm time of the norm layers "
        s += f"{', '.join(layer_parts)}; " if layer_parts else "not measured; "
        text.append(s + f"of the whole stack {', '.join(stack_parts)}.")
    return text


def _floor_text(rows: Sequence[dict[str, Any]]) -> list[str]:
    text = []
    for device, dtype, mode in dict.fromkeys(
        (r["device"], r["dtype"], r["mode"]) for r in rows if r["section"] == "layer"
    ):
        group = _pick(rows, section="layer", device=device, dtype=dtype, mode=mode)
        biggest = max(r["numel"] for r in group)
        at = [r for r in group if r["numel"] == biggest and r["norm"] != "copy"]
        bw = at[0]["bandwidth_gb_s"]
        best = {}
        for r in at:
            if r["norm"] not in best or r["us"] < best[r["norm"]]["us"]:
                best[r["norm"]] = r
        parts = ", ".join(f"{n} {r['vs_floor']:.1f}x ({r['impl']})" for n, r in best.items())
        text.append(
            f"{device} {dtype} {mode} at {'x'.join(map(str, at[0]['shape']))}: measured bandwidth "
            f"{bw:.1f} GB/s (x.clone()), floor {at[0]['floor_us']:.0f} us; fastest implementation of "
            f"each norm vs that floor: {parts}."
        )
    return text


def _layer_plot(rows: Sequence[dict[str, Any]], device: str, path: Path) -> Path:
    groups = list(
        dict.fromkeys(
            (r["dtype"], r["mode"]) for r in rows if r["section"] == "layer" and r["device"] == device
        )
    )
    cols = 2
    nrows = math.ceil(len(groups) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(13.0, 4.6 * nrows), squeeze=False)
    for ax, (dtype, mode) in zip(axes.flat, groups):
        group = _pick(rows, section="layer", device=device, dtype=dtype, mode=mode)
        for name in dict.fromkeys((r["norm"], r["impl"]) for r in group):
            pts = sorted((r["numel"], r["us"]) for r in group if (r["norm"], r["impl"]) == name)
            if name[0] == "copy":
                floor = sorted((r["numel"], r["floor_us"]) for r in group if r["norm"] == "copy")
                ax.plot(*zip(*floor), color="k", lw=2.2, alpha=0.35, label="memory floor (bytes / bandwidth)")
                continue
            ax.plot(
                *zip(*pts),
                color=_COLOR[name[0]],
                ls=_STYLE[name[1]],
                marker=_MARKER[name[1]],
                ms=4,
                label=f"{name[0]} {name[1]}",
            )
        ax.set_xscale("log")
        ax.set_yscale("log")
        sizes = sorted({(r["numel"], "x".join(map(str, r["shape"]))) for r in group})
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_xticks([n for n, _ in sizes], [lbl for _, lbl in sizes], rotation=30, fontsize=7)
        ax.set_xlabel("input rows x C (placed at its element count, log)")
        ax.set_ylabel("time per call (us, log)")
        ax.set_title(f"{device} {dtype} {mode}")
        ax.grid(alpha=0.3, which="both")
    for ax in list(axes.flat)[len(groups) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, ncol=2)
    fig.suptitle("Norm layers alone: median time vs size (colour = norm, line style = implementation)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _block_plot(rows: Sequence[dict[str, Any]], device: str, path: Path) -> Path:
    block = [r for r in rows if r["section"] == "block" and r["device"] == device]
    groups = list(dict.fromkeys((r["stack"], r["dtype"], r["mode"]) for r in block))
    names = list(dict.fromkeys((r["norm"], r["impl"]) for r in block))
    fig, ax = plt.subplots(figsize=(max(8.0, 1.6 * len(groups)), 4.8))
    width = 0.8 / max(1, len(names))
    for i, name in enumerate(names):
        vals = []
        for g in groups:
            m = [
                r
                for r in block
                if (r["stack"], r["dtype"], r["mode"]) == g and (r["norm"], r["impl"]) == name
            ]
            vals.append(m[0]["us"] / m[0]["identity_us"] if m else float("nan"))
        hatch = {"eager": "", "fused": "//", "compile": "..", "none": "xx"}[name[1]]
        ax.bar(
            [k + i * width for k in range(len(groups))],
            vals,
            width,
            color=_COLOR[name[0]],
            hatch=hatch,
            edgecolor="white",
            label=f"{name[0]} {name[1]}",
        )
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks(
        [k + 0.4 - width / 2 for k in range(len(groups))],
        [f"{s}\n{d}\n{m}" for s, d, m in groups],
        fontsize=7,
    )
    ax.set_ylabel("stack time / stack with Identity norms")
    ax.set_title(f"Block stacks on {device}: time relative to the same stack without norms")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7, ncol=3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _layer_table(rep: Report, rows: Sequence[dict[str, Any]], device: str, dtype: str) -> None:
    group = _pick(rows, section="layer", device=device, dtype=dtype)
    keys = list(dict.fromkeys((tuple(r["shape"]), r["norm"], r["impl"]) for r in group))
    out = []
    for shape, norm, impl in keys:
        cells = [f"{'x'.join(map(str, shape))}", norm, impl]
        note = ""
        for mode in ("forward", "forward+backward"):
            m = [
                r
                for r in group
                if (tuple(r["shape"]), r["norm"], r["impl"], r["mode"]) == (shape, norm, impl, mode)
            ]
            cells += [f"{m[0]['us']:.0f}", f"{m[0]['vs_floor']:.2f}"] if m else ["", ""]
            note = m[0]["backend"] if m else note
        out.append(cells + [note])
    rep.table(
        ["shape", "norm", "impl", "fwd us", "fwd / floor", "fwd+bwd us", "fwd+bwd / floor", "backend"],
        out,
        align=["l", "l", "l", "r", "r", "r", "r", "l"],
    )


def _table7(rep: Report, rows: Sequence[dict[str, Any]]) -> None:
    block = [r for r in rows if r["section"] == "block"]
    keys = list(dict.fromkeys((r["device"], r["stack"], r["dtype"], r["norm"], r["impl"]) for r in block))
    out = []
    for dev, stack, dtype, norm, impl in keys:
        cells = [dev, stack, dtype, norm, impl]
        for mode in ("forward", "forward+backward"):
            m = _pick(block, device=dev, stack=stack, dtype=dtype, norm=norm, impl=impl, mode=mode)
            norms = m[0]["norm_us"] if m else None
            cells += [
                f"{norms / 1e3:.2f}" if norms is not None else "",
                f"{m[0]['us'] / 1e3:.2f}" if m else "",
            ]
        out.append(cells)
    rep.table(
        [
            "device",
            "stack",
            "dtype",
            "norm",
            "impl",
            "inference: norms ms",
            "inference: stack ms",
            "training: norms ms",
            "training: stack ms",
        ],
        out,
        align=["l"] * 5 + ["r"] * 4,
    )


def write_report(cfg: Any, rows: Sequence[dict[str, Any]], meta: dict[str, Any], out_dir: Path) -> dict:
    """Write plots and ``report.md``/``report.html`` into ``out_dir``; return the findings."""
    plots = out_dir / "plots"
    plots.mkdir(parents=True, exist_ok=True)
    eager = _claim_text(rows, "eager", "Eager (explicit tensor ops)")
    fused = _claim_text(rows, "fused", "dlzoo fused kernels")
    torch_rms = claim_ratios(
        [
            r if not (r["norm"] == "rmsnorm" and r["impl"] == "torch") else {**r, "impl": "fused"}
            for r in rows
            if not (r["norm"] == "rmsnorm" and r["impl"] == "fused")
        ],
        "fused",
    )
    vs_torch = [
        f"dlzoo fused DyT vs torch.nn.RMSNorm, {d} {t} {m}: ratios "
        f"{', '.join(f'{r:.2f}' for _, r in pairs)} ({ratio_verdict([r for _, r in pairs])})."
        for (d, t, m), pairs in torch_rms.items()
    ]
    compiled = (
        _claim_text(rows, "compile", "torch.compile")
        if cfg.compile
        else [
            "Under torch.compile: not tested in this run (compile=false, the default, because each graph "
            "takes 5-20 s to compile on this machine); rerun with compile=true to test the second half of "
            "the claim."
        ]
    )
    blocks = _block_text(rows)
    floors = _floor_text(rows)

    rep = Report("Norm timing: LayerNorm, RMSNorm, DyT, Derf (DyT paper Table 7 analogue)")
    rep.paragraph(
        "Zhu et al. (arXiv:2503.10622, Table 7) time LLaMA 7B in BF16 with RMSNorm or DyT: the norm layers "
        "take 2.1 s vs 1.0 s for 100 inference passes and 8.3 s vs 4.8 s for training, in eager PyTorch; the "
        "revised paper notes that under torch.compile DyT and RMSNorm have similar latency. This report "
        "measures the same comparison at laptop scale: the norm layers alone over sizes, and inside real "
        "ViT-S and LLaMA block stacks."
    )
    rep.paragraph(
        f"Machine: {meta['cpu']}{', ' + meta['cuda'] if meta.get('cuda') else ''}, torch {meta['torch']}, "
        f"{meta['threads']} CPU thread(s), {meta['rounds']} interleaved rounds per group (median reported), "
        f"glibc heap trimming {'off' if meta.get('no_malloc_trim') else 'on'}, "
        f"load average {meta['loadavg_at_start']} at start (the machine is shared: absolute times are noisy, "
        f"ratios within a group less so), {meta['date']}, {meta['total_wall_time']:.0f} s in total. "
        f"torch.compile {'on' if cfg.compile else 'off (compile=true turns it on)'}. Implementations: "
        "eager = dlzoo's explicit tensor-op math (dlzoo.reference_mode(), what the paper's eager RMSNorm "
        "is); torch = torch.nn.LayerNorm / RMSNorm; fused = dlzoo's default path (dlzoo.kernels DyT and "
        "RMSNorm kernels, F.layer_norm; the backend column names the kernel); compile = torch.compile of "
        "the eager math. "
        f"Verdicts: a DyT/RMSNorm time ratio under {1 - TOL:.2f} is 'faster', over {1 + TOL:.2f} 'slower', "
        "otherwise 'similar'; medians are compared directly, without a significance test."
    )
    rep.heading("Findings")
    eager_verdict = claim_summary(rows, "eager", "faster")
    compile_verdict = claim_summary(rows, "compile", "similar")
    rep.paragraph("Claim 1, DyT faster than RMSNorm in eager PyTorch. " + " ".join([eager_verdict, *eager]))
    if blocks:
        rep.paragraph("Inside the block stacks. " + " ".join(blocks))
    rep.paragraph("Claim 2, similar under torch.compile. " + " ".join([compile_verdict, *compiled]))
    rep.paragraph("Hand-fused kernels (not in the paper). " + " ".join(fused + vs_torch))
    rep.paragraph(
        "Memory-traffic floor (ideal bytes / bandwidth measured by x.clone() in the same group). "
        + " ".join(floors)
    )
    if any(r["section"] == "block" for r in rows):
        rep.heading("Table 7 analogue: block stacks")
        rep.paragraph(
            "'norms ms' = the number of norm layers in the stack times the time of one of them "
            "alone on an input of the stack's activation shape (timed in the same interleaved group "
            "as the stacks); 'stack ms' = the whole stack (the 'identity' row: every norm replaced by "
            "Identity); inference = forward without autograd, training = forward + backward "
            "(gradients of the input and every parameter)."
        )
        _table7(rep, rows)
    for device in meta["devices"]:
        rep.heading(f"Norm layers alone ({device})")
        rep.figure(
            _layer_plot(rows, device, plots / f"layers_{device}.png"),
            "Median time per call vs input size; the thick grey line is the memory-traffic floor.",
        )
        for dtype in cfg.dtypes:
            rep.heading(f"{device} {dtype}", level=3)
            _layer_table(rep, rows, device, dtype)
        if any(r["section"] == "block" and r["device"] == device for r in rows):
            rep.figure(
                _block_plot(rows, device, plots / f"blocks_{device}.png"),
                "Block-stack time relative to the Identity-norm stack (1 = the norms cost nothing).",
            )
    rep.heading("Configuration")
    rep.pre(yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False).strip())
    rep.write(out_dir)
    return {
        "findings": {
            "eager_verdict": eager_verdict,
            "compile_verdict": compile_verdict,
            "eager": eager,
            "compile": compiled,
            "fused": fused + vs_torch,
            "blocks": blocks,
            "floor": floors,
        }
    }
