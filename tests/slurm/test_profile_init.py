"""``energybench profile init``: the parsers and the renderer against a recorded messy SLURM 22.05
cluster (tests/data/slurm-messy), and the command against the real dev cluster."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from energybench.errors import ArgumentError
from energybench.slurm import cluster, shell
from energybench.slurm import profile_init as pi
from energybench.slurm.profile import load_profile, parse_profile

from ..conftest import REPO, eb

MESSY = REPO / "tests" / "data" / "slurm-messy"
#: The profile the messy cluster renders to; regenerate after a deliberate change with
#: .venv/bin/python -c "from tests.slurm.test_profile_init import regenerate; regenerate()"
GOLDEN = MESSY / "profile.yaml"
HARDWARE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*")  # what configs accept (energybench.config)


def messy() -> pi.ClusterOutputs:
    read = lambda name: (MESSY / name).read_text()
    return pi.ClusterOutputs(read("sinfo.txt"), read("scontrol_show_node.txt"),
                             read("scontrol_show_partition.txt"), read("scontrol_show_config.txt"))


def regenerate() -> None:
    GOLDEN.write_text(pi.render_profile(messy()))


def node_line(name: str, gres: str, state: str = "IDLE", features: str = "(null)", partitions: str = "p",
              cpus: int = 32, mem_mib: int = 128000) -> str:
    return (f"NodeName={name} Arch=x86_64 CoresPerSocket=16  CPUAlloc=0 CPUEfctv={cpus} CPUTot={cpus} CPULoad=0.00 "
            f"AvailableFeatures={features} ActiveFeatures={features} Gres={gres} NodeAddr={name} "
            f"NodeHostName={name} Version=22.05.8 OS=Linux 5.14.0 #1 SMP  RealMemory={mem_mib} AllocMem=0 "
            f"State={state} Partitions={partitions}  CfgTRES=cpu={cpus},mem={mem_mib}M AllocTRES=")


def partition_line(name: str, nodes: str, max_time: str = "UNLIMITED", default: str = "NO") -> str:
    return (f"PartitionName={name} AllowGroups=ALL AllowAccounts=ALL AllowQos=ALL AllocNodes=ALL Default={default} "
            f"MaxTime={max_time} Nodes={nodes} State=UP TotalNodes=1")


# ---------------------------------------------------------------------------------------------- parsers


def test_records_keep_values_with_spaces_and_equals() -> None:
    line = (MESSY / "scontrol_show_node.txt").read_text().splitlines()[2]
    rec = pi.parse_records(line)[0]
    assert rec["NodeName"] == "gpu03" and rec["State"] == "IDLE+DRAIN"
    assert rec["OS"] == "Linux 5.14.0-362.8.1.el9_3.x86_64 #1 SMP PREEMPT_DYNAMIC Tue Oct 3 11:12:36 EDT 2023"
    assert rec["CfgTRES"] == "cpu=64,mem=515000M,billing=64,gres/gpu=4,gres/gpu:a100=4"
    assert rec["AllocTRES"] == "" and rec["Reason"] == "ECC errors on GPU 2 [admin@2024-03-11T09:14:02]"


def test_nodes_of_the_messy_cluster() -> None:
    got = [(n.name, n.cpus, n.real_memory_mib, n.gpus, n.features, n.state, n.reason, n.partitions, n.usable)
           for n in pi.parse_nodes(messy().nodes)]
    gp = ("gpu", "preempt")
    assert got == [
        ("gpu01", 64, 515000, {"a100": 4}, ("a100", "a100_40g", "ib"), "IDLE", "", gp, True),
        ("gpu02", 64, 515000, {"a100": 4}, ("a100", "a100_40g", "ib"), "MIXED", "", gp, True),
        ("gpu03", 64, 515000, {"a100": 4}, ("a100", "a100_40g", "ib"), "IDLE+DRAIN", "ECC errors on GPU 2", gp,
         False),
        ("gpu04", 40, 376000, {"v100": 2}, ("v100", "ib"), "ALLOCATED", "", gp, True),
        ("gpu05", 32, 192000, {"v100": 2}, ("v100",), "DOWN+NOT_RESPONDING", "Not responding", gp, False),
        ("hgx01", 112, 2052000, {"h100": 8}, ("h100", "hgx", "nvme"), "IDLE", "", ("h100", "preempt"), True),
        ("hgx02", 112, 2052000, {"h100": 8}, ("h100", "hgx", "nvme"), "MIXED", "", ("h100", "preempt"), True),
        ("mig01", 32, 250000, {"1g.10gb": 7}, ("a100_80g", "mig"), "MIXED", "", ("mig",), True),
        ("mig02", 32, 250000, {"a100_1g.5gb": 7}, ("a100_40g", "mig"), "IDLE", "", ("mig",), True),
        ("dbg01", 16, 64000, {"": 2}, (), "IDLE", "", ("debug",), True),
        ("cpu01", 128, 515000, {}, (), "IDLE", "", ("cpu",), True),
        ("cpu02", 128, 257000, {}, (), "MIXED+DRAIN", "kernel update", ("cpu",), False),
    ]


@pytest.mark.parametrize(("gres", "gpus"), [
    ("gpu:4", {"": 4}), ("gpu:a100:4(S:0-1)", {"a100": 4}), ("gpu:1g.10gb:7", {"1g.10gb": 7}),
    ("gpu:a100_1g.5gb:7", {"a100_1g.5gb": 7}), ("gpu:a100:4,nvme:1", {"a100": 4}),
    ("gpu:h100:8(S:0-1),nvme:1", {"h100": 8}), ("nvme:1", {}), ("(null)", {}), ("gpu:0", {}),
    ("gpu:a100:2(S:0),gpu:v100:2(S:1)", {"a100": 2, "v100": 2}),
])
def test_gpu_gres_of_a_node(gres: str, gpus: dict[str, int]) -> None:
    (node,) = pi.parse_nodes(node_line("n1", gres))
    assert node.gpus == gpus and node.gres == gres


@pytest.mark.parametrize(("state", "usable"), [
    ("IDLE", True), ("MIXED", True), ("ALLOCATED", True), ("COMPLETING", True), ("IDLE+CLOUD+POWERED_DOWN", True),
    ("idle", True), ("mix", True), ("alloc", True),
    ("DOWN", False), ("DOWN+NOT_RESPONDING", False), ("DRAIN", False), ("IDLE+DRAIN", False),
    ("MIXED+DRAIN", False), ("ALLOCATED+DRAIN", False), ("drained", False), ("draining", False),
    ("down*", False), ("idle*", False), ("FAIL", False), ("MIXED+FAIL", False), ("FUTURE", False),
    ("UNKNOWN", False), ("INVAL", False), ("IDLE+POWERING_DOWN", False), ("idle~", True),
])
def test_node_states(state: str, usable: bool) -> None:
    assert pi.node_usable(state) is usable


def test_partitions_of_the_messy_cluster() -> None:
    got = [(p.name, p.nodes, p.max_time, p.max_time_min, p.default, p.state, p.allow_accounts, p.allow_qos)
           for p in pi.parse_partitions(messy().partitions)]
    assert got == [
        ("gpu", "gpu[01-05]", "2-00:00:00", 2880, True, "UP", "ALL", "ALL"),
        ("h100", "hgx[01-02]", "1-00:00:00", 1440, False, "UP", "hgx_users,admin", "ALL"),
        ("mig", "mig[01-02]", "04:00:00", 240, False, "UP", "ALL", "ALL"),
        ("debug", "dbg01", "00:30:00", 30, False, "DOWN", "ALL", "ALL"),
        ("cpu", "cpu[01-02]", "UNLIMITED", None, False, "UP", "ALL", "ALL"),
        ("preempt", "gpu[01-05],hgx[01-02]", "UNLIMITED", None, False, "UP", "ALL", "preempt,normal"),
    ]
    assert pi.parse_cluster_name(messy().config) == "messy" and pi.parse_cluster_name("") is None


def test_hostlists() -> None:
    assert pi.expand_hostlist("gpu[01-03,07],hgx01") == ["gpu01", "gpu02", "gpu03", "gpu07", "hgx01"]
    assert pi.expand_hostlist("r[1-2]n[8-9]") == ["r1n8", "r1n9", "r2n8", "r2n9"]
    assert pi.expand_hostlist("(null)") == [] and pi.expand_hostlist("ALL") == []
    assert pi.expand_hostlist("n[a-b],x1") == ["n[a-b]", "x1"]


@pytest.mark.parametrize(("gres_type", "features", "name"), [
    ("h100", (), "h100"), ("A100", (), "a100"), ("nvidia_h100_80gb_hbm3", (), "h100-80gb-hbm3"),
    ("tesla_v100", (), "v100"), ("geforce_rtx_3090", (), "rtx3090"), ("rtx_3090", (), "rtx3090"),
    ("rtx3090", (), "rtx3090"), ("nvidia_rtx_a6000", (), "rtxa6000"), ("l40s", (), "l40s"),
    ("1g.10gb", ("a100_80g", "mig"), "a100-1g-10gb"), ("1g.10gb", ("mig",), "mig-1g-10gb"),
    ("a100_1g.5gb", (), "a100-1g-5gb"), ("nvidia_a100_3g.20gb", (), "a100-3g-20gb"),
])
def test_hardware_names(gres_type: str, features: tuple[str, ...], name: str) -> None:
    assert pi.hardware_name(gres_type, features) == name
    assert HARDWARE_NAME.fullmatch(name)


# ---------------------------------------------------------------------------------------------- plan + render


def test_entries_of_the_messy_cluster() -> None:
    out = messy()
    entries = pi.plan_entries(pi.partitions_of(out), pi.parse_nodes(out.nodes))
    got = [(e.name, e.partition.name, e.gpu_type, tuple(n.name for n in e.nodes), e.gpus_per_node, e.constraint,
            bool(e.constraint_note), e.cpus_per_task, e.mem_gb) for e in entries]
    a100s, v100s, hgx = ("gpu01", "gpu02", "gpu03"), ("gpu04", "gpu05"), ("hgx01", "hgx02")
    assert got == [
        ("a100", "gpu", "a100", a100s, [4], "a100", False, 16, 125),
        ("v100", "gpu", "v100", v100s, [2], "v100", False, 16, 93),  # gpu05 is the smaller v100 node
        ("h100", "h100", "h100", hgx, [8], None, False, 14, 250),
        ("a100-1g-10gb", "mig", "1g.10gb", ("mig01",), [7], None, True, 4, 34),  # no Feature names 1g.10gb
        ("a100-1g-5gb", "mig", "a100_1g.5gb", ("mig02",), [7], "a100_40g", False, 4, 34),
        ("debug", "debug", "", ("dbg01",), [2], None, False, 8, 31),  # untyped: named after the partition
        ("cpu", "cpu", None, ("cpu01", "cpu02"), [], None, False, 8, 15),  # 8 CPUs' share of cpu02
        ("a100-preempt", "preempt", "a100", a100s, [4], "a100", False, 16, 125),
        ("h100-preempt", "preempt", "h100", hgx, [8], "h100", False, 14, 250),
        ("v100-preempt", "preempt", "v100", v100s, [2], "v100", False, 16, 93),
    ]


def test_rendered_profile_is_the_golden_one_and_loads(tmp_path: Path) -> None:
    text = pi.render_profile(messy())
    assert text == GOLDEN.read_text(), f"rendered profile changed; regenerate {GOLDEN} (see GOLDEN's comment)"
    prof = parse_profile(yaml.safe_load(text), GOLDEN)
    got = {name: (e.partition, e.gpus, e.gpu_type, e.constraint, e.cpus_per_task, e.mem_gb, e.time_limit_min)
           for name, e in prof.hardware.items()}
    assert got == {
        "a100": ("gpu", 1, "a100", "a100", 16, 125, 2880),
        "v100": ("gpu", 1, "v100", "v100", 16, 93, 2880),
        "h100": ("h100", 1, "h100", None, 14, 250, 1440),
        "a100-1g-10gb": ("mig", 1, "1g.10gb", None, 4, 34, 240),
        "a100-1g-5gb": ("mig", 1, "a100_1g.5gb", "a100_40g", 4, 34, 240),
        "debug": ("debug", 1, None, None, 8, 31, 30),
        "cpu": ("cpu", 0, None, None, 8, 15, None),
        "a100-preempt": ("preempt", 1, "a100", "a100", 16, 125, None),
        "h100-preempt": ("preempt", 1, "h100", "h100", 14, 250, None),
        "v100-preempt": ("preempt", 1, "v100", "v100", 16, 93, None),
    }
    assert prof.cluster == "messy" and load_profile(GOLDEN).hardware == prof.hardware
    assert all(e.account is None and e.qos is None and e.setup == [] and e.python is None
               for e in prof.hardware.values())  # never guessed
    assert prof.entry("a100-1g-10gb").gres == "gpu:1g.10gb:1" and prof.entry("debug").gres == "gpu:1"
    # What the submission checks would say on that cluster: only that the debug partition is down.
    facts = cluster.ClusterFacts(cluster.parse_sinfo(messy().sinfo), 10001)
    assert cluster.check_profile(prof, list(prof.hardware), 60, facts) == [
        "hardware.debug.partition: partition 'debug' is not up"]


def test_rendered_comments_say_what_only_the_user_knows() -> None:
    text = pi.render_profile(messy())
    assert not re.search(r"^\s*(account|qos|setup|python):", text, re.MULTILINE)  # only as comments
    for comment in ("# account: YOUR_ACCOUNT", "# qos: normal", "# setup:", "#   - module load cuda/12.4",
                    "# python: python", "energybench never guesses"):
        assert comment in text
    for fact in ("not usable: gpu03 IDLE+DRAIN (ECC errors on GPU 2)", "gpu05 DOWN+NOT_RESPONDING (Not responding)",
                 "cpu02 MIXED+DRAIN (kernel update)", "3 node(s) with 4 GPU(s) of GRES gpu:a100, 2 usable now",
                 "only accounts hgx_users, admin may use it", "QOS allowed: preempt, normal",
                 "State=DOWN: jobs queue but do not start", "no node Feature names 1g.10gb",
                 "Features only these nodes have: a100_80g", "# time_limit_min: 240",
                 "partition gpu (the default)"):
        assert fact in text, fact


def test_odd_partitions() -> None:
    """A partition mixing GPU and CPU-only nodes, untyped GRES beside typed, no nodes, sinfo-only."""
    nodes = "\n".join([node_line("a1", "gpu:a100:4", features="a100", partitions="mix"),
                       node_line("u1", "gpu:2", partitions="mix"),
                       node_line("c1", "(null)", partitions="mix"),
                       node_line("r1", "gpu:rtx3090:2", partitions="3090")])
    parts = "\n".join([partition_line("mix", "a1,u1,c1", "1-12:00:00", default="YES"),
                       partition_line("3090", "r1", "45:00"), partition_line("empty", "(null)")])
    sinfo = "mix|1-12:00:00|gpu:a100:4|32|128000|up\n3090|45:00|gpu:rtx3090:2|32|128000|up\n" \
            "empty|infinite|(null)|0|0|up\nghost|1:00:00|(null)|8|16000|up\n"
    text = pi.render_profile(pi.ClusterOutputs(sinfo, nodes, parts, ""))
    prof = parse_profile(yaml.safe_load(text), Path("p.yaml"))
    assert {n: (e.partition, e.gpu_type, e.constraint, e.gpus, e.time_limit_min) for n, e in prof.hardware.items()} \
        == {"a100": ("mix", "a100", "a100", 1, 2160), "mix": ("mix", None, None, 1, 2160),
            "rtx3090": ("3090", "rtx3090", None, 1, 45)}
    assert "no entry for its node(s) without GPUs: c1" in text and "it has no nodes: no entry" in text
    assert "this GRES has no type: jobs may land on any GPU node" in text
    assert "partition ghost: nodes (not in scontrol show partition), MaxTime 60 min" in text
    assert "cluster:" not in text
    assert "'3090'" not in text and 'partition: "3090"' in text  # quoted: YAML would read a number


# ---------------------------------------------------------------------------------------------- I/O edge


def test_query_asks_sinfo_and_scontrol_through_the_one_runner(monkeypatch: pytest.MonkeyPatch) -> None:
    answers = {("sinfo", "-h", "-o", pi.SINFO_FORMAT): "sinfo.txt",
               ("scontrol", "show", "node", "-o"): "scontrol_show_node.txt",
               ("scontrol", "show", "partition", "-o"): "scontrol_show_partition.txt",
               ("scontrol", "show", "config"): "scontrol_show_config.txt"}
    calls: list[tuple[str, ...]] = []

    def runner(args: Sequence[str], timeout_s: float, stdin: str | None) -> shell.Result:
        calls.append(tuple(args))
        return shell.Result(tuple(args), 0, (MESSY / answers[tuple(args)]).read_text(), "")

    monkeypatch.setattr(shell, "RUNNER", runner)
    assert pi.init_profile() == GOLDEN.read_text()
    assert sorted(calls) == sorted(answers)


def test_write_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    out = tmp_path / "sub" / "profile.yaml"
    pi.write_profile("hardware: {}\n", out)
    with pytest.raises(ArgumentError, match=r"profile.yaml: exists; pass --force"):
        pi.write_profile("other\n", out)
    assert out.read_text() == "hardware: {}\n"
    pi.write_profile("other\n", out, force=True)
    assert out.read_text() == "other\n" and [p.name for p in out.parent.iterdir()] == ["profile.yaml"]


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    out = tmp_path / "profile.yaml"
    out.write_text("mine\n")
    r = eb("profile", "init", "--out", str(out), timeout=60)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "exists; pass --force" in r.stderr, r.stderr
    assert out.read_text() == "mine\n"
    r = eb("profile", "init", timeout=60, env={"PATH": str(tmp_path)})  # no SLURM tools on PATH
    assert r.returncode == 1 and r.stderr.count("\n") == 1, r.stderr
    assert "sinfo: not found on PATH" in r.stderr


# ---------------------------------------------------------------------------------------------- dev cluster


@pytest.mark.slurm
def test_profile_init_on_the_dev_cluster(devcluster: str, tmp_path: Path) -> None:
    """True for the single-node and the multi-node dev cluster alike."""
    out = tmp_path / "profile.yaml"
    r = eb("profile", "init", "--out", str(out), timeout=120)
    assert r.returncode == 0 and f"written: {out}" in r.stdout, r.stdout + r.stderr
    prof = load_profile(out)
    facts = cluster.query_cluster()
    assert set(facts.partitions) <= {e.partition for e in prof.hardware.values()}  # every partition of sinfo
    cluster.validate_against_cluster(prof, list(prof.hardware), 10, facts)
    text = out.read_text()
    for e in prof.hardware.values():  # the GPUs per node the text states are what sinfo says
        have = facts.partitions[e.partition].gpus_by_type
        gres = f"gpu:{e.gpu_type}" if e.gpu_type else "gpu (no type)"
        assert f"with {have[e.gpu_type or '']} GPU(s) of GRES {gres}" in text
    typed = {t for p in facts.partitions.values() for t in p.gpus_by_type if t}
    if typed:  # the multi-node cluster: typed GRES, two GPUs per node
        types = {e.gpu_type: e for e in prof.hardware.values() if e.gpu_type}
        assert {"h100", "a100", "rtx3090"} <= set(types), text
        for t in ("h100", "a100", "rtx3090"):
            assert facts.partitions[types[t].partition].gpus_by_type[t] == 2
            assert f"with 2 GPU(s) of GRES gpu:{t}" in text
    again = eb("profile", "init", "--out", str(out), timeout=60)
    assert again.returncode == 2 and again.stderr.count("\n") == 1, again.stderr
    printed = eb("profile", "init", timeout=120)
    assert printed.returncode == 0 and set(yaml.safe_load(printed.stdout)["hardware"]) == set(prof.hardware)
    assert eb("profile", "init", "--out", str(out), "--force", timeout=120).returncode == 0
