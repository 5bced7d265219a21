"""Forecast of a running run: epochs to the threshold and to early stop, from its accuracy curve."""

from __future__ import annotations

import numpy as np
import pytest

from energybench.estimate.forecast import forecast

ES = {"threshold": 0.8, "patience_epochs": 10, "max_epochs": 300}


def _curve(n: int, top: float = 0.9, tau: float = 8.0, noise: float = 0.005, seed: int = 0) -> list[float]:
    e = np.arange(1, n + 1)
    acc = top - (top - 0.3) * np.exp(-e / tau) + np.random.default_rng(seed).normal(0, noise, n)
    return acc.tolist()


def test_none_before_the_window_or_without_accuracies() -> None:
    assert forecast([10.0] * 13, _curve(13), **ES) is None
    assert forecast([10.0] * 20, [None] * 20, **ES) is None


def test_threshold_epoch_of_a_rising_curve() -> None:
    acc = _curve(14)  # 0.9 - 0.6 exp(-e/8) crosses 0.8 at e = 8 ln 6 = 14.3
    fc = forecast([10.0] * 14, acc, **ES)
    assert fc is not None and not fc.threshold_reached
    assert fc.threshold_epoch is not None and 14 <= fc.threshold_epoch <= 18
    assert fc.threshold_epoch_low <= fc.threshold_epoch <= fc.threshold_epoch_high
    # energy: measured so far + 10 J per epoch to come
    assert fc.energy_to_threshold_j == pytest.approx(140.0 + 10.0 * (fc.threshold_epoch - 14))
    assert fc.stop_epoch_low <= fc.stop_epoch <= fc.stop_epoch_high <= ES["max_epochs"]
    assert fc.stop_epoch >= fc.threshold_epoch + ES["patience_epochs"]
    assert fc.energy_to_stop_j == pytest.approx(140.0 + 10.0 * (fc.stop_epoch - 14))


def test_stop_forecast_brackets_the_simulated_truth() -> None:
    """Against energybench's own early stopping on the same curve, many noise draws."""
    from energybench.stopping import ThresholdEarlyStopping

    stops = []
    for seed in range(40):
        s = ThresholdEarlyStopping(monitor="val_accuracy", threshold=0.8, patience_epochs=10, max_epochs=300)
        for v in _curve(300, seed=seed):
            if s.update(v):
                break
        stops.append(s.epoch)
    fc = forecast([10.0] * 20, _curve(20), **ES)
    assert fc is not None
    assert fc.stop_epoch_low <= np.median(stops) <= fc.stop_epoch_high


def test_a_curve_levelling_off_below_the_threshold_runs_to_max_epochs() -> None:
    fc = forecast([5.0] * 30, _curve(30, top=0.6, tau=4.0), **ES)
    assert fc is not None and fc.threshold_epoch is None and fc.stop_epoch == ES["max_epochs"]
    assert fc.energy_to_threshold_j == pytest.approx(5.0 * ES["max_epochs"])


def test_reached_threshold_counts_patience_from_the_best_epoch() -> None:
    acc = [0.5] * 5 + [0.85] + [0.84] * 14  # reached at 6, no improvement since
    fc = forecast([1.0] * 20, acc, **ES)
    assert fc is not None and fc.threshold_reached and fc.threshold_epoch == 6
    assert fc.energy_to_threshold_j == pytest.approx(6.0)
    assert 16 <= fc.stop_epoch <= 40


def test_deterministic() -> None:
    assert forecast([10.0] * 15, _curve(15), **ES) == forecast([10.0] * 15, _curve(15), **ES)
