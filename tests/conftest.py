"""Shared fixtures: config files written into a temporary directory; the dev SLURM cluster."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
DEVCLUSTER = REPO / "slurm_templates" / "devcluster"
DEV_PROFILE = DEVCLUSTER / "profile.yaml"


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


@pytest.fixture(scope="session")
def devcluster() -> Any:
    """The single-node dev SLURM cluster, started once per session.

    Not root -> the SLURM tests skip; root and up.sh fails -> they FAIL.
    ``EB_DEVCLUSTER_DOWN=1`` runs down.sh at the end of the session.
    """
    if os.geteuid() != 0:
        pytest.skip("the dev SLURM cluster needs root (up.sh installs packages and starts daemons)")
    yield start_devcluster()
    if os.environ.get("EB_DEVCLUSTER_DOWN") == "1":
        subprocess.run(["bash", str(DEVCLUSTER / "down.sh")], capture_output=True, text=True, timeout=300)


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
