"""Helpers for tests that submit to the dev SLURM cluster.

The ``devcluster`` fixture itself lives in tests/conftest.py (the fault suite
in tests/faults uses it too). Every wait here is bounded.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import DEV_PROFILE, REPO, eb, eb_args, status_json, write_yaml  # noqa: F401 (re-exported)
from ..conftest import wait_all_finished as _wait_all_finished
from ..conftest import wait_for as _wait_for


def run(cmd: list[str], timeout: float = 30, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{cmd} -> rc={proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float, poll_s: float = 1.0,
             diagnose: Callable[[], str] | None = None) -> Any:
    """:func:`tests.conftest.wait_for`, whose diagnosis also shows ``squeue``."""
    return _wait_for(what, predicate, timeout_s, poll_s, diagnose=lambda: (diagnose() if diagnose else "")
                     + "\nsqueue:\n" + run(["squeue", "-a"], check=False).stdout)


def eb_popen(*args: str, log: Path) -> subprocess.Popen[bytes]:
    fh = open(log, "wb")
    return subprocess.Popen(eb_args(*args), stdout=fh, stderr=subprocess.STDOUT)


def small_demo(tmp: Path, **over: Any) -> dict[str, Any]:
    """configs/demo.yaml with its data under ``tmp`` and made small enough for a 2-core machine."""
    cfg = yaml.safe_load((REPO / "configs" / "demo.yaml").read_text())
    cfg["data"]["pamap2"].update(path=str(tmp / "data" / "pamap2"), max_windows=160)
    cfg["data"]["celeba"].update(path=str(tmp / "data" / "celeba"), identities=10, max_images=60,
                                 image_size_px=32)
    cfg["grid"] = {"batch_sizes": [256], "learning_rates": [0.01]}
    cfg["hardware"] = ["h100", "a100", "rtx3090"]
    cfg["early_stopping"]["max_epochs"] = 1
    cfg["meter"].update(idle_s=0, flush_s=1.0)
    cfg["training"]["threads"] = 1
    cfg["executor"] = {"kind": "slurm", "timeout_min": 10, "profile": str(DEV_PROFILE)}
    for key, value in over.items():
        cfg[key] = value
    return cfg


def profile_with(tmp: Path, name: str, **defaults: Any) -> Path:
    """The dev cluster profile with some defaults changed (e.g. ``sbatch={'hold': True}``)."""
    prof = yaml.safe_load(DEV_PROFILE.read_text())
    prof["defaults"].update(defaults)
    return write_yaml(tmp / name, prof)


def manifest(results: Path) -> dict[str, Any]:
    return json.loads((results / "manifest.json").read_text())


def wait_all_finished(results: Path, timeout_s: float) -> list[dict[str, Any]]:
    """:func:`tests.conftest.wait_all_finished`, whose diagnosis also shows the job logs and ``squeue``."""
    return _wait_all_finished(results, timeout_s, poll_s=2.0, diagnose=lambda: tail_logs(results) + "\nsqueue:\n"
                              + run(["squeue", "-a"], check=False).stdout)


def tail_logs(results: Path, n: int = 15) -> str:
    out = []
    for log in sorted((results / "jobs" / "submitit").glob("*_log.out"))[-4:]:
        lines = log.read_text(errors="replace").splitlines()[-n:]
        out.append(f"--- {log.name}\n" + "\n".join(lines))
    return "\n".join(out)


def sacct_times(job_ids: list[str]) -> dict[str, tuple[str, datetime | None, datetime | None]]:
    """Array task id -> (state, start, end) from sacct (allocations only)."""
    out = run(["sacct", "-X", "-n", "-P", "-o", "JobID,State,Start,End", "-j", ",".join(job_ids)]).stdout
    rows = {}
    for line in out.splitlines():
        jid, state, start, end = line.split("|")
        if "[" in jid:
            continue
        parse = (lambda t: None if t in ("Unknown", "None", "") else datetime.fromisoformat(t))
        rows[jid] = (state.split()[0], parse(start), parse(end))
    return rows


def squeue_state(job_id: str) -> tuple[str, str]:
    """(state, reason) of one array task from squeue ('', '') when it is gone."""
    out = run(["squeue", "-h", "-r", "-j", job_id.split("_")[0], "-o", "%i|%T|%r"], check=False).stdout
    for line in out.splitlines():
        jid, state, reason = line.split("|")
        if jid == job_id:
            return state, reason
    return "", ""


def planned_results(tmp_path: Path, write_config: Any) -> tuple[Any, list[Any]]:
    """A laid-out results directory of four planned runs (nothing run): what `submit` writes first."""
    from energybench.submit import prepare, write_layout

    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    config = write_config(cfg)
    p = prepare(config, tmp_path / "res", None)
    write_layout(p)
    return p.layout, p.specs


@pytest.fixture
def fake_slurm(monkeypatch: pytest.MonkeyPatch) -> Any:
    """SLURM's commands answered by :class:`.fakes.FakeSlurm` (no cluster needed)."""
    from energybench.slurm import shell

    from .fakes import FakeSlurm

    fake = FakeSlurm()
    monkeypatch.setattr(shell, "RUNNER", fake)
    return fake
