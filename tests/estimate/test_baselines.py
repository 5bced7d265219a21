"""MLCO2 and Green Algorithms, by their formulas."""

from __future__ import annotations

import pytest

from energybench.estimate.baselines import green_algorithms_j, mlco2_j


# Worked by hand: 1 h of a 700 W TDP is 700 Wh = 2.52 MJ.
def test_mlco2_charges_the_tdp_for_the_whole_time() -> None:
    assert mlco2_j(700.0, 3600.0) == pytest.approx(2_520_000.0)
    assert mlco2_j(300.0, 10.0, pue=1.5) == pytest.approx(4500.0)


# Worked by hand: 100 s x (400 W x 0.5 + 40 GB x 0.3725 W/GB = 214.9 W) = 21 490 J.
def test_green_algorithms_scales_tdp_by_utilisation_and_adds_memory() -> None:
    assert green_algorithms_j(400.0, 100.0, utilisation_frac=0.5, memory_gb=40.0) == pytest.approx(21_490.0)
    # two cores, PUE 1.5, PSF 2: 10 s x (2 x 100 W x 0.25 + 8 GB x 0.3725 W/GB) x 1.5 x 2 = 1 589.4 J
    assert green_algorithms_j(100.0, 10.0, utilisation_frac=0.25, memory_gb=8.0, n_cores=2, pue=1.5,
                              psf=2.0) == pytest.approx(1589.4)


def test_green_algorithms_assumes_full_utilisation_when_unknown() -> None:
    assert green_algorithms_j(400.0, 10.0, utilisation_frac=None, memory_gb=0.0) == mlco2_j(400.0, 10.0)
    assert green_algorithms_j(400.0, 10.0, utilisation_frac=1.7, memory_gb=0.0) == mlco2_j(400.0, 10.0)
    assert green_algorithms_j(400.0, 10.0, utilisation_frac=-0.2, memory_gb=2.0) == pytest.approx(7.45)  # memory only
