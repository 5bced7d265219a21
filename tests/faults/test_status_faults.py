"""What ``status`` (and so ``submit`` and ``collect``) make of a run whose job ended badly, without a
cluster: markers fabricated, SLURM's answers parsed from the text sacct prints.

The cluster tests (test_killed_worker, test_node_failure) see SLURM requeue a node failure; here the
branches they cannot reach: a node failure SLURM did not requeue, and a killed job seen by collect.
"""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from energybench.collect import collect
from energybench.paths import ResultsLayout, write_json
from energybench.plan import RunSpec
from energybench.slurm import accounting
from energybench.slurm.manifest import Manifest
from energybench.status import run_states
from energybench.submit import select_runs

from ..fabricate import fake_run, make_results


def _setup(tmp_path: Path, now: float) -> tuple[ResultsLayout, list[RunSpec]]:
    layout, specs = make_results(tmp_path)
    Manifest.load(layout.manifest).record_array("50", "cpu.pamap2-baseline.0", "h100", [s.run_id for s in specs],
                                                {}, None, now_s=now - 300)
    for s in specs:
        fake_run(layout, s, done=False)  # started after the submission, a fresh heartbeat, no end marker
        write_json(layout.run(s.run_id).started, {"attempt": 1, "time_s": now - 200})
    return layout, specs


def _view(now: float, sacct: str, squeue: str = "") -> accounting.SchedulerView:
    jobs = accounting.parse_sacct(sacct)
    for jid, rec in accounting.parse_squeue(squeue).items():
        jobs[jid] = accounting.JobRecord(jid, rec.state, rec.reason, previous_state=jobs[jid].previous_state)
    return accounting.SchedulerView("sacct+squeue", now, ("50",), jobs, queue_complete=True)


def test_sacct_duplicates_keep_the_latest_run_and_the_state_before_it() -> None:
    jobs = accounting.parse_sacct("50_0|NODE_FAIL|0:0|h100|None|a|b\n50_0|PENDING|0:0|h100|BeginTime|Unknown|Unknown\n"
                                  "50_1|REQUEUED|0:0|h100|None|a|b\n50_1|RUNNING|0:0|h100|None|c|Unknown\n"
                                  "50_2|FAILED|0:9|h100|None|a|b\n")
    assert (jobs["50_0"].state, jobs["50_0"].previous_state) == ("PENDING", "NODE_FAIL")
    assert (jobs["50_1"].state, jobs["50_1"].previous_state) == ("RUNNING", "REQUEUED")
    assert (jobs["50_2"].state, jobs["50_2"].previous_state) == ("FAILED", None)


def test_killed_job_node_failure_and_requeue_read_as_states_a_user_can_act_on(tmp_path: Path) -> None:
    now = time.time()
    layout, (killed, lost) = _setup(tmp_path, now)
    view = _view(now, "50_0|FAILED|0:9|h100|None|a|b\n50_1|NODE_FAIL|0:0|h100|None|a|b\n")
    st = {s.run_id: s for s in run_states(layout, now=now, view=view)}
    assert st[killed.run_id].state == "FAILED"
    assert st[killed.run_id].reason == "SLURM FAILED: killed by signal 9 (SIGKILL); job 50_0; submit again to resume"
    assert st[lost.run_id].state == "LOST"  # not requeued by SLURM: nobody holds this run any more
    assert st[lost.run_id].reason == "its node failed (SLURM NODE_FAIL); job 50_1; submit again to resume"

    requeued = _view(now, "50_0|FAILED|0:9|h100|None|a|b\n50_1|NODE_FAIL|0:0|h100|None|a|b\n"
                     "50_1|PENDING|0:0|h100|None|Unknown|Unknown\n", squeue="50_1|PENDING|BeginTime|h100\n")
    st = {s.run_id: s for s in run_states(layout, now=now, view=requeued)}
    assert st[lost.run_id].state == "PENDING"
    assert st[lost.run_id].reason == ("its node failed (SLURM NODE_FAIL) during attempt 1; requeued by SLURM; "
                                      "waiting: BeginTime")

    specs = [killed, lost]
    assert [s.run_id for s in select_runs(specs, run_states(layout, now=now, view=view)).todo] == \
        [killed.run_id, lost.run_id]  # both resubmitted ...
    again = select_runs(specs, run_states(layout, now=now, view=requeued))
    assert [s.run_id for s in again.todo] == [killed.run_id]  # ... but never the one SLURM requeued itself
    assert again.queued == {lost.run_id: "50_1"}  # and its dependants would wait for its task


def test_collect_records_a_killed_job_as_failed_not_running(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    now = time.time()
    layout, (killed, lost) = _setup(tmp_path, now)
    view = _view(now, "50_0|FAILED|0:9|h100|None|a|b\n50_1|NODE_FAIL|0:0|h100|None|a|b\n")
    monkeypatch.setattr(accounting, "scheduler_view", lambda *a, **k: view)
    collect(layout.root, echo=lambda _: None, warn=lambda _: None)
    runs = {r["run_id"]: r for r in pq.read_table(layout.dataset_dir / "runs.parquet").to_pylist()}
    assert runs[killed.run_id]["status"] == "FAILED"
    assert runs[killed.run_id]["stop_reason"].startswith("failed: SLURM FAILED: killed by signal 9")
    assert runs[lost.run_id]["status"] == "LOST" and runs[lost.run_id]["epochs"] == 3  # its epochs are kept


def test_local_executor_writes_the_marker_a_dead_worker_could_not(tmp_path: Path) -> None:
    from energybench.executors.local import _record_exit

    now = time.time()
    layout, (killed, crashed, said_why, stale) = make_results(tmp_path, repeats=2)
    write_json(layout.run(said_why.run_id).failed, {"reason": "CUDA out of memory", "time_s": now + 1})
    write_json(layout.run(stale.run_id).failed, {"reason": "an earlier attempt's", "time_s": now - 60})
    for spec, rc in ((killed, -9), (crashed, 2), (said_why, 1), (stale, -15)):
        _record_exit(layout.run(spec.run_id), rc, started_s=now)
    st = {s.run_id: s for s in run_states(layout)}
    assert st[killed.run_id].reason == ("worker killed by signal 9 (SIGKILL); submit again to resume from its "
                                        "last checkpoint")
    assert st[crashed.run_id].reason.startswith("worker exited with code 2 without a done or failed marker; see ")
    assert st[said_why.run_id].reason == "CUDA out of memory"  # the worker's own reason is kept
    assert st[stale.run_id].reason.startswith("worker killed by signal 15 (SIGTERM)")
    assert all(s.state == "FAILED" for s in st.values())
