"""Extra grid axes through the tables and figures: grouped by ``params``, one heatmap facet per value."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest

from energybench.errors import ResultsError
from energybench.figures import draw_figures
from energybench.paths import DatasetPaths
from energybench.schema import EPOCH_SCHEMA, RUN_SCHEMA
from energybench.tables import compute_tables, write_tables


def _frame(rows: list[dict], schema) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=pl.from_arrow(schema.empty_table()).schema, strict=False)


def _dataset(root: Path) -> Path:
    runs, epochs = [], []
    setup = 0
    for bs in (8, 16):
        for lr in (0.1, 0.01):
            for width in (4, 8):
                setup += 1
                run_id = f"r{setup}"
                energy_j = 10.0 * width + bs + 100 * lr
                runs.append({"run_id": run_id, "experiment": "axes", "dataset": "mine", "paradigm": "mine",
                             "setup": setup, "batch_size": bs, "learning_rate": lr, "repeat": 1, "hardware": "cpu",
                             "meter": "synthetic", "status": "COMPLETED", "epochs": 2, "duration_s": 4.0,
                             "energy_j": 2 * energy_j, "attempts": 1, "device": "cpu", "data_synthetic": True,
                             "params": json.dumps({"width": width}, separators=(",", ":")),
                             "workload_kind": "python", "workload_source": "module mine:WORKLOAD",
                             "epoch_marks": True, "best_val_accuracy": 0.9, "threshold_epoch": 1})
                epochs += [{"run_id": run_id, "attempt": 1, "epoch": e, "start_s": float(e), "duration_s": 2.0,
                            "energy_j": energy_j, "energy_eq1_j": energy_j, "mean_power_w": energy_j / 2,
                            "samples": 20, "coverage_frac": 1.0, "low_samples": False, "val_accuracy": 0.9}
                           for e in (1, 2)]
    paths = DatasetPaths(root / "dataset")
    paths.dir.mkdir(parents=True)
    _frame(runs, RUN_SCHEMA).write_parquet(paths.runs)
    _frame(epochs, EPOCH_SCHEMA).write_parquet(paths.epochs)
    return paths.dir


def test_tables_group_by_the_extra_axes(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    runs, epochs = pl.read_parquet(DatasetPaths(dataset).runs), pl.read_parquet(DatasetPaths(dataset).epochs)
    total = compute_tables(runs, epochs)["total_energy"]
    assert total.height == 8 and total["params"].n_unique() == 2  # one row per point of the full product
    row = total.filter((pl.col("batch_size") == 16) & (pl.col("learning_rate") == 0.01)
                       & (pl.col("params") == '{"width":8}'))
    assert row["energy_mean_wh"].item() == pytest.approx(2 * (80 + 16 + 1) / 3600)


def test_heatmaps_facet_the_other_axes_and_take_a_chosen_pair(tmp_path: Path) -> None:
    dataset = _dataset(tmp_path)
    runs, epochs = pl.read_parquet(DatasetPaths(dataset).runs), pl.read_parquet(DatasetPaths(dataset).epochs)
    write_tables(compute_tables(runs, epochs), tmp_path / "tables")
    names = {p.stem for p in draw_figures(dataset, tmp_path / "tables", tmp_path / "figs")}
    assert {"energy_per_epoch_mine_cpu_width-4", "energy_per_epoch_mine_cpu_width-8"} <= names
    chosen = {p.stem for p in draw_figures(dataset, tmp_path / "tables", tmp_path / "figs2",
                                           heatmap_axes=("width", "learning_rate"))}
    assert {"energy_per_epoch_mine_cpu_by_width_learning_rate_batch_size-8",
            "energy_per_epoch_mine_cpu_by_width_learning_rate_batch_size-16"} <= chosen
    with pytest.raises(ResultsError, match="two different axes of the grid"):
        draw_figures(dataset, tmp_path / "tables", tmp_path / "figs3", heatmap_axes=("depth", "learning_rate"))
