"""The one small protocol every meter implements, and the readings it returns.

A meter answers "how much power, and how much energy since I opened?" for the
devices a run uses. The sampler drives any meter through :class:`Meter`
without knowing which backend it is (NVML, RAPL, a labelled estimate, or a
labelled synthetic trace).
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple, Protocol, runtime_checkable

from ..errors import MeterError
from ..schema import DOMAINS

__all__ = ["DOMAINS", "MIN_COUNTER_PERIODS", "DeviceLostError", "Meter", "NotSupportedError", "Reading"]


class DeviceLostError(MeterError):
    """A metered device disappeared mid-run (e.g. NVML_ERROR_GPU_IS_LOST).

    The sampler stops sampling on it; training goes on and the run records it.
    """


class NotSupportedError(MeterError):
    """The device does not support a quantity (probed when a meter opens)."""


#: An epoch shorter than this many updates of an energy counter is flagged (its counter energy is coarse).
MIN_COUNTER_PERIODS = 5



class Reading(NamedTuple):
    """One reading of a meter (immutable). Every field carries its unit in its name.

    ``power_w`` and ``energy_j`` are the totals over every metered domain;
    the ``<domain>_power_w`` / ``<domain>_energy_j`` fields split them (None:
    the domain is not metered, or has no counter). A named tuple: the sampler
    builds one per tick, and a tuple is several times cheaper to make than a
    frozen dataclass of this many fields.
    """

    time_s: float  # Unix time of the reading, seconds
    power_w: float | None  # power of the metered devices, summed, watts
    energy_j: float | None  # cumulative counter since the meter opened, joules; None without a counter
    util_pct: float | None = None  # utilisation, percent (mean over devices)
    mem_used_mib: float | None = None  # device memory in use, MiB (summed)
    temperature_c: float | None = None  # temperature, degrees Celsius (hottest device)
    sm_clock_mhz: float | None = None  # SM clock, MHz (mean over devices)
    gpu_power_w: float | None = None  # the job's GPUs, watts (NVML instantaneous where supported)
    gpu_energy_j: float | None = None  # the job's GPUs' energy counter since open, joules
    cpu_power_w: float | None = None  # CPU packages, watts (attributed to the job on shared nodes)
    cpu_energy_j: float | None = None  # CPU packages' counter since open, joules (attributed)
    dram_power_w: float | None = None  # DRAM, watts (attributed)
    dram_energy_j: float | None = None  # DRAM counter since open, joules (attributed)
    gpu_power_avg_w: float | None = None  # NVML's averaged power (about 1 s on Ampere and later), watts
    gpu_mem_power_w: float | None = None  # GPU memory power where the GPU reports it (Hopper and later), watts

    def domain(self, name: str) -> tuple[float | None, float | None]:
        """(power_w, energy_j) of one domain of :data:`DOMAINS`."""
        i = _DOMAIN_INDEX[name]
        return self[i], self[i + 1]

    def domains(self) -> tuple[str, ...]:
        """The domains this reading carries a value for."""
        return tuple(d for d in DOMAINS if self.domain(d) != (None, None))


#: Tuple index of each domain's power (its energy follows).
_DOMAIN_INDEX = {d: Reading._fields.index(f"{d}_power_w") for d in DOMAINS}
#: The tuple slice holding every domain's (power, energy), in DOMAINS order.
DOMAIN_SLICE = slice(_DOMAIN_INDEX[DOMAINS[0]], _DOMAIN_INDEX[DOMAINS[-1]] + 2)


@runtime_checkable
class Meter(Protocol):
    """What the sampler needs from a meter."""

    kind: str  # "nvml" | "rapl" | "estimate" | "synthetic"

    def read(self) -> Reading:
        """Read the devices now; raise :class:`MeterError` (or a subclass) on failure."""
        ...

    def info(self) -> dict[str, Any]:
        """Provenance: devices, versions, and ``"sources"``: how each quantity is obtained."""
        ...

    def close(self) -> None:
        """Release the meter's resources; idempotent."""
        ...


# Readings carry Unix time, but intervals between them must not jump when NTP
# steps the wall clock mid-run: anchor the wall clock once per process and
# advance it with the monotonic clock.
_WALL0_S = time.time()
_MONO0_S = time.monotonic()


def unix_time_s() -> float:
    """Steady Unix time, seconds: wall clock at import + monotonic time since."""
    return _WALL0_S + (time.monotonic() - _MONO0_S)
