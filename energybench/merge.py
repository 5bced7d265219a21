"""``collect``'s steps: one run's shards -> validated samples and epochs; all epochs -> the runs table.

Every shard is decoded in full; a shard that cannot be trusted is quarantined
with a one-line reason and never modified. The common case is fast: the
shards of a run whose footers carry this schema version are decoded together
by polars and their column types checked against the contract; anything
unusual (another version, a cast needed, a decoding error) is read again one
file at a time through :func:`energybench.shards.read_shard`, which owns the
checks and their messages.

A run whose samples are one shard with exactly the contract's schema, in
order and without duplicates, enters the dataset as that very file: a hard
link (a copy where the filesystem has none). Shards are immutable (written
once through a rename and never modified), so the link cannot change under
the dataset; it costs no time and no disk. Only runs with several shards
(resumed, or torn by a crash while compacting) are sorted, de-duplicated and
written again.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from .paths import RunPaths, read_json
from .schema import EPOCH_SCHEMA, RUN_SCHEMA, SAMPLE_SCHEMA, SCHEMA_VERSION, VERSION_KEY, with_version
from .shards import ShardError, read_shard
from .status import run_state

_VERSION_KEY, _VERSION = VERSION_KEY.decode(), str(SCHEMA_VERSION)
#: Columns of ``runs.parquet`` computed from the merged epochs; the rest come from spec, record and markers.
EPOCH_STAT_COLUMNS = ("epochs", "threshold_epoch", "best_val_accuracy", "duration_s", "energy_j", "net_energy_j")
RUN_META_SCHEMA = pa.schema([f for f in RUN_SCHEMA if f.name not in EPOCH_STAT_COLUMNS]
                            + [pa.field("threshold_frac", pa.float64())])
_STRING_COLUMNS = [f.name for f in SAMPLE_SCHEMA if f.type == pa.string()]


@lru_cache(maxsize=None)
def _polars_schema(schema: pa.Schema) -> pl.Schema:
    return pl.from_arrow(schema.empty_table()).schema  # type: ignore[union-attr]


@dataclass
class MergedRun:
    """One run, merged: its metadata row, its epochs (every attempt), what was read and written."""

    meta: dict[str, Any]
    epochs: pl.DataFrame | None = None
    shards: int = 0
    samples: int = 0
    quarantined: list[dict[str, str]] = field(default_factory=list)


def _current_version(path: Path) -> bool:
    try:
        return pl.read_parquet_metadata(path).get(_VERSION_KEY) == _VERSION
    except Exception:  # noqa: BLE001 - read_shard names the problem
        return False


def _read(paths: list[Path], schema: pa.Schema) -> pl.DataFrame | None:
    """``paths`` decoded together by polars in the contract's types, or None when anything is unusual."""
    try:
        frame = pl.read_parquet([str(p) for p in paths], columns=schema.names, hive_partitioning=False, glob=False)
    except Exception:  # noqa: BLE001 - each file is then read on its own
        return None
    return frame if frame.schema == _polars_schema(schema) else None


def read_shards(paths: list[Path], schema: pa.Schema, merged: MergedRun) -> pl.DataFrame | None:
    """The shards of ``paths`` that can be trusted, concatenated in order (None if none).

    The others are added to ``merged.quarantined`` with their reason.
    """
    merged.shards += len(paths)
    if not paths:
        return None
    if all(_current_version(p) for p in paths) and (frame := _read(paths, schema)) is not None:
        return frame
    frames = []
    for path in paths:
        frame = _read([path], schema) if _current_version(path) else None
        if frame is None:
            try:
                frame = pl.from_arrow(read_shard(path, schema))  # type: ignore[assignment]
            except ShardError as exc:
                merged.quarantined.append({"path": str(path), "reason": str(exc)})
                continue
        frames.append(frame)
    return pl.concat(frames, how="vertical") if frames else None


def in_order(samples: pl.DataFrame) -> bool:
    """True when rows are sorted by (attempt, time_s) with no repeated pair."""
    a, t = samples["attempt"].to_numpy(), samples["time_s"].to_numpy()
    return bool(np.all((a[1:] > a[:-1]) | ((a[1:] == a[:-1]) & (t[1:] > t[:-1]))))


def dedup_samples(samples: pl.DataFrame) -> pl.DataFrame:
    """Sorted by (attempt, time_s), each pair once (a part re-read after an interrupted compaction)."""
    if in_order(samples):
        return samples
    samples = samples.sort(["attempt", "time_s"], maintain_order=True)
    repeated = (pl.col("attempt") == pl.col("attempt").shift()) & (pl.col("time_s") == pl.col("time_s").shift())
    return samples.filter(~repeated.fill_null(False))


def _exact_file(path: Path, schema: pa.Schema) -> bool:
    """True when the file's own schema is the contract's, so the file can serve as the dataset's as is."""
    try:
        return pq.read_metadata(path).schema.to_arrow_schema().remove_metadata().equals(schema)
    except Exception:  # noqa: BLE001 - then it is written afresh
        return False


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _write_samples(path: Path, samples: pl.DataFrame) -> None:
    """Samples in the contract's types, zstd; dictionary-encoded strings only (floats do not repeat)."""
    table = samples.to_arrow().select(SAMPLE_SCHEMA.names).cast(SAMPLE_SCHEMA)
    pq.write_table(table.replace_schema_metadata(with_version(SAMPLE_SCHEMA).metadata), path,
                   compression="zstd", use_dictionary=_STRING_COLUMNS)


def run_meta(spec: dict[str, Any], run: RunPaths, state: str, reason: str | None) -> dict[str, Any]:
    """The run's ``runs.parquet`` columns that do not come from its epochs (spec, record, markers)."""
    rec = read_json(run.record) if run.record.exists() else {}
    started = read_json(run.started) if run.started.exists() else {}
    return {
        **{k: spec[k] for k in ("run_id", "experiment", "dataset", "paradigm", "setup", "batch_size",
                                "learning_rate", "repeat", "hardware")},
        "meter": rec.get("meter") or spec["meter"]["kind"],
        "status": state,
        "stop_reason": rec.get("stop_reason") if state == "COMPLETED" else (f"failed: {reason}" if reason else None),
        "idle_power_w": rec.get("idle_power_w"),
        "attempts": int(started.get("attempt", rec.get("attempts", 0)) or 0),
        "device": rec.get("provenance", {}).get("device", spec["training"]["device"]),
        "host": started.get("host"),
        "data_synthetic": bool(rec.get("data_synthetic", False)),
        **{k: rec.get(k) for k in ("params_total", "params_trainable", "buffers_bytes",
                                   "model_size_bytes", "macs_per_sample")},
        "threshold_frac": spec["early_stopping"]["threshold"],
    }


def merge_run(spec: dict[str, Any], run: RunPaths, now: float, samples_out: Path) -> MergedRun:
    """Merge one run: its epochs kept in memory, its samples written to ``samples_out`` (one file, or none)."""
    state = run_state(spec, run, now)
    merged = MergedRun(meta=run_meta(spec, run, state.state, state.reason))
    merged.epochs = read_shards(run.epoch_shards(), EPOCH_SCHEMA, merged)
    files = run.sample_files()
    samples = read_shards(files, SAMPLE_SCHEMA, merged)
    if samples is not None and samples.height:
        samples_out.parent.mkdir(parents=True, exist_ok=True)
        if len(files) == 1 and not merged.quarantined and in_order(samples) and _exact_file(files[0], SAMPLE_SCHEMA):
            _link_or_copy(files[0], samples_out)
        else:
            samples = dedup_samples(samples)
            _write_samples(samples_out, samples)
        merged.samples = samples.height
    return merged


def latest_attempt(epochs: pl.DataFrame) -> pl.DataFrame:
    """One row per run and epoch: the one of the highest attempt (then the latest start), sorted."""
    return (epochs.sort(["run_id", "epoch", "attempt", "start_s"], descending=[False, False, True, True],
                        maintain_order=True)
            .unique(subset=["run_id", "epoch"], keep="first", maintain_order=True))


def runs_table(metas: list[dict[str, Any]], epochs: pl.DataFrame) -> pa.Table:
    """``runs.parquet``: each run's metadata joined with totals over its merged epochs, sorted by run id.

    ``epochs`` holds one row per run and epoch (:func:`latest_attempt`).
    """
    meta = pl.from_arrow(pa.Table.from_pylist(metas, schema=RUN_META_SCHEMA))
    assert isinstance(meta, pl.DataFrame)
    n, acc = pl.len(), pl.col("val_accuracy")
    stats = epochs.join(meta.select("run_id", "threshold_frac"), on="run_id").group_by("run_id").agg(
        n.alias("epochs"),
        pl.col("epoch").filter(acc >= pl.col("threshold_frac")).first().alias("threshold_epoch"),
        acc.max().alias("best_val_accuracy"),
        pl.col("duration_s").sum().alias("duration_s"),
        pl.when(pl.col("energy_j").count() > 0).then(pl.col("energy_j").sum()).alias("energy_j"),
        pl.when(pl.col("net_energy_j").count() == n).then(pl.col("net_energy_j").sum()).alias("net_energy_j"),
    )
    runs = meta.join(stats, on="run_id", how="left").with_columns(
        pl.col("epochs").fill_null(0), pl.col("duration_s").fill_null(0.0)
    ).sort("run_id")
    return runs.to_arrow().select(RUN_SCHEMA.names).cast(RUN_SCHEMA)
