"""Two variants' per-seed scores compared in one sentence, with Welch and paired t-tests.

Used by the findings of the ``differential-ffn``, ``mdn-forecast`` and ``band-rms`` experiments. Rules:

* the sentence states both means +- sample std (ddof=1), the seed counts and the difference;
* Welch's two-sided t-test always; a paired t-test as well when both ran the same seeds (same seed = same
  data and batch order), see :mod:`dlzoo.experiments.llm_norms_stats`;
* "significant at the 0.05 level" only when every defined test has p < 0.05; with one seed, or zero
  variance, no test is possible and the sentence says so; otherwise "not significant".
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .findings import sample_std
from .llm_norms_stats import TTest, paired_t_test, welch_t_test

__all__ = ["Comparison", "compare_seeds", "mean_std_text", "t_test_table", "LEVEL"]

LEVEL = 0.05


def mean_std_text(values: Sequence[float], scale: float = 1.0, digits: int = 2) -> str:
    """``"95.12 +- 0.40"`` (sample std) of ``values * scale``; just the mean for a single value."""
    mean = statistics.fmean(values) * scale
    std = sample_std(values) * scale
    return f"{mean:.{digits}f}" if math.isnan(std) else f"{mean:.{digits}f} +- {std:.{digits}f}"


@dataclass(frozen=True)
class Comparison:
    """``a`` vs ``b`` on one metric: Welch test, paired test (same seeds) and the verdict."""

    name_a: str
    name_b: str
    metric: str
    a: tuple[float, ...]
    b: tuple[float, ...]
    welch: TTest
    paired: TTest | None
    higher_is_better: bool

    @property
    def significant(self) -> bool:
        tests = [t for t in (self.welch, self.paired) if t is not None and t.defined]
        return bool(tests) and all(t.significant(LEVEL) for t in tests)

    @property
    def a_better(self) -> bool:
        diff = self.welch.diff
        return diff > 0 if self.higher_is_better else diff < 0

    def sentence(self, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
        """One sentence; values are multiplied by ``scale`` (e.g. 100 for accuracy in %)."""
        u = f" {unit}" if unit else ""
        diff = self.welch.diff * scale
        head = (
            f"{self.name_a} {mean_std_text(self.a, scale, digits)}{u} vs {self.name_b} "
            f"{mean_std_text(self.b, scale, digits)}{u} {self.metric} (n={len(self.a)} vs "
            f"n={len(self.b)} seeds), difference {diff:+.{digits}f}{u}"
        )
        tests = [(n, t) for n, t in (("Welch", self.welch), ("paired", self.paired)) if t is not None]
        if not any(t.defined for _, t in tests):
            why = "one seed" if min(len(self.a), len(self.b)) < 2 else "zero variance over seeds"
            return f"{head}; no t-test is possible ({why}), so no difference is claimed."
        parts = [f"{n} t = {t.t:.2f}, p = {t.p:.3g}" for n, t in tests if t.defined]
        if self.significant:
            better = self.name_a if self.a_better else self.name_b
            verdict = f"significant at the {LEVEL:g} level ({better} better)"
        else:
            verdict = f"not significant at the {LEVEL:g} level"
        return f"{head}: {'; '.join(parts)}; {verdict}."

    def as_dict(self) -> dict[str, Any]:
        def t(x: TTest | None) -> dict[str, float] | None:
            return None if x is None else {"t": x.t, "df": x.df, "p": x.p, "diff": x.diff}

        return {
            "a": self.name_a,
            "b": self.name_b,
            "metric": self.metric,
            "welch": t(self.welch),
            "paired": t(self.paired),
            "significant": self.significant,
        }


def compare_seeds(
    name_a: str,
    a: Sequence[float],
    name_b: str,
    b: Sequence[float],
    metric: str,
    higher_is_better: bool,
    seeds_a: Sequence[int] | None = None,
    seeds_b: Sequence[int] | None = None,
) -> Comparison:
    """Compare per-seed scores ``a`` and ``b``; paired when ``seeds_a == seeds_b`` (given and equal)."""
    if not a or not b:
        raise ValueError(f"compare_seeds: need at least one value per variant, got {len(a)} and {len(b)}")
    paired = None
    if seeds_a is not None and seeds_b is not None and list(seeds_a) == list(seeds_b):
        paired = paired_t_test(list(a), list(b))
    return Comparison(
        name_a,
        name_b,
        metric,
        tuple(map(float, a)),
        tuple(map(float, b)),
        welch_t_test(list(a), list(b)),
        paired,
        higher_is_better,
    )


def t_test_table(rep: Any, tests: Sequence[dict[str, Any]]) -> None:
    """A "t-tests" table in report ``rep`` of :meth:`Comparison.as_dict` rows (nothing when empty)."""
    if not tests:
        return
    rep.heading("t-tests", level=3)
    rep.table(
        ["a", "b", "metric", "Welch p", "paired p", f"significant (all p < {LEVEL:g})"],
        [
            [t["a"], t["b"], t["metric"], f"{t['welch']['p']:.3g}",
             "-" if t["paired"] is None else f"{t['paired']['p']:.3g}", str(t["significant"])]
            for t in tests
        ],
    )
