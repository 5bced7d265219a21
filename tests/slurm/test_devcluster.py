"""The dev SLURM cluster (slurm_templates/devcluster/up.sh) really works, in either layout:
four slurmd nodes in network namespaces, or the one-node fallback.

The ``devcluster`` fixture (tests/conftest.py) runs up.sh (idempotent: about a second when the
cluster is already up, a minute or two on a fresh machine because it installs the Debian
packages). Not root -> skip; root and up.sh fails -> the tests FAIL. Set EB_DEVCLUSTER_DOWN=1
to run down.sh at the end of the session. What only the multi-node layout has is tested in
test_multinode.py.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from datetime import datetime
from pathlib import Path

import pytest

from energybench.slurm.cluster import parse_gres

from ..conftest import DEVCLUSTER_STATE, start_devcluster

pytestmark = pytest.mark.slurm

PARTITIONS = ("h100", "a100", "rtx3090")  # one GPU type each; "mixed" has two
HEALTHY = {"idle", "mix", "mixed", "alloc", "allocated", "comp", "completing"}
TERMINAL = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
            "DEADLINE"}
JOB_WAIT_S = 60


def run(cmd: list[str], timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} -> rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def sbatch(*args: str, cwd: Path) -> str:
    out = run(["sbatch", "--parsable", f"--chdir={cwd}", *args]).stdout.strip()
    return out.split(";")[0]


def sacct_states(job_id: str) -> dict[str, str]:
    """JobID -> State (allocations only; array tasks appear as <id>_<n>)."""
    out = run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "JobID,State"], check=False).stdout
    states = {}
    for line in out.splitlines():
        if "|" in line:
            jid, state = line.split("|", 1)
            states[jid.strip()] = state.split()[0] if state.strip() else ""
    return states


def wait_terminal(job_id: str, n_jobs: int = 1, timeout: float = JOB_WAIT_S) -> dict[str, str]:
    """Poll sacct until ``n_jobs`` records of ``job_id`` are in a terminal state (bounded)."""
    end = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < end:
        states = {k: v for k, v in sacct_states(job_id).items() if "[" not in k}
        if len(states) >= n_jobs and all(s in TERMINAL for s in states.values()):
            return states
        time.sleep(1)
    squeue = run(["squeue", "-a", "-t", "all", "-j", job_id], check=False)
    raise AssertionError(f"job {job_id} not finished after {timeout}s: sacct={states}\n{squeue.stdout}{squeue.stderr}")


def test_sinfo_lists_partitions_with_nodes_up(devcluster):
    out = run(["sinfo", "-h", "-N", "-o", "%P|%t|%N|%G|%f"]).stdout
    nodes: dict[str, list[tuple[str, str, dict[str, int], list[str]]]] = {}
    for line in out.splitlines():
        part, state, node, gres, features = line.split("|")
        nodes.setdefault(part, []).append((node, state, parse_gres(gres), features.split(",")))
    assert "h100*" in nodes, f"h100 is not the default partition:\n{out}"
    parts = {p.rstrip("*"): rows for p, rows in nodes.items()}
    assert {*PARTITIONS, "mixed"} <= set(parts), out
    for name, rows in parts.items():
        for node, state, gpus, features in rows:
            assert state in HEALTHY, f"partition {name}: node {node} is {state!r}\n{out}"
            assert sum(gpus.values()) >= 2, f"partition {name}: node {node} has GRES {gpus}"
            if name in PARTITIONS:  # the node is of that type: its feature, and typed (or untyped) GPUs
                assert name in features and set(gpus) <= {name, ""}, f"partition {name}: node {node}\n{out}"
    mixed = {f for _, _, _, features in parts["mixed"] for f in features}
    assert {"a100", "rtx3090"} <= mixed, f"the mixed partition lacks a node type:\n{out}"


@pytest.mark.parametrize("partition", PARTITIONS)
def test_gpu_job_completes_and_is_accounted(devcluster, partition, tmp_path):
    job = sbatch(
        "-p", partition, "--gres=gpu:1", "-t", "2", "-J", f"eb-devcluster-{partition}",
        "-o", str(tmp_path / "out.txt"),
        "--wrap", "echo CVD=$CUDA_VISIBLE_DEVICES PART=$SLURM_JOB_PARTITION",
        cwd=tmp_path,
    )
    states = wait_terminal(job)
    assert states == {job: "COMPLETED"}, states
    text = (tmp_path / "out.txt").read_text()
    assert f"PART={partition}" in text, text
    cvd = text.split("CVD=")[1].split()[0]
    assert cvd.isdigit() and int(cvd) < 4, text  # 2 fake GPUs per node (4 on the one-node fallback)
    tres = run(["sacct", "-X", "-n", "-P", "-j", job, "-o", "AllocTRES"]).stdout
    assert "gres/gpu=1" in tres, tres


@pytest.mark.parametrize("feature", ["a100", "rtx3090"])
def test_constraint_picks_the_node_type_in_the_mixed_partition(devcluster, feature, tmp_path):
    job = sbatch(
        "-p", "mixed", f"--constraint={feature}", "--gres=gpu:1", "-t", "2", "-J", f"eb-devcluster-{feature}",
        "-o", str(tmp_path / "out.txt"), "--wrap", "echo NODE=$SLURMD_NODENAME",
        cwd=tmp_path,
    )
    assert wait_terminal(job) == {job: "COMPLETED"}
    node = (tmp_path / "out.txt").read_text().split("NODE=")[1].split()[0]
    features = run(["sinfo", "-h", "-N", "-n", node, "-o", "%f"]).stdout.split()[0].split(",")
    assert feature in features, (node, features)


def test_throttled_job_array_completes(devcluster, tmp_path):
    job = sbatch(
        "-a", "0-2%2", "-t", "2", "-J", "eb-devcluster-array",
        "-o", str(tmp_path / "task-%a.out"),
        "--wrap", "echo task=$SLURM_ARRAY_TASK_ID; sleep 3",
        cwd=tmp_path,
    )
    show = run(["scontrol", "show", "job", job], check=False).stdout
    if show:
        assert "ArrayTaskThrottle=2" in show, show
    states = wait_terminal(job, n_jobs=3)
    assert states == {f"{job}_{i}": "COMPLETED" for i in range(3)}, states
    for i in range(3):
        assert (tmp_path / f"task-{i}.out").read_text().strip() == f"task={i}"
    # %2: never three tasks at once -> the last task starts only once another one has ended.
    out = run(["sacct", "-X", "-n", "-P", "-j", job, "-o", "Start,End"]).stdout
    spans = [[datetime.fromisoformat(t) for t in line.split("|")] for line in out.splitlines() if line.strip()]
    assert len(spans) == 3, out
    assert max(s for s, _ in spans) >= min(e for _, e in spans), out


def test_a_restarted_slurmctld_cancels_the_jobs_of_its_previous_life(devcluster, tmp_path):
    """Jobs slurmctld restores after it died (a restarted machine, a killed session) are cancelled by
    up.sh with one line: their processes are gone, and run again they would load the next session's nodes."""
    job = sbatch("--hold", "-t", "2", "-J", "eb-devcluster-leftover", "-o", "/dev/null", "--wrap", "true",
                 cwd=tmp_path)
    pid = int((DEVCLUSTER_STATE / "run" / "slurmctld.pid").read_text().split()[0])
    os.kill(pid, signal.SIGTERM)
    end = time.monotonic() + 60
    while Path(f"/proc/{pid}").exists() and time.monotonic() < end:
        time.sleep(0.2)
    assert not Path(f"/proc/{pid}").exists(), "slurmctld did not stop within 60 s of SIGTERM"
    out = start_devcluster()
    assert f"cancelled 1 job(s) left from its previous run ({job})" in out, out
    assert wait_terminal(job) == {job: "CANCELLED"}
