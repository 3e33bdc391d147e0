"""Table rows of benchmarks/results/plain_vs_residual.md from the runs of its commands.

``python benchmarks/plain_vs_residual_summary.py RUNS_DIR`` reads
``RUNS_DIR/deep-{plain,residual}-cnn-digits-seed{0,1,2}*/<timestamp>/{metrics.jsonl,results.json}`` and
prints, per metric, mean +- std over the seeds of each net, the paired difference and its paired t-test p.
"""

from __future__ import annotations

import glob
import json
import statistics as st
import sys

from dlzoo.experiments.llm_norms_stats import paired_t_test

SEEDS = (0, 1, 2)
METRICS = {
    "train_loss epoch 1": lambda h, r: h[0]["train_loss"],
    "train_loss epoch 5": lambda h, r: h[4]["train_loss"],
    "train_loss last epoch": lambda h, r: h[-1]["train_loss"],
    "train_acc last epoch": lambda h, r: h[-1]["train_acc"],
    "test_acc": lambda h, r: r["test"]["acc"],
}


def load(root: str, kind: str, seed: int) -> tuple[list[dict], dict]:
    [path] = glob.glob(f"{root}/deep-{kind}-cnn-digits-seed{seed}*/*/metrics.jsonl")
    with open(path) as f:
        history = [json.loads(line) for line in f]
    with open(path.replace("metrics.jsonl", "results.json")) as f:
        return history, json.load(f)


def main(root: str) -> None:
    runs = {(k, s): load(root, k, s) for k in ("plain", "residual") for s in SEEDS}
    for name, get in METRICS.items():
        plain = [get(*runs["plain", s]) for s in SEEDS]
        res = [get(*runs["residual", s]) for s in SEEDS]
        t = paired_t_test(plain, res)
        per_seed = ", ".join(f"{a:.4f}/{b:.4f}" for a, b in zip(plain, res))
        print(f"| {name} | {st.fmean(plain):.4f} +- {st.stdev(plain):.4f} | {st.fmean(res):.4f} +- "
              f"{st.stdev(res):.4f} | {t.diff:+.4f} | {t.p:.3g} | {per_seed} |")


if __name__ == "__main__":
    main(sys.argv[1])
