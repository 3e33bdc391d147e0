"""Compare two training runs from their run directories: what differs in the config, and the metrics.

Every ``dlzoo train`` run writes ``config.yaml`` (the resolved config), ``metrics.jsonl`` (one record per
epoch) and ``results.json`` (the test metrics of the final model). This script reads two such directories
and prints the config keys that differ, the per-epoch validation curves side by side and the test results.
With no directories it first trains two short runs of ``configs/mlp_digits.yaml`` that differ in one key
(LayerNorm vs DyT, Zhu et al. 2025, arXiv:2503.10622):

    python examples/compare_runs.py                              # trains two 2-epoch runs, then compares
    python examples/compare_runs.py runs/a/2026... runs/b/2026...
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path
from typing import Any

import yaml

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "mlp_digits.yaml"


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (the override syntax of ``dlzoo train``)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(flatten(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def read_run(run_dir: Path) -> dict[str, Any]:
    for name in ("config.yaml", "metrics.jsonl", "results.json"):
        if not (run_dir / name).is_file():
            raise SystemExit(f"compare_runs: {run_dir} is not a finished run directory ({name} is missing)")
    return {"config": flatten(yaml.safe_load((run_dir / "config.yaml").read_text())),
            "history": [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()
                        if line.strip()],
            "test": json.loads((run_dir / "results.json").read_text())}


def compare(a_dir: Path, b_dir: Path) -> dict[str, Any]:
    a, b = read_run(a_dir), read_run(b_dir)
    ignore = {"name", "output_dir"}
    differ = {k: (a["config"].get(k), b["config"].get(k)) for k in sorted(set(a["config"]) | set(b["config"]))
              if k not in ignore and a["config"].get(k) != b["config"].get(k)}
    print(f"A = {a_dir}\nB = {b_dir}\nconfig keys that differ:")
    for key, (va, vb) in differ.items():
        print(f"  {key}: {va!r} (A) vs {vb!r} (B)")
    print(f"\n{'epoch':>5} {'val_loss A':>11} {'val_loss B':>11} {'val_acc A':>10} {'val_acc B':>10}")
    for ra, rb in zip(a["history"], b["history"]):
        cells = [ra.get("val_loss"), rb.get("val_loss"), ra.get("val_acc"), rb.get("val_acc")]
        shown = [f"{c:.4f}" if isinstance(c, float) else "-" for c in cells]
        print(f"{ra['epoch']:>5} {shown[0]:>11} {shown[1]:>11} {shown[2]:>10} {shown[3]:>10}")
    test_a, test_b = a["test"].get("test", a["test"]), b["test"].get("test", b["test"])
    print("\ntest:")
    for key in sorted(k for k in set(test_a) & set(test_b) if isinstance(test_a[k], (int, float))):
        print(f"  {key}: {test_a[key]:.4f} (A) vs {test_b[key]:.4f} (B)")
    return {"differ": differ, "test": (test_a, test_b)}


def train_two(out: Path, epochs: int) -> tuple[Path, Path]:
    from dlzoo.train import load_config, train

    dirs = []
    for norm in ("layernorm", "dyt"):
        overrides = [f"name=mlp-digits-{norm}", f"output_dir={out}", f"train.epochs={epochs}",
                     f"model.kwargs.norm_layer={norm}"]
        cfg = load_config(CONFIG, overrides)
        dirs.append(train(cfg, progress=False).run_dir)
        print(f"trained {norm}: {dirs[-1]}")
    return dirs[0], dirs[1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="*", type=Path, help="two run directories (default: train two)")
    p.add_argument("--epochs", type=int, default=2, help="epochs of each run trained here")
    p.add_argument("--out", type=Path, default=None, help="where to train them (default: a temp dir)")
    args = p.parse_args(argv)
    if len(args.runs) == 2:
        compare(*args.runs)
        return 0
    if args.runs:
        p.error("give two run directories, or none to train two")
    if args.out is not None:
        compare(*train_two(args.out, args.epochs))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        compare(*train_two(Path(tmp), args.epochs))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
