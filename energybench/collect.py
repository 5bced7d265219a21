"""``collect``: every run directory's shards -> one validated dataset, then the tables.

Runs ran on many nodes of a shared filesystem; each has its own shards. The
collector validates every shard (schema version, columns), quarantines what it
cannot trust with a one-line reason (never deleting anything), de-duplicates
attempts (a resumed run's epochs appear once: the latest attempt wins), and
writes the dataset one run at a time (bounded memory) into a temporary
directory that replaces ``dataset/`` atomically, under a lock.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ResultsError
from .paths import DatasetPaths, ResultsLayout, RunPaths, read_json, write_json
from .schema import EPOCH_SCHEMA, RUN_SCHEMA, SAMPLE_SCHEMA, describe
from .shards import ShardError, read_shard, write_table
from .status import load_plan, run_state


@dataclass
class CollectReport:
    """What ``collect`` did."""

    runs: int = 0
    epochs: int = 0
    samples: int = 0
    quarantined: list[dict[str, str]] = field(default_factory=list)
    dataset_dir: Path | None = None


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _read_all(paths: list[Path], schema: pa.Schema, report: CollectReport,
              warn: Callable[[str], None]) -> pa.Table | None:
    tables = []
    for p in paths:
        try:
            tables.append(read_shard(p, schema))
        except ShardError as exc:
            report.quarantined.append({"path": str(p), "reason": str(exc)})
            warn(f"quarantined: {exc}")
    return pa.concat_tables(tables) if tables else None


def _latest_attempt(table: pa.Table, keys: list[str]) -> pa.Table:
    """Keep one row per ``keys``: the one of the highest attempt (then latest time)."""
    if table.num_rows == 0:
        return table
    order = [(k, "ascending") for k in keys] + [("attempt", "descending")]
    table = table.sort_by(order)
    cols = [table.column(k).to_pylist() for k in keys]
    keep, prev = [], None
    for i, key in enumerate(zip(*cols)):
        if key != prev:
            keep.append(i)
            prev = key
    return table.take(pa.array(keep, pa.int64()))


def _run_row(spec: dict[str, Any], run: RunPaths, epochs: pa.Table | None, state: str,
             reason: str | None) -> dict[str, Any]:
    rec = read_json(run.record) if run.record.exists() else {}
    ep = epochs.to_pylist() if epochs is not None else []
    energies = [e["energy_j"] for e in ep if e["energy_j"] is not None]
    nets = [e["net_energy_j"] for e in ep if e["net_energy_j"] is not None]
    accs = [(e["epoch"], e["val_accuracy"]) for e in ep if e["val_accuracy"] is not None]
    thr = spec["early_stopping"]["threshold"]
    started = read_json(run.started) if run.started.exists() else {}
    return {
        **{k: spec[k] for k in ("run_id", "experiment", "dataset", "paradigm", "setup", "batch_size",
                                "learning_rate", "repeat", "hardware")},
        "meter": rec.get("meter") or spec["meter"]["kind"],
        "status": state,
        "epochs": len(ep),
        "threshold_epoch": next((e for e, a in accs if a >= thr), None),
        "stop_reason": rec.get("stop_reason") if state == "COMPLETED" else (f"failed: {reason}" if reason else None),
        "best_val_accuracy": max((a for _, a in accs), default=None),
        "duration_s": float(sum(e["duration_s"] for e in ep)),
        "energy_j": float(sum(energies)) if energies else None,
        "idle_power_w": rec.get("idle_power_w"),
        "net_energy_j": float(sum(nets)) if nets and len(nets) == len(ep) else None,
        "attempts": int(started.get("attempt", rec.get("attempts", 0)) or 0),
        "device": rec.get("provenance", {}).get("device", spec["training"]["device"]),
        "host": started.get("host"),
        "data_synthetic": bool(rec.get("data_synthetic", False)),
        **{k: rec.get(k) for k in ("params_total", "params_trainable", "buffers_bytes",
                                   "model_size_bytes", "macs_per_sample", "n_train_samples",
                                   "n_val_samples", "input_size")},
        "gpu_name": rec.get("provenance", {}).get("gpu_name"),
    }


def collect(results_dir: Path, echo: Callable[[str], None] = print,
            warn: Callable[[str], None] = print) -> CollectReport:
    """Merge every run's shards into ``results_dir/dataset`` and recompute the tables."""
    layout = ResultsLayout(results_dir)
    specs = load_plan(layout)
    report = CollectReport()
    with _lock(layout.root / ".collect.lock"):
        tmp = layout.root / f".dataset.tmp-{os.getpid()}"
        shutil.rmtree(tmp, ignore_errors=True)
        out = DatasetPaths(tmp)
        run_rows, epoch_tables = [], []
        now = time.time()
        for i, spec in enumerate(specs, 1):
            run = layout.run(spec["run_id"])
            state = run_state(spec, run, now)
            epochs = _read_all(run.epoch_shards(), EPOCH_SCHEMA, report, warn)
            if epochs is not None:
                epochs = _latest_attempt(epochs, ["epoch"])
                epoch_tables.append(epochs)
            samples = _read_all(run.sample_files(), SAMPLE_SCHEMA, report, warn)
            if samples is not None and samples.num_rows:
                samples = _dedup_samples(samples.sort_by([("attempt", "ascending"), ("time_s", "ascending")]))
                part = out.samples_dir / f"hardware={spec['hardware']}" / f"dataset={spec['dataset']}"
                part.mkdir(parents=True, exist_ok=True)
                pq.write_table(samples, part / f"{spec['run_id']}.parquet", compression="zstd")
                report.samples += samples.num_rows
            run_rows.append(_run_row(spec, run, epochs, state.state, state.reason))
            if i % 50 == 0 or i == len(specs):
                echo(f"collect: {i}/{len(specs)} runs read")
        runs_t = pa.Table.from_pylist(sorted(run_rows, key=lambda r: r["run_id"]), schema=RUN_SCHEMA)
        epochs_t = (pa.concat_tables(epoch_tables) if epoch_tables else EPOCH_SCHEMA.empty_table())
        epochs_t = epochs_t.sort_by([("run_id", "ascending"), ("epoch", "ascending")])
        write_table(out.runs, runs_t, RUN_SCHEMA)
        write_table(out.epochs, epochs_t, EPOCH_SCHEMA)
        out.samples_dir.mkdir(parents=True, exist_ok=True)
        write_json(out.schema, describe())
        write_json(tmp / "quarantine.json", report.quarantined)
        _swap(tmp, layout.dataset_dir)
        report.runs, report.epochs = runs_t.num_rows, epochs_t.num_rows
        report.dataset_dir = layout.dataset_dir
        from .tables import compute_tables, load_dataset, write_tables

        write_tables(compute_tables(*load_dataset(layout.dataset_dir)), layout.tables_dir)
    return report


def _dedup_samples(table: pa.Table) -> pa.Table:
    """Drop repeated (attempt, time_s) rows (a part re-read after an interrupted compaction)."""
    t = table.column("time_s")
    a = table.column("attempt")
    if table.num_rows < 2:
        return table
    same_t = pc.equal(t.slice(1), t.slice(0, table.num_rows - 1))
    same_a = pc.equal(a.slice(1), a.slice(0, table.num_rows - 1))
    keep = pc.invert(pc.and_(same_t, same_a)).combine_chunks()
    return table.filter(pa.concat_arrays([pa.array([True]), keep]))


def _swap(new: Path, target: Path) -> None:
    """Replace directory ``target`` by ``new`` (rename-based; readers see old or new)."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recompute_tables(dataset_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """``energybench tables``: the tables from a dataset directory alone."""
    from .tables import compute_tables, load_dataset, write_tables

    if not DatasetPaths(dataset_dir).runs.exists():
        raise ResultsError(f"{dataset_dir}: no runs.parquet here; point at a dataset directory "
                           "(DIR/dataset) or run `energybench collect DIR` first")
    out = out_dir if out_dir is not None else Path(dataset_dir).parent / "tables"
    return write_tables(compute_tables(*load_dataset(Path(dataset_dir))), out)
