"""Submission limits on the real dev cluster: a QOS with MaxSubmitJobsPerUser, what fits submitted,
the rest held back with one line, and ``submit --follow`` topping up until the grid is complete."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from .conftest import DEV_PROFILE, eb, eb_popen, manifest, run, small_demo, wait_all_finished, write_yaml

pytestmark = pytest.mark.slurm

QOS = "eb-limit"


@pytest.fixture
def limited_qos(devcluster: Any) -> Any:
    """A QOS that lets a user have 2 tasks queued or running, granted to every association."""
    run(["sacctmgr", "-i", "add", "qos", QOS, "MaxSubmitJobsPerUser=2", "MaxJobsPerUser=2"], check=False)
    run(["sacctmgr", "-i", "modify", "qos", QOS, "set", "MaxSubmitJobsPerUser=2", "MaxJobsPerUser=2"], check=False)
    run(["sacctmgr", "-i", "modify", "user", "root", "set", f"qos+={QOS}"])
    yield QOS
    subprocess.run(["sacctmgr", "-i", "modify", "user", "root", "set", f"qos-={QOS}"], capture_output=True, timeout=30)
    subprocess.run(["sacctmgr", "-i", "delete", "qos", QOS], capture_output=True, timeout=30)


def test_qos_limit_holds_back_and_follow_tops_up(limited_qos: str, tmp_path: Path) -> None:
    prof = yaml.safe_load(DEV_PROFILE.read_text())
    prof["defaults"]["qos"] = limited_qos
    profile = write_yaml(tmp_path / "profile.yaml", prof)
    cfg = small_demo(tmp_path, paradigms=["pamap2-baseline"], hardware=["h100"])
    cfg["grid"] = {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]}
    cfg["executor"]["profile"] = str(profile)
    config = write_yaml(tmp_path / "exp.yaml", cfg)
    results = tmp_path / "res"
    r = eb("submit", str(config), "--results", str(results))
    assert r.returncode == 0, r.stdout + r.stderr
    held = [ln for ln in r.stdout.splitlines() if ln.startswith("held back")]
    assert held and held[0].startswith(f"held back 2 of 4 runs: QOS {limited_qos} MaxSubmitJobsPerUser 2"), r.stdout
    assert len(manifest(results)["runs"]) == 2
    follow = eb_popen("submit", str(config), "--results", str(results), "--follow", "--interval", "10",
                      log=tmp_path / "follow.log")
    try:
        assert follow.wait(timeout=300) == 0, (tmp_path / "follow.log").read_text()
    finally:
        if follow.poll() is None:
            follow.kill()
    log = (tmp_path / "follow.log").read_text()
    assert "follow:" in log and "runs held back" in log, log
    states = wait_all_finished(results, 240)
    assert [s["state"] for s in states] == ["COMPLETED"] * 4, states
    arrays = manifest(results)["arrays"]
    assert sum(a["tasks"] for a in arrays.values()) == 4 and len(arrays) >= 2  # topped up in later arrays
    assert all(json.loads((results / "runs" / s["run_id"] / "done.json").read_text()) for s in states)
