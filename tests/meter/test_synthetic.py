"""The synthetic meter: a labelled, deterministic trace with an exact counter."""

from __future__ import annotations

import math

import pytest

from energybench.meter import open_meter
from energybench.meter.synthetic import SyntheticMeter


class FakeClock:
    def __init__(self, t_s: float = 1_000.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def test_labelled_synthetic_everywhere() -> None:
    meter = open_meter("synthetic", log=lambda line: None)
    assert meter.kind == "synthetic"
    info = meter.info()
    assert info["synthetic"] is True and info["requested"] == "synthetic"
    assert "synthetic" in info["sources"]["power_w"] and "integral" in info["sources"]["energy_j"]


def test_constant_load_without_ripple_integrates_exactly() -> None:
    clock = FakeClock()
    meter = SyntheticMeter(ripple_frac=0.0, clock=clock)
    clock.t_s += 2.0
    r = meter.read()
    assert r.power_w == 50.0 and r.energy_j == pytest.approx(100.0, abs=1e-9)
    meter.set_load("train")
    clock.t_s += 0.5
    r = meter.read()
    assert r.power_w == 250.0 and r.energy_j == pytest.approx(100.0 + 125.0, abs=1e-9)


def test_counter_is_the_closed_form_integral_of_power_with_ripple() -> None:
    clock = FakeClock(0.0)
    meter = SyntheticMeter(ripple_frac=0.2, ripple_period_s=1.0, clock=clock)
    clock.t_s = 0.3
    meter.set_load("train")
    clock.t_s = 1.05
    meter.set_load("eval")
    clock.t_s = 1.7
    r = meter.read()

    def segment(base_w: float, a_s: float, b_s: float) -> float:
        w = 2 * math.pi
        return base_w * (b_s - a_s) + base_w * 0.2 / w * (math.cos(w * a_s) - math.cos(w * b_s))

    expected_j = segment(50, 0.0, 0.3) + segment(250, 0.3, 1.05) + segment(180, 1.05, 1.7)
    assert r.energy_j == pytest.approx(expected_j, rel=1e-12)
    assert r.power_w == pytest.approx(180 * (1 + 0.2 * math.sin(2 * math.pi * 1.7)))
    # A fine midpoint-rule integral of power_w_at agrees with the closed form.
    n = 20_000
    numeric_j = 0.0
    for t0, t1, phase in ((0.0, 0.3, "idle"), (0.3, 1.05, "train"), (1.05, 1.7, "eval")):
        h = (t1 - t0) / n
        numeric_j += sum(meter.power_w_at(t0 + (i + 0.5) * h, phase) for i in range(n)) * h
    assert numeric_j == pytest.approx(expected_j, rel=1e-7)
    assert [p for _, p in meter.transitions] == ["idle", "train", "eval"]


def test_unknown_phase_keeps_the_load() -> None:
    clock = FakeClock()
    meter = SyntheticMeter(ripple_frac=0.0, clock=clock)
    meter.set_load("warmup")
    assert meter.phase == "idle" and meter.read().power_w == 50.0


def test_counter_is_monotonic_in_real_time() -> None:
    meter = SyntheticMeter()
    energies = [meter.read().energy_j for _ in range(100)]
    assert all(b >= a for a, b in zip(energies, energies[1:]))
