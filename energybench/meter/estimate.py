"""A labelled CPU power *estimate*: TDP x utilisation, for hosts without counters.

This follows the convention of CodeCarbon's TDP fallback and of Green
Algorithms (power = cores x TDP per core x usage):

* utilisation = this process's CPU time delta / (wall delta x cores usable),
  clipped to 0..1. CPU time is ``time.process_time()`` (all threads of this
  process, nanosecond resolution; ``os.times`` and psutil tick at 10 ms, too
  coarse for a 10-ms period). Child processes (e.g. DataLoader workers) are
  *not* counted.
* cores usable = ``len(os.sched_getaffinity(0))`` (the cpuset SLURM gives the
  job), else ``os.cpu_count()``.
* power_w = share_tdp_w x utilisation, where share_tdp_w is
  ``tdp_w x cores usable / cores of the host`` when ``tdp_w`` (the CPU's TDP,
  all sockets) is configured, else a guess of :data:`GUESS_TDP_PER_CORE_W` per
  usable core (server CPUs run ~4-13 W per core at TDP, laptop CPUs ~5-15 W;
  15 W errs high rather than low).

There is no counter (``energy_j`` is None): the sampler integrates power.
It estimates the CPU only; a GPU run without NVML cannot be estimated here.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

from .base import Reading, unix_time_s

#: Guessed TDP per usable core when the config gives no ``tdp_w``, watts.
GUESS_TDP_PER_CORE_W = 15.0
# Shorter windows give noisy utilisation: below this, repeat the last value.
_MIN_WINDOW_S = 0.002


def _usable_cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


class EstimateMeter:
    """TDP x CPU utilisation of this process. Labelled ``estimate``."""

    kind = "estimate"

    def __init__(self, *, tdp_w: float | None = None, cores_used: int | None = None,
                 cores_total: int | None = None, cpu_time_s: Callable[[], float] = time.process_time,
                 clock: Callable[[], float] = unix_time_s, device: str = "cpu") -> None:
        self.cores_used = cores_used or _usable_cores()
        self.cores_total = max(cores_total or os.cpu_count() or self.cores_used, self.cores_used)
        if tdp_w is not None:
            self.share_tdp_w = tdp_w * self.cores_used / self.cores_total
            self.tdp_source = f"config tdp_w={tdp_w:g} W x {self.cores_used}/{self.cores_total} cores"
        else:
            self.share_tdp_w = GUESS_TDP_PER_CORE_W * self.cores_used
            self.tdp_source = f"guess: {GUESS_TDP_PER_CORE_W:g} W per core x {self.cores_used} cores"
        self.tdp_w = tdp_w
        self.device = device
        self._cpu_time_s = cpu_time_s
        self._clock = clock
        self._last_cpu_s = cpu_time_s()
        self._last_wall_s = clock()
        self._util = 0.0  # utilisation, 0..1, of the last window

    def read(self) -> Reading:
        cpu_s, wall_s = self._cpu_time_s(), self._clock()
        dt_s = wall_s - self._last_wall_s
        if dt_s >= _MIN_WINDOW_S:
            util = (cpu_s - self._last_cpu_s) / (dt_s * self.cores_used)
            self._util = min(max(util, 0.0), 1.0)
            self._last_cpu_s, self._last_wall_s = cpu_s, wall_s
        power_w = self.share_tdp_w * self._util
        return Reading(time_s=wall_s, power_w=power_w, energy_j=None, util_pct=100.0 * self._util,
                       cpu_power_w=power_w)

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "energy_domains": ["cpu"], "estimate": True, "device": self.device, "covers": "CPU time of this process",
            "tdp_w": self.tdp_w, "share_tdp_w": self.share_tdp_w, "tdp_source": self.tdp_source,
            "cores_used": self.cores_used, "cores_total": self.cores_total,
            "sources": {
                "power_w": "share_tdp_w x utilisation (CodeCarbon / Green Algorithms TDP model)",
                "util_pct": "time.process_time() delta / (wall delta x cores_used)",
                "energy_j": None,
            },
        }

    def close(self) -> None:
        pass
