"""NVML in this environment: which quantities work, how often the counter updates, and a fast recorder.

Every quantity is read through the NVML meter's own reader (``energybench.meter.nvml``), so the
probe tests exactly the calls the meter makes, with the meter's error mapping (a container that
hides a query answers NOT_SUPPORTED or NO_PERMISSION, and the verdict says which).
:class:`Recorder` reads the energy counter, instant power and 1-s average power of one GPU
together on a drift-free schedule (the sampler reads one power source; the windows compare both).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..errors import MeterError
from ..meter import nvml
from ..meter.base import NotSupportedError


@dataclass(frozen=True)
class Quantity:
    """One NVML quantity the meter reads."""

    name: str  # check id suffix
    label: str
    read: Callable[[Any], float]  # the meter's reader: handle -> value in ``unit``
    unit: str
    figure: str  # the figure's name, unit included
    sane: Callable[[float, float], bool]  # (value, power limit W) -> plausible?


QUANTITIES: tuple[Quantity, ...] = (
    Quantity("energy_counter", "energy counter, nvmlDeviceGetTotalEnergyConsumption", nvml._energy_mj, "mJ",
             "energy_counter_mj", lambda v, _: v > 0),
    Quantity("instant_power", "instant power, NVML_FI_DEV_POWER_INSTANT", nvml._power_instant_mw, "mW",
             "instant_power_mw", lambda v, lim: 0 < v / 1e3 <= 2 * lim),
    Quantity("average_power", "average power, nvmlDeviceGetPowerUsage", nvml._power_usage_mw, "mW",
             "average_power_mw", lambda v, lim: 0 < v / 1e3 <= 2 * lim),
    Quantity("memory_power", "memory power, NVML_FI_DEV_POWER_INSTANT with NVML_POWER_SCOPE_MEMORY (Hopper+)",
             nvml._power_memory_mw, "mW", "memory_power_mw", lambda v, lim: 0 < v / 1e3 <= lim),
    Quantity("utilization", "GPU utilisation, nvmlDeviceGetUtilizationRates", nvml._util_pct, "%",
             "utilization_pct", lambda v, _: 0 <= v <= 100),
    Quantity("memory", "memory used, nvmlDeviceGetMemoryInfo", nvml._mem_used_mib, "MiB", "memory_used_mib",
             lambda v, _: v > 0),
    Quantity("temperature", "temperature, nvmlDeviceGetTemperature", nvml._temperature_c, "degC",
             "temperature_c", lambda v, _: 0 < v < 130),
    Quantity("sm_clock", "SM clock, nvmlDeviceGetClockInfo", nvml._sm_clock_mhz, "MHz", "sm_clock_mhz",
             lambda v, _: v > 0),
)


@dataclass
class Probe:
    """What :func:`probe` found on the first visible GPU."""

    handle: Any
    name: str
    uuid: str
    power_limit_w: float | None
    driver_version: str | None
    values: dict[str, float | None] = field(default_factory=dict)  # quantity -> value in its unit
    problems: dict[str, str] = field(default_factory=dict)  # quantity -> why it does not work
    meter_sources: dict[str, str | None] | None = None  # the NVML meter's choice, when it opens
    meter_counter_period_s: float | None = None  # the update period the meter measured at open
    meter_error: str | None = None
    counter_advance_mj: float | None = None

    def works(self, quantity: str) -> bool:
        return quantity in self.values and quantity not in self.problems


def _visible() -> str | None:
    return os.environ.get("CUDA_VISIBLE_DEVICES")


def probe(settle_s: float = 1.0) -> Probe:
    """Open NVML, read every :data:`QUANTITIES` once (the counter twice, ``settle_s`` apart), open the meter."""
    try:
        nvml.pynvml.nvmlInit()
    except nvml.pynvml.NVMLError as exc:
        raise MeterError(f"NVML init: {exc}") from None
    gpus = nvml.select_gpus(_visible())
    if not gpus:
        raise MeterError(f"NVML: no GPU visible (CUDA_VISIBLE_DEVICES={_visible()!r})")
    gpu = gpus[0]
    h = gpu.handle
    p = Probe(handle=h, name=nvml._text(nvml.pynvml.nvmlDeviceGetName(h)), uuid=gpu.uuid,
              power_limit_w=None, driver_version=None)
    try:
        p.power_limit_w = nvml.pynvml.nvmlDeviceGetEnforcedPowerLimit(h) / 1000.0
    except nvml.pynvml.NVMLError as exc:
        p.problems["power_limit"] = str(exc)
    try:
        p.driver_version = nvml._text(nvml.pynvml.nvmlSystemGetDriverVersion())
    except nvml.pynvml.NVMLError:
        pass
    for q in QUANTITIES:
        try:
            v = float(q.read(h))
        except NotSupportedError:
            p.values[q.name], p.problems[q.name] = None, "not supported here (NVML_ERROR_NOT_SUPPORTED)"
            continue
        except MeterError as exc:
            p.values[q.name], p.problems[q.name] = None, str(exc)
            continue
        p.values[q.name] = v
        if not q.sane(v, p.power_limit_w or 1000.0):
            p.problems[q.name] = f"implausible value {v:g} {q.unit}"
    if p.works("energy_counter"):
        time.sleep(settle_s)
        try:
            p.counter_advance_mj = float(nvml._energy_mj(h)) - (p.values["energy_counter"] or 0.0)
            if p.counter_advance_mj <= 0:
                p.problems["energy_counter"] = f"did not advance in {settle_s:g} s (a GPU draws power when idle)"
        except MeterError as exc:
            p.problems["energy_counter"] = f"second read failed: {exc}"
    try:
        meter = nvml.NvmlMeter(cuda_visible_devices=_visible(), env=False)
        info = meter.info()
        p.meter_sources = dict(info["sources"])
        p.meter_counter_period_s = info.get("counter_period_s")
        meter.close()
    except MeterError as exc:
        p.meter_error = str(exc)
    return p


def shutdown() -> None:
    """Release the NVML reference :func:`probe` took."""
    try:
        nvml.pynvml.nvmlShutdown()
    except nvml.pynvml.NVMLError:
        pass


def poll(handle: Any, seconds: float, deadline_mono: float) -> dict[str, list[float | None]]:
    """Read the counter and instant power as fast as NVML answers for ``seconds``: when do they change?"""
    out: dict[str, list[float | None]] = {"time_s": [], "energy_counter_j": [], "instant_power_w": []}
    end = min(time.monotonic() + seconds, deadline_mono)
    t0 = time.monotonic()
    readers = _power_readers(handle)
    while (now := time.monotonic()) < end:
        e, pi, _ = (f() if f else None for f in readers)
        out["time_s"].append(now - t0)
        out["energy_counter_j"].append(e / 1e3 if e is not None else None)
        out["instant_power_w"].append(pi / 1e3 if pi is not None else None)
        time.sleep(0.0005)
    return out


def _power_readers(handle: Any) -> tuple[Callable[[], float] | None, ...]:
    """Readers of (energy counter mJ, instant power mW, average power mW); None for those that fail here."""
    out = []
    for fn in (nvml._energy_mj, nvml._power_instant_mw, nvml._power_usage_mw):
        try:
            fn(handle)
            out.append(lambda fn=fn: float(fn(handle)))
        except MeterError:
            out.append(None)
    return tuple(out)


class Recorder:
    """Reads counter, instant and average power of one GPU every ``1 / rate_hz`` s on a named daemon thread."""

    def __init__(self, handle: Any, rate_hz: float, name: str = "energybench-validate-recorder") -> None:
        self.period_s = 1.0 / rate_hz
        self._readers = _power_readers(handle)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.rows: dict[str, list[float | None]] = {"time_s": [], "energy_counter_j": [],
                                                    "instant_power_w": [], "average_power_w": []}
        self.errors = 0
        self.t0_mono = 0.0

    def _read(self) -> None:
        now = time.monotonic()
        values = []
        for f in self._readers:
            try:
                values.append(f() if f else None)
            except MeterError:
                self.errors += 1
                values.append(None)
        e, pi, pa = values
        self.rows["time_s"].append(now - self.t0_mono)
        self.rows["energy_counter_j"].append(e / 1e3 if e is not None else None)
        self.rows["instant_power_w"].append(pi / 1e3 if pi is not None else None)
        self.rows["average_power_w"].append(pa / 1e3 if pa is not None else None)

    def _run(self) -> None:
        next_mono = self.t0_mono
        while True:
            next_mono += self.period_s
            delay = next_mono - time.monotonic()
            if delay < -self.period_s:  # behind: skip the missed slots
                next_mono += -delay // self.period_s * self.period_s
                delay = next_mono - time.monotonic()
            if self._stop.wait(max(delay, 0.0)):
                break
            self._read()

    def __enter__(self) -> Recorder:
        self.t0_mono = time.monotonic()
        self._read()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._read()

    @property
    def supported(self) -> dict[str, bool]:
        e, pi, pa = self._readers
        return {"energy_counter_j": e is not None, "instant_power_w": pi is not None,
                "average_power_w": pa is not None}
