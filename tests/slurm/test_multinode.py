"""The multi-node dev cluster: arrays spread over nodes, provenance per node, and a node that dies.

Four slurmd nodes run on this machine, each in its own network and UTS namespace
(slurm_templates/devcluster/nodes.conf.in). One grid's array tasks land on several
nodes, each run names its node, and ``collect`` merges the shards of different
hosts. Then one node's slurmd and everything running on it are SIGKILLed mid-array
while the other node of the partition runs on: SLURM marks the node DOWN after
``SlurmdTimeout``, the affected runs are requeued (or LOST and resubmitted) and finish
on the other node, the others are untouched, and no epoch is counted twice. The
killed node is brought back (up.sh) in a ``finally`` block.

The kill hits every job on that node: the test picks a node without other sessions'
jobs when there is one. Under CI (``CI=true``) these tests fail where up.sh fell back
to one node; elsewhere they skip with its reason. Every wait is bounded.
"""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from energybench.config import load_config
from energybench.plan import plan

from ..conftest import DevTopology, hold_node, release_requeued, start_devcluster
from ..faults.ledger import lost_beyond_flush, part_times, record
from .conftest import (eb, manifest, run, small_demo, status_json, tail_logs, wait_all_finished, wait_for,
                       write_yaml)

pytestmark = pytest.mark.slurm

#: Sampler settings of the node-death grid (as in tests/faults): a killed run may lose FLUSH_S + a period.
PERIOD_S, FLUSH_S = 0.05, 0.5
MAX_EPOCHS = 8  # long enough that the other node's runs still train during the node's death
#: SlurmdTimeout (30 s) + a ping interval + the 5-s status cache, with room for a loaded machine.
DETECT_LIMIT_S = 150


def submit(config: Path, results: Path) -> str:
    r = eb("submit", str(config), "--results", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


def partition_nodes(partition: str, feature: str | None = None) -> set[str]:
    """The nodes of a partition (with ``feature``, when given), as sinfo lists them."""
    out = run(["sinfo", "-h", "-N", "-p", partition, "-o", "%N %f"]).stdout
    return {node for node, feats in (line.split() for line in out.splitlines())
            if feature is None or feature in feats.split(",")}


def task_nodes(job_ids: list[str]) -> dict[str, str]:
    """Array task id -> the node of its latest allocation (``sacct -X -o JobID,NodeList``)."""
    out = run(["sacct", "-X", "-n", "-P", "-o", "JobID,NodeList", "-j", ",".join(sorted(job_ids))]).stdout
    return {jid: node for jid, node in (line.split("|") for line in out.splitlines()) if "[" not in jid}


def read_json(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def test_each_node_is_a_host_of_its_own(multinode: DevTopology) -> None:
    """Each slurmd lives in the namespace named like its node, with the node's address and host name."""
    assert len(multinode.nodes) >= 4, multinode
    for node in multinode.nodes:
        show = run(["scontrol", "show", "node", node]).stdout
        addr = show.split("NodeAddr=")[1].split()[0]
        pids = run(["ip", "netns", "pids", node]).stdout.split()
        slurmd = [p for p in pids if Path(f"/proc/{p}/comm").read_text().strip() == "slurmd"]
        assert len(slurmd) == 1, (node, pids)
        uts = run(["nsenter", f"--uts=/proc/{slurmd[0]}/ns/uts", "hostname"]).stdout.strip()
        assert uts == node
        assert f"inet {addr}/" in run(["ip", "-n", node, "addr", "show", "eth0"]).stdout


def test_an_array_spreads_over_nodes_and_collect_merges_their_hosts(multinode: DevTopology,
                                                                     tmp_path: Path) -> None:
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100", "mixed-rtx3090"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    config = write_yaml(tmp_path / "spread.yaml", cfg)
    results = tmp_path / "res"
    submit(config, results)
    states = wait_all_finished(results, 300)
    assert [s["state"] for s in states] == ["COMPLETED"] * 8, json.dumps(states, indent=1) + tail_logs(results)

    runs = manifest(results)["runs"]
    hardware = {s.run_id: s.hardware for s in plan(load_config(config))}
    arrays = [e["job_id"].split("_")[0] for e in runs.values()]
    wait_for("sacct to list every task", lambda: all(e["job_id"] in task_nodes(arrays) for e in runs.values()),
             60, poll_s=1.0)  # slurmdbd records a finished task a moment after squeue drops it
    nodes = task_nodes(arrays)
    on = {rid: nodes[e["job_id"]] for rid, e in runs.items()}
    h100 = {on[r] for r in runs if hardware[r] == "h100"}
    assert len(h100) >= 2 and h100 <= partition_nodes("h100"), on  # one array, several nodes
    assert {on[r] for r in runs if hardware[r] == "mixed-rtx3090"} <= partition_nodes("mixed", "rtx3090"), on
    for rid, node in on.items():  # each run says where it ran
        rec = read_json(results / "runs" / rid / "run.json")
        assert (rec["provenance"]["host"], rec["provenance"]["slurmd_nodename"]) == (node, node), (rid, node)
        assert read_json(results / "runs" / rid / "started.json")["host"] == node

    r = eb("collect", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    rows = pq.read_table(results / "dataset" / "runs.parquet", columns=["run_id", "host"]).to_pylist()
    assert {row["run_id"]: row["host"] for row in rows} == on
    assert len({row["host"] for row in rows}) >= 3  # two h100 nodes and the rtx3090 one


def _node_death_config(tmp_path: Path) -> Path:
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 96], "learning_rates": [0.01, 0.001]}
    cfg["data"]["pamap2"]["max_windows"] = 300
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 50, "max_epochs": MAX_EPOCHS}  # all epochs run
    cfg["meter"] = {"kind": "synthetic", "period_s": PERIOD_S, "flush_s": FLUSH_S, "idle_s": 0}
    return write_yaml(tmp_path / "death.yaml", cfg)


def _epoch(run_dir: Path) -> int:
    try:
        return int(read_json(run_dir / "heartbeat.json").get("epoch") or 0)
    except (OSError, ValueError):
        return 0


def _victim(ours: dict[str, str]) -> str:
    """The h100 node to kill: one running our tasks, preferably without other sessions' jobs."""
    mine = set(ours)
    counts: dict[str, int] = {}
    for node in set(ours.values()):
        out = run(["squeue", "-h", "-r", "-w", node, "-o", "%i"], check=False).stdout.split()
        counts[node] = len(set(out) - mine)
    return min(counts, key=lambda n: (counts[n], -list(ours.values()).count(n), n))


def _kill_node(node: str) -> list[int]:
    """SIGKILL everything in the node's network namespace: its slurmd, slurmstepds and workers."""
    pids = [int(p) for p in run(["ip", "netns", "pids", node]).stdout.split()]
    assert any(Path(f"/proc/{p}/comm").read_text().strip() == "slurmd" for p in pids if Path(f"/proc/{p}").exists())
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    return pids


def _node_failed(results: Path, victims: set[str]) -> dict[str, dict[str, Any]] | None:
    _, states = status_json(results)
    seen = {s["run_id"]: s for s in states if s["run_id"] in victims
            and (s["state"] == "LOST" or "NODE_FAIL" in (s["reason"] or ""))}
    return seen if set(seen) == victims else None


def test_a_node_dies_mid_array_its_runs_finish_elsewhere_the_others_untouched(multinode: DevTopology,
                                                                              tmp_path: Path) -> None:
    config = _node_death_config(tmp_path)
    results = tmp_path / "res"
    submit(config, results)
    runs = manifest(results)["runs"]
    dirs = {rid: results / "runs" / rid for rid in runs}
    wait_for("every run to checkpoint its first epoch", lambda: all(_epoch(d) >= 1 for d in dirs.values()), 240,
             diagnose=lambda: tail_logs(results))
    time.sleep(FLUSH_S + 2 * PERIOD_S)  # a flush inside the next epoch
    ours = {e["job_id"]: read_json(dirs[rid] / "started.json")["host"] for rid, e in runs.items()}
    victim = _victim(ours)
    victims = {rid for rid, e in runs.items() if ours[e["job_id"]] == victim}
    others = set(runs) - victims
    assert victims and others, f"one array on two nodes expected: {ours}"

    running = {rid for rid in others if not (dirs[rid] / "done.json").exists()}
    assert running, "the other node's runs ended before the kill: make the epochs longer"
    # other sessions' up.sh would restart the dead slurmd at once: hold the node down (up.sh reads this)
    hold = hold_node(victim)
    kill_s = time.time()
    try:
        killed = _kill_node(victim)
        seen = wait_for(f"status to report the runs of the dead node {victim}",
                        lambda: _node_failed(results, victims), DETECT_LIMIT_S, poll_s=2.0)
        detect_s = time.time() - kill_s
        wait_for(f"SLURM to mark {victim} DOWN", lambda: "DOWN" in run(["scontrol", "show", "node", victim]).stdout
                 .split("State=")[1].split()[0], 30)
        a1_parts = {rid: part_times(dirs[rid] / "samples", 1) for rid in victims}  # none missing

        lost = {rid for rid, s in seen.items() if s["state"] == "LOST"}
        out = submit(config, results)  # runs LOST again; requeued ones are left alone
        assert f"{len(lost)} to submit" in out, (out, seen)
        for rid in victims - lost:  # requeued by SLURM: skip its two-minute hold
            assert "requeued by SLURM" in seen[rid]["reason"], seen[rid]
            release_requeued(manifest(results)["runs"][rid]["job_id"])
        states = {s["run_id"]: s for s in wait_all_finished(results, 300)}
    finally:
        hold.unlink(missing_ok=True)
        start_devcluster()  # the node's slurmd back in its namespace, the node resumed
    assert all(s["state"] == "COMPLETED" for s in states.values()), states
    assert {rid for rid, s in states.items() if s["attempt"] == 2} == victims, states  # the others: untouched

    final = {rid: read_json(dirs[rid] / "started.json")["host"] for rid in runs}
    alive = partition_nodes("h100") - {victim}
    assert all(final[rid] in alive for rid in victims), final  # finished on another node
    assert all(final[rid] == ours[runs[rid]["job_id"]] for rid in others), final

    r = eb("collect", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    epochs: dict[str, list[int]] = {}
    for e in pq.read_table(results / "dataset" / "epochs.parquet", columns=["run_id", "epoch"]).to_pylist():
        epochs.setdefault(e["run_id"], []).append(e["epoch"])
    assert {rid: sorted(ep) for rid, ep in epochs.items()} == {rid: list(range(1, MAX_EPOCHS + 1)) for rid in runs}
    lost_n, unflushed = 0, []
    for rid, times in a1_parts.items():
        n, span_s = lost_beyond_flush(times, kill_s, FLUSH_S, PERIOD_S)
        lost_n, unflushed = lost_n + n, unflushed + [span_s]
        resumed = read_json(dirs[rid] / "run.json")["resumed_from_epoch"]
        assert resumed >= 1, rid  # from the dead attempt's checkpoint
    assert lost_n == 0, unflushed
    how = f"{len(victims) - len(lost)} requeued by SLURM, {len(lost)} LOST + resubmitted"
    record(f"node death mid-array ({len(killed)} processes of 1 of 2 nodes SIGKILLed)", affected=len(victims),
           recovered=sum(states[r]["state"] == "COMPLETED" for r in victims), lost_beyond_flush=lost_n,
           detail=f"{victim} DOWN, status said so after {detect_s:.0f} s; {how}, finished on "
                  f"{','.join(sorted({final[r] for r in victims}))}; unflushed <= {max(unflushed):.2f} s; "
                  f"{len(others)} runs on the other node ({len(running)} running) untouched")
