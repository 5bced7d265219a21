"""The estimate meter: TDP x CPU utilisation of this process, labelled ``estimate``."""

from __future__ import annotations

import time

import psutil
import pytest

from energybench.meter import open_meter
from energybench.meter.estimate import GUESS_TDP_PER_CORE_W, EstimateMeter


class Fake:
    """A settable clock (wall or CPU time)."""

    def __init__(self, t_s: float = 0.0) -> None:
        self.t_s = t_s

    def __call__(self) -> float:
        return self.t_s


def _meter(**kwargs: object) -> tuple[EstimateMeter, Fake, Fake]:
    cpu, wall = Fake(), Fake(100.0)
    return EstimateMeter(cpu_time_s=cpu, clock=wall, **kwargs), cpu, wall  # type: ignore[arg-type]


@pytest.mark.parametrize("util", [0.0, 0.25, 0.5, 1.0])
def test_power_scales_with_utilisation(util: float) -> None:
    meter, cpu, wall = _meter(tdp_w=100.0, cores_used=4, cores_total=4)
    wall.t_s += 1.0
    cpu.t_s += util * 4 * 1.0  # util of 4 cores for one second
    r = meter.read()
    assert r.power_w == pytest.approx(100.0 * util)
    assert r.util_pct == pytest.approx(100.0 * util)
    assert r.energy_j is None


def test_configured_tdp_is_shared_by_the_cores_the_job_may_use() -> None:
    meter, cpu, wall = _meter(tdp_w=200.0, cores_used=8, cores_total=32)
    wall.t_s += 0.5
    cpu.t_s += 8 * 0.5  # all usable cores busy
    assert meter.read().power_w == pytest.approx(200.0 * 8 / 32)
    assert "config" in meter.info()["tdp_source"]


def test_guessed_tdp_is_per_core_and_documented() -> None:
    meter, cpu, wall = _meter(cores_used=2, cores_total=16)
    wall.t_s += 1.0
    cpu.t_s += 2.0
    assert meter.read().power_w == pytest.approx(2 * GUESS_TDP_PER_CORE_W)
    info = meter.info()
    assert info["tdp_w"] is None and "guess" in info["tdp_source"]
    assert info["sources"]["energy_j"] is None


def test_utilisation_is_clipped_and_short_windows_repeat_the_last_value() -> None:
    meter, cpu, wall = _meter(tdp_w=10.0, cores_used=1, cores_total=1)
    wall.t_s += 1.0
    cpu.t_s += 3.0  # more CPU time than one core can give: clipped to 100 %
    assert meter.read().power_w == pytest.approx(10.0)
    wall.t_s += 0.0001  # too short a window to measure: the last value holds
    assert meter.read().power_w == pytest.approx(10.0)
    wall.t_s += 1.0
    assert meter.read().power_w == pytest.approx(0.0)


def test_real_busy_loop_utilisation_agrees_with_psutil() -> None:
    # Other processes may share the CPU: compare with the kernel's own account of this process.
    proc = psutil.Process()
    meter = EstimateMeter(tdp_w=10.0, cores_used=1, cores_total=1)
    meter.read()
    t0, c0 = time.time(), sum(proc.cpu_times()[:2])
    end = time.perf_counter() + 0.3
    while time.perf_counter() < end:
        pass
    busy = meter.read()
    psutil_pct = 100 * (sum(proc.cpu_times()[:2]) - c0) / (time.time() - t0)
    assert busy.util_pct == pytest.approx(min(psutil_pct, 100.0), abs=10)  # psutil ticks at 10 ms
    assert busy.power_w == pytest.approx(10.0 * busy.util_pct / 100)  # type: ignore[operator]


def test_factory_labels_it_and_warns_that_a_gpu_is_not_metered() -> None:
    lines: list[str] = []
    meter = open_meter("estimate", tdp_w=65.0, device="cuda", log=lines.append)
    assert meter.kind == "estimate" and meter.info()["estimate"] is True
    assert meter.info()["requested"] == "estimate"
    assert len(lines) == 1 and "not metered" in lines[0]
