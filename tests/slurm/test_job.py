"""What an array task runs on the node: requeue on request, out of attempts."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from energybench.paths import write_json


def test_job_requeues_on_request_and_stops_after_max_attempts(monkeypatch: pytest.MonkeyPatch,
                                                              tmp_path: Path) -> None:
    from energybench import launch
    from energybench.paths import RunPaths
    from energybench.slurm import job as job_mod
    from energybench.worker.signals import REQUEUE

    run = RunPaths(tmp_path / "run")
    write_json(run.started, {"attempt": 2, "time_s": time.time()})
    monkeypatch.setattr(launch, "main", lambda d: REQUEUE)
    requeued = []
    monkeypatch.setattr(job_mod, "requeue", lambda: requeued.append(1))
    with pytest.raises(SystemExit):
        job_mod.RunJob(max_attempts=3)(str(run.dir))
    assert requeued == [1] and not run.failed.exists()
    with pytest.raises(RuntimeError, match="out of attempts"):
        job_mod.RunJob(max_attempts=2)(str(run.dir))
    f = json.loads(run.failed.read_text())
    assert f["state"] == "TIMEOUT" and "max_attempts" in f["reason"]
    monkeypatch.setattr(launch, "main", lambda d: 1)
    with pytest.raises(RuntimeError, match="failed"):  # a failed run fails its job (aftercorr must not fire)
        job_mod.RunJob()(str(run.dir))


