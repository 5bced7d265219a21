"""The node dies under a running job: slurmd, the job's slurmstepd and the worker are SIGKILLed.

Killing slurmd alone would leave slurmstepd and the worker running (on a real
dead node nothing survives), so all three go. slurmctld notices after
``SlurmdTimeout`` (30 s on the dev cluster) plus a ping interval, marks the
node DOWN and the job NODE_FAIL, and requeues it (``--requeue``). ``status``
must say so within a bounded time; once the node is back (up.sh, in a finally
block so later tests find the cluster up) the run resumes from its checkpoint.

Every job on the node is hit, so this test must not share the dev cluster with
another test session.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from ..conftest import release_requeued, start_devcluster
from .conftest import (FLUSH_S, PERIOD_S, assert_each_epoch_once, dataset, eb_ok, only_run, status_json,
                       tiny_config, wait_all_finished, wait_for, wait_mid_epoch, worker_log, write_yaml)
from .ledger import lost_beyond_flush, part_times, record

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

#: SlurmdTimeout (30 s) + a ping interval + the 5-s status cache, with room for a loaded machine.
DETECT_LIMIT_S = 120


def _slurmd_pid(worker: int) -> int:
    """The slurmd of the worker's node: the one in the worker's network namespace (the dev cluster
    runs one slurmd per node, each in its own namespace; the one-node fallback has just one)."""
    net = os.readlink(f"/proc/{worker}/ns/net")
    pgrep = subprocess.run(["pgrep", "-x", "slurmd"], capture_output=True, text=True, timeout=30)
    (pid,) = [int(p) for p in pgrep.stdout.split() if os.readlink(f"/proc/{p}/ns/net") == net]
    return pid


def _parent(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _node_failure_seen(results: Path) -> dict[str, Any] | None:
    _, (state,) = status_json(results)
    return state if state["state"] == "LOST" or "NODE_FAIL" in (state["reason"] or "") else None


def test_node_failure_is_reported_and_the_run_resumes(devcluster: Any, pamap2_dir: Path, tmp_path: Path) -> None:
    config = write_yaml(tmp_path / "node.yaml", tiny_config(pamap2_dir, "slurm"))
    results = tmp_path / "res"
    eb_ok("submit", str(config), "--results", str(results))
    run = only_run(results)
    job = json.loads((results / "manifest.json").read_text())["runs"][run.name]["job_id"]
    wait_mid_epoch(run)
    worker = json.loads((run / "started.json").read_text())["pid"]
    stepd = _parent(worker)
    assert Path(f"/proc/{stepd}/cmdline").read_bytes().startswith(b"slurmstepd"), stepd
    kill_s = time.time()
    try:
        for pid in (_slurmd_pid(worker), stepd, worker):
            os.kill(pid, signal.SIGKILL)
        seen = wait_for("status to report the node failure", lambda: _node_failure_seen(results), DETECT_LIMIT_S,
                        poll_s=2.0)
        detect_s = time.time() - kill_s
    finally:
        start_devcluster()  # slurmd back; the node returns to service (ReturnToService=2)
    a1_parts = part_times(run / "samples", 1)  # every part the dead attempt flushed, none missing
    if seen["state"] == "PENDING":  # SLURM requeued it: resubmitting must not run it twice
        assert "node failed (SLURM NODE_FAIL) during attempt 1; requeued by SLURM" in seen["reason"], seen
        out = eb_ok("submit", str(config), "--results", str(results))
        assert "0 to submit" in out, out
        # skip SLURM's two-minute hold on a requeued job
        release_requeued(job)
    else:  # not requeued: LOST, and submit runs it again
        assert "node failed (SLURM NODE_FAIL)" in seen["reason"], seen
        assert "1 to submit" in eb_ok("submit", str(config), "--results", str(results))

    states = wait_all_finished(results, 240, poll_s=2.0, diagnose=lambda: worker_log(run))
    assert [(s["state"], s["attempt"]) for s in states] == [("COMPLETED", 2)], states
    assert json.loads((run / "run.json").read_text())["resumed_from_epoch"] >= 1

    eb_ok("collect", str(results))
    data = dataset(results)
    assert_each_epoch_once(data)
    assert sorted(s["time_s"] for s in data["samples"] if s["attempt"] == 1) == sorted(a1_parts)
    lost, unflushed_s = lost_beyond_flush(a1_parts, kill_s, FLUSH_S, PERIOD_S)
    assert lost == 0, unflushed_s
    record("node failure (slurmd+stepd+worker killed)", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"status said {seen['state']} ({seen['reason'][:40]}...) after {detect_s:.0f} s; "
                  f"unflushed {unflushed_s:.2f} s")
