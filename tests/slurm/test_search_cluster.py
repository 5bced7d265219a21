"""A search: config on the real dev cluster: one array per rung (afterany), the workers' own
decisions, pruned tasks that exit at once, and a preemption in the middle of a rung."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from ..faults.ledger import record
from ..search.test_search_local import check_search_record, search_config
from ..conftest import release_requeued
from .conftest import (DEV_PROFILE, eb, manifest, run, squeue_state, tail_logs, wait_all_finished, wait_for,
                       write_yaml)

pytestmark = pytest.mark.slurm


def test_search_on_slurm_prunes_resumes_survivors_and_survives_preemption(devcluster: Any, tmp_path: Path) -> None:
    cfg = search_config(tmp_path)
    cfg["hardware"] = ["h100"]
    cfg["data"]["pamap2"]["max_windows"] = 600  # epochs long enough to signal one mid-rung
    cfg["early_stopping"] = {"threshold": 0.8, "patience_epochs": 20, "max_epochs": 9}  # no early stop
    cfg["executor"] = {"kind": "slurm", "timeout_min": 10, "profile": str(DEV_PROFILE)}
    config = write_yaml(tmp_path / "search.yaml", cfg)
    results = tmp_path / "res"
    r = eb("submit", str(config), "--results", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    arrays = manifest(results)["arrays"]
    names = sorted(a["name"] for a in arrays.values())
    assert names == ["h100.pamap2-baseline.0", "h100.pamap2-baseline.0.r1", "h100.pamap2-baseline.0.r2"], names
    by_name = {a["name"]: (jid, a) for jid, a in arrays.items()}
    assert by_name["h100.pamap2-baseline.0.r1"][1]["dependency"] == f"afterany:{by_name['h100.pamap2-baseline.0'][0]}"

    decision0 = results / "search" / "pamap2-baseline.h100" / "rung-0.json"
    wait_for("the first rung's decision", decision0.exists, 300, poll_s=1.0, diagnose=lambda: tail_logs(results))
    survivors = json.loads(decision0.read_text())["survivors"]
    plan = json.loads((results / "plan.json").read_text())["runs"]
    rid = next(s["run_id"] for s in plan if s["setup"] == survivors[0])
    task = manifest(results)["runs"][rid]["history"][1]["job_id"]  # its rung-1 task (rung 0 first, rung 2 now)
    hb, started = results / "runs" / rid / "heartbeat.json", results / "runs" / rid / "started.json"

    def in_rung_1() -> bool:
        return (started.exists() and json.loads(started.read_text()).get("attempt") == 2 and hb.exists()
                and (json.loads(hb.read_text()).get("epoch") or 0) >= 4)

    wait_for("the survivor's first epoch of rung 1", in_rung_1, 240, poll_s=0.3, diagnose=lambda: tail_logs(results))
    run(["scancel", "--batch", "--signal=USR2", task])
    wait_for(f"{task} to be requeued", lambda: squeue_state(task)[0] == "PENDING", 60, poll_s=0.5,
             diagnose=lambda: tail_logs(results))
    release_requeued(task)  # skip SLURM's requeue delay
    wait_all_finished(results, 420)

    runs = check_search_record(results, config)
    assert runs[rid]["attempts"] >= 3  # rung 0, rung 1 (preempted), rung 1 again, [final pass]
    rung_reports = json.loads((results / "runs" / rid / "rungs.json").read_text())
    assert [(x["rung"], x["epoch"]) for x in rung_reports] == [(0, 3), (1, 6)]
    assert rung_reports[1]["attempt"] == 3  # rung 1 finished on the requeued attempt
    shards = sorted((results / "runs" / rid).glob("epochs-a*.parquet"))
    measured = [e["epoch"] for p in shards for e in pq.read_table(p).to_pylist()]
    assert sorted(measured) == list(range(1, len(measured) + 1)), measured  # every epoch measured once
    winner = [x for x in runs.values() if x["stop_reason"] != "pruned"]
    assert len(winner) == 1 and winner[0]["epochs"] == 9 and winner[0]["stop_reason"] == "max_epochs"
    pruned_logs = [p for p in (results / "jobs" / "submitit").glob("*_log.out") if "was pruned after rung" in
                   p.read_text(errors="replace")]
    assert pruned_logs  # later rungs' tasks of pruned runs exit without training
    record("preemption mid-search (USR2 during rung 1)", affected=1, recovered=1, lost_beyond_flush=0,
           detail=f"requeued, rung 1 finished on attempt {rung_reports[1]['attempt']}, decisions made by the "
                  f"workers; {len(runs) - 1} of {len(runs)} runs pruned")


def test_cancel_stops_every_rung_of_a_search(devcluster: Any, tmp_path: Path) -> None:
    cfg = search_config(tmp_path)
    cfg["hardware"] = ["h100"]
    cfg["executor"] = {"kind": "slurm", "timeout_min": 10, "profile": str(DEV_PROFILE)}
    config = write_yaml(tmp_path / "search.yaml", cfg)
    results = tmp_path / "res"
    assert eb("submit", str(config), "--results", str(results)).returncode == 0
    r = eb("cancel", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    jobs = list(manifest(results)["arrays"])
    deadline = time.time() + 60
    while time.time() < deadline and run(["squeue", "-h", "-j", ",".join(jobs)], check=False).stdout.strip():
        time.sleep(1)
    assert not run(["squeue", "-h", "-j", ",".join(jobs)], check=False).stdout.strip()
