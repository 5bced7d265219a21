"""CPU package + DRAM energy from Linux powercap RAPL counters.

Zones live under ``/sys/class/powercap``: ``intel-rapl:N`` is CPU package N,
and its subzones ``intel-rapl:N:M`` are parts of it (``core``, ``uncore``) or
DRAM (``dram``). The kernel lists subzones both nested in their package's
folder and flat beside it; both views are deduplicated by zone id.

Summed: every top-level ``package-*`` zone plus every ``dram`` zone. Not
summed: ``core``/``uncore`` (already inside their package) and ``psys``
(the whole platform, which contains the packages). ``intel-rapl-mmio:*`` is a
second interface to the same package counter and is never matched.

The packages are the ``cpu`` domain of a reading, the dram zones the ``dram``
domain. On a node the job shares, every value is multiplied by the job's share
(:mod:`.attribution`; ``info()["cpu_attribution"]`` says the rule and share,
``info()["socket_energy_j"]`` the sockets' whole energy). Each ``energy_uj`` counter wraps at ``max_energy_range_uj``; a decrease is
taken as one wrap. Power is the energy delta over the time between reads.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import MeterError
from .attribution import CpuAttribution, cpu_attribution
from .base import Reading, unix_time_s

DEFAULT_ROOT = Path("/sys/class/powercap")
_ZONE = re.compile(r"intel-rapl:(\d+)(?::(\d+))?$")
# RAPL counters update about every millisecond: shorter windows give noise,
# so power keeps its previous value until this much time has passed.
_MIN_POWER_WINDOW_S = 0.005


@dataclass
class _Domain:
    zone: str  # e.g. "intel-rapl:0:1"
    name: str  # e.g. "package-0", "dram"
    path: Path  # the zone's folder
    fd: int  # open descriptor of energy_uj
    max_range_uj: int | None  # counter range, microjoules (None if unreadable)
    last_uj: int  # last raw counter value, microjoules
    total_uj: int = 0  # energy accumulated since open, microjoules
    wraps: int = 0


def _open_counter(path: Path) -> int:
    """Open ``energy_uj`` once; reads re-use the descriptor (pread at offset 0)."""
    return os.open(path, os.O_RDONLY)


def _read_uj(fd: int) -> int:
    return int(os.pread(fd, 64, 0))


def _unreadable(path: Path, exc: OSError) -> MeterError:
    if isinstance(exc, PermissionError):
        return MeterError(
            f"RAPL: {path} is not readable: energy_uj is readable by root only since Linux 5.10 "
            f"(CVE-2020-8694); run as root, or `sudo chmod a+r /sys/class/powercap/intel-rapl:*/energy_uj "
            f"/sys/class/powercap/intel-rapl:*/intel-rapl:*/energy_uj`, or use meter kind 'estimate'")
    return MeterError(f"RAPL: cannot read {path}: {exc.strerror or type(exc).__name__}")


def _zones(root: Path) -> dict[tuple[int, int | None], Path]:
    """Every RAPL zone under ``root`` by (package, subzone), flat and nested views merged."""
    zones: dict[tuple[int, int | None], Path] = {}
    for p in sorted([*root.glob("intel-rapl:*"), *root.glob("intel-rapl:*/intel-rapl:*")]):
        m = _ZONE.match(p.name)
        if m and p.is_dir():
            key = (int(m.group(1)), int(m.group(2)) if m.group(2) is not None else None)
            zones.setdefault(key, p)
    return zones


class RaplMeter:
    """Package + DRAM RAPL energy of the host (all sockets). Labelled ``rapl``."""

    kind = "rapl"

    def __init__(self, root: Path | None = None, *, clock: Callable[[], float] = unix_time_s,
                 attribution: CpuAttribution | None = None) -> None:
        """Open the zones under ``root`` (default :data:`DEFAULT_ROOT`).

        ``attribution`` is the job's share of the sockets (default: decided
        from this process's cgroup cpuset and the node's CPUs).
        """
        self.root = Path(root) if root is not None else DEFAULT_ROOT
        self.attribution = attribution if attribution is not None else cpu_attribution()
        self._share = self.attribution.share_frac
        self._socket_uj = 0
        self._clock = clock
        self._domains: list[_Domain] = []
        self.skipped: list[str] = []
        if not self.root.is_dir():
            raise MeterError(f"RAPL: no powercap interface at {self.root} (Linux intel_rapl driver not loaded?)")
        try:
            for (_pkg, sub), path in sorted(_zones(self.root).items(), key=lambda kv: (kv[0][0], -1 if kv[0][1] is None else kv[0][1])):
                name = self._read_name(path)
                if (sub is None and name.startswith("package")) or name == "dram":
                    self._domains.append(self._open_domain(path, name))
                else:
                    self.skipped.append(f"{path.name} ({name})")
        except BaseException:
            self.close()
            raise
        if not any(d.name.startswith("package") for d in self._domains):
            self.close()
            raise MeterError(f"RAPL: no package zone (intel-rapl:N named package-N) under {self.root}")
        self._open_s = clock()
        # (time_s, (total, cpu, dram) uj) of the last power window, and the powers it gave
        self._power_ref: tuple[float, tuple[int, int, int]] = (self._open_s, (0, 0, 0))
        self._power_w: tuple[float | None, float | None, float | None] = (None, None, None)
        self.has_dram = any(d.name == "dram" for d in self._domains)

    @staticmethod
    def _read_name(path: Path) -> str:
        try:
            return (path / "name").read_text().strip()
        except OSError:
            return "?"

    def _open_domain(self, path: Path, name: str) -> _Domain:
        counter = path / "energy_uj"
        try:
            fd = _open_counter(counter)
        except OSError as exc:
            raise _unreadable(counter, exc) from None
        try:
            first_uj = _read_uj(fd)
        except OSError as exc:
            os.close(fd)
            raise _unreadable(counter, exc) from None
        except ValueError:
            os.close(fd)
            raise MeterError(f"RAPL: {counter} does not hold an integer") from None
        try:
            max_range_uj: int | None = int((path / "max_energy_range_uj").read_text())
        except (OSError, ValueError):
            max_range_uj = None
        return _Domain(zone=path.name, name=name, path=path, fd=fd, max_range_uj=max_range_uj, last_uj=first_uj)

    def read(self) -> Reading:
        total_uj = cpu_uj = 0
        for d in self._domains:
            try:
                raw_uj = _read_uj(d.fd)
            except (OSError, ValueError) as exc:
                raise MeterError(f"RAPL: cannot read {d.path / 'energy_uj'}: {exc}") from None
            delta_uj = raw_uj - d.last_uj
            if delta_uj < 0:  # the counter wrapped
                delta_uj += d.max_range_uj if d.max_range_uj else d.last_uj
                d.wraps += 1
            d.total_uj += delta_uj
            d.last_uj = raw_uj
            total_uj += d.total_uj
            if d.name != "dram":
                cpu_uj += d.total_uj
        now_s = self._clock()
        self._socket_uj = total_uj
        k = self._share
        total_uj, cpu_uj = round(total_uj * k), round(cpu_uj * k)
        now_uj = (total_uj, cpu_uj, total_uj - cpu_uj)
        ref_s, ref_uj = self._power_ref
        if now_s - ref_s >= _MIN_POWER_WINDOW_S:
            self._power_w = tuple((u - r) / 1e6 / (now_s - ref_s) for u, r in zip(now_uj, ref_uj))  # type: ignore[assignment]
            self._power_ref = (now_s, now_uj)
        power_w, cpu_w, dram_w = self._power_w
        dram = self.has_dram
        return Reading(time_s=now_s, power_w=power_w, energy_j=total_uj / 1e6,
                       cpu_power_w=cpu_w, cpu_energy_j=cpu_uj / 1e6,
                       dram_power_w=dram_w if dram else None, dram_energy_j=now_uj[2] / 1e6 if dram else None)

    def info(self) -> dict[str, Any]:
        return {
            "kind": self.kind, "root": str(self.root),
            "domains": [{"zone": d.zone, "name": d.name, "max_energy_range_uj": d.max_range_uj, "wraps": d.wraps}
                        for d in self._domains],
            "skipped": list(self.skipped), "summed": "package-* zones + dram zones",
            "energy_domains": ["cpu", "dram"] if self.has_dram else ["cpu"],
            "cpu_attribution": self.attribution.to_dict(), "socket_energy_j": self._socket_uj / 1e6,
            "sources": {
                "energy_j": "sum of powercap energy_uj deltas (wrap at max_energy_range_uj)",
                "power_w": f"energy delta / time delta between reads (window >= {_MIN_POWER_WINDOW_S * 1e3:g} ms)",
            },
        }

    def close(self) -> None:
        for d in self._domains:
            if d.fd >= 0:
                try:
                    os.close(d.fd)
                except OSError:
                    pass
                d.fd = -1
