"""Shared fixtures: config files written into a temporary directory; the dev SLURM cluster."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEVCLUSTER = REPO / "slurm_templates" / "devcluster"
DEV_PROFILE = DEVCLUSTER / "profile.yaml"
#: up.sh's state dir; its ``topology`` file says which layout up.sh brought up.
DEVCLUSTER_STATE = Path(os.environ.get("EB_CLUSTER_STATE", "/var/tmp/energybench-devcluster"))


def eb_args(*args: str) -> list[str]:
    """The command line of the energybench CLI in a fresh interpreter."""
    return [sys.executable, "-c", "from energybench.cli import main; main()", *args]


def eb(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the energybench CLI in a fresh interpreter, as a user would; ``env`` is added to the environment.

    Every test that runs the CLI uses this one runner.
    """
    return subprocess.run(eb_args(*args), capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, **env} if env else None)


def status_json(results: Path) -> tuple[int, list[dict[str, Any]]]:
    """``energybench status --json``: its exit code and the run states."""
    r = eb("status", str(results), "--json", timeout=60)
    assert r.returncode in (0, 1, 3), r.stdout + r.stderr
    return r.returncode, json.loads(r.stdout)


def wait_for(what: str, predicate: Callable[[], Any], timeout_s: float, poll_s: float = 0.5,
             diagnose: Callable[[], str] | None = None) -> Any:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s`` with a diagnosis."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(poll_s)
    pytest.fail(f"timed out after {timeout_s:.0f} s waiting for {what}\n{diagnose() if diagnose else ''}")


def wait_all_finished(results: Path, timeout_s: float, poll_s: float = 1.0,
                      diagnose: Callable[[], str] | None = None) -> list[dict[str, Any]]:
    """Poll ``status --json`` until no run is pending or running; return the run states.

    On a timeout the diagnosis shows the last states (run, state, job, reason) and ``diagnose()``.
    """
    last: dict[str, Any] = {}

    def finished() -> list[dict[str, Any]] | None:
        rc, states = status_json(results)
        last["states"] = states
        return states if rc != 3 else None

    def why() -> str:
        states = [(s["run_id"], s["state"], s["job_id"], s["reason"]) for s in last.get("states", [])]
        return json.dumps(states, indent=1) + ("\n" + diagnose() if diagnose else "")

    return wait_for(f"every run of {results} to finish", finished, timeout_s, poll_s, diagnose=why)


def write_yaml(path: Path, data: dict[str, Any] | str) -> Path:
    """Write a dict as YAML (or text as is) to ``path``, creating its directory."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return path


def release_requeued(job_id: str) -> None:
    """Start a requeued job now instead of after SLURM's requeue hold (its begin time two minutes on).

    Not within the second in which the requeue revoked the job's credential: slurmd refuses a credential
    created in that same second ("Job credential revoked", "already killed, do not launch batch job") and
    the job ends FAILED with exit 1, the race the hold exists to avoid. The revocation happened before the
    caller saw the job PENDING, so from the next whole second on the new credential is younger.
    """
    time.sleep(2 - time.time() % 1)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], check=True, capture_output=True,
                   timeout=30)


def proc_start(pid: int | str = "self") -> str:
    """A process's start time (field 22 of /proc/PID/stat, clock ticks since boot), as lib.sh reads it."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]


def hold_node(node: str, for_s: float = 900, state: Path = DEVCLUSTER_STATE) -> Path:
    """Keep up.sh (this session's or another's) from restarting ``node``'s slurmd for ``for_s`` seconds
    while this process lives: ``$STATE/held/<node>`` = "UNTIL PID STARTTIME". Unlink it when done."""
    start = proc_start()
    hold = state / "held" / node
    hold.parent.mkdir(parents=True, exist_ok=True)
    hold.write_text(f"{int(time.time() + for_s)} {os.getpid()} {start}\n")
    return hold


def start_devcluster(timeout_s: float = 900) -> str:
    """Run up.sh (idempotent: about a second when the cluster is up); fail the test if it fails."""
    try:
        proc = subprocess.run(["bash", str(DEVCLUSTER / "up.sh")], capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"up.sh timed out after {timeout_s:.0f} s\n{exc.stdout or ''}\n{exc.stderr or ''}")
    if proc.returncode != 0:
        pytest.fail(f"up.sh failed (rc={proc.returncode})\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr}")
    return proc.stdout


@dataclass(frozen=True)
class DevTopology:
    """The layout up.sh brought up, as it wrote it to ``$EB_CLUSTER_STATE/topology``."""

    mode: str  # "multi": slurmd nodes in network namespaces; "single": the one-node fallback
    nodes: tuple[str, ...]  # SLURM node names
    reason: str  # why the fallback ("" for multi)


def devcluster_topology() -> DevTopology:
    """Read the topology file up.sh writes (``single`` with a reason when there is none)."""
    try:
        fields = dict(line.split("=", 1) for line in (DEVCLUSTER_STATE / "topology").read_text().splitlines()
                      if "=" in line)
    except OSError as exc:
        return DevTopology("single", (), f"no topology from up.sh ({exc})")
    return DevTopology(fields.get("mode", "single"), tuple(fields.get("nodes", "").split()), fields.get("reason", ""))


@pytest.fixture(scope="session")
def devcluster() -> Any:
    """The dev SLURM cluster (multi-node, or up.sh's one-node fallback), started once per session.

    Not root -> the SLURM tests skip; root and up.sh fails -> they FAIL.
    ``EB_DEVCLUSTER_DOWN=1`` runs down.sh at the end of the session.
    """
    if os.geteuid() != 0:
        pytest.skip("the dev SLURM cluster needs root (up.sh installs packages and starts daemons)")
    yield start_devcluster()
    if os.environ.get("EB_DEVCLUSTER_DOWN") == "1":
        subprocess.run(["bash", str(DEVCLUSTER / "down.sh")], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="session")
def multinode(devcluster: Any) -> DevTopology:
    """The multi-node dev cluster. Where up.sh fell back to one node (no network namespaces), the
    tests that need several nodes FAIL under CI (``CI=true``) and skip with the reason otherwise."""
    topo = devcluster_topology()
    if topo.mode != "multi":
        why = f"the dev cluster runs on a single node ({topo.reason}); these tests need its multi-node layout"
        if os.environ.get("CI", "").lower() in ("true", "1", "yes"):
            pytest.fail(why)
        pytest.skip(why)
    return topo


def minimal_config(tmp: Path, **over: Any) -> dict[str, Any]:
    """A small valid config dict whose data live under ``tmp``."""
    cfg: dict[str, Any] = {
        "name": "t",
        "grid": {"batch_sizes": [64, 256], "learning_rates": [0.01, 0.001]},
        "paradigms": ["pamap2-baseline"],
        "repeats": 1,
        "hardware": ["cpu"],
        "data": {"pamap2": {"path": str(tmp / "pamap2"), "generate": True}},
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def write_config(tmp_path: Path):
    """Write a config dict (or raw text) to a YAML file and return its path."""

    def _write(cfg: dict[str, Any] | str, name: str = "exp.yaml") -> Path:
        path = tmp_path / name
        path.write_text(cfg if isinstance(cfg, str) else yaml.safe_dump(cfg, sort_keys=False))
        return path

    return _write


@pytest.fixture(autouse=True)
def _no_counter_period_probe(monkeypatch: pytest.MonkeyPatch) -> None:
    """Patched NVML counters are scripted: opening a meter must not poll them (tests that
    measure the update period turn the probe back on)."""
    monkeypatch.setattr("energybench.meter.nvml.COUNTER_PERIOD_PROBE_S", 0.0)
