"""GPU energy and power from NVML, for the GPUs visible to this job only.

Visible GPUs follow ``CUDA_VISIBLE_DEVICES`` (unset: all GPUs NVML sees):

* integers are NVML indices (PCI bus order, which is what SLURM's gres
  plugin writes; a negative index hides itself and every later entry, as in
  CUDA);
* ``GPU-<uuid>``, full or a unique prefix, is matched against every GPU's UUID;
* ``MIG-<uuid>`` (or the older ``MIG-GPU-<uuid>/<gi>/<ci>``) selects the
  parent GPU: NVML reports power and energy per physical GPU only, so the
  numbers include every MIG instance on it (``info()["mig"]`` says so).

An entry that names no GPU this job can open is an error, never a silently
smaller set of metered GPUs. GPUs NVML enumerates but cannot open (another
job's, behind cgroup device limits) are left out when the variable is unset.

Quantities, each probed once at open and recorded in ``info()["sources"]``:

* energy_j: ``nvmlDeviceGetTotalEnergyConsumption`` (mJ since driver load,
  Volta and later). A decrease is a counter reset: accumulation continues
  from the new value and ``info()["counter_resets"]`` counts it.
* power_w: ``nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)`` (mW,
  instantaneous) where supported, else ``nvmlDeviceGetPowerUsage`` (mW; a
  1-s average on Ampere and later).
* power_avg_w: ``nvmlDeviceGetPowerUsage`` beside the instantaneous field (a
  1-s average on Ampere and later), and mem_power_w: the instantaneous field
  with ``NVML_POWER_SCOPE_MEMORY`` (Hopper and later), each where supported.
* util_pct (mean over GPUs), mem_used_mib (sum), temperature_c (hottest),
  sm_clock_mhz (mean).

The energy counter is authoritative over a window, the power fields are a
time series: the sensors behind power see only part of the runtime (Yang et
al. 2024, "part-time power measurements": about a quarter of it on A100 and
H100), while the counter integrates everything. The counter itself updates
in steps; :func:`counter_period_s` measures the step at open (as Zeus infers
it), and epochs shorter than :data:`MIN_COUNTER_PERIODS` steps are flagged.

NVML errors become :class:`~energybench.errors.MeterError`;
``NVML_ERROR_GPU_IS_LOST`` becomes :class:`DeviceLostError`.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import MeterError
from ..units import BYTES_PER_MIB
from .base import DeviceLostError, NotSupportedError, Reading, unix_time_s

try:
    import pynvml
except ImportError:  # nvidia-ml-py missing: open_meter falls back
    pynvml = None  # type: ignore[assignment]

_F = TypeVar("_F", bound=Callable[..., Any])

#: How long opening the meter may poll the energy counter to measure its update period, seconds.
COUNTER_PERIOD_PROBE_S = 0.25


def _map_nvml_error(err: Exception, where: str) -> MeterError:
    """Our exception for one NVML error code."""
    code = getattr(err, "value", None)
    if code == pynvml.NVML_ERROR_GPU_IS_LOST:
        return DeviceLostError(f"NVML {where}: GPU is lost (fell off the bus or was reset); sampling stops")
    if code in (pynvml.NVML_ERROR_NOT_SUPPORTED, pynvml.NVML_ERROR_FUNCTION_NOT_FOUND):
        return NotSupportedError(f"NVML {where}: not supported on this GPU/driver")
    if code == pynvml.NVML_ERROR_NO_PERMISSION:
        return MeterError(f"NVML {where}: no permission")
    if code in (pynvml.NVML_ERROR_DRIVER_NOT_LOADED, pynvml.NVML_ERROR_LIBRARY_NOT_FOUND):
        return MeterError(f"NVML {where}: {err} (no NVIDIA driver on this host?)")
    return MeterError(f"NVML {where}: {err}")


def _handle_nvml_errors(fn: _F) -> _F:
    """Turn any ``pynvml.NVMLError`` raised by ``fn`` into our exceptions."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except pynvml.NVMLError as err:
            raise _map_nvml_error(err, getattr(fn, "__name__", "call").lstrip("_")) from err

    return wrapper  # type: ignore[return-value]


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _field_value(v: Any) -> float:
    """The number in one ``c_nvmlFieldValue_t``, whatever its value type."""
    member = {
        pynvml.NVML_VALUE_TYPE_DOUBLE: "dVal", pynvml.NVML_VALUE_TYPE_UNSIGNED_INT: "uiVal",
        pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG: "ulVal", pynvml.NVML_VALUE_TYPE_UNSIGNED_LONG_LONG: "ullVal",
        pynvml.NVML_VALUE_TYPE_SIGNED_LONG_LONG: "sllVal", pynvml.NVML_VALUE_TYPE_SIGNED_INT: "siVal",
        pynvml.NVML_VALUE_TYPE_UNSIGNED_SHORT: "usVal",
    }.get(v.valueType, "uiVal")
    return float(getattr(v.value, member))


@dataclass
class _Gpu:
    handle: Any
    index: int
    uuid: str
    name: str = "?"
    power_limit_w: float | None = None
    last_mj: int | None = None  # last raw energy counter, millijoules
    total_mj: int = 0  # energy since open, millijoules
    resets: int = 0
    mig_instances: list[str] = field(default_factory=list)


# ---------------------------------------------------------------- NVML calls
# One small function per NVML call, each behind the error decorator.

@_handle_nvml_errors
def _energy_mj(h: Any) -> int:
    return int(pynvml.nvmlDeviceGetTotalEnergyConsumption(h))


@_handle_nvml_errors
def _power_instant_mw(h: Any) -> float:
    (v,) = pynvml.nvmlDeviceGetFieldValues(h, [pynvml.NVML_FI_DEV_POWER_INSTANT])
    if v.nvmlReturn != pynvml.NVML_SUCCESS:
        raise pynvml.NVMLError(v.nvmlReturn)
    return _field_value(v)


@_handle_nvml_errors
def _power_usage_mw(h: Any) -> float:
    return float(pynvml.nvmlDeviceGetPowerUsage(h))


@_handle_nvml_errors
def _power_memory_mw(h: Any) -> float:
    (v,) = pynvml.nvmlDeviceGetFieldValues(h, [(pynvml.NVML_FI_DEV_POWER_INSTANT, pynvml.NVML_POWER_SCOPE_MEMORY)])
    if v.nvmlReturn != pynvml.NVML_SUCCESS:
        raise pynvml.NVMLError(v.nvmlReturn)
    return _field_value(v)


@_handle_nvml_errors
def _util_pct(h: Any) -> float:
    return float(pynvml.nvmlDeviceGetUtilizationRates(h).gpu)


@_handle_nvml_errors
def _mem_used_mib(h: Any) -> float:
    return pynvml.nvmlDeviceGetMemoryInfo(h).used / BYTES_PER_MIB


@_handle_nvml_errors
def _temperature_c(h: Any) -> float:
    return float(pynvml.nvmlDeviceGetTemperature(h, pynvml.NVML_TEMPERATURE_GPU))


@_handle_nvml_errors
def _sm_clock_mhz(h: Any) -> float:
    return float(pynvml.nvmlDeviceGetClockInfo(h, pynvml.NVML_CLOCK_SM))


_SOURCES = {
    _energy_mj: "nvmlDeviceGetTotalEnergyConsumption",
    _power_instant_mw: "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT)",
    _power_usage_mw: "nvmlDeviceGetPowerUsage",
    _power_memory_mw: "nvmlDeviceGetFieldValues(NVML_FI_DEV_POWER_INSTANT, NVML_POWER_SCOPE_MEMORY)",
    _util_pct: "nvmlDeviceGetUtilizationRates.gpu",
    _mem_used_mib: "nvmlDeviceGetMemoryInfo.used",
    _temperature_c: "nvmlDeviceGetTemperature(NVML_TEMPERATURE_GPU)",
    _sm_clock_mhz: "nvmlDeviceGetClockInfo(NVML_CLOCK_SM)",
}


def _supported(fn: Callable[[Any], Any], gpus: list[_Gpu]) -> bool:
    """Whether ``fn`` works on every GPU (NotSupported on any one: no)."""
    try:
        for g in gpus:
            fn(g.handle)
    except NotSupportedError:
        return False
    return True


@_handle_nvml_errors
def _init() -> None:
    pynvml.nvmlInit()


@_handle_nvml_errors
def _device_count() -> int:
    return int(pynvml.nvmlDeviceGetCount())


def _all_devices(count: int) -> list[tuple[Any, str] | None]:
    """(handle, UUID) of every GPU NVML enumerates; None where this job may not open it
    (e.g. a GPU of another job behind cgroup device limits)."""
    devices: list[tuple[Any, str] | None] = []
    for i in range(count):
        try:
            h = pynvml.nvmlDeviceGetHandleByIndex(i)
            devices.append((h, _text(pynvml.nvmlDeviceGetUUID(h))))
        except pynvml.NVMLError:
            devices.append(None)
    return devices


@_handle_nvml_errors
def _mig_parent_uuid(mig_uuid: str) -> str:
    mig = pynvml.nvmlDeviceGetHandleByUUID(mig_uuid)
    return _text(pynvml.nvmlDeviceGetUUID(pynvml.nvmlDeviceGetDeviceHandleFromMigDeviceHandle(mig)))


def select_gpus(cuda_visible_devices: str | None) -> list[_Gpu]:
    """The GPUs ``CUDA_VISIBLE_DEVICES`` makes visible, as NVML handles (NVML initialised)."""
    count = _device_count()
    devices = _all_devices(count)
    if cuda_visible_devices is None:
        return [_Gpu(handle=d[0], index=i, uuid=d[1]) for i, d in enumerate(devices) if d is not None]
    where = f"CUDA_VISIBLE_DEVICES={cuda_visible_devices!r}"
    chosen: dict[int, _Gpu] = {}
    for entry in (e.strip() for e in cuda_visible_devices.split(",")):
        if not entry:
            continue
        mig = None
        if entry.lstrip("-").isdigit():
            index = int(entry)
            if index < 0:  # CUDA: a negative index hides itself and all later entries
                break
            if index >= count:
                raise MeterError(f"NVML: {where} names GPU {index}, but NVML sees {count} GPU(s) (0..{count - 1})")
            if devices[index] is None:
                raise MeterError(f"NVML: {where} names GPU {index}, which this job cannot open")
        elif entry.startswith(("GPU-", "MIG-")):
            uuid = entry
            if entry.startswith("MIG-GPU-"):  # MIG-GPU-<uuid>/<gi>/<ci> (drivers before R470)
                mig, uuid = entry, entry[len("MIG-"):].split("/")[0]
            elif entry.startswith("MIG-"):
                mig, uuid = entry, _mig_parent_uuid(entry)
            matches = [i for i, d in enumerate(devices) if d is not None and d[1].startswith(uuid)]
            if len(matches) != 1:
                what = "matches no GPU" if not matches else f"matches {len(matches)} GPUs"
                known = ", ".join(d[1] for d in devices if d is not None) or "none"
                raise MeterError(f"NVML: {where}: {entry!r} {what} (GPUs NVML sees: {known})")
            index = matches[0]
        else:
            raise MeterError(f"NVML: {where}: cannot read {entry!r} (expected an index, GPU-<uuid> or MIG-<uuid>)")
        handle, uuid = devices[index]  # type: ignore[misc]
        gpu = chosen.setdefault(index, _Gpu(handle=handle, index=index, uuid=uuid))
        if mig:
            gpu.mig_instances.append(mig)
    return list(chosen.values())


class NvmlMeter:
    """Summed energy/power of the job's visible NVIDIA GPUs. Labelled ``nvml``."""

    kind = "nvml"

    def __init__(self, *, cuda_visible_devices: str | None = None, env: bool = True,
                 clock: Callable[[], float] = unix_time_s,
                 counter_period_probe_s: float | None = None) -> None:
        """Open NVML for the GPUs in ``cuda_visible_devices`` (default: the environment's).

        ``counter_period_probe_s`` bounds the energy counter's update-period
        measurement (default :data:`COUNTER_PERIOD_PROBE_S`; 0: not measured).
        """
        if counter_period_probe_s is None:
            counter_period_probe_s = COUNTER_PERIOD_PROBE_S
        if pynvml is None:
            raise MeterError("NVML: the nvidia-ml-py package (import pynvml) is not installed")
        if cuda_visible_devices is None and env:
            cuda_visible_devices = os.environ.get("CUDA_VISIBLE_DEVICES")
        self.cuda_visible_devices = cuda_visible_devices
        self._clock = clock
        self._closed = True
        self.secondary_errors = 0
        _init()
        self._closed = False
        try:
            self.gpus = select_gpus(cuda_visible_devices)
            if not self.gpus:
                raise MeterError(f"NVML: no GPU visible to this job (CUDA_VISIBLE_DEVICES={cuda_visible_devices!r})")
            self._describe()
            self.counter_period_s = self._counter_period(counter_period_probe_s)
            self._probe()
        except BaseException:
            self.close()
            raise

    @_handle_nvml_errors
    def _describe(self) -> None:
        for g in self.gpus:
            g.name = _text(pynvml.nvmlDeviceGetName(g.handle))
            try:
                g.power_limit_w = pynvml.nvmlDeviceGetEnforcedPowerLimit(g.handle) / 1000.0
            except pynvml.NVMLError:
                g.power_limit_w = None
        self.driver_version = _text(pynvml.nvmlSystemGetDriverVersion())
        try:
            cuda = int(pynvml.nvmlSystemGetCudaDriverVersion())
            self.cuda_version: str | None = f"{cuda // 1000}.{cuda % 1000 // 10}"
        except pynvml.NVMLError:
            self.cuda_version = None

    def _probe(self) -> None:
        """Pick one source per quantity, supported on every visible GPU."""
        try:  # the probe's values are the counters' starting points
            for g in self.gpus:
                g.last_mj = _energy_mj(g.handle)
            self._energy: Callable[[Any], int] | None = _energy_mj
        except NotSupportedError:
            self._energy = None
        self._power = next((f for f in (_power_instant_mw, _power_usage_mw) if _supported(f, self.gpus)), None)
        # the averaged field beside the instantaneous one; memory power where the GPU reports it
        self._power_avg = _power_usage_mw if self._power is _power_instant_mw and _supported(
            _power_usage_mw, self.gpus) else None
        self._power_mem = _power_memory_mw if _supported(_power_memory_mw, self.gpus) else None
        self._extras = {f: f if _supported(f, self.gpus) else None
                        for f in (_util_pct, _mem_used_mib, _temperature_c, _sm_clock_mhz)}

    def _counter_period(self, budget_s: float) -> float | None:
        """The first GPU's energy counter update period, seconds; None when unmeasured."""
        if budget_s <= 0:
            return None
        h = self.gpus[0].handle
        try:
            return counter_period_s(lambda: _energy_mj(h), time.monotonic, budget_s)
        except MeterError:  # no counter: the probe says so
            return None

    def _secondary(self, fn: Callable[[Any], float] | None, h: Any) -> float | None:
        """A quantity besides power and energy: a transient error drops it from this
        reading instead of dropping the reading; a lost GPU still raises."""
        if fn is None:
            return None
        try:
            return fn(h)
        except DeviceLostError:
            raise
        except MeterError:
            self.secondary_errors += 1
            return None

    def read(self) -> Reading:
        power_w = 0.0 if self._power is not None else None
        util, mem, temp, clock, avg, mem_power = [], [], [], [], [], []
        for g in self.gpus:
            if self._energy is not None and g.last_mj is not None:
                raw_mj = self._energy(g.handle)
                if raw_mj < g.last_mj:  # counter reset (driver reload, GPU reset): count from the new value
                    g.resets += 1
                    g.total_mj += raw_mj
                else:
                    g.total_mj += raw_mj - g.last_mj
                g.last_mj = raw_mj
            if self._power is not None:
                power_w += self._power(g.handle) / 1000.0  # type: ignore[operator]
            avg.append(self._secondary(self._power_avg, g.handle))
            mem_power.append(self._secondary(self._power_mem, g.handle))
            util.append(self._secondary(self._extras[_util_pct], g.handle))
            mem.append(self._secondary(self._extras[_mem_used_mib], g.handle))
            temp.append(self._secondary(self._extras[_temperature_c], g.handle))
            clock.append(self._secondary(self._extras[_sm_clock_mhz], g.handle))
        now_s = self._clock()
        energy_j = sum(g.total_mj for g in self.gpus) / 1000.0 if self._energy is not None else None
        avg_w, mem_power_w = _sum(avg), _sum(mem_power)
        return Reading(time_s=now_s, power_w=power_w, energy_j=energy_j, util_pct=_mean(util),
                       mem_used_mib=_sum(mem), temperature_c=_max(temp), sm_clock_mhz=_mean(clock),
                       gpu_power_w=power_w, gpu_energy_j=energy_j,
                       gpu_power_avg_w=avg_w / 1000.0 if avg_w is not None else None,
                       gpu_mem_power_w=mem_power_w / 1000.0 if mem_power_w is not None else None)

    def info(self) -> dict[str, Any]:
        mig = [m for g in self.gpus for m in g.mig_instances]
        return {
            "kind": self.kind, "cuda_visible_devices": self.cuda_visible_devices,
            "devices": [{"index": g.index, "uuid": g.uuid, "name": g.name, "power_limit_w": g.power_limit_w}
                        for g in self.gpus],
            "driver_version": self.driver_version, "cuda_version": self.cuda_version,
            "mig": ({"instances": mig, "note": "power and energy are of the whole parent GPU, "
                     "shared with every MIG instance on it"} if mig else None),
            "counter_resets": sum(g.resets for g in self.gpus), "secondary_errors": self.secondary_errors,
            "energy_domains": ["gpu"], "counter_period_s": self.counter_period_s,
            "sources": {
                "energy_j": _SOURCES[self._energy] if self._energy else None,
                "power_w": _SOURCES[self._power] if self._power else None,
                "power_avg_w": _SOURCES[self._power_avg] if self._power_avg else None,
                "mem_power_w": _SOURCES[self._power_mem] if self._power_mem else None,
                **{q: (_SOURCES[f] if self._extras[f] else None) for q, f in (
                    ("util_pct", _util_pct), ("mem_used_mib", _mem_used_mib),
                    ("temperature_c", _temperature_c), ("sm_clock_mhz", _sm_clock_mhz))},
            },
        }

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            pynvml.nvmlShutdown()
        except pynvml.NVMLError:
            pass


def counter_period_s(read: Callable[[], float], clock: Callable[[], float], budget_s: float,
                     poll_s: float = 0.001, changes: int = 4) -> float | None:
    """Median time between changes of a stepping counter, polled every ``poll_s`` for at most ``budget_s``.

    None when the counter changed fewer than ``changes`` times (too slow to
    measure in the budget, or constant). Seconds.
    """
    t_end = clock() + budget_s
    last, stamps = read(), []
    while clock() < t_end and len(stamps) < changes:
        time.sleep(poll_s)
        value = read()
        if value != last:
            stamps.append(clock())
            last = value
    if len(stamps) < changes:
        return None
    gaps = sorted(b - a for a, b in zip(stamps, stamps[1:]))
    return gaps[len(gaps) // 2]


def _mean(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


def _sum(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return sum(xs) if xs else None


def _max(values: list[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return max(xs) if xs else None
