"""Checkpoint/resume and determinism of the real worker (small PAMAP2 data, CPU)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch

from energybench.config import parse_config
from energybench.paths import ResultsLayout, RunPaths, read_json, write_json
from energybench.plan import RunSpec, plan


def _specs(tmp: Path, **es: object) -> list[RunSpec]:
    """Both repeats of one small PAMAP2 setup (synthetic meter, CPU, one thread)."""
    cfg = {
        "name": "resume", "grid": {"batch_sizes": [64], "learning_rates": [0.001]},
        "paradigms": ["pamap2-baseline"], "repeats": 2, "hardware": ["cpu"],
        "early_stopping": {"threshold": 0.99, "patience_epochs": 50, "max_epochs": 5, **es},
        "training": {"device": "cpu", "threads": 1},
        "data": {"pamap2": {"path": str(tmp.parent / "pamap2"), "generate": True, "max_windows": 300}},
        "meter": {"kind": "synthetic", "period_s": 0.05, "flush_s": 0.2, "idle_s": 0},
    }
    return plan(parse_config(cfg, tmp / "c.yaml"))


def _worker(run: RunPaths) -> subprocess.Popen[bytes]:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, "-m", "energybench.launch", str(run.dir)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def _epochs(run: RunPaths) -> list[dict]:
    rows: dict[int, dict] = {}
    for p in run.epoch_shards():
        for r in pq.read_table(p).to_pylist():
            rows[r["epoch"]] = r  # later attempts win
    return [rows[k] for k in sorted(rows)]


def _new_run(tmp: Path, name: str, spec: RunSpec | None = None) -> RunPaths:
    spec = spec or _specs(tmp)[0]
    run = ResultsLayout(tmp / name).run(spec.run_id)
    write_json(run.spec, spec.to_dict())
    return run


@pytest.mark.slow
def test_killed_and_resumed_run_matches_an_uninterrupted_one(tmp_path: Path) -> None:
    whole = _new_run(tmp_path, "whole")
    assert _worker(whole).wait(300) == 0

    cut = _new_run(tmp_path, "cut")
    proc = _worker(cut)
    deadline = time.time() + 300
    while time.time() < deadline and not any(pq.read_table(p).num_rows >= 2 for p in cut.epoch_shards()):
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not cut.done.exists()
    assert _worker(cut).wait(300) == 0  # the second attempt resumes from the checkpoint

    rec = read_json(cut.record)
    assert rec["attempts"] == 2 and rec["resumed_from_epoch"] >= 1
    a, b = _epochs(whole), _epochs(cut)
    assert [e["epoch"] for e in b] == [1, 2, 3, 4, 5]
    assert {e["attempt"] for e in b} == {1, 2}
    for x, y in zip(a, b):
        assert (x["train_loss"], x["val_loss"], x["val_accuracy"]) == (y["train_loss"], y["val_loss"], y["val_accuracy"])
    wa = torch.load(whole.checkpoint, weights_only=False)["model"]
    wb = torch.load(cut.checkpoint, weights_only=False)["model"]
    assert all(torch.equal(wa[k], wb[k]) for k in wa)


@pytest.mark.slow
def test_repeats_differ_and_reruns_match(tmp_path: Path) -> None:
    first, second = _specs(tmp_path, max_epochs=2)
    assert first.seed != second.seed
    runs = [_new_run(tmp_path, "a", first), _new_run(tmp_path, "b", first), _new_run(tmp_path, "c", second)]
    procs = [_worker(r) for r in runs]
    assert [p.wait(300) for p in procs] == [0, 0, 0]
    e1, e1b, e2 = (_epochs(r) for r in runs)
    assert [x["train_loss"] for x in e1] == [x["train_loss"] for x in e1b]
    assert [x["train_loss"] for x in e1] != [x["train_loss"] for x in e2]
