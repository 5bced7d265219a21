"""``--fake``: a simulated GPU behind ``pynvml`` patched with autospec, so the whole validation runs on a CPU.

The patch is the one the test suite uses for the NVML meter (``tests/meter/test_nvml.py``):
``mock.create_autospec(pynvml)`` with NVML's constants, errors and structs kept real, so every
call the meter makes is checked against pynvml's real signatures. Behind it sits
:class:`SimulatedGpu`, whose power follows this process's CPU use: the validation's loads and
training run on the CPU, so an idle window reads idle power, a steady load a steady one and a
bursty load bursts. Its energy counter advances every :attr:`SimulatedGpu.counter_period_s`
like a real one; ``nvmlDeviceGetPowerUsage`` is the mean over the last second (as on A100/H100).

``hidden`` makes quantities answer ``NVML_ERROR_NOT_SUPPORTED``, as in a container that hides
them. Nothing this module produces is a measurement; the report says FAKE on its first lines.
"""

from __future__ import annotations

import collections
import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any
from unittest import mock

#: Quantities ``hidden`` may name (the NVML calls behind them answer NOT_SUPPORTED).
HIDEABLE = ("energy", "instant_power", "average_power", "memory_power", "utilization", "memory", "temperature",
            "clocks")
HANDLE = "fake-gpu-0"
NAME = "Fake GPU (energybench --fake)"


class SimulatedGpu:
    """Power, energy counter and the other quantities of one simulated GPU. Thread-safe."""

    def __init__(self, *, idle_w: float = 60.0, busy_w: float = 350.0, counter_period_s: float = 0.05,
                 average_window_s: float = 1.0, memory_total_mib: float = 81_559.0) -> None:
        self.idle_w, self.busy_w = idle_w, busy_w
        self.counter_period_s = counter_period_s
        self.average_window_s = average_window_s
        self.memory_total_mib = memory_total_mib
        self.memory_share = 0.12  # of the board's power that the memory draws
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._t = self._t0
        self._cpu_s = time.process_time()
        self._power_w = idle_w
        self._energy_mj = 123_456_789.0  # since "driver load"
        self._counter_mj = self._energy_mj
        self._history: collections.deque[tuple[float, float]] = collections.deque()
        self._history.append((self._t, self._energy_mj))
        self._util = 0.0

    def _advance(self) -> None:
        """Integrate power up to now (lock held). Power over the last interval follows the CPU used in it."""
        now, cpu_s = time.monotonic(), time.process_time()
        dt = now - self._t
        if dt < 1e-3:  # too short to tell a utilisation: keep the current power
            return
        util = min(max((cpu_s - self._cpu_s) / dt, 0.0), 1.0)
        power_w = self.idle_w + (self.busy_w - self.idle_w) * util
        period = self.counter_period_s
        last_tick = int((now - self._t0) / period)
        if last_tick > int((self._t - self._t0) / period):  # the counter updated inside this interval
            self._counter_mj = self._energy_mj + power_w * (self._t0 + last_tick * period - self._t) * 1e3
        self._energy_mj += power_w * dt * 1e3
        self._t, self._cpu_s, self._power_w, self._util = now, cpu_s, power_w, util
        self._history.append((now, self._energy_mj))
        while len(self._history) > 2 and self._history[1][0] <= now - self.average_window_s:
            self._history.popleft()

    def energy_mj(self) -> int:
        with self._lock:
            self._advance()
            return int(self._counter_mj)

    def instant_power_mw(self) -> float:
        with self._lock:
            self._advance()
            return self._power_w * 1e3

    def average_power_mw(self) -> int:
        with self._lock:
            self._advance()
            (t_a, e_a), (t_b, e_b) = self._history[0], self._history[-1]
            return int((e_b - e_a) / (t_b - t_a)) if t_b > t_a else int(self._power_w * 1e3)

    def utilization_pct(self) -> int:
        with self._lock:
            self._advance()
            return round(100 * self._util)

    def memory_used_mib(self) -> float:
        with self._lock:
            return 512.0 + 2048.0 * self._util

    def temperature_c(self) -> int:
        with self._lock:
            return int(35 + 40 * self._util)

    def sm_clock_mhz(self) -> int:
        with self._lock:
            return 1980 if self._util > 0.05 else 345


def fake_pynvml(gpu: SimulatedGpu, hidden: tuple[str, ...] = ()) -> Any:
    """An autospec of ``pynvml`` scripted to be one GPU, :data:`HANDLE`, driven by ``gpu``."""
    import pynvml as real

    unknown = set(hidden) - set(HIDEABLE)
    if unknown:
        raise ValueError(f"cannot hide {', '.join(sorted(unknown))}; hideable: {', '.join(HIDEABLE)}")
    m = mock.create_autospec(real)
    for name in dir(real):
        if name.startswith(("NVML_", "NVMLError", "c_nvml")):
            setattr(m, name, getattr(real, name))

    def gated(what: str, fn: Any) -> Any:
        def call(*args: Any) -> Any:
            if what in hidden:
                raise real.NVMLError(real.NVML_ERROR_NOT_SUPPORTED)
            return fn(*args)
        return call

    def handle(i: int) -> str:
        if i != 0:
            raise real.NVMLError(real.NVML_ERROR_INVALID_ARGUMENT)
        return HANDLE

    def field_values(h: str, ids: list[Any]) -> list[Any]:
        out = []
        for fid in ids:  # a field id, or (field id, scope id) as pynvml takes them
            fid, scope = fid if isinstance(fid, tuple) else (fid, real.NVML_POWER_SCOPE_GPU)
            v = real.c_nvmlFieldValue_t()
            v.fieldId, v.scopeId = fid, scope
            v.valueType = real.NVML_VALUE_TYPE_UNSIGNED_INT
            v.nvmlReturn = real.NVML_ERROR_NOT_SUPPORTED
            if fid == real.NVML_FI_DEV_POWER_INSTANT:
                what = "memory_power" if scope == real.NVML_POWER_SCOPE_MEMORY else "instant_power"
                if what not in hidden:
                    v.nvmlReturn = real.NVML_SUCCESS
                    mw = gpu.instant_power_mw()
                    v.value.uiVal = int(mw if what == "instant_power" else gpu.memory_share * mw)
            out.append(v)
        return out

    def memory(h: str, version: Any = None) -> Any:
        used = int(gpu.memory_used_mib() * 2**20)
        total = int(gpu.memory_total_mib * 2**20)
        return real.c_nvmlMemory_t(total=total, free=total - used, used=used)

    def utilization(h: str) -> Any:
        u = gpu.utilization_pct()
        return real.c_nvmlUtilization_t(gpu=u, memory=u // 2)

    m.nvmlDeviceGetCount.return_value = 1
    m.nvmlDeviceGetHandleByIndex.side_effect = handle
    m.nvmlDeviceGetUUID.side_effect = lambda h: "GPU-fa4e0000-0000-0000-0000-000000000000"
    m.nvmlDeviceGetName.side_effect = lambda h: NAME
    m.nvmlDeviceGetEnforcedPowerLimit.side_effect = lambda h: 700_000
    m.nvmlSystemGetDriverVersion.return_value = "fake"
    m.nvmlSystemGetCudaDriverVersion.return_value = 12040
    m.nvmlDeviceGetTotalEnergyConsumption.side_effect = gated("energy", lambda h: gpu.energy_mj())
    m.nvmlDeviceGetFieldValues.side_effect = field_values
    m.nvmlDeviceGetPowerUsage.side_effect = gated("average_power", lambda h: gpu.average_power_mw())
    m.nvmlDeviceGetUtilizationRates.side_effect = gated("utilization", utilization)
    m.nvmlDeviceGetMemoryInfo.side_effect = gated("memory", memory)
    m.nvmlDeviceGetTemperature.side_effect = gated("temperature", lambda h, s: gpu.temperature_c())
    m.nvmlDeviceGetClockInfo.side_effect = gated("clocks", lambda h, c: gpu.sm_clock_mhz())
    return m


@contextlib.contextmanager
def patched_nvml(hidden: tuple[str, ...] = (), gpu: SimulatedGpu | None = None) -> Iterator[SimulatedGpu]:
    """Patch the NVML meter's ``pynvml`` with a fake one GPU for the duration (see the module docstring)."""
    gpu = gpu or SimulatedGpu()
    with mock.patch("energybench.meter.nvml.pynvml", new=fake_pynvml(gpu, hidden)):
        yield gpu
