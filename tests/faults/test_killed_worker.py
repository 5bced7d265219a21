"""A worker killed with SIGKILL mid-epoch, on the local executor and on the dev SLURM cluster.

Nothing can be flushed on SIGKILL, so this is the worst case of a job killed
for memory, by an admin or by a dying node's watchdog. Expected: the samples
up to the last flush are in the dataset, the run is FAILED with a reason,
``submit`` again resumes it from its last checkpoint (attempt 2), and the
final dataset has each epoch exactly once.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from .conftest import (FLUSH_S, MAX_EPOCHS, PERIOD_S, assert_each_epoch_once, dataset, eb_args, eb_ok, only_run,
                       tiny_config, wait_all_finished, wait_for, wait_mid_epoch, worker_log, write_yaml)
from .ledger import lost_beyond_flush, part_times, record

pytestmark = pytest.mark.slow


def _kill_local(results: Path, submit: subprocess.Popen[bytes]) -> float:
    run = wait_for("the run directory", lambda: (results / "runs").is_dir() and only_run(results), 60)
    wait_mid_epoch(run)
    pid = json.loads((run / "started.json").read_text())["pid"]
    kill_s = time.time()
    os.kill(pid, signal.SIGKILL)
    assert submit.wait(timeout=60) == 1  # not every run completed
    return kill_s


def _kill_slurm(results: Path) -> float:
    run = only_run(results)
    job = json.loads((results / "manifest.json").read_text())["runs"][run.name]["job_id"]
    wait_mid_epoch(run)
    kill_s = time.time()
    # the worker *is* the batch shell (it execs Python): SIGKILL to the batch step kills it
    subprocess.run(["scancel", "--batch", "--signal=KILL", job], check=True, capture_output=True, timeout=30)
    return kill_s


@pytest.mark.parametrize("executor", ["local", pytest.param("slurm", marks=pytest.mark.slurm)])
def test_sigkill_mid_epoch_fails_with_a_reason_and_resumes(executor: str, pamap2_dir: Path, tmp_path: Path,
                                                           request: pytest.FixtureRequest) -> None:
    if executor == "slurm":
        request.getfixturevalue("devcluster")
    config = write_yaml(tmp_path / "kill.yaml", tiny_config(pamap2_dir, executor))
    results = tmp_path / "res"
    if executor == "local":
        with open(tmp_path / "submit.log", "wb") as log:
            submit = subprocess.Popen(eb_args("submit", str(config), "--results", str(results)),
                                      stdout=log, stderr=subprocess.STDOUT)
            try:
                kill_s = _kill_local(results, submit)
            finally:
                if submit.poll() is None:
                    submit.kill()
                    submit.wait()
        assert "worker killed by signal 9" in (tmp_path / "submit.log").read_text()
    else:
        eb_ok("submit", str(config), "--results", str(results))
        kill_s = _kill_slurm(results)
    run = only_run(results)
    a1_parts = part_times(run / "samples", 1)  # every part the killed attempt flushed, none missing

    states = wait_all_finished(results, 90)
    assert states[0]["state"] == "FAILED", states
    assert "killed by signal 9" in states[0]["reason"] and "submit again" in states[0]["reason"], states
    if executor == "local":
        assert json.loads((run / "failed.json").read_text())["reason"].startswith("worker killed by signal 9")

    out = eb_ok("submit", str(config), "--results", str(results), timeout=300)
    assert "1 to " in out, out  # exactly the killed run again
    states = wait_all_finished(results, 180)
    assert [(s["state"], s["attempt"]) for s in states] == [("COMPLETED", 2)], (states, worker_log(run))
    rec = json.loads((run / "run.json").read_text())
    done = rec["resumed_from_epoch"]  # the killed attempt's last checkpoint
    assert rec["attempts"] == 2 and done >= 1

    eb_ok("collect", str(results))
    final = dataset(results)
    assert_each_epoch_once(final)
    assert {e["epoch"]: e["attempt"] for e in final["epochs"]} == \
        {e: (1 if e <= done else 2) for e in range(1, MAX_EPOCHS + 1)}
    assert (final["runs"][0]["status"], final["runs"][0]["attempts"]) == ("COMPLETED", 2)
    a1 = [s for s in final["samples"] if s["attempt"] == 1]  # the killed attempt's samples are kept ...
    assert sorted(s["time_s"] for s in a1) == sorted(a1_parts)
    lost, unflushed_s = lost_beyond_flush(a1_parts, kill_s, FLUSH_S, PERIOD_S)
    assert lost == 0, (unflushed_s, FLUSH_S)  # ... up to the last flush before the kill
    # The kill came before the end of the epoch after the last checkpoint (every epoch is checkpointed):
    # no flushed attempt-1 sample is of a later epoch. Not a lower bound: the samples of a short epoch can
    # all lie in the flush window the kill cut off (epoch ``done`` completed in attempt 1: the table above).
    assert max(a1, key=lambda s: s["time_s"])["epoch"] <= done + 1
    record(f"SIGKILL mid-epoch ({executor})", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"unflushed {unflushed_s:.2f} s at the kill (flush_s {FLUSH_S}); resumed at epoch {done + 1}")
