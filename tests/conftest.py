"""Shared fixtures: config files written into a temporary directory."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


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
