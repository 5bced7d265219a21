"""A results directory written by schema version 1 (stored in tests/data/schema-v1) still collects
and tabulates: the columns version 2 added are null there, and nothing is quarantined."""

from __future__ import annotations

import shutil
from pathlib import Path

import pyarrow.parquet as pq

from energybench.collect import collect, recompute_tables
from energybench.paths import DatasetPaths
from energybench.schema import RUN_COLUMNS, SCHEMA_VERSION, added_since
from energybench.shards import read_shard
from energybench.schema import SAMPLE_SCHEMA

STORED = Path(__file__).parent / "data" / "schema-v1"


def test_the_stored_directory_really_is_version_1() -> None:
    seg = next((STORED / "runs").glob("*/samples/*.parquet"))
    assert pq.read_schema(seg).metadata[b"energybench.schema_version"] == b"1"
    assert "gpu_energy_j" not in pq.read_schema(seg).names and SCHEMA_VERSION >= 2


def test_a_version_1_shard_reads_with_the_new_columns_null() -> None:
    seg = next((STORED / "runs").glob("*/samples/*.parquet"))
    t = read_shard(seg, SAMPLE_SCHEMA)
    assert t.schema == SAMPLE_SCHEMA and t.num_rows > 0
    assert t.column("cpu_energy_j").null_count == t.num_rows and t.column("power_w").null_count < t.num_rows


def test_version_1_results_collect_and_tabulate(tmp_path: Path) -> None:
    results = tmp_path / "res"
    shutil.copytree(STORED, results)
    shutil.rmtree(results / "dataset")
    warnings: list[str] = []
    rep = collect(results, echo=lambda _: None, warn=warnings.append)
    assert rep.runs == 2 and rep.quarantined == [] and not warnings
    runs = pq.read_table(DatasetPaths(results / "dataset").runs)
    assert set(runs.column("status").to_pylist()) == {"COMPLETED"}
    assert all(e > 0 for e in runs.column("energy_j").to_pylist())  # the energy it measured is kept
    # version-1 run.json records the period already, and version 1 knew one input pipeline (resident)
    # and only built-in workloads (trained in the worker, every epoch marked)
    known = {"sample_period_s", "loader", "workload_kind", "workload_source", "epoch_marks"}
    new = added_since(RUN_COLUMNS, 1) - known
    assert all(runs.column(c).null_count == runs.num_rows for c in new)
    assert set(runs.column("workload_source").to_pylist()) == {"built-in"}
    assert set(runs.column("workload_kind").to_pylist()) == {"python"}
    assert (results / "tables" / "total_energy.csv").is_file()


def test_a_dataset_written_by_version_1_tabulates(tmp_path: Path) -> None:
    dataset = tmp_path / "dataset"
    shutil.copytree(STORED / "dataset", dataset)
    paths = recompute_tables(dataset, tmp_path / "tables")
    assert any(p.name == "total_energy.csv" for p in paths)
