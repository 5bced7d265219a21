"""Reading what the estimators learn from: a results directory or a bare dataset directory (I/O only)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from ..errors import EstimateError
from ..paths import DatasetPaths, ResultsLayout
from ..planfile import load_plan
from ..tables import load_dataset


@dataclass(frozen=True)
class Source:
    """A dataset and, when it sits in a results directory, its layout and planned specs."""

    dataset_dir: Path
    layout: ResultsLayout | None  # None for a bare dataset directory
    runs: pl.DataFrame
    epochs: pl.DataFrame
    specs: dict[str, dict[str, Any]]  # run id -> planned spec (empty without plan.json)


def open_source(path: Path) -> Source:
    """``path`` as a results directory (``DIR/dataset``) or a dataset directory (``runs.parquet`` inside)."""
    path = Path(path)
    if DatasetPaths(path).runs.is_file():
        dataset_dir, parent = path, ResultsLayout(path.parent)
        layout = parent if parent.dataset_dir == path.absolute() and parent.plan.is_file() else None
    elif DatasetPaths(ResultsLayout(path).dataset_dir).runs.is_file():
        layout = ResultsLayout(path)
        dataset_dir = layout.dataset_dir
    else:
        raise EstimateError(f"{path}: no dataset here (neither {path}/runs.parquet nor {path}/dataset/); "
                            "run `energybench collect DIR` first")
    runs, epochs = load_dataset(dataset_dir)
    specs: dict[str, dict[str, Any]] = {}
    if layout is not None and layout.plan.is_file():
        specs = {s["run_id"]: s for s in load_plan(layout)}
    return Source(dataset_dir, layout, runs, epochs, specs)


def utilisation(dataset_dir: Path, run_ids: list[str]) -> dict[str, float]:
    """Mean ``gpu_util_pct`` / 100 of each run's train and eval samples (runs without any are left out)."""
    samples = DatasetPaths(Path(dataset_dir)).samples_dir
    wanted = set(run_ids)
    files = sorted(samples.glob("**/*.parquet")) if samples.is_dir() else []
    frames = [pl.scan_parquet(f).select("run_id", "phase", "gpu_util_pct") for f in files
              if f.stem in wanted]  # collect names each file by its run
    if not frames:
        return {}
    util = (
        pl.concat(frames).filter(pl.col("phase").is_in(["train", "eval"]) & pl.col("gpu_util_pct").is_not_null())
        .group_by("run_id").agg((pl.col("gpu_util_pct").cast(pl.Float64).mean() / 100).alias("u"))
        .collect()
    )
    return {r: u for r, u in util.iter_rows() if r in wanted}
