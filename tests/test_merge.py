"""collect's steps (energybench/merge.py) on hand-made shards: order, duplicates, attempts, totals, quarantine."""

from __future__ import annotations

import time
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from energybench.merge import (MergedRun, ShardLog, dedup_samples, in_order, latest_attempt, merge_run, read_epochs,
                               read_shards, runs_table)
from energybench.schema import EPOCH_SCHEMA, SAMPLE_SCHEMA
from energybench.shards import SampleShardWriter, write_table

from .fabricate import fake_run, make_results


def _samples(*pairs: tuple[int, float]) -> pl.DataFrame:
    """Samples at (attempt, time_s), power_w numbering them in the given order."""
    rows = [{"run_id": "r", "attempt": a, "time_s": t, "epoch": 1, "phase": "train", "power_w": float(i),
             "energy_j": None, "meter": "synthetic", "gpu_util_pct": None, "mem_used_mib": None,
             "temperature_c": None, "sm_clock_mhz": None} for i, (a, t) in enumerate(pairs)]
    return pl.from_arrow(pa.Table.from_pylist(rows, schema=SAMPLE_SCHEMA))  # type: ignore[return-value]


def _epoch(run_id: str, epoch: int, attempt: int = 1, *, energy_j: float | None = 10.0,
           net_energy_j: float | None = None, val_accuracy: float | None = 0.5, start_s: float = 0.0) -> dict:
    return {"run_id": run_id, "attempt": attempt, "epoch": epoch, "start_s": start_s, "duration_s": 2.0,
            "energy_j": energy_j, "energy_eq1_j": energy_j, "mean_power_w": None, "samples": 3,
            "coverage_frac": 1.0, "low_samples": False, "net_energy_j": net_energy_j, "train_loss": None,
            "val_loss": None, "val_accuracy": val_accuracy}


def _epochs(*rows: dict) -> pl.DataFrame:
    return pl.from_arrow(pa.Table.from_pylist(list(rows), schema=EPOCH_SCHEMA))  # type: ignore[return-value]


def test_in_order_means_sorted_by_attempt_then_time_without_repeats() -> None:
    assert in_order(_samples((1, 1.0), (1, 2.0), (2, 0.5)))
    assert not in_order(_samples((1, 2.0), (1, 1.0)))
    assert not in_order(_samples((1, 1.0), (1, 1.0)))  # a repeated sample
    assert not in_order(_samples((2, 0.5), (1, 1.0)))  # attempts out of order


def test_dedup_keeps_each_sample_once_in_order() -> None:
    # a part read again after a compaction that was interrupted: its rows appear twice
    merged = dedup_samples(_samples((1, 2.0), (1, 1.0), (2, 0.5), (1, 1.0), (1, 2.0)))
    assert merged.select("attempt", "time_s").rows() == [(1, 1.0), (1, 2.0), (2, 0.5)]
    assert merged["power_w"].to_list() == [1.0, 0.0, 2.0]  # the first copy of each is kept
    in_place = _samples((1, 1.0), (1, 2.0))
    assert dedup_samples(in_place) is in_place  # already in order: nothing copied


def test_latest_attempt_wins_for_each_epoch() -> None:
    merged = latest_attempt(_epochs(_epoch("b", 1), _epoch("a", 2, attempt=1, energy_j=1.0),
                                    _epoch("a", 1), _epoch("a", 2, attempt=2, energy_j=2.0)))
    assert merged.select("run_id", "epoch", "attempt", "energy_j").rows() == [
        ("a", 1, 1, 10.0), ("a", 2, 2, 2.0), ("b", 1, 1, 10.0)]


def _meta(run_id: str, threshold_frac: float = 0.8) -> dict:
    return {"run_id": run_id, "experiment": "m", "dataset": "pamap2", "paradigm": "pamap2-baseline", "setup": 1,
            "batch_size": 64, "learning_rate": 0.01, "repeat": 1, "hardware": "cpu", "meter": "synthetic",
            "status": "COMPLETED", "attempts": 1, "device": "cpu", "data_synthetic": True,
            "threshold_frac": threshold_frac}


def test_runs_table_totals_over_the_merged_epochs() -> None:
    epochs = _epochs(
        _epoch("a", 1, val_accuracy=0.5, net_energy_j=8.0), _epoch("a", 2, val_accuracy=0.85, net_energy_j=8.0),
        _epoch("a", 3, val_accuracy=0.9, net_energy_j=None),  # net energy unknown for one epoch
        _epoch("b", 1, energy_j=None, val_accuracy=0.6),  # no energy measured at all
    )
    rows = {r["run_id"]: r for r in runs_table([_meta("c"), _meta("b"), _meta("a")], epochs).to_pylist()}
    assert list(rows) == ["a", "b", "c"]  # sorted by run id
    a, b, c = rows["a"], rows["b"], rows["c"]
    assert (a["epochs"], a["threshold_epoch"], a["best_val_accuracy"]) == (3, 2, 0.9)
    assert (a["duration_s"], a["energy_j"], a["net_energy_j"]) == (6.0, 30.0, None)
    assert (b["epochs"], b["threshold_epoch"], b["energy_j"]) == (1, None, None)  # unknown, not 0 J
    assert (c["epochs"], c["duration_s"], c["energy_j"]) == (0, 0.0, None)  # planned, never ran


def test_read_shards_quarantines_what_it_cannot_trust_and_keeps_the_rest(tmp_path: Path) -> None:
    good = tmp_path / "epochs-a001.parquet"
    write_table(good, pa.Table.from_pylist([_epoch("a", 1)], schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    foreign = tmp_path / "foreign.parquet"
    pq.write_table(pa.Table.from_pylist([_epoch("a", 2)], schema=EPOCH_SCHEMA), foreign)  # no schema version
    torn = tmp_path / "torn.parquet"
    torn.write_bytes(good.read_bytes()[:40])
    log = ShardLog()
    frame = read_shards([good, foreign, torn], EPOCH_SCHEMA, log)
    assert frame is not None and frame.select("run_id", "epoch").rows() == [("a", 1)]
    assert log.shards == 3
    reasons = {q["path"]: q["reason"] for q in log.quarantined}
    assert list(reasons) == [str(foreign), str(torn)]
    assert reasons[str(foreign)] == f"{foreign}: foreign file (no energybench schema version)"
    assert reasons[str(torn)].startswith(f"{torn}: not a readable Parquet file")
    assert all("\n" not in r for r in reasons.values())  # one line each
    assert read_shards([torn], EPOCH_SCHEMA, ShardLog()) is None


def test_merge_run_links_one_compacted_shard_and_rewrites_parts(tmp_path: Path) -> None:
    layout, (one, two) = make_results(tmp_path)
    fake_run(layout, one)
    SampleShardWriter(layout.run(one.run_id), 1).compact()
    spec = one.to_dict()
    out = tmp_path / "out" / f"{one.run_id}.parquet"
    merged = merge_run(spec, layout.run(one.run_id), time.time(), out)
    assert isinstance(merged, MergedRun) and (merged.shards, merged.samples) == (1, 9)
    (shard,) = layout.run(one.run_id).sample_files()
    assert out.stat().st_ino == shard.stat().st_ino  # the shard itself, linked: no copy, no decoding
    assert merged.meta["status"] == "COMPLETED" and merged.meta["stop_reason"] == "patience"

    # a resumed run: two attempts' parts, the second overlapping the first's last epoch
    fake_run(layout, two, epochs=2, done=False)
    fake_run(layout, two, epochs=2, attempt=2, first_epoch=2)
    out2 = tmp_path / "out" / f"{two.run_id}.parquet"
    merged = merge_run(two.to_dict(), layout.run(two.run_id), time.time(), out2)
    assert (merged.shards, merged.samples) == (2, 12)
    written = pl.read_parquet(out2)
    assert in_order(written) and written["attempt"].to_list() == [1] * 6 + [2] * 6
    assert merged.meta["attempts"] == 2


def test_read_epochs_of_runs_without_shards_is_empty_with_the_schema(tmp_path: Path) -> None:
    layout, specs = make_results(tmp_path)
    epochs = read_epochs([layout.run(s.run_id) for s in specs], ShardLog())
    assert epochs.height == 0 and epochs.columns == EPOCH_SCHEMA.names


def test_clean_shards_one_after_the_other_are_merged_by_copying_their_row_groups(tmp_path: Path) -> None:
    layout, (one, two) = make_results(tmp_path)
    for spec in (one, two):
        fake_run(layout, spec, epochs=2, done=False)
        fake_run(layout, spec, epochs=2, attempt=2, first_epoch=3)
    # one: attempt 1's part and attempt 2's part ("part-a002" lists before "seg-a001": order by their rows)
    SampleShardWriter(layout.run(one.run_id), 1).compact()
    run = layout.run(one.run_id)
    want = dedup_samples(read_shards(run.sample_files(), SAMPLE_SCHEMA, ShardLog()))  # type: ignore[arg-type]
    out = tmp_path / "out" / "one.parquet"
    merged = merge_run(one.to_dict(), run, time.time(), out)
    assert (merged.shards, merged.samples) == (2, 12) and not merged.quarantined
    assert pq.ParquetFile(out).metadata.num_row_groups == 2  # copied, not encoded again
    assert pl.read_parquet(out).equals(want)
    assert pq.read_table(out).schema.metadata == pq.read_table(run.sample_files()[0]).schema.metadata

    # two: a compaction torn by a crash (a segment and the part it was made of): decoded, de-duplicated
    run = layout.run(two.run_id)
    (part,) = run.sample_parts(1)
    write_table(run.sample_segment(1, 1, 1), pq.read_table(part), SAMPLE_SCHEMA)  # the part is still there
    out2 = tmp_path / "out" / "two.parquet"
    merged = merge_run(two.to_dict(), run, time.time(), out2)
    assert merged.samples == 12 and pq.ParquetFile(out2).metadata.num_row_groups == 1
    assert in_order(pl.read_parquet(out2))
