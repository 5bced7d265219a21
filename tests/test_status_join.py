"""status: the workers' markers joined with the scheduler's view (fake answers, no cluster)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from energybench.paths import write_json
from energybench.slurm import accounting
from energybench.slurm.manifest import Manifest
from energybench.status import run_states

from .slurm.conftest import planned_results


def test_status_joins_markers_with_the_scheduler(tmp_path: Path, write_config: Any) -> None:
    layout, specs = planned_results(tmp_path, write_config)
    a, b, c, d = (s.run_id for s in specs)
    now = time.time()
    m = Manifest.load(layout.manifest)
    m.record_array("40", "h100.pamap2-baseline.0", "h100", [a, b, c, d], {}, None, now_s=now - 3600)
    write_json(layout.run(a).started, {"attempt": 1, "time_s": now - 100})
    write_json(layout.run(a).heartbeat, {"time_s": now - 5, "epoch": 2, "val_accuracy": 0.5})
    write_json(layout.run(b).failed, {"reason": "old failure", "time_s": now - 7200})  # before submission
    write_json(layout.run(c).started, {"attempt": 1, "time_s": now - 50})
    write_json(layout.run(c).failed, {"reason": "CUDA out of memory", "time_s": now - 40})
    view = accounting.SchedulerView("sacct", now, ("40",), accounting.parse_sacct(
        "40_0|RUNNING|0:0|h100|None|x|Unknown\n40_1|PENDING|0:0|h100|Dependency|Unknown|Unknown\n"
        "40_2|FAILED|1:0|h100|None|x|y\n"))
    st = {s.run_id: s for s in run_states(layout, now=now, view=view)}
    assert (st[a].state, st[a].epoch, st[a].job_id) == ("RUNNING", 2, "40_0")
    assert st[b].state == "PENDING" and "Dependency" in st[b].reason  # the old failure is stale
    assert (st[c].state, st[c].reason) == ("FAILED", "CUDA out of memory")  # the worker's reason wins
    assert st[d].state == "LOST" and "no record" in st[d].reason  # submitted an hour ago, unknown to SLURM
    # squeue answered too: a task in no record left the queue unstarted (SLURM keeps no record of it)
    view_q = accounting.SchedulerView("sacct+squeue", now, ("40",), dict(view.jobs), queue_complete=True)
    st = {s.run_id: s for s in run_states(layout, now=now, view=view_q)}
    assert st[d].state == "CANCELLED" and "before it started" in st[d].reason
    view2 = accounting.SchedulerView("sacct", now, ("40",), accounting.parse_sacct(
        "40_0|CANCELLED by 0|0:0|h100|None|x|y\n40_3|TIMEOUT|0:0|h100|None|x|y\n"))
    st = {s.run_id: s for s in run_states(layout, now=now, view=view2)}
    assert st[a].state == "CANCELLED" and "40_0" in st[a].reason
    assert st[d].state == "TIMEOUT"
    write_json(layout.run(a).done, {"attempt": 1})
    assert run_states(layout, now=now, view=view2)[0].state == "COMPLETED"  # done.json always wins
