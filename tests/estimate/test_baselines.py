"""MLCO2 and Green Algorithms, by their formulas."""

from __future__ import annotations

import pytest

from energybench.estimate.baselines import GA_MEMORY_W_PER_GB, green_algorithms_j, mlco2_j


def test_mlco2_is_tdp_times_time() -> None:
    assert mlco2_j(700.0, 3600.0) == 700.0 * 3600.0
    assert mlco2_j(300.0, 10.0, pue=1.5) == pytest.approx(4500.0)


def test_green_algorithms_scales_tdp_by_utilisation_and_adds_memory() -> None:
    e = green_algorithms_j(400.0, 100.0, utilisation_frac=0.5, memory_gb=40.0)
    assert e == pytest.approx(100.0 * (400.0 * 0.5 + 40.0 * GA_MEMORY_W_PER_GB))
    assert GA_MEMORY_W_PER_GB == 0.3725


def test_green_algorithms_assumes_full_utilisation_when_unknown() -> None:
    assert green_algorithms_j(400.0, 10.0, utilisation_frac=None, memory_gb=0.0) == mlco2_j(400.0, 10.0)
    assert green_algorithms_j(400.0, 10.0, utilisation_frac=1.7, memory_gb=0.0) == mlco2_j(400.0, 10.0)
