"""A deterministic, labelled synthetic meter for tests and demos.

Power is a function of the time since the meter opened and of a load hint
(the phase the sampler is in)::

    power_w(t) = load_w[phase] * (1 + ripple_frac * sin(2 pi t / ripple_period_s))

and the counter is the exact (closed-form) integral of that function, so tests
can check the sampler's integration against known numbers. Every reading is
labelled ``synthetic``; nothing here measures hardware.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from .base import Reading, unix_time_s

#: Power of each load level at zero ripple, watts (a mid-range GPU's idle/train/eval).
DEFAULT_LOAD_W: Mapping[str, float] = {"idle": 50.0, "train": 250.0, "eval": 180.0, "checkpoint": 80.0}
#: Utilisation reported for each load level, percent.
DEFAULT_UTIL_PCT: Mapping[str, float] = {"idle": 0.0, "train": 95.0, "eval": 60.0, "checkpoint": 5.0}


class SyntheticMeter:
    """Piecewise-constant load with a sinusoidal ripple; exact energy counter."""

    kind = "synthetic"

    def __init__(self, *, load_w: Mapping[str, float] = DEFAULT_LOAD_W, ripple_frac: float = 0.1,
                 ripple_period_s: float = 2.0, phase: str = "idle",
                 clock: Callable[[], float] = unix_time_s) -> None:
        if phase not in load_w:
            raise ValueError(f"unknown load {phase!r}; known: {', '.join(load_w)}")
        if ripple_period_s <= 0:
            raise ValueError("ripple_period_s must be > 0")
        self.load_w = dict(load_w)
        self.ripple_frac = ripple_frac
        self.ripple_period_s = ripple_period_s
        self._clock = clock
        self.open_s = clock()
        #: (Unix time the load took effect, phase), oldest first; for tests and demos.
        self.transitions: list[tuple[float, str]] = [(self.open_s, phase)]
        self._phase = phase
        self._seg_start_s = self.open_s
        self._seg_energy_j = 0.0  # energy of all earlier segments, joules

    @property
    def phase(self) -> str:
        return self._phase

    def set_load(self, phase: str, at_s: float | None = None) -> None:
        """Switch the load level at Unix time ``at_s`` (default: now); phases unknown to
        ``load_w`` keep the current level."""
        if phase not in self.load_w:
            return
        at_s = self._clock() if at_s is None else max(at_s, self._seg_start_s)
        self._seg_energy_j += self._segment_j(self._phase, self._seg_start_s, at_s)
        self._phase, self._seg_start_s = phase, at_s
        self.transitions.append((at_s, phase))

    def power_w_at(self, time_s: float, phase: str) -> float:
        """Power of load ``phase`` at Unix time ``time_s``, watts."""
        omega = 2 * math.pi / self.ripple_period_s
        return self.load_w[phase] * (1 + self.ripple_frac * math.sin(omega * (time_s - self.open_s)))

    def _segment_j(self, phase: str, a_s: float, b_s: float) -> float:
        """Closed-form integral of :meth:`power_w_at` over [a_s, b_s], joules."""
        omega = 2 * math.pi / self.ripple_period_s
        base = self.load_w[phase]
        ta, tb = a_s - self.open_s, b_s - self.open_s
        return base * (tb - ta) + base * self.ripple_frac / omega * (math.cos(omega * ta) - math.cos(omega * tb))

    def energy_j_at(self, time_s: float) -> float:
        """Exact energy since open up to ``time_s`` (not before the last load switch), joules."""
        return self._seg_energy_j + self._segment_j(self._phase, self._seg_start_s, time_s)

    def read(self) -> Reading:
        now_s = self._clock()
        power_w, energy_j = self.power_w_at(now_s, self._phase), self.energy_j_at(now_s)
        return Reading(time_s=now_s, power_w=power_w, energy_j=energy_j,
                       util_pct=DEFAULT_UTIL_PCT.get(self._phase), gpu_power_w=power_w, gpu_energy_j=energy_j)

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "energy_domains": ["gpu"], "synthetic": True, "load_w": dict(self.load_w),
            "ripple_frac": self.ripple_frac, "ripple_period_s": self.ripple_period_s,
            "sources": {
                "power_w": "synthetic: load_w[phase] x (1 + ripple_frac x sin(2 pi t / ripple_period_s))",
                "energy_j": "synthetic: closed-form integral of power_w since open",
                "util_pct": "synthetic: fixed per phase",
            },
        }

    def close(self) -> None:
        pass
