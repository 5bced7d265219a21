from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench.paths import RunPaths
from energybench.schema import SAMPLE_SCHEMA, SCHEMA_VERSION, VERSION_KEY
from energybench.shards import SampleShardWriter, ShardError, read_shard


def batch(t0: float, n: int = 5) -> pa.Table:
    return pa.Table.from_pylist([{"run_id": "r", "attempt": 1, "time_s": t0 + i, "epoch": 1, "phase": "train",
                                  "power_w": 10.0, "energy_j": None, "meter": "synthetic", "gpu_util_pct": None,
                                  "mem_used_mib": None, "temperature_c": None, "sm_clock_mhz": None}
                                 for i in range(n)], schema=SAMPLE_SCHEMA)


def test_parts_are_versioned_and_numbered(tmp_path: Path) -> None:
    run = RunPaths(tmp_path / "r")
    w = SampleShardWriter(run, attempt=1)
    p1, p2 = w.write(batch(0)), w.write(batch(5))
    assert w.write(batch(0, 0)) is None
    assert [p.name for p in run.sample_parts()] == [p1.name, p2.name]
    assert pq.read_schema(p1).metadata[VERSION_KEY] == str(SCHEMA_VERSION).encode()
    assert read_shard(p2, SAMPLE_SCHEMA).num_rows == 5
    # a new writer for the same attempt (a restarted process) continues the numbering
    assert SampleShardWriter(run, 1).write(batch(10)).name.endswith("000003.parquet")
    assert not list(run.samples_dir.glob(".*tmp"))


def test_compact_merges_parts_into_one_segment(tmp_path: Path) -> None:
    run = RunPaths(tmp_path / "r")
    w = SampleShardWriter(run, attempt=2)
    for k in range(4):
        w.write(batch(k * 5))
    seg = w.compact()
    assert run.sample_parts() == [] and run.sample_files() == [seg]
    assert read_shard(seg, SAMPLE_SCHEMA).column("time_s").to_pylist() == list(range(20))


def test_read_shard_rejects_other_versions(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    pq.write_table(batch(0).replace_schema_metadata({VERSION_KEY: b"0"}), p)
    with pytest.raises(ShardError, match="schema version 0"):
        read_shard(p, SAMPLE_SCHEMA)
