"""Which share of a socket's RAPL energy belongs to this job, on a node it may share.

RAPL counts whole CPU packages (and their DRAM), whoever runs on them. When
the job owns the node, all of it is the job's. When it does not (a SLURM job
that is not ``--exclusive``: fewer CPUs allocated than the node has), CPU and
DRAM energy are attributed by the documented rule

    share = allocated CPUs / online CPUs of the node

where the allocated CPUs are the job's cgroup cpuset (what SLURM's task/cgroup
plugin confines it to), else this process's CPU affinity. The rule assumes
the other CPUs' tenants draw power like this job's CPUs do; it is a
convention (CodeCarbon and Green Algorithms scale by cores the same way), not
a measurement, and ``run.json`` records it as ``cpu_attribution`` beside the
share, so a socket's energy is never presented as the job's without saying so.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

RULE_EXCLUSIVE = "exclusive: the job owns every CPU of the node; the sockets' energy is the job's"
RULE_SHARED = "allocated CPUs / online CPUs of the node (RAPL measures whole sockets)"


@dataclass(frozen=True)
class CpuAttribution:
    """The job's share of the node's CPU and DRAM energy, and how it was decided."""

    share_frac: float  # 0..1, multiplies the sockets' CPU and DRAM energy
    exclusive: bool  # the job owns every online CPU
    allocated_cpus: int  # CPUs the job may run on
    node_cpus: int  # online CPUs of the node
    source: str  # where ``allocated_cpus`` came from (the cpuset file, or sched_getaffinity)
    rule: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_cpu_list(text: str) -> set[int]:
    """CPUs of a kernel CPU list (``0-3,8,10-11``); empty for an empty list."""
    cpus: set[int] = set()
    for part in text.strip().split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        cpus.update(range(int(lo), int(hi or lo) + 1))
    return cpus


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def cgroup_cpus(proc_root: Path = Path("/proc"), sys_root: Path = Path("/sys")) -> tuple[set[int], str] | None:
    """The CPUs of this process's cgroup cpuset (v2, then v1) and the file they came from; None if unknown."""
    text = _read(proc_root / "self" / "cgroup")
    if text is None:
        return None
    cg = sys_root / "fs" / "cgroup"
    for line in text.splitlines():
        hid, _, rest = line.partition(":")
        controllers, _, path = rest.partition(":")
        rel = path.lstrip("/")
        candidates = []
        if hid == "0" and controllers == "":  # cgroup v2: one unified hierarchy
            candidates = [cg / rel / "cpuset.cpus.effective", cg / rel / "cpuset.cpus"]
        elif "cpuset" in controllers.split(","):  # cgroup v1
            candidates = [cg / "cpuset" / rel / "cpuset.effective_cpus", cg / "cpuset" / rel / "cpuset.cpus"]
        for f in candidates:
            value = _read(f)
            if value is not None and value.strip():
                try:
                    return parse_cpu_list(value), str(f)
                except ValueError:
                    continue
    return None


def node_cpus(sys_root: Path = Path("/sys")) -> int:
    """Online CPUs of the node (``/sys/devices/system/cpu/online``, else ``os.cpu_count()``)."""
    text = _read(sys_root / "devices" / "system" / "cpu" / "online")
    if text:
        try:
            return len(parse_cpu_list(text))
        except ValueError:
            pass
    return os.cpu_count() or 1


def cpu_attribution(proc_root: Path = Path("/proc"), sys_root: Path = Path("/sys"),
                    affinity: set[int] | None = None, env: Mapping[str, str] | None = None) -> CpuAttribution:
    """This job's share of the node's RAPL energy (see the module docstring).

    ``affinity`` defaults to ``os.sched_getaffinity(0)``; ``env`` (default the
    process environment) supplies ``SLURM_CPUS_ON_NODE`` where neither the
    cpuset nor the affinity can be read.
    """
    env = os.environ if env is None else env
    total = node_cpus(sys_root)
    found = cgroup_cpus(proc_root, sys_root)
    if found is not None and found[0]:
        allocated, source = len(found[0]), found[1]
    else:
        try:
            cpus = affinity if affinity is not None else os.sched_getaffinity(0)
            allocated, source = len(cpus), "sched_getaffinity"
        except (AttributeError, OSError):
            slurm = env.get("SLURM_CPUS_ON_NODE", "")
            allocated, source = (int(slurm), "SLURM_CPUS_ON_NODE") if slurm.isdigit() else (total, "assumed whole node")
    allocated = max(1, min(allocated, total))
    exclusive = allocated >= total
    return CpuAttribution(share_frac=1.0 if exclusive else allocated / total, exclusive=exclusive,
                          allocated_cpus=allocated, node_cpus=total, source=source,
                          rule=RULE_EXCLUSIVE if exclusive else RULE_SHARED)
