"""A small synthetic grid with known true energy, generated once per module that asks for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from energybench.estimate.synthetic import generate
from energybench.paths import ResultsLayout


def small_grid(tmp: Path, **over: Any) -> dict[str, Any]:
    """2 batch sizes x 2 learning rates x 2 paradigms x 2 GPUs: 16 runs, short patience."""
    cfg: dict[str, Any] = {
        "name": "synth", "grid": {"batch_sizes": [64, 1024], "learning_rates": [0.01, 0.001]},
        "paradigms": ["pamap2-baseline", "celeba-identity"], "hardware": ["h100", "rtx3090"],
        "early_stopping": {"threshold": 0.8, "patience_epochs": 10, "max_epochs": 150},
        "data": {"pamap2": {"path": str(tmp / "pamap2")}, "celeba": {"path": str(tmp / "celeba")}},
    }
    cfg.update(over)
    return cfg


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, ResultsLayout]:
    """(config file, results layout) of a generated synthetic grid."""
    root = tmp_path_factory.mktemp("synthetic")
    config = root / "synth.yaml"
    config.write_text(yaml.safe_dump(small_grid(root)))
    return config, generate(config, root / "results")
