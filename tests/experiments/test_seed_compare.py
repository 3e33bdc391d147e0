"""seed_compare: the p-values are scipy's, the verdict needs every defined test below 0.05, and a single seed
claims nothing."""

from __future__ import annotations

import pytest
from scipy import stats

from dlzoo.experiments.seed_compare import compare_seeds


def test_clear_difference_is_significant_and_matches_scipy():
    a, b = [0.91, 0.93, 0.92, 0.94], [0.80, 0.83, 0.81, 0.82]
    c = compare_seeds("A", a, "B", b, "acc", True, [0, 1, 2, 3], [0, 1, 2, 3])
    assert c.welch.p == pytest.approx(stats.ttest_ind(a, b, equal_var=False).pvalue, rel=1e-9)
    assert c.paired.p == pytest.approx(stats.ttest_rel(a, b).pvalue, rel=1e-9)
    assert c.significant and c.a_better
    assert "significant at the 0.05 level (A better)" in c.sentence(scale=100)
    lower = compare_seeds("A", a, "B", b, "loss", False)  # lower is better: B wins; no seeds, no pairing
    assert lower.paired is None and not lower.a_better and "(B better)" in lower.sentence()


def test_noise_is_not_significant_and_one_seed_claims_nothing():
    a, b = [0.90, 0.95, 0.91], [0.92, 0.90, 0.93]
    c = compare_seeds("A", a, "B", b, "acc", True, [0, 1, 2], [0, 1, 2])
    assert not c.significant and "not significant at the 0.05 level" in c.sentence()
    one = compare_seeds("A", [0.9], "B", [0.8], "acc", True, [0], [0])
    assert not one.significant and "no t-test is possible (one seed)" in one.sentence()
    with pytest.raises(ValueError, match="at least one value"):
        compare_seeds("A", [], "B", [0.8], "acc", True)
