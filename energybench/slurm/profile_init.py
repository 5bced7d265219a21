"""``energybench profile init``: a cluster profile written from what the cluster says about itself.

:func:`query_outputs` is the only function that talks to SLURM (``sinfo``,
``scontrol show node/partition/config``, through :func:`.shell.slurm`). The
rest is pure: parsers of those outputs, :func:`plan_entries` (one hardware
entry per partition and GPU type, named, with a constraint where a partition
mixes GPU types) and :func:`render_profile`, which writes YAML text that
:func:`.profile.parse_profile` loads, comments included.

Choices a user should know about:

- Resources are one run's share of the *smallest* node of an entry (CPUs and
  RealMemory divided by its GPUs), so a run fits on every node of the entry.
- A partition without any GPU node becomes a real entry with ``gpus: 0``
  (named ``cpu``, as configs/demo.yaml uses it), not a commented-out one: it is
  usable as written and the submission checks validate it like the others.
- Account, QOS, ``setup`` and ``python`` are only written as comments: the
  cluster cannot tell them and energybench never guesses an account.
- DOWN/DRAIN nodes still count towards their entry; a comment names them.
"""

from __future__ import annotations

import json
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import yaml

from ..errors import ArgumentError
from ..paths import atomic_path
from ..units import MIB_PER_GIB
from .cluster import Partition as SinfoPartition
from .cluster import parse_gres, parse_sinfo, parse_time_min
from .shell import slurm

#: The sinfo format of :func:`.cluster.query_cluster`, so both read the same partitions.
SINFO_FORMAT = "%R|%l|%G|%c|%m|%a"
#: State flags of a node that takes no new jobs (scontrol's ``IDLE+DRAIN`` and sinfo's ``drained`` alike).
UNUSABLE_FLAGS = ("DOWN", "DRAIN", "FAIL", "NOT_RESPONDING", "NO_RESPOND", "INVAL", "FUTURE", "UNKNOWN",
                  "REBOOT_ISSUED", "POWERING_DOWN")
#: CPUs suggested for a run on a CPU-only partition (capped by the smallest node).
CPU_RUN_CPUS = 8
#: Words of GRES types that name the vendor or product line, not the GPU.
_VENDOR_WORDS = {"nvidia", "tesla", "geforce", "quadro", "amd", "radeon", "instinct"}
#: A word naming a GPU model once normalised: a100, h100, l40s, gh200, rtx3090, rtxa6000, mi250x, ...
_GPU_MODEL = re.compile(r"g?[abhlptvk]\d{1,4}[a-z]?|[rg]tx[a-z]?\d{3,4}[a-z]*|mi\d{2,3}[a-z]?")
#: A MIG slice GRES type: ``1g.10gb`` or with the model before it, ``a100_1g.5gb``.
_MIG = re.compile(r"(?:(?P<model>.+?)[_-])?(?P<slice>\d+g\.\d+gb)")
#: Column of the comments after a value.
_COMMENT_COL = 34


@dataclass(frozen=True)
class ClusterOutputs:
    """What the SLURM commands printed (the only input of the pure functions below)."""

    sinfo: str  # sinfo -h -o SINFO_FORMAT
    nodes: str  # scontrol show node -o
    partitions: str  # scontrol show partition -o
    config: str  # scontrol show config


@dataclass(frozen=True)
class Node:
    """One node of ``scontrol show node -o``."""

    name: str
    cpus: int  # CPUs jobs can use (CPUEfctv, else CPUTot)
    real_memory_mib: int  # RealMemory, MiB
    gpus: dict[str, int]  # GPU GRES per node: type ("" = untyped) -> count
    gres: str  # every GRES as scontrol prints it ("(null)": none)
    features: tuple[str, ...]  # AvailableFeatures (what --constraint matches)
    state: str  # e.g. "IDLE", "MIXED+DRAIN", "DOWN+NOT_RESPONDING"
    reason: str  # why it is down or drained ("" = none), without SLURM's "[user@time]"
    partitions: tuple[str, ...]

    @property
    def usable(self) -> bool:
        return node_usable(self.state)


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of ``scontrol show partition -o``."""

    name: str
    nodes: str  # hostlist expression as SLURM prints it ("gpu[01-05],hgx01")
    max_time: str  # MaxTime as SLURM prints it ("UNLIMITED", "2-00:00:00")
    max_time_min: int | None  # minutes; None = no limit
    default: bool
    state: str  # UP, DOWN, DRAIN or INACTIVE
    allow_accounts: str  # "ALL" or a comma list
    allow_qos: str  # "ALL" or a comma list


@dataclass(frozen=True)
class Entry:
    """One hardware entry to write: a partition and one GPU type (None: CPU only, "": untyped GRES)."""

    name: str
    partition: PartitionInfo
    gpu_type: str | None
    nodes: tuple[Node, ...]
    constraint: str | None  # a Feature that picks these nodes in a partition mixing GPU types
    constraint_note: str  # why there is no constraint where one would help ("" = none needed)

    @property
    def gpus_per_node(self) -> list[int]:
        return sorted({n.gpus[self.gpu_type] for n in self.nodes}) if self.gpu_type is not None else []

    @property
    def cpus_per_task(self) -> int:
        if self.gpu_type is None:
            return max(1, min(CPU_RUN_CPUS, *(n.cpus for n in self.nodes)))
        return max(1, min(n.cpus // n.gpus[self.gpu_type] for n in self.nodes))

    @property
    def mem_gb(self) -> int:
        """Memory per run, whole GiB, rounded down (0: less than 1 GiB, leave it to the partition)."""
        if self.gpu_type is None:
            share = min(n.real_memory_mib * self.cpus_per_task / max(1, n.cpus) for n in self.nodes)
        else:
            share = min(n.real_memory_mib / n.gpus[self.gpu_type] for n in self.nodes)
        return int(share // MIB_PER_GIB)


# ---------------------------------------------------------------------------------------------- I/O


def query_outputs() -> ClusterOutputs:
    """Ask the cluster: one sinfo call and three scontrol calls (read-only, retried)."""
    return ClusterOutputs(
        sinfo=slurm(["sinfo", "-h", "-o", SINFO_FORMAT]).stdout,
        nodes=slurm(["scontrol", "show", "node", "-o"], retries=2).stdout,
        partitions=slurm(["scontrol", "show", "partition", "-o"], retries=2).stdout,
        config=slurm(["scontrol", "show", "config"], retries=2).stdout,
    )


def refuse_overwrite(out: Path, force: bool) -> None:
    """One line when ``out`` exists and ``force`` is not given."""
    if out.exists() and not force:
        raise ArgumentError(f"{out}: exists; pass --force to overwrite it, or choose another --out")


def write_profile(text: str, out: Path, force: bool = False) -> None:
    """Write the profile atomically (a reader never sees half of it)."""
    refuse_overwrite(out, force)
    with atomic_path(out) as tmp:
        tmp.write_text(text)


def init_profile() -> str:
    """The profile YAML of the cluster this runs on."""
    return render_profile(query_outputs())


# ---------------------------------------------------------------------------------------------- parsers


def parse_records(text: str) -> list[dict[str, str]]:
    """Lines of ``scontrol show ... -o`` -> one ``{Key: value}`` per line.

    Values may hold spaces (``OS=Linux 5.14 #1 SMP``, ``Reason=Not responding [slurm@...]``) and ``=``
    (``CfgTRES=cpu=4,mem=1M``): a key is a capitalised word right after whitespace.
    """
    records = []
    for line in text.splitlines():
        parts = re.split(r"(?:^|\s+)([A-Z][A-Za-z_]*)=", line.strip())
        if len(parts) < 3:
            continue
        records.append({k: v.strip() for k, v in zip(parts[1::2], parts[2::2])})
    return records


def _int(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0


def _list(text: str | None) -> tuple[str, ...]:
    return tuple(x for x in (text or "").split(",") if x and x != "(null)")


def parse_nodes(text: str) -> list[Node]:
    """``scontrol show node -o`` -> nodes."""
    nodes = []
    for r in parse_records(text):
        if "NodeName" not in r:
            continue
        gres = r.get("Gres", "(null)")
        nodes.append(Node(
            name=r["NodeName"], cpus=_int(r.get("CPUEfctv")) or _int(r.get("CPUTot")),
            real_memory_mib=_int(r.get("RealMemory")), gpus={t: c for t, c in parse_gres(gres).items() if c > 0},
            gres=gres,
            features=_list(r.get("AvailableFeatures", r.get("Features"))), state=r.get("State", "UNKNOWN"),
            reason=re.sub(r"\s*\[[^]]*@[^]]*\]$", "", r.get("Reason", "")), partitions=_list(r.get("Partitions"))))
    return nodes


def parse_partitions(text: str) -> list[PartitionInfo]:
    """``scontrol show partition -o`` -> partitions, in SLURM's order."""
    out = []
    for r in parse_records(text):
        if "PartitionName" not in r:
            continue
        max_time = r.get("MaxTime", "UNLIMITED")
        out.append(PartitionInfo(
            name=r["PartitionName"], nodes=r.get("Nodes", "(null)"), max_time=max_time,
            max_time_min=parse_time_min(max_time), default=r.get("Default") == "YES",
            state=r.get("State", "UP"), allow_accounts=r.get("AllowAccounts", "ALL"),
            allow_qos=r.get("AllowQos", "ALL")))
    return out


def parse_cluster_name(config_text: str) -> str | None:
    m = re.search(r"^ClusterName\s*=\s*(\S+)", config_text, re.MULTILINE)
    return m.group(1) if m else None


def expand_hostlist(expr: str) -> list[str]:
    """SLURM's hostlist ``gpu[01-03,07],hgx01`` -> ``['gpu01', 'gpu02', 'gpu03', 'gpu07', 'hgx01']``."""
    hosts: list[str] = []
    for item in re.split(r",(?![^\[]*\])", expr.strip()):
        if not item or item in ("(null)", "ALL"):
            continue
        m = re.match(r"([^\[]*)\[([^\]]*)\](.*)", item)
        if not m:
            hosts.append(item)
            continue
        prefix, ranges, rest = m.groups()
        if not re.fullmatch(r"\d+(-\d+)?(,\d+(-\d+)?)*", ranges):
            hosts.append(item)  # not a numeric range: keep it as written
            continue
        for r in ranges.split(","):
            lo, _, hi = r.partition("-")
            for i in range(int(lo), int(hi or lo) + 1):
                hosts.extend(prefix + str(i).zfill(len(lo)) + tail for tail in expand_hostlist(rest) or [""])
    return hosts


def node_usable(state: str) -> bool:
    """Whether a node takes new jobs: ``IDLE``, ``MIXED``, ``ALLOCATED`` (also ``+CLOUD``, ``+POWERED_DOWN``,
    which boot on demand) yes; any DOWN, DRAIN(ED/ING), FAIL, NOT_RESPONDING (sinfo's ``*``) no."""
    state = state.strip().upper()
    flags = state.rstrip("*~#!%$@^-").split("+")  # sinfo's suffixes; only "*" (not responding) matters here
    return not (state.endswith("*") or any(f.startswith(u) for f in flags for u in UNUSABLE_FLAGS))


# ---------------------------------------------------------------------------------------------- names


def _words(text: str) -> list[str]:
    """Lower-case words without vendor names, ``rtx`` joined to its number (``geforce_rtx_3090`` -> rtx3090)."""
    words = [w for w in re.split(r"[^a-z0-9]+", text.lower()) if w and w not in _VENDOR_WORDS]
    out: list[str] = []
    for w in words:
        if out and out[-1] in ("rtx", "gtx"):
            out[-1] += w
        else:
            out.append(w)
    return out


def gpu_model(text: str) -> str | None:
    """The GPU model a GRES type or a Feature starts with (``a100_40g`` -> a100), or None."""
    words = _words(text)
    return words[0] if words and _GPU_MODEL.fullmatch(words[0]) else None


def hardware_name(gres_type: str, features: tuple[str, ...] = ()) -> str:
    """A hardware name (letters, digits, '-') for a GRES type: ``nvidia_h100`` -> h100,
    ``geforce_rtx_3090`` -> rtx3090, MIG ``1g.10gb`` on a node with Feature ``a100_80g`` -> a100-1g-10gb
    (config hardware names allow no '.')."""
    mig = _MIG.fullmatch(gres_type.lower())
    if mig:
        model = gpu_model(mig["model"] or "") or next(filter(None, map(gpu_model, features)), None) or "mig"
        return f"{model}-{mig['slice'].replace('.', '-')}"
    return "-".join(_words(gres_type)) or "gpu"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_") or "x"


# ---------------------------------------------------------------------------------------------- plan


def _common_features(nodes: tuple[Node, ...]) -> list[str]:
    return [f for f in nodes[0].features if all(f in n.features for n in nodes[1:])]


def _constraint(gpu_type: str, name: str, nodes: tuple[Node, ...], others: list[Node]) -> tuple[str | None, str]:
    """A Feature that names ``gpu_type`` and picks exactly these nodes of a mixed partition, else a note."""
    picks = [f for f in _common_features(nodes) if not any(f in o.features for o in others)]
    model = gpu_model(gpu_type)
    naming = [f for f in picks if f.lower() == gpu_type.lower() or "-".join(_words(f)) == name
              or (model is not None and gpu_model(f) == model)]
    if naming:
        return min(naming, key=lambda f: (f.lower() != gpu_type.lower(), "-".join(_words(f)) != name, f)), ""
    what = f"no node Feature names {gpu_type}; gpu_type picks these nodes anyway" if gpu_type else \
        "this GRES has no type: jobs may land on any GPU node of it"
    hint = f"Features only these nodes have: {', '.join(picks)}" if picks else "no Feature sets these nodes apart"
    return None, f"the partition mixes GPU types and {what}; pick one yourself if you need it ({hint})"


def partitions_of(outputs: ClusterOutputs) -> list[PartitionInfo]:
    """scontrol's partitions in sinfo's order (what the submission checks see), then any sinfo alone lists."""
    sinfo = parse_sinfo(outputs.sinfo)
    by_name = {p.name: p for p in parse_partitions(outputs.partitions)}
    order = list(sinfo) + [n for n in by_name if n not in sinfo]
    return [by_name.get(n) or _from_sinfo(sinfo[n]) for n in order]


def _from_sinfo(p: SinfoPartition) -> PartitionInfo:
    limit = "UNLIMITED" if p.max_time_min is None else f"{p.max_time_min} min"
    return PartitionInfo(p.name, "(not in scontrol show partition)", limit, p.max_time_min, False,
                         "UP" if p.available else "DOWN", "ALL", "ALL")


def members_of(p: PartitionInfo, nodes: list[Node]) -> tuple[Node, ...]:
    """The nodes of a partition: those naming it in Partitions=, and those its Nodes= lists."""
    listed = set(expand_hostlist(p.nodes))
    return tuple(n for n in nodes if p.name in n.partitions or n.name in listed)


def plan_entries(partitions: list[PartitionInfo], nodes: list[Node]) -> list[Entry]:
    """One entry per (partition, GPU type), and one per partition without GPU nodes; names unique.

    The default partition is named first, so it gets the plain names (``a100``); the same GPU type in
    another partition gets the partition appended (``a100-preempt``).
    """
    groups: list[tuple[PartitionInfo, str | None, tuple[Node, ...]]] = []
    for p in partitions:
        members = members_of(p, nodes)
        types = sorted({t for n in members for t in n.gpus})
        if members and not types:
            groups.append((p, None, members))
        groups.extend((p, t, tuple(n for n in members if t in n.gpus)) for t in types)
    names: dict[int, str] = {}
    for i in sorted(range(len(groups)), key=lambda i: not groups[i][0].default):
        p, t, members = groups[i]
        base = "cpu" if t is None else hardware_name(t, tuple(_common_features(members))) if t else _safe(p.name)
        name = base if base not in names.values() else f"{base}-{_safe(p.name)}"
        k = 2
        while name in names.values():
            name, k = f"{base}-{_safe(p.name)}-{k}", k + 1
        names[i] = name
    entries = []
    for i, (p, t, members) in enumerate(groups):
        gpu_groups = [g for g in groups if g[0] is p and g[1] is not None]
        constraint, note = None, ""
        if t is not None and len(gpu_groups) > 1:
            others = [n for g in gpu_groups if g[1] != t for n in g[2] if n not in members]
            constraint, note = _constraint(t, names[i], members, others)
        entries.append(Entry(names[i], p, t, members, constraint, note))
    return entries


# ---------------------------------------------------------------------------------------------- render


def _scalar(value: str | int) -> str:
    """A YAML scalar that reads back as the same string (quoted when YAML would read it otherwise)."""
    if isinstance(value, int):
        return str(value)
    plain = re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.,/-]*", value) and yaml.safe_load(value) == value
    return value if plain else json.dumps(value)


def _line(indent: int, text: str, comment: str = "") -> str:
    text = " " * indent + text
    return f"{text.ljust(_COMMENT_COL - 1)} # {comment}" if comment else text


def _node_note(entry: Entry) -> str:
    nodes = entry.nodes
    bad = [n for n in nodes if not n.usable]
    counts = "/".join(map(str, entry.gpus_per_node))
    what = "without GPUs" if entry.gpu_type is None else f"with {counts} GPU(s) of GRES gpu" + (
        f":{entry.gpu_type}" if entry.gpu_type else " (no type)")
    text = f"{len(nodes)} node(s) {what}, {len(nodes) - len(bad)} usable now"
    if bad:
        shown = ", ".join(f"{n.name} {n.state}" + (f" ({n.reason})" if n.reason else "") for n in bad[:8])
        text += f"; not usable: {shown}" + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
    return text


def _partition_header(p: PartitionInfo, nodes: list[Node], entries: list[Entry]) -> list[str]:
    members = {n.name for e in entries for n in e.nodes}
    all_members = members_of(p, nodes)
    state = {"UP": "", "DOWN": "; State=DOWN: jobs queue but do not start until an admin sets it UP",
             "DRAIN": "; State=DRAIN: it takes no new jobs", "INACTIVE": "; State=INACTIVE: it takes no jobs"}
    lines = [f"  # partition {p.name}" + (" (the default)" if p.default else "") + f": nodes {p.nodes}, "
             f"MaxTime {p.max_time}" + state.get(p.state, f"; State={p.state}")]
    if p.allow_accounts != "ALL":
        lines.append(f"  #   only accounts {p.allow_accounts.replace(',', ', ')} may use it: set account: below")
    if p.allow_qos != "ALL":
        lines.append(f"  #   QOS allowed: {p.allow_qos.replace(',', ', ')} (set qos: if yours is not the default)")
    left = [n.name for n in all_members if n.name not in members]
    if left:
        lines.append(f"  #   no entry for its node(s) without GPUs: {', '.join(left)}")
    if not all_members:
        lines.append("  #   it has no nodes: no entry")
    return lines


def _entry_lines(e: Entry) -> list[str]:
    lines = [f"  # {_node_note(e)}", f"  {_scalar(e.name)}:", _line(4, f"partition: {_scalar(e.partition.name)}")]
    smallest = "the smallest node"
    if e.gpu_type is None:
        lines.append(_line(4, "gpus: 0", "CPU only"))
        lines.append(_line(4, f"cpus_per_task: {e.cpus_per_task}",
                           f"a suggestion; {smallest} has {min(n.cpus for n in e.nodes)} CPUs"))
        mem_note = f"{e.cpus_per_task} CPUs' share of {smallest}'s RealMemory"
    else:
        if e.gpu_type:
            lines.append(_line(4, f"gpu_type: {_scalar(e.gpu_type)}", f"--gres=gpu:{e.gpu_type}:1"))
        else:
            lines += ["    # gpu_type: unset, the GRES has no type (--gres=gpu:1); the entry is named after",
                      "    #   its partition: rename it after the GPU model if you like"]
        if e.constraint:
            lines.append(_line(4, f"constraint: {_scalar(e.constraint)}",
                               "the partition mixes GPU types; this node Feature picks these nodes"))
        elif e.constraint_note:
            lines += textwrap.wrap(f"constraint: {e.constraint_note}", 110, initial_indent="    # ",
                                   subsequent_indent="    #   ")
        per = min(e.gpus_per_node)
        lines.append(_line(4, f"cpus_per_task: {e.cpus_per_task}", f"1/{per} of {smallest}'s CPUs (one GPU's share)"
                           if len(e.gpus_per_node) == 1 else f"one GPU's share of {smallest}"))
        mem_note = "one GPU's share of the smallest node's RealMemory"
    if e.mem_gb > 0:
        lines.append(_line(4, f"mem_gb: {e.mem_gb}", mem_note))
    else:
        lines.append("    # mem_gb: less than 1 GB per run on the smallest node: left to the partition's default")
    if e.partition.max_time_min is not None:
        lines.append(_line(4, f"time_limit_min: {e.partition.max_time_min}",
                           f"the partition's MaxTime ({e.partition.max_time}); lower it to what a job needs"))
    else:
        lines.append(_line(4, "# time_limit_min: 240", "no MaxTime here; unset: the config's executor.timeout_min"))
    return lines


def render_profile(outputs: ClusterOutputs) -> str:
    """The profile YAML (comments included) for the cluster whose outputs these are."""
    partitions = partitions_of(outputs)
    nodes = parse_nodes(outputs.nodes)
    entries = plan_entries(partitions, nodes)
    cluster = parse_cluster_name(outputs.config)
    lines = [
        f"# energybench cluster profile{f' of cluster {cluster}' if cluster else ''}, written by "
        + "`energybench profile init` from sinfo and",
        f"# scontrol: {len(nodes)} node(s), {len(partitions)} partition(s), one hardware entry per partition "
        + "and GPU type.",
        "# Read it before using it: resources are suggestions (one run's share of the smallest node of an",
        "# entry), names are yours to change (configs name hardware by these keys), and what only you know",
        "# is commented out in defaults: account, QOS, and the setup lines of your environment.",
        "# `energybench submit CONFIG --executor slurm --profile THIS_FILE` checks it against the cluster",
        "# before submitting anything; `--dry-run` shows the sbatch scripts.",
    ]
    if cluster:
        lines.append(_line(0, f"cluster: {_scalar(cluster)}", "a label for humans"))
    lines += [
        "",
        "# Merged under every hardware entry below (an entry's own value wins).",
        "defaults:",
        _line(2, "gpus: 1", "GPUs per run (one run = one array task); CPU entries set 0"),
        "  # Only you know these; energybench never guesses them:",
        _line(2, "# account: YOUR_ACCOUNT", "--account (`sacctmgr show assoc user=$USER format=account`)"),
        _line(2, "# qos: normal", "--qos, if your site uses QOS"),
        "  # Shell lines run before the worker on the compute node, pasted verbatim: load your modules",
        "  # and activate the environment energybench is installed in.",
        "  # setup:",
        "  #   - module load cuda/12.4",
        "  #   - source \"$HOME/venvs/energybench/bin/activate\"",
        _line(2, "# python: python", "the interpreter after setup (default: the one you submit from)"),
        "",
        "hardware:",
    ]
    for p in partitions:
        mine = [e for e in entries if e.partition is p]
        lines += _partition_header(p, nodes, mine)
        for e in mine:
            lines += _entry_lines(e)
        lines.append("")
    if not entries:
        lines.append("  {}  # no partition with nodes: write the entries yourself")
    return "\n".join(lines).rstrip("\n") + "\n"
