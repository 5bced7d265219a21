"""Several meters read as one: one reading per tick, every domain kept apart, the totals summed.

A GPU run on a host with RAPL reads NVML (the ``gpu`` domain) and RAPL (the
``cpu`` and ``dram`` domains) at once: the whole job's energy, not one
device's. Each domain comes from exactly one part; utilisation, memory,
temperature and clocks come from the first part that reports them (the GPU).
The total counter exists only when every domain read has one.
"""

from __future__ import annotations

from typing import Any

from .base import DOMAINS, Meter, Reading

#: Tuple indices of each domain's (power, energy) in a Reading, and of the fields taken from the first part.
_DOMAIN_AT = tuple(Reading._fields.index(f"{d}_power_w") for d in DOMAINS)
_FIRST_OF = tuple(Reading._fields.index(n) for n in ("util_pct", "mem_used_mib", "temperature_c", "sm_clock_mhz",
                                                      "gpu_power_avg_w", "gpu_mem_power_w"))


def combine(readings: list[Reading]) -> Reading:
    """One reading from the parts' readings of the same tick (pure; index-based: it runs every tick)."""
    values: list[Any] = [None] * len(Reading._fields)
    values[0] = max(r[0] for r in readings)
    power_w, energy_j, counter_ok, any_power, any_energy = 0.0, 0.0, True, False, False
    for i in _DOMAIN_AT:
        for r in readings:
            p_w, e_j = r[i], r[i + 1]
            if p_w is not None or e_j is not None:
                values[i], values[i + 1] = p_w, e_j
                if p_w is not None:
                    power_w += p_w
                    any_power = True
                if e_j is None:
                    counter_ok = False
                else:
                    energy_j += e_j
                    any_energy = True
                break
    for i in _FIRST_OF:
        for r in readings:
            if r[i] is not None:
                values[i] = r[i]
                break
    values[1] = power_w if any_power else None
    values[2] = energy_j if counter_ok and any_energy else None
    return Reading._make(values)


class CompositeMeter:
    """The parts, read in order each tick (GPU first: its counter is the one that matters most)."""

    def __init__(self, parts: list[Meter]) -> None:
        if not parts:
            raise ValueError("a composite meter needs at least one part")
        self.parts = parts
        self.kind = "+".join(p.kind for p in parts)

    def read(self) -> Reading:
        return combine([p.read() for p in self.parts])

    def info(self) -> dict[str, Any]:
        infos = [p.info() for p in self.parts]
        domains = [d for i in infos for d in i.get("energy_domains", [])]
        out: dict[str, Any] = {"kind": self.kind, "energy_domains": domains, "parts": infos}
        for i in infos:  # what the worker's record looks up at the top level
            for key in ("devices", "cpu_attribution", "counter_period_s", "mig"):
                if key in i and key not in out:
                    out[key] = i[key]
        out["sources"] = {f"{i['kind']}.{q}": src for i in infos for q, src in i.get("sources", {}).items()}
        return out

    def close(self) -> None:
        for p in self.parts:
            p.close()
