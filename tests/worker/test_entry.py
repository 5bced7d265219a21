"""The worker's entry point (energybench/worker/entry.py): one run from spec.json to its markers and record."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from energybench.config import parse_config
from energybench.paths import ResultsLayout, RunPaths, read_json, write_json
from energybench.plan import RunSpec, plan
from energybench.worker import signals
from energybench.launch import main, workload_for
from energybench.worker import entry


@pytest.fixture(scope="module")
def pamap2(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Small generated PAMAP2 files, shared by the runs of this module."""
    from energybench.worker.data import ensure_data

    path = tmp_path_factory.mktemp("entry-data") / "pamap2"
    ensure_data("pamap2", {"path": str(path), "generate": True})
    return path


def _spec(tmp: Path, data: Path, sampler: str = "thread") -> RunSpec:
    cfg = {
        "name": "entry", "grid": {"batch_sizes": [64], "learning_rates": [0.001]},
        "paradigms": ["pamap2-baseline"], "hardware": ["cpu"],
        "early_stopping": {"threshold": 0.99, "max_epochs": 2},
        "training": {"device": "cpu", "threads": 1},
        "data": {"pamap2": {"path": str(data), "max_windows": 200}},
        "meter": {"kind": "synthetic", "period_s": 0.05, "flush_s": 0.2, "idle_s": 0, "sampler": sampler},
    }
    return plan(parse_config(cfg, tmp / "c.yaml"))[0]


def _run(tmp: Path, spec: RunSpec) -> RunPaths:
    run = ResultsLayout(tmp / "res").run(spec.run_id)
    write_json(run.spec, spec.to_dict())
    return run


def _markers(run: RunPaths) -> list[str]:
    return [p.name for p in (run.started, run.done, run.failed) if p.exists()]


def test_a_run_that_trains_is_marked_done_with_its_record(pamap2: Path, tmp_path: Path) -> None:
    spec = _spec(tmp_path, pamap2)
    run = _run(tmp_path, spec)
    assert main(run.dir) == 0
    assert _markers(run) == ["started.json", "done.json"]
    assert read_json(run.done)["epochs"] == 2
    record = read_json(run.record)
    assert (record["status"], record["run_id"], record["epochs"], record["attempts"]) == (
        "COMPLETED", spec.run_id, 2, 1)
    assert (record["stop_reason"], record["meter"], record["data_synthetic"]) == ("max_epochs", "synthetic", True)
    assert [p.name for p in run.epoch_shards()] == ["epochs-a001.parquet"]
    assert len(run.sample_files()) == 1 and run.sample_parts() == []  # the parts were compacted


def test_a_run_sampled_by_a_process_of_its_own_is_measured_alike(pamap2: Path, tmp_path: Path) -> None:
    import pyarrow.parquet as pq

    spec = _spec(tmp_path, pamap2, sampler="process")
    assert spec.run_id != _spec(tmp_path, pamap2).run_id  # how it is measured is part of the run
    run = _run(tmp_path, spec)
    assert main(run.dir) == 0
    record = read_json(run.record)
    assert (record["status"], record["sampler"], record["meter"]) == ("COMPLETED", "process", "synthetic")
    epochs = pq.read_table(run.epochs(1)).to_pylist()
    assert [e["epoch"] for e in epochs] == [1, 2] and all(e["energy_j"] and e["samples"] >= 2 for e in epochs)
    phases = set(pq.read_table(run.sample_files()[0]).column("phase").to_pylist())
    assert {"train", "eval"} <= phases


def test_a_run_with_a_users_mistake_is_marked_failed_with_one_line(tmp_path: Path,
                                                                     capsys: pytest.CaptureFixture[str]) -> None:
    spec = _spec(tmp_path, tmp_path / "no-such-data")
    run = _run(tmp_path, spec)
    assert main(run.dir) == 1
    assert _markers(run) == ["started.json", "failed.json"]
    failed = read_json(run.failed)
    assert failed["attempt"] == 1 and "no-such-data" in failed["reason"] and "\n" not in failed["reason"]
    assert "Traceback" not in capsys.readouterr().err  # a user's mistake is not a crash


def test_a_crash_is_marked_failed_and_keeps_its_traceback(pamap2: Path, tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    run = _run(tmp_path, _spec(tmp_path, pamap2))

    def broken_rule(*args: Any) -> None:
        raise RuntimeError("boom")

    assert entry.main(run.dir, energy_rule=broken_rule, workload_for=workload_for) == 1
    assert read_json(run.failed)["reason"] == "RuntimeError: boom"
    err = capsys.readouterr().err
    assert "Traceback" in err and f"run {run.dir.name} failed: RuntimeError: boom" in err
    assert not run.done.exists()


def test_a_stop_request_returns_requeue_without_an_end_marker(pamap2: Path, tmp_path: Path) -> None:
    run = _run(tmp_path, _spec(tmp_path, pamap2))
    signals.STOP.set()  # USR2 arrived before the first epoch
    try:
        assert main(run.dir) == signals.REQUEUE
    finally:
        signals.STOP.clear()
    assert _markers(run) == ["started.json"]
    beat = read_json(run.heartbeat)
    assert (beat["interrupted"], beat["epoch"], beat["attempt"]) == (True, 0, 1)


def test_a_directory_without_a_spec_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(tmp_path / "nothing") == 2
    assert "no run spec here" in capsys.readouterr().err
    assert not (tmp_path / "nothing").exists()  # nothing written
