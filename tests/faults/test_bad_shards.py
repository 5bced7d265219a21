"""Corrupt, truncated and foreign Parquet files among a run's *samples* (tests/test_collect.py covers
epoch shards and other schema versions): ``collect`` quarantines each with a one-line reason, never
touches the file, keeps the run's good parts, and other runs are unaffected.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from energybench.collect import collect
from energybench.paths import DatasetPaths, read_json

from ..fabricate import fake_run, make_results
from .ledger import record


def _damage(victim: Path, how: str) -> None:
    if how == "corrupt":
        victim.write_bytes(b"PAR1" + b"\x00garbage" * 50 + b"PAR1")
    elif how == "truncated":
        victim.write_bytes(victim.read_bytes()[: len(victim.read_bytes()) // 2])
    elif how == "empty":
        victim.write_bytes(b"")
    elif how == "foreign":  # a valid Parquet file that energybench did not write
        pq.write_table(pa.table({"time_s": [1.0, 2.0], "note": ["a", "b"]}), victim)
    elif how == "not-parquet":
        victim.write_text("time_s,power_w\n1.0,100\n")
    else:
        raise ValueError(how)


@pytest.mark.parametrize("how", ["corrupt", "truncated", "empty", "foreign", "not-parquet"])
@pytest.mark.parametrize("where", ["replaced part", "stray file"])
def test_bad_sample_files_are_quarantined_and_nothing_else_is_lost(tmp_path: Path, how: str, where: str) -> None:
    layout, specs = make_results(tmp_path)
    for s in specs:
        fake_run(layout, s)
    run = layout.run(specs[0].run_id)
    fake_run(layout, specs[0], attempt=2, first_epoch=4, t0=1_700_000_100.0)  # a second, good part
    victim = run.sample_parts(1)[0] if where == "replaced part" else run.samples_dir / "part-a001-000099.parquet"
    if where == "stray file":  # e.g. copied in by hand, or left by a tool that is not energybench
        victim.write_bytes(run.sample_parts(1)[0].read_bytes())
    _damage(victim, how)
    before = victim.read_bytes()
    warnings: list[str] = []
    rep = collect(layout.root, echo=lambda _: None, warn=warnings.append)

    assert [q["path"] for q in rep.quarantined] == [str(victim)]
    assert len(warnings) == 1 and "\n" not in warnings[0] and str(victim) in warnings[0]
    assert victim.read_bytes() == before  # never modified or deleted
    assert read_json(layout.quarantine_log) == rep.quarantined
    samples = pa.dataset.dataset(DatasetPaths(layout.dataset_dir).samples_dir, partitioning="hive").to_table()
    per_run = {r: samples.filter(pa.compute.equal(samples["run_id"], r)) for r in (s.run_id for s in specs)}
    kept = {1: 0 if where == "replaced part" else 9, 2: 9}  # the damaged part's rows only are missing
    mine = per_run[specs[0].run_id].column("attempt").to_pylist()
    assert {a: mine.count(a) for a in (1, 2)} == kept
    assert all(per_run[s.run_id].num_rows == 9 for s in specs[1:])  # other runs unaffected
    runs = {r["run_id"]: r for r in pq.read_table(DatasetPaths(layout.dataset_dir).runs).to_pylist()}
    assert all(runs[s.run_id]["epochs"] == 3 for s in specs[1:])
    if how == "corrupt" and where == "replaced part":
        record("corrupt/truncated/foreign Parquet in samples/", affected=1, recovered=1, lost_beyond_flush=0,
               detail="quarantined with a reason; good parts and other runs kept (x10 variants)")
