"""The job's share of the sockets' RAPL energy, from fake /proc and /sys trees."""

from __future__ import annotations

from pathlib import Path

import pytest

from energybench.meter.attribution import RULE_EXCLUSIVE, RULE_SHARED, cpu_attribution, parse_cpu_list
from energybench.meter.rapl import RaplMeter


def _tree(tmp_path: Path, online: str, cgroup: str, files: dict[str, str]) -> tuple[Path, Path]:
    proc, sys = tmp_path / "proc", tmp_path / "sys"
    (proc / "self").mkdir(parents=True)
    (proc / "self" / "cgroup").write_text(cgroup)
    (sys / "devices" / "system" / "cpu").mkdir(parents=True)
    (sys / "devices" / "system" / "cpu" / "online").write_text(online + "\n")
    for rel, text in files.items():
        f = sys / "fs" / "cgroup" / rel
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text(text + "\n")
    return proc, sys


def test_cpu_lists_parse_like_the_kernel_writes_them() -> None:
    assert parse_cpu_list("0-3,8,10-11\n") == {0, 1, 2, 3, 8, 10, 11}
    assert parse_cpu_list("") == set()


def test_a_job_that_owns_the_node_gets_all_of_it(tmp_path: Path) -> None:
    proc, sys = _tree(tmp_path, "0-15", "0::/system.slice/slurmstepd.scope/job_7/step_batch\n",
                      {"system.slice/slurmstepd.scope/job_7/step_batch/cpuset.cpus.effective": "0-15"})
    a = cpu_attribution(proc, sys)
    assert (a.share_frac, a.exclusive, a.allocated_cpus, a.node_cpus, a.rule) == (1.0, True, 16, 16, RULE_EXCLUSIVE)


def test_a_shared_node_attributes_allocated_over_online_cpus_cgroup_v2(tmp_path: Path) -> None:
    proc, sys = _tree(tmp_path, "0-15", "0::/slurm/uid_0/job_8/step_0\n",
                      {"slurm/uid_0/job_8/step_0/cpuset.cpus.effective": "4-7"})
    a = cpu_attribution(proc, sys)
    assert (a.share_frac, a.exclusive, a.allocated_cpus, a.node_cpus) == (0.25, False, 4, 16)
    assert a.rule == RULE_SHARED and a.source.endswith("job_8/step_0/cpuset.cpus.effective")


def test_cgroup_v1_cpuset(tmp_path: Path) -> None:
    proc, sys = _tree(tmp_path, "0-7", "12:memory:/slurm/job_9\n4:cpuset:/slurm/uid_0/job_9/step_0\n",
                      {"cpuset/slurm/uid_0/job_9/step_0/cpuset.cpus": "0,2"})
    a = cpu_attribution(proc, sys)
    assert (a.share_frac, a.allocated_cpus, a.node_cpus) == (0.25, 2, 8)


def test_without_a_cpuset_the_affinity_decides(tmp_path: Path) -> None:
    proc, sys = _tree(tmp_path, "0-3", "0::/\n", {})
    assert cpu_attribution(proc, sys, affinity={0}).share_frac == 0.25
    assert cpu_attribution(proc, sys, affinity={0, 1, 2, 3}).exclusive


def test_rapl_scales_by_the_share_and_says_so(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = tmp_path / "powercap" / "intel-rapl:0"
    root.mkdir(parents=True)
    (root / "name").write_text("package-0\n")
    (root / "energy_uj").write_text("0\n")
    proc, sys = _tree(tmp_path, "0-3", "0::/job\n", {"job/cpuset.cpus.effective": "0"})
    t = [100.0]
    meter = RaplMeter(root.parent, clock=lambda: t[0], attribution=cpu_attribution(proc, sys))
    (root / "energy_uj").write_text("8000000\n")  # 8 J on the socket
    t[0] += 1.0
    r = meter.read()
    assert r.cpu_energy_j == pytest.approx(2.0) and r.energy_j == pytest.approx(2.0)  # a quarter is the job's
    assert r.cpu_power_w == pytest.approx(2.0) and r.dram_energy_j is None
    info = meter.info()
    assert info["socket_energy_j"] == pytest.approx(8.0) and info["cpu_attribution"]["share_frac"] == 0.25
    meter.close()
