"""What the cluster says about itself (sinfo, scontrol), and the profile checked against it.

:func:`query_cluster` makes two calls (``sinfo`` for partitions, ``scontrol
show config`` for MaxArraySize); :func:`check_profile` is pure, so the checks
are tested without a cluster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from ..units import MIB_PER_GIB
from .profile import Profile
from .shell import slurm

#: SLURM's default MaxArraySize (used by --dry-run, which asks no cluster).
DEFAULT_MAX_ARRAY_SIZE = 1001


@dataclass(frozen=True)
class Partition:
    """One partition, merged over its node configurations (the largest node counts)."""

    name: str
    max_time_min: int | None  # None = no limit
    gpus_by_type: dict[str, int]  # GRES gpu per node: type ("" = untyped) -> count
    cpus_per_node: int
    mem_per_node_mb: int
    available: bool


@dataclass(frozen=True)
class ClusterFacts:
    partitions: dict[str, Partition]
    max_array_size: int


def parse_time_min(text: str) -> int | None:
    """SLURM time ("infinite", "30:00", "1:00:00", "2-00:00:00", "60") -> minutes (None = no limit)."""
    text = text.strip()
    if text.lower() in ("infinite", "unlimited", "n/a", ""):
        return None
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:  # minutes
        h, m, s = 0, parts[0], 0
    elif len(parts) == 2:  # minutes:seconds
        h, m, s = 0, parts[0], parts[1]
    else:
        h, m, s = parts[-3:]
    return days * 1440 + h * 60 + m + (1 if s else 0)


def parse_gres(text: str) -> dict[str, int]:
    """``gpu:4``, ``gpu:a100:4(S:0-1)``, ``gpu:a100:2,gpu:v100:2`` -> {type: count} of GPUs."""
    out: dict[str, int] = {}
    for item in re.split(r",(?![^(]*\))", text):
        item = re.sub(r"\(.*?\)", "", item.strip())
        parts = item.split(":")
        if not parts or parts[0] != "gpu" or len(parts) < 2:
            continue
        try:
            count = int(parts[-1])
        except ValueError:
            continue
        gtype = parts[1] if len(parts) >= 3 else ""
        out[gtype] = max(out.get(gtype, 0), count)
    return out


def parse_sinfo(text: str) -> dict[str, Partition]:
    """Lines of ``sinfo -h -o '%R|%l|%G|%c|%m|%a'`` -> partitions."""
    parts: dict[str, Partition] = {}
    for line in text.splitlines():
        fields = line.strip().split("|")
        if len(fields) != 6:
            continue
        name, limit, gres, cpus, mem, avail = fields
        gpus = parse_gres(gres)
        cpus_n = int(re.sub(r"\D", "", cpus) or 0)
        mem_n = int(re.sub(r"\D", "", mem) or 0)
        old = parts.get(name)
        if old is not None:  # another node configuration of the same partition
            for t, n in old.gpus_by_type.items():
                gpus[t] = max(gpus.get(t, 0), n)
            cpus_n, mem_n = max(cpus_n, old.cpus_per_node), max(mem_n, old.mem_per_node_mb)
        parts[name] = Partition(name, parse_time_min(limit), gpus, cpus_n, mem_n, avail.strip() == "up")
    return parts


def parse_max_array_size(config_text: str) -> int:
    """The most tasks one array may have: MaxArraySize (indices 0..N-1), or fewer when
    ``SchedulerParameters`` sets ``max_array_tasks``."""
    m = re.search(r"^MaxArraySize\s*=\s*(\d+)", config_text, re.MULTILINE)
    size = int(m.group(1)) if m else DEFAULT_MAX_ARRAY_SIZE
    t = re.search(r"^SchedulerParameters\s*=.*\bmax_array_tasks=(\d+)", config_text, re.MULTILINE)
    return min(size, int(t.group(1))) if t else size


def query_cluster() -> ClusterFacts:
    """Partitions (one ``sinfo`` call) and MaxArraySize (one ``scontrol show config``)."""
    sinfo = slurm(["sinfo", "-h", "-o", "%R|%l|%G|%c|%m|%a"])
    config = slurm(["scontrol", "show", "config"], retries=2)
    return ClusterFacts(parse_sinfo(sinfo.stdout), parse_max_array_size(config.stdout))


def check_profile(profile: Profile, hardware: list[str], timeout_min: int, facts: ClusterFacts) -> list[str]:
    """Problems of the profile's entries for ``hardware`` on this cluster (empty: fine)."""
    problems = []
    known = ", ".join(sorted(facts.partitions)) or "none"
    for hw in hardware:
        e = profile.entry(hw)
        part = facts.partitions.get(e.partition)
        if part is None:
            problems.append(f"{profile.field(hw, 'partition')}: partition {e.partition!r} does not exist on this "
                            f"cluster (sinfo lists: {known})")
            continue
        t = e.time_min(timeout_min)
        if part.max_time_min is not None and t > part.max_time_min:
            which = "time_limit_min" if e.time_limit_min else "time_limit_min (unset: executor.timeout_min)"
            problems.append(f"{profile.field(hw, which)}: {t} min exceeds partition {e.partition!r}'s MaxTime of "
                            f"{part.max_time_min} min; lower it (runs resume after a requeue)")
        if e.gpus:
            have = part.gpus_by_type.get(e.gpu_type, 0) if e.gpu_type else max(
                [0, *part.gpus_by_type.values()])
            if have == 0:
                offered = ", ".join(f"gpu:{t}:{n}" if t else f"gpu:{n}" for t, n in part.gpus_by_type.items())
                problems.append(f"{profile.field(hw, 'gpu_type' if e.gpu_type else 'gpus')}: partition "
                                f"{e.partition!r} offers no GRES {e.gres.rsplit(':', 1)[0]} "
                                f"(nodes have: {offered or 'no GPUs'}); use gpus: 0 for a CPU partition")
            elif e.gpus > have:
                problems.append(f"{profile.field(hw, 'gpus')}: {e.gpus} GPUs per run but nodes of "
                                f"{e.partition!r} have {have}")
        if part.cpus_per_node and e.cpus_per_task > part.cpus_per_node:
            problems.append(f"{profile.field(hw, 'cpus_per_task')}: {e.cpus_per_task} but nodes of "
                            f"{e.partition!r} have {part.cpus_per_node} CPUs")
        if e.mem_gb and part.mem_per_node_mb and e.mem_gb * MIB_PER_GIB > part.mem_per_node_mb:
            problems.append(f"{profile.field(hw, 'mem_gb')}: {e.mem_gb} GB but nodes of {e.partition!r} have "
                            f"{part.mem_per_node_mb / MIB_PER_GIB:.0f} GB")
        if not part.available:
            problems.append(f"{profile.field(hw, 'partition')}: partition {e.partition!r} is not up")
    return problems


def validate_against_cluster(profile: Profile, hardware: list[str], timeout_min: int,
                             facts: ClusterFacts) -> None:
    """Raise one :class:`ConfigError` listing every problem of the profile on this cluster."""
    problems = check_profile(profile, hardware, timeout_min, facts)
    if problems:
        raise ConfigError(f"{profile.source}: {len(problems)} error(s) on this cluster: " + " | ".join(problems))
