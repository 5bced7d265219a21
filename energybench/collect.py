"""``collect``: every run directory's shards -> one validated dataset, then the tables.

Runs ran on many nodes of a shared filesystem; each has its own shards. The
collector discovers the runs from the plan (run directories not in the plan
are reported in one line and left alone), validates every shard (schema
version, columns), quarantines what it cannot trust with a one-line reason
(never deleting anything), de-duplicates attempts (a resumed run's epochs
appear once: the latest attempt wins) and writes the dataset into a temporary
directory that replaces ``dataset/`` atomically, under a lock. Epochs (small)
are read together first; samples one run at a time, so memory is bounded by
the largest runs, not the study (``make bench``: 0.4 GB for 25 million
samples). Samples are partitioned by hardware and dataset. A small thread pool
overlaps one run's file-system waits with another's decoding; results are
consumed in plan order, so the output does not depend on timing.
:mod:`energybench.merge` says how each run is validated and written.
Progress: a bar on a terminal's stderr, else a line every 50 runs.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import conversions
from .config import Report
from .errors import EnergybenchError, ResultsError
from .merge import MergedRun, ShardLog, merge_run, read_epochs, runs_table, write_dataset_table
from .paths import DatasetPaths, ResultsLayout, write_json
from .progress import RunProgress
from .schema import EPOCH_SCHEMA, RUN_SCHEMA, SEARCH_SCHEMA, describe
from .search.record import cost_table, decision_rows, decisions_frame, rung_table, with_rungs
from .planfile import load_plan
from .status import current_states

#: Runs merged at once: enough to keep the cores busy while some threads wait on the filesystem.
DEFAULT_WORKERS = min(4, os.cpu_count() or 1)


@dataclass
class CollectReport:
    """What ``collect`` did."""

    runs: int = 0
    epochs: int = 0
    samples: int = 0
    shards: int = 0
    quarantined: list[dict[str, str]] = field(default_factory=list)
    unplanned: list[str] = field(default_factory=list)
    dataset_dir: Path | None = None
    scheduler_energy: str | None = None  # what sacct's ConsumedEnergyRaw said (SLURM directories)


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _samples_file(out: DatasetPaths, spec: dict[str, Any]) -> Path:
    """Where one run's samples go: partitioned by hardware and dataset (hive style)."""
    return out.samples_dir / f"hardware={spec['hardware']}" / f"dataset={spec['dataset']}" / f"{spec['run_id']}.parquet"


def _unplanned_line(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"collect: {len(names)} run directories not in plan.json, not collected: {shown}"


def _merge_all(layout: ResultsLayout, specs: list[dict[str, Any]], out: DatasetPaths, workers: int,
               progress: RunProgress) -> Iterator[MergedRun]:
    """Merge every planned run (``workers`` at a time), yielding them in plan order.

    Run states are ``status``'s: markers joined with one (cached) scheduler
    query on SLURM, so a job killed without a marker is FAILED here too.
    """
    now = time.time()
    states = {st.run_id: st for st in current_states(layout)[0]}
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="collect")
    try:
        for merged in pool.map(lambda s: merge_run(s, layout.run(s["run_id"]), now, _samples_file(out, s),
                                                   states.get(s["run_id"])), specs):
            progress.advance(merged.shards, merged.samples)
            yield merged
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def collect(results_dir: Path, echo: Callable[[str], None] = print, warn: Callable[[str], None] = print, *,
            progress: bool | None = None, workers: int = DEFAULT_WORKERS) -> CollectReport:
    """Merge every run's shards into ``results_dir/dataset`` and recompute the tables.

    ``progress``: show a bar (True), periodic lines through ``echo`` (False), or
    a bar only when stderr is a terminal (None).
    """
    layout = ResultsLayout(results_dir)
    specs = load_plan(layout)
    report = CollectReport()
    planned = {s["run_id"] for s in specs}
    report.unplanned = [r.dir.name for r in layout.run_dirs() if r.dir.name not in planned]
    if report.unplanned:
        warn(_unplanned_line(report.unplanned))
    with _lock(layout.collect_lock):
        tmp = layout.dataset_staging(os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        out = DatasetPaths(tmp)
        try:
            metas = []
            with RunProgress(len(specs), "collect", echo, tty=progress) as bar:

                def tally(log: ShardLog) -> None:
                    report.shards += log.shards
                    for q in log.quarantined:
                        report.quarantined.append(q)
                        bar.note(f"quarantined: {q['reason']}", warn)

                epochs_log = ShardLog()
                epochs = with_rungs(read_epochs([layout.run(s["run_id"]) for s in specs], epochs_log), specs)
                tally(epochs_log)
                bar.advance(shards=epochs_log.shards, runs=0)
                for merged in _merge_all(layout, specs, out, workers, bar):
                    tally(merged)
                    metas.append(merged.meta)
                    report.samples += merged.samples
            report.scheduler_energy = _scheduler_energy(layout, metas)
            runs_t, epochs_t = runs_table(metas, epochs), epochs.to_arrow()
            write_dataset_table(out.runs, runs_t, RUN_SCHEMA)
            write_dataset_table(out.epochs, epochs_t, EPOCH_SCHEMA)
            decisions = decision_rows(layout)
            if decisions:
                write_dataset_table(out.search, decisions_frame(decisions).to_arrow(), SEARCH_SCHEMA)
            out.samples_dir.mkdir(parents=True, exist_ok=True)
            write_json(out.schema, describe())
            write_json(out.quarantine, report.quarantined)
            _swap(tmp, layout.dataset_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        report.runs, report.epochs = runs_t.num_rows, epochs_t.num_rows
        report.dataset_dir = layout.dataset_dir
        from .tables import compute_tables, load_dataset, write_tables

        tables = compute_tables(*load_dataset(layout.dataset_dir))
        settings = report_settings(layout)
        if settings is not None and conversions.enabled(settings):
            tables["conversions"] = conversions.conversions(tables["total_energy"], settings)
        search_file = DatasetPaths(layout.dataset_dir).search
        if search_file.exists():
            import polars as pl

            runs_df, epochs_df = load_dataset(layout.dataset_dir)
            decided = pl.read_parquet(search_file)
            tables["search_rungs"] = rung_table(epochs_df, decided)
            tables["search_cost"] = cost_table(runs_df, epochs_df, specs)
        write_tables(tables, layout.tables_dir)
    return report


def report_settings(layout: ResultsLayout) -> Report | None:
    """The ``report:`` section of the directory's ``experiment.yaml`` (PUE, carbon intensity); None without one."""
    from .config import load_config

    if not layout.experiment.is_file():
        return None
    try:
        return load_config(layout.experiment).report
    except EnergybenchError:  # a config edited since: the measured tables do not depend on it
        return None


def _scheduler_energy(layout: ResultsLayout, metas: list[dict]) -> str:
    """Fill each SLURM run's ``sched_energy_j`` from sacct's ConsumedEnergyRaw; a note on what was found."""
    from .slurm.accounting import consumed_energy
    from .slurm.manifest import Manifest

    if not layout.manifest.exists():
        return "not asked (no SLURM jobs in this directory)"
    manifest = Manifest.load(layout.manifest)
    try:
        energy = consumed_energy(manifest.array_job_ids())
    except EnergybenchError as exc:
        return f"not asked ({str(exc).splitlines()[0]})"
    jobs = manifest.jobs()
    for meta in metas:
        ref = jobs.get(meta["run_id"])
        meta["sched_energy_j"] = energy.get(ref.job_id) if ref is not None else None
    n = sum(m.get("sched_energy_j") is not None for m in metas)
    return f"{n} of {len(jobs)} jobs accounted" if n else "not accounted (no energy plugin on this cluster)"


def _swap(new: Path, target: Path) -> None:
    """Replace directory ``target`` by ``new`` (rename-based; readers see old or new)."""
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if target.exists():
        target.rename(old)
    new.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def recompute_tables(dataset_dir: Path, out_dir: Path | None = None) -> list[Path]:
    """``energybench tables``: the tables from a dataset directory alone."""
    from .tables import compute_tables, load_dataset, require_completed, write_tables

    if not DatasetPaths(dataset_dir).runs.exists():
        raise ResultsError(f"{dataset_dir}: no runs.parquet here; point at a dataset directory "
                           "(DIR/dataset) or run `energybench collect DIR` first")
    out = out_dir if out_dir is not None else Path(dataset_dir).parent / "tables"
    runs, epochs = load_dataset(Path(dataset_dir))
    require_completed(runs, Path(dataset_dir))
    return write_tables(compute_tables(runs, epochs), out)
