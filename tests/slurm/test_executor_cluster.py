"""The SLURM executor on the real dev cluster: arrays on three partitions, dependencies,
resubmission, preemption and requeue, dry-run scripts that sbatch accepts.

Small grids and data keep the module within a few minutes on a 2-core machine; every wait
is bounded and a timeout prints squeue, the states and the job logs.
"""

from __future__ import annotations

import json
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from energybench.config import load_config
from energybench.plan import plan

from ..faults.ledger import lost_beyond_flush, record
from ..conftest import release_requeued
from .conftest import (DEV_PROFILE, eb, eb_popen, manifest, profile_with, run, sacct_times, small_demo,
                       squeue_state, status_json, tail_logs, wait_all_finished, wait_for, write_yaml)

pytestmark = pytest.mark.slurm


def submit(config: Path, results: Path, *extra: str) -> str:
    r = eb("submit", str(config), "--results", str(results), *extra)
    assert r.returncode == 0, r.stdout + r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def demo(devcluster: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The demo config on h100, a100 and rtx3090 through SLURM; its h100 runs also through the local executor."""
    tmp = tmp_path_factory.mktemp("demo")
    cfg = small_demo(tmp)
    config = write_yaml(tmp / "demo.yaml", cfg)
    results = tmp / "slurm"
    out = submit(config, results)
    again = submit(config, results)  # everything is queued or running: nothing to submit
    local_cfg = dict(cfg, hardware=["h100"], executor={"kind": "local", "max_parallel": 1, "timeout_min": 10})
    local_config = write_yaml(tmp / "local.yaml", local_cfg)
    local = eb_popen("submit", str(local_config), "--results", str(tmp / "local"), log=tmp / "local.log")
    try:
        states = wait_all_finished(results, 300)
        local_rc = local.wait(timeout=240)
    finally:
        if local.poll() is None:
            local.kill()
    return {"tmp": tmp, "config": config, "results": results, "states": states, "out": out, "again": again,
            "local": tmp / "local", "local_rc": local_rc, "local_log": (tmp / "local.log").read_text()}


def test_demo_on_three_partitions_completes_and_collects_like_local(demo: dict[str, Any]) -> None:
    specs = plan(load_config(demo["config"]))
    results = demo["results"]
    assert "12 planned runs, 12 to submit" in demo["out"] and demo["out"].count("submitted ") == 12
    assert "0 to submit" in demo["again"] and "submitted " not in demo["again"]
    states = demo["states"]
    assert [s["state"] for s in states] == ["COMPLETED"] * len(specs), \
        json.dumps(states, indent=1) + tail_logs(results)
    man = manifest(results)
    assert {e["partition"] for e in man["runs"].values()} == {"h100", "a100", "rtx3090"}
    assert {s["job_id"] for s in states} == {e["job_id"] for e in man["runs"].values()}
    rc, _ = status_json(results)
    assert rc == 0
    r = eb("status", str(results))
    assert r.returncode == 0 and "rtx3090" in r.stdout and "pamap2-frozen" in r.stdout

    assert demo["local_rc"] == 0, demo["local_log"]
    for d in (results, demo["local"]):
        r = eb("collect", str(d))
        assert r.returncode == 0, r.stdout + r.stderr
        # the dev cluster has no energy plugin: the scheduler's figure is "not accounted", locally not asked
        assert ("scheduler energy (sacct ConsumedEnergyRaw, node-level): not accounted" in r.stdout) == (d == results)
    slurm_runs = pq.read_table(results / "dataset" / "runs.parquet")
    local_runs = pq.read_table(demo["local"] / "dataset" / "runs.parquet")
    assert sorted(slurm_runs.column("run_id").to_pylist()) == sorted(s.run_id for s in specs)
    assert slurm_runs.schema == local_runs.schema
    for name in ("epochs.parquet",):
        assert pq.read_schema(results / "dataset" / name) == pq.read_schema(demo["local"] / "dataset" / name)
    assert sorted(p.name for p in (results / "tables").iterdir()) == \
        sorted(p.name for p in (demo["local"] / "tables").iterdir())
    by_id = {r["run_id"]: r for r in slurm_runs.to_pylist()}
    for lr in local_runs.to_pylist():  # the same run ids, trained the same way
        sr = by_id[lr["run_id"]]
        assert (sr["status"], sr["epochs"], sr["attempts"]) == (lr["status"], lr["epochs"], lr["attempts"])
        assert sr["params_total"] == lr["params_total"]


def test_downstream_tasks_wait_for_their_own_encoder(devcluster: Any, tmp_path: Path) -> None:
    """Frozen task i starts once encoder task i ended, even while encoder task j is held up."""
    cfg = small_demo(tmp_path, paradigms=["pamap2-autoencoder", "pamap2-frozen"], hardware=["a100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01]}
    results = tmp_path / "res"
    submit(write_yaml(tmp_path / "dep.yaml", cfg), results)
    specs = plan(load_config(tmp_path / "dep.yaml"))
    man = manifest(results)["runs"]
    enc = [man[s.run_id]["job_id"] for s in specs if s.paradigm == "pamap2-autoencoder"]
    frz = {man[s.depends_on]["job_id"]: man[s.run_id]["job_id"] for s in specs if s.depends_on}
    assert [frz[e].split("_")[1] for e in enc] == [e.split("_")[1] for e in enc]  # index i <-> index i
    wait_for(f"encoder task {enc[0]} to run", lambda: squeue_state(enc[0])[0] == "RUNNING", 60, poll_s=0.3)
    run(["scontrol", "suspend", enc[0]])
    try:
        wait_for(f"frozen task {frz[enc[1]]} (its encoder {enc[1]} is not held up) to complete",
                 lambda: sacct_times([frz[enc[1]]]).get(frz[enc[1]], ("",))[0] == "COMPLETED", 150,
                 diagnose=lambda: tail_logs(results))
        assert squeue_state(enc[0])[0] == "SUSPENDED"
        assert squeue_state(frz[enc[0]]) == ("PENDING", "Dependency")
    finally:
        run(["scontrol", "resume", enc[0]], check=False)
    states = wait_all_finished(results, 150)
    assert [s["state"] for s in states] == ["COMPLETED"] * 4, states
    t = sacct_times([j.split("_")[0] for j in enc + list(frz.values())])
    for e, f in frz.items():
        assert t[f][1] >= t[e][2], (e, f, t)  # frozen i started after encoder i ended
    assert t[frz[enc[1]]][1] < t[enc[0]][2]  # ... and did not wait for the other encoder


def test_resubmission_submits_exactly_the_cancelled_and_failed_runs(devcluster: Any, tmp_path: Path) -> None:
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["rtx3090"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    cfg["executor"]["profile"] = str(profile_with(tmp_path, "held.yaml", sbatch={"hold": True}))
    config = write_yaml(tmp_path / "re.yaml", cfg)
    results = tmp_path / "res"
    submit(config, results)
    ids = [s.run_id for s in plan(load_config(config))]
    ok, fails, c1, c2 = ids
    first = {r: e["job_id"] for r, e in manifest(results)["runs"].items()}
    spec_path = results / "runs" / fails / "spec.json"  # this run will fail: its data are not there
    spec = json.loads(spec_path.read_text())
    spec["data"].update(path=str(tmp_path / "missing"), generate=False)
    spec_path.write_text(json.dumps(spec))
    r = eb("cancel", str(results), "--run", c1, "--run", c2[:10])
    assert r.returncode == 0 and "cancelled 2 runs" in r.stdout, r.stdout + r.stderr
    run(["scontrol", "release", first[ok].split("_")[0]])
    states = {s["run_id"]: s for s in wait_all_finished(results, 120)}
    assert states[ok]["state"] == "COMPLETED", states
    assert states[fails]["state"] == "FAILED" and "missing" in states[fails]["reason"], states[fails]
    assert states[c1]["state"] == states[c2]["state"] == "CANCELLED"
    assert status_json(results)[0] == 1  # all finished, not all completed

    out = submit(config, results, "--profile", str(DEV_PROFILE))  # the same runs, without the hold
    assert "3 to submit" in out, out
    again = {r: e for r, e in manifest(results)["runs"].items()}
    assert {r for r in ids if again[r]["job_id"] != first[r]} == {fails, c1, c2}
    assert again[fails]["history"][0]["job_id"] == first[fails] and again[ok]["job_id"] == first[ok]
    states = wait_all_finished(results, 120)
    assert [s["state"] for s in states] == ["COMPLETED"] * 4, states


def test_preempted_task_requeues_and_resumes_from_its_checkpoint(devcluster: Any, tmp_path: Path) -> None:
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64], "learning_rates": [0.01]}
    cfg["data"]["pamap2"]["max_windows"] = 400
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 10, "max_epochs": 4}
    config = write_yaml(tmp_path / "pre.yaml", cfg)
    results = tmp_path / "res"
    submit(config, results)
    (rid, entry), = manifest(results)["runs"].items()
    job = entry["job_id"]
    hb = results / "runs" / rid / "heartbeat.json"

    def first_epoch_done() -> bool:
        return hb.exists() and (json.loads(hb.read_text()).get("epoch") or 0) >= 1

    wait_for("the first epoch", first_epoch_done, 120, poll_s=0.3, diagnose=lambda: tail_logs(results))
    # SLURM's preemption signal; --batch because the worker *is* the batch shell (it execs Python)
    signal_s = time.time()
    run(["scancel", "--batch", "--signal=USR2", job])
    wait_for(f"{job} to be requeued", lambda: squeue_state(job)[0] == "PENDING", 60, poll_s=0.5,
             diagnose=lambda: tail_logs(results))
    _, states = status_json(results)
    assert states[0]["state"] == "PENDING" and "requeued after attempt 1" in states[0]["reason"], states
    release_requeued(job)  # skip SLURM's 2-minute requeue delay
    states = wait_all_finished(results, 150)
    assert states[0]["state"] == "COMPLETED" and states[0]["attempt"] == 2, states
    assert manifest(results)["runs"][rid]["job_id"] == job  # requeued: same job, not a new one

    run_dir = results / "runs" / rid
    a1 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a001.parquet").to_pylist()]
    a2 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a002.parquet").to_pylist()]
    assert a1 and a2 and a1 + a2 == [1, 2, 3, 4], (a1, a2)  # each epoch measured once
    r = eb("collect", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    row = pq.read_table(results / "dataset" / "runs.parquet").to_pylist()[0]
    assert (row["attempts"], row["epochs"], row["status"]) == (2, 4, "COMPLETED")
    epochs = pq.read_table(results / "dataset" / "epochs.parquet").to_pylist()
    assert [(e["epoch"], e["attempt"]) for e in epochs] == [(e, 1 if e in a1 else 2) for e in range(1, 5)]
    samples = ds.dataset(results / "dataset" / "samples", partitioning="hive").to_table().to_pylist()
    assert {s["attempt"] for s in samples} == {1, 2}
    meter = cfg["meter"]
    lost, span_s = lost_beyond_flush([s["time_s"] for s in samples if s["attempt"] == 1], signal_s,
                                     meter["flush_s"], meter.get("period_s", 0.1))
    assert lost == 0, span_s  # the worker flushes before it requeues

    def sacct_history() -> list[str]:
        out = run(["sacct", "-X", "-n", "-P", "--duplicates", "-o", "JobID,State", "-j", job.split("_")[0]]).stdout
        return [ln.split("|")[1] for ln in out.splitlines()]

    # the worker's done marker comes a moment before the job's end reaches accounting
    wait_for("sacct to record the requeue and the completion",
             lambda: sacct_history() == ["REQUEUED", "COMPLETED"], 30, diagnose=lambda: str(sacct_history()))
    log = (results / "jobs" / "submitit" / f"{job}_0_log.out").read_text()
    assert "requeued after attempt 1" in log
    record("preemption (USR2 to the batch shell)", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"requeued, resumed at epoch {len(a1) + 1}, attempts 2 in status/runs.parquet/sacct; "
                  f"last attempt-1 sample {-span_s:.2f} s after the signal")


def test_time_limit_signal_requeues_resumes_and_ends_out_of_attempts(devcluster: Any, tmp_path: Path) -> None:
    """``--signal=B:USR2@40`` on a 2-minute job: the worker gets it from SLURM's timer, not from us.

    SLURM may send the signal up to 60 s early (its event resolution, sbatch(1)), so an attempt
    works 20 to 80 s: always long enough to start the worker and finish an epoch.

    Attempt 1 stops at its checkpoint and requeues; attempt 2 resumes from that checkpoint and, the
    last of ``max_attempts: 2``, ends TIMEOUT with its own reason. Had the signal not reached the
    worker (submitit's ``--signal=USR2@90`` without ``B:`` reaches srun steps only, and there are
    none), SLURM would have killed it at the time limit with no worker reason and no checkpoint stop.
    """
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["a100"])
    cfg["grid"] = {"batch_sizes": [64], "learning_rates": [0.01]}
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 1000, "max_epochs": 1000}
    cfg["executor"]["profile"] = str(profile_with(tmp_path, "short.yaml", time_limit_min=2, signal_delay_s=40,
                                                  max_attempts=2))
    results = tmp_path / "res"
    submit(write_yaml(tmp_path / "t.yaml", cfg), results)
    (rid, entry), = manifest(results)["runs"].items()
    job, run_dir = entry["job_id"], results / "runs" / rid
    wait_for(f"{job} to reach its time-limit signal and requeue",
             lambda: (run_dir / "started.json").exists() and squeue_state(job)[0] == "PENDING", 180, poll_s=0.5,
             diagnose=lambda: tail_logs(results))
    _, states = status_json(results)
    assert states[0]["state"] == "PENDING" and "requeued after attempt 1" in states[0]["reason"], states
    release_requeued(job)  # skip SLURM's 2-minute requeue delay
    states = wait_all_finished(results, 180)
    assert (states[0]["state"], states[0]["attempt"]) == ("TIMEOUT", 2), states
    assert "stopped by SLURM's signal" in states[0]["reason"] and "attempt 2 of max_attempts 2" in states[0]["reason"]
    a1 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a001.parquet").to_pylist()]
    a2 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a002.parquet").to_pylist()]
    assert a1 and a2 and a1 + a2 == list(range(1, len(a1) + len(a2) + 1)), (a1, a2)  # resumed, no epoch twice
    history = [ln.split("|") for ln in run(["sacct", "-X", "-n", "-P", "--duplicates", "-o", "State,End", "-j",
                                            job.split("_")[0]]).stdout.split()]
    assert history[0][0] == "REQUEUED" and len(history) == 2, history
    requeued_s = datetime.fromisoformat(history[0][1]).timestamp()  # local time, whole seconds
    a1_times: list[float] = []
    for part in sorted((run_dir / "samples").glob("*.parquet")):
        cols = pq.read_table(part, columns=["attempt", "time_s"]).to_pydict()
        a1_times += [t for a, t in zip(cols["attempt"], cols["time_s"]) if a == 1]
    lost, span_s = lost_beyond_flush(a1_times, requeued_s, cfg["meter"]["flush_s"], cfg["meter"].get("period_s", 0.1))
    assert lost == 0, span_s
    record("time limit (SLURM's B:USR2 timer)", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"requeued after {len(a1)} epochs, resumed at epoch {len(a1) + 1}, attempt 2 recorded; "
                  "then TIMEOUT at max_attempts 2 (by design: max_epochs 1000)")


def test_dry_run_scripts_are_accepted_by_sbatch(devcluster: Any, tmp_path: Path) -> None:
    results = tmp_path / "res"
    submit(write_yaml(tmp_path / "d.yaml", small_demo(tmp_path)), results, "--dry-run")
    scripts = sorted((results / "jobs" / "dry-run").glob("*.sbatch"))
    assert len(scripts) == 12
    for script in scripts:
        text = "\n".join(ln for ln in script.read_text().splitlines() if "--dependency" not in ln)
        probe = tmp_path / script.name
        probe.write_text(text)
        r = run(["sbatch", "--test-only", str(probe)], check=False)
        assert r.returncode == 0 and "to start at" in r.stderr, (script.name, r.stderr)
