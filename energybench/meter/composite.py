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

_EXTRAS = ("util_pct", "mem_used_mib", "temperature_c", "sm_clock_mhz", "gpu_power_avg_w", "gpu_mem_power_w")


def combine(readings: list[Reading]) -> Reading:
    """One reading from the parts' readings of the same tick (pure)."""
    fields: dict[str, Any] = {}
    powers, energies, counter_ok = [], [], True
    for d in DOMAINS:
        for r in readings:
            p_w, e_j = r.domain(d)
            if p_w is not None or e_j is not None:
                fields[f"{d}_power_w"], fields[f"{d}_energy_j"] = p_w, e_j
                if p_w is not None:
                    powers.append(p_w)
                if e_j is None:
                    counter_ok = False
                else:
                    energies.append(e_j)
                break
    for name in _EXTRAS:
        fields[name] = next((getattr(r, name) for r in readings if getattr(r, name) is not None), None)
    return Reading(time_s=max(r.time_s for r in readings), power_w=sum(powers) if powers else None,
                   energy_j=sum(energies) if counter_ok and energies else None, **fields)


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
