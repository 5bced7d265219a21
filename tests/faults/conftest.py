"""The fault suite: tiny experiments run through the real CLI, broken on purpose.

Every experiment here is one or two PAMAP2 runs on generated data (one torch
thread, synthetic meter, no idle baseline), small enough for a 2-core
machine. SLURM tests use the ``devcluster`` fixture (tests/conftest.py);
every wait is bounded. The fault table (tests/faults/ledger.py) is printed
at the end of the session.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest

from ..conftest import (DEV_PROFILE, eb, eb_args, status_json, wait_all_finished, wait_for,  # noqa: F401 (shared)
                        write_yaml)
from .ledger import ROWS

#: Sampler settings of every fault experiment: a killed run may lose FLUSH_S (+ one period) of samples.
PERIOD_S, FLUSH_S = 0.05, 0.5
MAX_EPOCHS = 6


@pytest.fixture(scope="session")
def pamap2_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Generated PAMAP2 files shared by every fault experiment (generated once)."""
    from energybench.worker.data import ensure_data

    path = tmp_path_factory.mktemp("faults-data") / "pamap2"
    ensure_data("pamap2", {"path": str(path), "generate": True})
    return path


def tiny_config(pamap2: Path, executor: str = "local", **over: Any) -> dict[str, Any]:
    """One PAMAP2 run of MAX_EPOCHS short epochs (the threshold is never met, so it runs them all)."""
    cfg: dict[str, Any] = {
        "name": "faults",
        "grid": {"batch_sizes": [64], "learning_rates": [0.001]},
        "paradigms": ["pamap2-baseline"],
        "hardware": ["h100"],
        "early_stopping": {"threshold": 0.99, "patience_epochs": 50, "max_epochs": MAX_EPOCHS},
        "training": {"device": "cpu", "threads": 1},
        "data": {"pamap2": {"path": str(pamap2), "max_windows": 300}},
        "meter": {"kind": "synthetic", "period_s": PERIOD_S, "flush_s": FLUSH_S, "idle_s": 0},
        "executor": ({"kind": "local", "max_parallel": 1, "timeout_min": 5} if executor == "local"
                     else {"kind": "slurm", "timeout_min": 10, "profile": str(DEV_PROFILE)}),
    }
    cfg.update(over)
    return cfg


def eb_ok(*args: str, timeout: float = 300) -> str:
    r = eb(*args, timeout=timeout)
    assert r.returncode == 0, f"energybench {' '.join(args)} -> rc={r.returncode}\n{r.stdout}\n{r.stderr}"
    return r.stdout


def only_run(results: Path) -> Path:
    (run,) = [p for p in (results / "runs").iterdir() if p.is_dir()]
    return run


def heartbeat_epoch(run: Path) -> int:
    try:
        return int(json.loads((run / "heartbeat.json").read_text()).get("epoch") or 0)
    except (OSError, ValueError):
        return 0


def wait_mid_epoch(run: Path, timeout_s: float = 120) -> None:
    """Wait until epoch 1 is checkpointed and a flush happened in a later epoch.

    Which epoch a kill then lands in depends on the machine's load: tests read
    it back from the resumed run (``resumed_from_epoch``) and the last sample.
    """
    wait_for(f"{run.name}: a checkpointed epoch", lambda: heartbeat_epoch(run) >= 1, timeout_s,
             diagnose=lambda: worker_log(run))
    time.sleep(FLUSH_S + 2 * PERIOD_S)


def worker_log(run: Path) -> str:
    log = run / "worker.log"
    return log.read_text(errors="replace")[-3000:] if log.exists() else "(no worker.log)"


def dataset(results: Path) -> dict[str, list[dict[str, Any]]]:
    """The collected dataset: runs, epochs and samples as rows."""
    d = results / "dataset"
    samples = ds.dataset(d / "samples", partitioning="hive").to_table() if (d / "samples").exists() else None
    return {"runs": pq.read_table(d / "runs.parquet").to_pylist(),
            "epochs": pq.read_table(d / "epochs.parquet").to_pylist(),
            "samples": samples.to_pylist() if samples is not None else []}


def assert_each_epoch_once(data: dict[str, list[dict[str, Any]]], epochs: int = MAX_EPOCHS) -> None:
    got = sorted(e["epoch"] for e in data["epochs"])
    assert got == list(range(1, epochs + 1)), got


@pytest.fixture
def cli_one_line() -> Callable[[subprocess.CompletedProcess[str]], str]:
    """Assert a failed CLI call said exactly one line on stderr, no traceback; return it."""

    def check(r: subprocess.CompletedProcess[str]) -> str:
        assert r.returncode != 0, r.stdout + r.stderr
        assert "Traceback" not in r.stderr, r.stderr
        assert r.stderr.count("\n") == 1 and r.stderr.startswith("energybench: error: "), r.stderr
        return r.stderr.strip()

    return check


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Callable[[Path, str], Path]]:
    """Mount a size-limited tmpfs (root only); unmounted at the end of the test."""
    if os.geteuid() != 0:
        pytest.skip("mounting a size-limited tmpfs needs root")
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True,
                       capture_output=True, timeout=30)
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        if subprocess.run(["umount", str(path)], capture_output=True, timeout=30).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, timeout=30)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not ROWS:
        return
    tr = terminalreporter
    w = max(len(r.fault) for r in ROWS)
    tr.section("fault table")
    tr.write_line(f"{'fault':<{w}} {'affected':>8} {'recovered':>9} {'lost>flush':>10}  measured")
    for r in ROWS:
        tr.write_line(f"{r.fault:<{w}} {r.runs_affected:>8} {r.runs_recovered:>9} "
                      f"{r.samples_lost_beyond_flush:>10}  {r.detail}")
