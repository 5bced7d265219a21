"""The benchmark statistics: paired ratios, their intervals and the verdicts."""

from __future__ import annotations

import random
import statistics

import pytest

from energybench.bench.stats import paired_difference_per_unit, paired_ratio, verdict


def _rounds(rng: random.Random, n_rounds: int, scale: float, drift: list[float]) -> list[list[float]]:
    return [[drift[r] * scale * rng.gauss(1.0, 0.05) for _ in range(5)] for r in range(n_rounds)]


def test_paired_ratio_finds_a_known_slowdown_and_its_interval_covers_it() -> None:
    rng = random.Random(1)
    drift = [1.0 + 0.3 * (r % 7) / 7 for r in range(200)]  # slow wobble shared by both modes
    base = _rounds(rng, 200, 1.0, drift)
    slow = _rounds(rng, 200, 1.03, drift)
    ratio, lo, hi = paired_ratio(slow, base)
    assert lo < 1.03 < hi
    assert abs(ratio - 1.03) < 0.02
    assert lo < ratio < hi


def test_an_a_a_comparison_is_centred_on_one() -> None:
    rng = random.Random(2)
    drift = [1.0] * 100
    ratio, lo, hi = paired_ratio(_rounds(rng, 100, 1.0, drift), _rounds(rng, 100, 1.0, drift))
    assert lo <= 1.0 <= hi
    assert hi - lo < 0.05


def test_paired_ratio_uses_the_given_statistic_and_rejects_unpaired_input() -> None:
    a, b = [[2.0, 2.0, 100.0]], [[1.0, 1.0, 1.0]]
    assert paired_ratio(a, b, n_boot=10)[0] == 2.0  # median ignores the outlier
    assert paired_ratio(a, b, statistics.fmean, n_boot=10)[0] == pytest.approx(104 / 3)
    with pytest.raises(ValueError):
        paired_ratio([[1.0]], [[1.0], [1.0]])
    with pytest.raises(ValueError):
        paired_ratio([], [])


def test_difference_per_unit() -> None:
    est, lo, hi = paired_difference_per_unit([3.0, 5.0], [1.0, 1.0], [2.0, 4.0], n_boot=200)
    assert est == pytest.approx(1.0)  # (8 - 2) / 6
    assert lo <= est <= hi
    with pytest.raises(ValueError):
        paired_difference_per_unit([1.0], [1.0, 2.0], [1.0])


@pytest.mark.parametrize(("lo", "hi", "expected"), [
    (0.99, 1.004, "met"), (1.006, 1.01, "NOT met"), (1.0, 1.01, "not resolved (interval straddles the target)"),
])
def test_verdict(lo: float, hi: float, expected: str) -> None:
    assert verdict(lo, hi, 1.005) == expected
