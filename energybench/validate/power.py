"""Pure functions of recorded power and counter series: integrals, agreement, update periods.

Series are parallel lists (times in seconds, energies in joules, powers in watts) as
:class:`~energybench.validate.nvmlprobe.Recorder` keeps them; missing values are None.
"""

from __future__ import annotations

import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass


def trapezoid_j(time_s: Sequence[float], power_w: Sequence[float | None]) -> float | None:
    """Trapezoid integral of power over time, joules; intervals with a missing end are skipped."""
    total, used = 0.0, 0
    for i in range(1, len(time_s)):
        a, b = power_w[i - 1], power_w[i]
        if a is None or b is None:
            continue
        total += 0.5 * (a + b) * (time_s[i] - time_s[i - 1])
        used += 1
    return total if used else None


def every(rate_hz: float, time_s: Sequence[float]) -> list[int]:
    """Indices of the readings a sampler at ``rate_hz`` would have taken: the first reading at or after
    each multiple of its period (and the last reading, so the window ends where the full one does)."""
    if not time_s:
        return []
    period_s = 1.0 / rate_hz
    t0 = time_s[0]
    out, next_s = [], t0
    for i, t in enumerate(time_s):
        if t >= next_s - 1e-9:
            out.append(i)
            next_s = t0 + (int((t - t0) / period_s + 1e-9) + 1) * period_s  # the next slot after t
    if out[-1] != len(time_s) - 1:
        out.append(len(time_s) - 1)
    return out


@dataclass(frozen=True)
class Agreement:
    """Counter energy against a power integral over one window."""

    window_s: float
    readings: int
    counter_j: float
    integral_j: float

    @property
    def difference_pct(self) -> float:
        """(integral - counter) / counter, percent."""
        return (self.integral_j - self.counter_j) / self.counter_j * 100.0 if self.counter_j else float("nan")


def agreement(time_s: Sequence[float], energy_j: Sequence[float | None], power_w: Sequence[float | None],
              idx: Sequence[int] | None = None) -> Agreement | None:
    """Counter delta vs the trapezoid of ``power_w`` over the readings ``idx`` (default: all).

    The window runs from the first to the last of those readings that has a counter value.
    """
    idx = list(range(len(time_s))) if idx is None else list(idx)
    idx = [i for i in idx if energy_j[i] is not None]
    if len(idx) < 2:
        return None
    t = [time_s[i] for i in idx]
    integral = trapezoid_j(t, [power_w[i] for i in idx])
    if integral is None:
        return None
    counter = energy_j[idx[-1]] - energy_j[idx[0]]  # type: ignore[operator]
    return Agreement(window_s=t[-1] - t[0], readings=len(idx), counter_j=counter, integral_j=integral)


def mean_power_w(time_s: Sequence[float], energy_j: Sequence[float | None]) -> float | None:
    """Counter delta / time between the first and last readings with a counter value, watts."""
    pts = [(t, e) for t, e in zip(time_s, energy_j) if e is not None]
    if len(pts) < 2 or pts[-1][0] <= pts[0][0]:
        return None
    return (pts[-1][1] - pts[0][1]) / (pts[-1][0] - pts[0][0])


def mean(values: Sequence[float | None]) -> float | None:
    xs = [v for v in values if v is not None]
    return statistics.fmean(xs) if xs else None


def change_times_s(time_s: Sequence[float], values: Sequence[float | None]) -> list[float]:
    """Times at which ``values`` changed from the previous reading."""
    out = []
    for i in range(1, len(values)):
        if values[i] is not None and values[i - 1] is not None and values[i] != values[i - 1]:
            out.append(time_s[i])
    return out


def update_period_s(time_s: Sequence[float], values: Sequence[float | None]) -> float | None:
    """Median time between changes of a quantity polled much faster than it updates, seconds."""
    changes = change_times_s(time_s, values)
    gaps = [b - a for a, b in itertools.pairwise(changes)]
    return statistics.median(gaps) if gaps else None
