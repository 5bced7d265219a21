"""The worker's markers (energybench/worker/markers.py): what status reads about a run."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from energybench.paths import ResultsLayout, RunPaths, read_json, write_json
from energybench.worker import markers


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> RunPaths:
    for var in markers.SLURM_VARS:
        monkeypatch.delenv(var, raising=False)
    return ResultsLayout(tmp_path).run("0123456789abcdef")


def test_attempts_count_from_started_json(run: RunPaths) -> None:
    assert markers.previous_attempts(run) == 0
    markers.mark_started(run, 1)
    assert markers.previous_attempts(run) == 1
    markers.mark_started(run, 2)
    assert markers.previous_attempts(run) == 2
    run.started.write_text("{torn")  # a marker cut short: the run starts over as attempt 1
    assert markers.previous_attempts(run) == 0


def test_started_records_where_and_clears_the_last_attempts_end(run: RunPaths,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    markers.mark_done(run, attempt=1, epochs=3)
    markers.mark_failed(run, "CUDA out of memory", attempt=1)
    monkeypatch.setenv("SLURM_ARRAY_JOB_ID", "77")
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "4")
    info = markers.mark_started(run, 2)
    assert not run.done.exists() and not run.failed.exists()
    assert read_json(run.started) == info
    assert (info["attempt"], info["host"], info["pid"]) == (2, socket.gethostname(), os.getpid())
    assert (info["slurm_array_job_id"], info["slurm_array_task_id"]) == ("77", "4")
    assert "slurm_job_id" not in info  # only the variables that are set


def test_heartbeat_done_and_failed_carry_time_and_what_was_given(run: RunPaths) -> None:
    markers.heartbeat(run, epoch=3, val_accuracy=0.5)
    beat = read_json(run.heartbeat)
    assert (beat["epoch"], beat["val_accuracy"]) == (3, 0.5) and beat["time_s"] > 0
    markers.heartbeat(run, epoch=4)
    assert read_json(run.heartbeat)["epoch"] == 4 and "val_accuracy" not in read_json(run.heartbeat)  # replaced
    markers.mark_done(run, attempt=1, epochs=4)
    assert {k: v for k, v in read_json(run.done).items() if k != "time_s"} == {"attempt": 1, "epochs": 4}
    markers.mark_failed(run, "data missing", attempt=1)
    failed = read_json(run.failed)
    assert (failed["reason"], failed["attempt"]) == ("data missing", 1)


def test_markers_are_written_whole(run: RunPaths) -> None:
    write_json(run.heartbeat, {"old": True})
    markers.heartbeat(run, epoch=1)
    assert sorted(p.name for p in run.dir.iterdir()) == ["heartbeat.json"]  # no temporary left beside it
