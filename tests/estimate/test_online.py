"""The online estimators' formulas (del Rey et al., eqs. 1 and 2) and where power stabilises (FLUSS)."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.estimate.online import (
    epoch_energy_based_j, estimate, fluss_change_epoch, power_based_j, stable_epoch_of,
)

#: 9 warm-up epochs of 60 J then 21 stable ones of 100 J, every epoch 2 s: truth = 540 + 2100 J.
WARM_J, STABLE_J, EPOCH_S = 60.0, 100.0, 2.0
ENERGY = [WARM_J] * 9 + [STABLE_J] * 21
DURATION = [EPOCH_S] * 30


def test_the_two_formulas() -> None:
    assert power_based_j(50.0, 60.0) == 3000.0
    assert epoch_energy_based_j(500.0, 5, 21, 540.0) == 500.0 * 21 / 5 + 540.0


def test_epoch_energy_based_is_exact_on_a_stable_run_and_power_based_counts_warm_up_at_stable_power() -> None:
    est = estimate(ENERGY, DURATION)
    assert est is not None and (est.stable_epoch, est.window_epochs, est.epochs) == (10, 5, 30)
    assert est.window_energy_j == 5 * STABLE_J and est.unstable_energy_j == 9 * WARM_J
    assert est.window_power_w == pytest.approx(STABLE_J / EPOCH_S)
    assert est.epoch_energy_based_j == pytest.approx(sum(ENERGY))
    assert est.power_based_j == pytest.approx(STABLE_J / EPOCH_S * sum(DURATION))  # E_u at stable power


def test_few_epochs_extrapolate_to_the_given_total() -> None:
    est = estimate(ENERGY[:14], DURATION[:14], total_epochs=30, total_duration_s=60.0)
    assert est is not None and est.epoch_energy_based_j == pytest.approx(sum(ENERGY))
    assert estimate(ENERGY[:13], DURATION[:13]) is None  # window 10..14 not complete
    assert estimate(ENERGY, DURATION, stable_epoch=2, window_epochs=1).unstable_energy_j == WARM_J


def _trace(change_epoch: int, n: int = 60, seed: int = 0, low_w: float = 200.0, high_w: float = 300.0) -> np.ndarray:
    epochs = np.arange(1, n + 1)
    rng = np.random.default_rng(seed)
    return np.where(epochs < change_epoch, low_w, high_w) + rng.normal(0, 3.0, n)


@pytest.mark.parametrize("seed", range(5))
def test_fluss_finds_a_known_change_point_a_little_late_never_early(seed: int) -> None:
    found = fluss_change_epoch(_trace(15, seed=seed))
    assert found is not None and 15 <= found <= 21


def test_fluss_on_a_warm_up_ramp() -> None:
    epochs = np.arange(1, 81)
    ramp = np.minimum(300.0, 150.0 + 15.0 * (epochs - 1)) + np.random.default_rng(1).normal(0, 3.0, 80)
    found = fluss_change_epoch(ramp)  # ramp reaches 300 W at epoch 11
    assert found is not None and 11 <= found <= 18


def test_no_change_or_too_short_gives_none_and_the_default() -> None:
    flat = 300.0 + np.random.default_rng(3).normal(0, 3.0, 60)
    assert fluss_change_epoch(flat) is None
    assert fluss_change_epoch(_trace(5, n=10)) is None  # too few epochs for m = 3
    assert stable_epoch_of(flat, "fluss") == 10
    assert stable_epoch_of(_trace(15), 7) == 7
