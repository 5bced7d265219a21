"""The shipped examples through the dev SLURM cluster: the built-in, the example package's
tiny-cnn and the example command in one experiment, then a preempted command run that is
requeued and resumes from its own checkpoint.

The configs are those of tests/test_examples.py (the shipped files, shrunk) with the slurm
executor and the dev cluster's profile. Every wait is bounded; a timeout prints squeue, the
states and the job logs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ..faults.ledger import lost_beyond_flush, record
from ..test_examples import EPOCHS, _installed, all_config, width_config  # noqa: F401 (the fixture: installed?)
from ..conftest import release_requeued
from .conftest import (DEV_PROFILE, eb, manifest, run, squeue_state, status_json, tail_logs, wait_all_finished,
                       wait_for, write_yaml)

pytestmark = pytest.mark.slurm

SLURM = {"kind": "slurm", "timeout_min": 10, "profile": str(DEV_PROFILE)}


def _ok(*args: str, timeout: float = 300) -> str:
    r = eb(*args, timeout=timeout)
    assert r.returncode == 0, f"energybench {' '.join(args)} -> rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def _runs(results: Path) -> dict[str, list[dict[str, Any]]]:
    by: dict[str, list[dict[str, Any]]] = {}
    for r in pq.read_table(results / "dataset" / "runs.parquet").to_pylist():
        by.setdefault(r["paradigm"], []).append(r)
    return by


def test_examples_run_on_the_cluster(devcluster: Any, tmp_path: Path) -> None:
    cfg = dict(all_config(tmp_path), hardware=["h100"], executor=SLURM)
    width = dict(width_config(), hardware=["a100"], executor=SLURM)
    results, width_results = tmp_path / "res-all", tmp_path / "res-width"
    _ok("submit", str(write_yaml(tmp_path / "all.yaml", cfg)), "--results", str(results))
    _ok("submit", str(write_yaml(tmp_path / "width.yaml", width)), "--results", str(width_results))
    for d in (results, width_results):
        states = wait_all_finished(d, 300)
        assert [s["state"] for s in states] == ["COMPLETED"] * len(states), json.dumps(states, indent=1) + tail_logs(d)
        _ok("collect", str(d))

    runs = _runs(results)
    assert sorted(runs) == ["mlp-command", "pamap2-baseline", "tiny-cnn"]
    sources = {name: (rows[0]["workload_kind"], rows[0]["workload_source"]) for name, rows in runs.items()}
    assert sources == {"pamap2-baseline": ("python", "built-in"),
                       "tiny-cnn": ("python", "entry point energybench-tinycnn"),
                       "mlp-command": ("command", "command")}
    for (r,) in runs.values():
        assert (r["status"], r["epochs"], r["attempts"]) == ("COMPLETED", EPOCHS, 1), r
    assert json.loads(runs["tiny-cnn"][0]["params"]) == {"width": 16}
    cmd = runs["mlp-command"][0]
    epochs = [e["epoch"] for e in pq.read_table(results / "dataset" / "epochs.parquet").to_pylist()
              if e["run_id"] == cmd["run_id"]]
    assert sorted(epochs) == list(range(1, EPOCHS + 1))
    total = pq.read_table(results / "tables" / "total_energy.parquet").to_pylist()
    assert {r["paradigm"] for r in total} == {"mlp-command", "pamap2-baseline", "tiny-cnn"}
    assert {e["partition"] for e in manifest(results)["runs"].values()} == {"h100"}

    widths = sorted(json.loads(r["params"])["width"] for r in _runs(width_results)["tiny-cnn"])
    assert widths == [4, 8]


def test_preempted_command_requeues_and_resumes_from_its_checkpoint(devcluster: Any, tmp_path: Path) -> None:
    """USR2 to the batch shell (SLURM's preemption signal): the worker forwards it to train.py, which
    stops at the next batch; the job is requeued, attempt 2 resumes after the last epoch attempt 1
    recorded (``client.resume_epoch()``, the script's checkpoint) and no epoch is counted twice."""
    max_epochs = 5
    cfg = all_config(tmp_path)
    command = dict(cfg["paradigms"][2])
    command["command"] += " --train-samples 40000"  # epochs of a few seconds: the signal lands mid-run
    cfg.update(paradigms=[command], hardware=["h100"], executor=SLURM)
    del cfg["data"]  # the command brings its own
    cfg["early_stopping"] = {"threshold": 0.99, "patience_epochs": 50, "max_epochs": max_epochs}
    results = tmp_path / "res"
    _ok("submit", str(write_yaml(tmp_path / "pre.yaml", cfg)), "--results", str(results))
    (rid, entry), = manifest(results)["runs"].items()
    job, run_dir = entry["job_id"], results / "runs" / rid
    hb = run_dir / "heartbeat.json"

    def first_epoch_done() -> bool:
        try:
            return (json.loads(hb.read_text()).get("epoch") or 0) >= 1
        except (OSError, ValueError):
            return False

    wait_for("the command's first epoch", first_epoch_done, 180, poll_s=0.3, diagnose=lambda: tail_logs(results))
    signal_s = time.time()
    run(["scancel", "--batch", "--signal=USR2", job])
    wait_for(f"{job} to be requeued", lambda: squeue_state(job)[0] == "PENDING", 120, poll_s=0.5,
             diagnose=lambda: tail_logs(results))
    _, states = status_json(results)
    assert states[0]["state"] == "PENDING" and "requeued after attempt 1" in states[0]["reason"], states
    release_requeued(job)  # skip SLURM's 2-minute requeue delay
    states = wait_all_finished(results, 240)
    assert (states[0]["state"], states[0]["attempt"]) == ("COMPLETED", 2), states + [tail_logs(results)]
    assert manifest(results)["runs"][rid]["job_id"] == job  # requeued: the same job

    a1 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a001.parquet").to_pylist()]
    a2 = [r["epoch"] for r in pq.read_table(run_dir / "epochs-a002.parquet").to_pylist()]
    assert a1 and a2 and a1 + a2 == list(range(1, max_epochs + 1)), (a1, a2)
    log1 = (run_dir / "command-a001.log").read_text()
    log2 = (run_dir / "command-a002.log").read_text()
    assert "preempted" in log1, log1
    assert f"attempt 2: epochs {len(a1) + 1}..100" in log2 and "warning" not in log2, log2  # from its checkpoint

    _ok("collect", str(results))
    (row,) = pq.read_table(results / "dataset" / "runs.parquet").to_pylist()
    assert (row["status"], row["attempts"], row["epochs"]) == ("COMPLETED", 2, max_epochs), row
    epochs = pq.read_table(results / "dataset" / "epochs.parquet").to_pylist()
    assert sorted((e["epoch"], e["attempt"]) for e in epochs) == \
        [(e, 1 if e in a1 else 2) for e in range(1, max_epochs + 1)]  # each epoch once
    samples = ds.dataset(results / "dataset" / "samples", partitioning="hive").to_table().to_pylist()
    assert {s["attempt"] for s in samples} == {1, 2}
    lost, span_s = lost_beyond_flush([s["time_s"] for s in samples if s["attempt"] == 1], signal_s,
                                     cfg["meter"]["flush_s"], cfg["meter"]["period_s"])
    assert lost == 0, span_s
    record("preemption of a command workload (USR2, forwarded)", affected=1, recovered=1, lost_beyond_flush=lost,
           detail=f"train.py stopped at a batch, requeued, resumed at epoch {len(a1) + 1} from its checkpoint")
