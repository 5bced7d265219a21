"""The one small protocol every meter implements, and the readings it returns.

A meter answers "how much power, and how much energy since I opened?" for the
devices a run uses. The sampler drives any meter through :class:`Meter`
without knowing which backend it is (NVML, RAPL, a labelled estimate, or a
labelled synthetic trace).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import MeterError


class DeviceLostError(MeterError):
    """A metered device disappeared mid-run (e.g. NVML_ERROR_GPU_IS_LOST).

    The sampler stops sampling on it; training goes on and the run records it.
    """


class NotSupportedError(MeterError):
    """The device does not support a quantity (probed when a meter opens)."""


@dataclass(frozen=True)
class Reading:
    """One reading of a meter. Every field carries its unit in its name."""

    time_s: float  # Unix time of the reading, seconds
    power_w: float | None  # power of the metered devices, summed, watts
    energy_j: float | None  # cumulative counter since the meter opened, joules; None without a counter
    util_pct: float | None = None  # utilisation, percent (mean over devices)
    mem_used_mib: float | None = None  # device memory in use, MiB (summed)
    temperature_c: float | None = None  # temperature, degrees Celsius (hottest device)
    sm_clock_mhz: float | None = None  # SM clock, MHz (mean over devices)


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
