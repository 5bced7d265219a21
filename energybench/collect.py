"""``collect``: every run directory's shards -> one validated dataset, then the tables.

Runs ran on many nodes of a shared filesystem; each has its own shards. The
collector discovers the runs from the plan (run directories not in the plan
are reported in one line and left alone), validates every shard (schema
version, columns), quarantines what it cannot trust with a one-line reason
(never deleting anything), de-duplicates attempts (a resumed run's epochs
appear once: the latest attempt wins) and writes the dataset into a temporary
directory that replaces ``dataset/`` atomically, under a lock. Epochs (small)
are read together; samples one run at a time, so memory is bounded by the
largest runs, not the study (``make bench``: 1.3 GiB for 250 million samples).
Samples are partitioned by hardware and dataset. A small thread pool overlaps
one run's file-system waits with another's decoding; results are consumed in
plan order, so the output does not depend on timing.
:mod:`energybench.merge` says how each run is validated and written.

Incremental: ``dataset/.merged.json`` records what each run was merged from
(a digest of its shards' and markers' inode, size and mtime, its state) and
what came out. The next collect reads again only the runs whose files differ;
the others keep their samples file (a hard link into the new dataset), epochs
and row. ``epochs.parquet`` is written in row groups of 16 runs
(:mod:`energybench.collect_epochs`): only the row groups of changed runs are
decoded and encoded again, the others are copied as they are. The tables are
computed from each run's epoch summary (:func:`energybench.tables.epoch_summary`,
``dataset/.epoch-summary.parquet``), of which only the changed runs' rows are
computed again: the previous epochs are not decoded at all. The result is the
dataset a full collect would write. A previous dataset of
another format, schema, energybench version or plan, or whose tables are not
those recorded, is not reused (``--full`` forces that). Progress: a bar on a
terminal's stderr, else a line every 50 runs.
"""

from __future__ import annotations

import fcntl
import gc
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from . import __version__, collect_plan
from .errors import EnergybenchError, ResultsError, SubmitError
from .collect_epochs import Blocks
from .merge import (FileStat, MergedRun, RunDirs, RunFiles, ShardLog, dirs_stat, file_stat, link_or_copy,
                    merge_run, read_dataset_file, read_epochs, replace_runs, run_files, run_meta, runs_table,
                    write_dataset_table)
from .paths import DatasetPaths, ResultsLayout, write_json
from .progress import RunProgress
from .schema import EPOCH_SCHEMA, RUN_SCHEMA, SCHEMA_VERSION, SEARCH_SCHEMA, describe
from .planfile import load_plan
from .states import State
from .status import DEFAULT_LOST_AFTER_S, RunState, run_state

if TYPE_CHECKING:  # pydantic (the config, searches) is imported only where a results directory needs it
    from .config import Report

#: Runs merged at once: two per core, so one run's file-system waits and interpreter-held steps overlap
#: another's decoding (at 10x the study on 2 cores, 4 threads beat 2 by about a fifth).
DEFAULT_WORKERS = min(8, 2 * (os.cpu_count() or 1))
#: Bumped when what collect writes for a run changes: a dataset of another format is not reused.
MERGED_FORMAT = 3
#: A run directory changed less than this before a collect (by the filesystem's clock) is listed again by the
#: next one, whatever its mtime says (seconds; a margin for coarse timestamps and clock steps).
SETTLED_S = 1.0


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
    reused: int = 0  # runs taken unchanged from the previous dataset
    full_reason: str | None = None  # why every run was merged again; None for an incremental collect


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
    return Path(_samples_path(str(out.samples_dir), spec))


def _samples_path(samples_dir: str, spec: dict[str, Any]) -> str:
    """:func:`_samples_file` as a string, for the loops over every kept run (a Path costs more than the link)."""
    return f"{samples_dir}/hardware={spec['hardware']}/dataset={spec['dataset']}/{spec['run_id']}.parquet"


def _unplanned_line(names: list[str]) -> str:
    shown = ", ".join(names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
    return f"collect: {len(names)} run directories not in plan.json, not collected: {shown}"


@contextmanager
def _merging(layout: ResultsLayout, specs: list[dict[str, Any]], out: DatasetPaths, workers: int,
             states: dict[str, RunState]) -> Iterator[Iterator[MergedRun]]:
    """Start merging the runs of ``specs`` (``workers`` at a time); yields their results, in plan order.

    The runs are submitted at once, so the caller's own work overlaps them.
    """
    now = time.time()
    pool = ThreadPoolExecutor(max(1, workers), thread_name_prefix="collect")
    try:
        yield pool.map(lambda s: merge_run(s, layout.run(s["run_id"]), now, _samples_file(out, s),
                                           states[s["run_id"]]), specs)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


@dataclass
class _Previous:
    """The dataset the last ``collect`` wrote, of this format and as recorded: what can be reused from it."""

    paths: DatasetPaths
    runs: dict[str, dict[str, Any]]  # run id -> its entry in the manifest (:func:`_entry`)
    runs_table: pa.Table
    summary: pl.DataFrame  # each run's epoch summary (:func:`energybench.tables.epoch_summary`)
    epochs_index: dict[str, Any] | None = None  # the row groups of its ``epochs.parquet`` (:mod:`.collect_epochs`)
    plan_index: Any = None  # where each run lies in ``plan.json`` (:mod:`.collect_plan`)
    samples_dir: str = ""  # ``paths.samples_dir`` as a string, for :func:`_samples_path`

    def __post_init__(self) -> None:
        self.samples_dir = str(self.paths.samples_dir)

    def reusable(self, spec: dict[str, Any], files: str) -> bool:
        """True when the run's files are those merged last time and its samples file is still the one written."""
        entry = self.runs.get(spec["run_id"])
        if entry is None or entry["files"] != files:
            return False
        return entry["output"] is None or file_stat(_samples_path(self.samples_dir, spec)) == entry["output"]

    def epochs(self) -> pl.DataFrame:
        """The previous ``epochs.parquet`` (its bytes are those recorded, so it decodes as it did)."""
        epochs = read_dataset_file(self.paths.epochs, EPOCH_SCHEMA)
        if epochs is None:
            raise ResultsError(f"{self.paths.epochs}: unreadable although unchanged; run `energybench collect "
                               "--full` to merge every run again")
        return epochs


def _header(plan_sha256: str) -> dict[str, Any]:
    """What two collects must share for the outputs of the first to serve the second."""
    return {"format": MERGED_FORMAT, "schema_version": SCHEMA_VERSION, "energybench": __version__,
            "plan_sha256": plan_sha256}


def _previous(layout: ResultsLayout, plan_sha256: str) -> tuple[_Previous | None, str | None]:
    """The previous dataset where it can be reused, else None and why not (the reason a full collect is made)."""
    ds = DatasetPaths(layout.dataset_dir)
    if not ds.merged.is_file():
        return None, ("no previous dataset" if not ds.runs.exists()
                      else f"the previous dataset has no {ds.merged.name}")
    try:
        manifest = json.loads(ds.merged.read_text())
        for key, value in _header(plan_sha256).items():
            if manifest.get(key) != value:
                return None, f"the previous dataset's {key} is {manifest.get(key)!r}, now {value!r}"
        # Written through the swap: a change gives another inode or mtime.
        for path in (ds.runs, ds.epochs, ds.epoch_summary):
            if file_stat(path) != manifest["tables"][path.name]:
                return None, f"{path} changed since the last collect"
        entries = manifest["runs"]
        if not all(isinstance(e, dict) and _ENTRY_KEYS <= e.keys() for e in entries.values()):
            raise ValueError("a run's entry lacks some of " + ", ".join(sorted(_ENTRY_KEYS)))
        runs = read_dataset_file(ds.runs, RUN_SCHEMA)
        summary = pl.read_parquet(ds.epoch_summary)
    except (OSError, ValueError, KeyError, TypeError, AttributeError, pl.exceptions.PolarsError) as exc:
        return None, f"{ds.merged} unreadable ({type(exc).__name__}: {str(exc)[:80]})"
    if runs is None:
        return None, f"{ds.runs} unreadable or of other columns"
    from .tables import EPOCH_SUMMARY

    if summary.schema != pl.Schema(EPOCH_SUMMARY):
        return None, f"{ds.epoch_summary} of other columns"
    index = manifest.get("epochs")
    return _Previous(ds, entries, runs.to_arrow().cast(RUN_SCHEMA), summary, index if isinstance(index, dict) else None,
                     manifest.get("plan")), None


def _files_key(files: RunFiles) -> str:
    """A digest of ``files`` in a canonical form: only ever compared, and 32 characters in the manifest instead
    of a run's whole listing (at 10x the study the listings made the manifest 14 MB to parse and write)."""
    return hashlib.blake2b(json.dumps(files, sort_keys=True, separators=(",", ":")).encode(),
                           digest_size=16).hexdigest()


def _scan(layout: ResultsLayout, specs: list[dict[str, Any]], previous: _Previous | None,
          settled_ns: int) -> tuple[dict[str, str], dict[str, RunDirs | None]]:
    """Every run's files (:func:`_files_key`), and its directories' stats where they settled before ``settled_ns``.

    Every shard and marker is written through a rename in its directory, which moves the directory's
    mtime: a run whose two directories are as the manifest recorded them has the files it recorded, and
    costs two ``stat`` calls, not one per file (on NFS each is a round trip). Like git's "racy" index
    entries, directories changed too recently (``settled_ns``) are not recorded: a change in the same
    clock tick would leave the mtime as it was.
    """
    files: dict[str, str] = {}
    dirs: dict[str, RunDirs | None] = {}
    runs_dir = str(layout.runs_dir)
    samples = os.path.relpath(layout.run("r").samples_dir, layout.run("r").dir)
    for s in specs:
        rid = s["run_id"]
        base = f"{runs_dir}/{rid}"  # strings, not paths: 6,720 runs
        now = dirs_stat(base, f"{base}/{samples}")  # before the files: a change while they are listed differs next time
        entry = previous.runs.get(rid) if previous is not None else None
        files[rid] = (entry["files"] if entry is not None and entry["dirs"] == now
                      else _files_key(run_files(layout.run(rid))))
        dirs[rid] = now if all(d is None or d[1] < settled_ns for d in now.values()) else None
    return files, dirs


def _states(layout: ResultsLayout, specs: list[dict[str, Any]]) -> dict[str, RunState]:
    """``status``'s state of each run of ``specs``: its markers, joined with one (cached) scheduler query on
    SLURM (as :func:`energybench.status.current_states`, for these runs only)."""
    from .slurm.accounting import scheduler_view
    from .slurm.manifest import Manifest

    if not specs:
        return {}
    manifest = Manifest.load(layout.manifest)
    view = None
    if manifest.array_job_ids():
        try:
            view = scheduler_view(manifest.array_job_ids(), layout.scheduler_cache)
        except SubmitError:
            pass  # the markers alone decide, as for ``status``
    jobs, now = manifest.jobs(), time.time()
    out = {}
    for s in specs:
        job = jobs.get(s["run_id"])
        record = view.get(job.job_id) if (view is not None and job is not None) else None
        out[s["run_id"]] = run_state(s, layout.run(s["run_id"]), now, DEFAULT_LOST_AFTER_S, job, record,
                                     view is not None, view is not None and view.queue_complete)
    return out


def _entry(files: str, dirs: RunDirs | None, state: list[str | None], samples: int, output: FileStat | None,
           quarantined_epochs: list[dict[str, str]], quarantined_samples: list[dict[str, str]]) -> dict[str, Any]:
    """One run's entry in ``.merged.json``: the files it was merged from and what came out."""
    return {"files": files, "dirs": dirs, "state": state, "samples": samples, "output": output,
            "quarantined_epochs": quarantined_epochs, "quarantined_samples": quarantined_samples}


_ENTRY_KEYS = frozenset(_entry("", None, [], 0, None, [], []))
#: A completed run stays so while its files do (the worker's ``done.json`` always wins in ``status``).
_COMPLETED = [State.COMPLETED.value, None]


def collect(results_dir: Path, echo: Callable[[str], None] = print, warn: Callable[[str], None] = print, *,
            progress: bool | None = None, workers: int = DEFAULT_WORKERS, full: bool = False) -> CollectReport:
    """Merge every run's shards into ``results_dir/dataset`` and recompute the tables.

    Incremental: a run whose files are those the previous dataset was merged from (its ``.merged.json``)
    keeps its samples file, epochs and row; only the others are read. ``full``: read every run again.
    ``progress``: show a bar (True), periodic lines through ``echo`` (False), or a bar only when stderr
    is a terminal (None).
    """
    with _no_gc():
        return _collect(results_dir, echo, warn, progress, workers, full)


@contextmanager
def _no_gc() -> Iterator[None]:
    """Without the cyclic garbage collector meanwhile: the plan's and the manifest's objects (a few hundred
    thousand at 10x the study) live until the end, and its passes over them cost about 5 % of an incremental
    collect's CPU (``perf``). Nothing collect makes depends on cycles being freed early."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _collect(results_dir: Path, echo: Callable[[str], None], warn: Callable[[str], None], progress: bool | None,
             workers: int, full: bool) -> CollectReport:
    # The tables' module (and the workloads registry it asks which workloads pair up) imported meanwhile.
    with ThreadPoolExecutor(1, thread_name_prefix="collect-warm") as warm:
        return _collect_with(results_dir, echo, warn, progress, workers, full, warm.submit(_warm_tables))


def _warm_tables() -> None:
    from .tables import multitask_types, transfer_roles

    transfer_roles()
    multitask_types()


def _collect_with(results_dir: Path, echo: Callable[[str], None], warn: Callable[[str], None], progress: bool | None,
                  workers: int, full: bool, warmed: Future[None]) -> CollectReport:
    layout = ResultsLayout(results_dir)
    try:
        raw_plan = layout.plan.read_bytes()
    except OSError:
        load_plan(layout)  # the one-line error for a directory without a (readable) plan
        raise
    plan_sha256 = hashlib.sha256(raw_plan).hexdigest()
    report = CollectReport()
    with _lock(layout.collect_lock):
        tmp = layout.dataset_staging(os.getpid())
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        settled_ns = tmp.stat().st_mtime_ns - int(SETTLED_S * 1e9)  # the filesystem's clock, not ours
        out = DatasetPaths(tmp)
        old: Path | None = None
        try:
            previous, report.full_reason = (None, "--full") if full else _previous(layout, plan_sha256)
            plan = collect_plan.read(layout, raw_plan, previous.plan_index if previous is not None else None)
            specs = plan.specs  # where the previous dataset is reused: the kept runs' ids, hardware and dataset
            planned = {s["run_id"] for s in specs}
            report.unplanned = [name for name in _run_dir_names(layout) if name not in planned]
            if report.unplanned:
                warn(_unplanned_line(report.unplanned))
            # Files first, then states, then reading: a file that changes meanwhile differs from the manifest next time.
            files, dirs = _scan(layout, specs, previous, settled_ns)
            kept = [s for s in specs if previous is not None and previous.reusable(s, files[s["run_id"]])]
            kept_ids = {s["run_id"] for s in kept}
            report.reused = len(kept)
            if previous is not None:
                n = len(specs) - len(kept)
                echo(f"collect: {n} of {len(specs)} runs changed since the last collect"
                     + ("; reading those" if n else ""))
            elif report.full_reason not in ("no previous dataset", "--full"):
                echo(f"collect: reading every run ({report.full_reason})")
            read = [i for i, s in enumerate(specs) if s["run_id"] not in kept_ids
                    or previous.runs[s["run_id"]]["state"] != _COMPLETED]  # type: ignore[union-attr]
            for i in read:  # the runs whose rows are made: their whole specs (in place: ``kept`` holds them too)
                if plan.light:
                    specs[i].update(plan.spec(i))
            states = _states(layout, [specs[i] for i in read])
            entries, tables, epochs_index = _build(layout, specs, kept, previous, states, out, report, echo, warn,
                                                   progress, workers, warmed)
            for s in specs:
                entries[s["run_id"]] = _entry(files[s["run_id"]], dirs[s["run_id"]], **entries[s["run_id"]])
            write_json(out.schema, describe())
            write_json(out.quarantine, report.quarantined)
            manifest = {**_header(plan_sha256),
                        "tables": {p.name: file_stat(p) for p in (out.runs, out.epochs, out.epoch_summary)},
                        "epochs": epochs_index, "plan": plan.index(), "runs": entries}
            out.merged.write_text(json.dumps(manifest, separators=(",", ":"), sort_keys=True))  # 6,720 runs at 10x
            old = _swap(tmp, layout.dataset_dir)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        report.dataset_dir = layout.dataset_dir
        from .tables import write_tables

        with ThreadPoolExecutor(1, thread_name_prefix="collect-clean") as cleaner:
            if old is not None:  # the replaced dataset goes while the tables are written
                cleaner.submit(shutil.rmtree, old, True)
            write_tables(tables, layout.tables_dir)
    return report


def _run_dir_names(layout: ResultsLayout) -> list[str]:
    """The names of the directories under ``runs/``, sorted (names, not paths: 6,720 paths sort slowly)."""
    try:
        with os.scandir(layout.runs_dir) as entries:
            return sorted(e.name for e in entries if e.is_dir())
    except FileNotFoundError:
        return []


def _build(layout: ResultsLayout, specs: list[dict[str, Any]], kept: list[dict[str, Any]], previous: _Previous | None,
           states: dict[str, RunState], out: DatasetPaths, report: CollectReport, echo: Callable[[str], None],
           warn: Callable[[str], None], progress: bool | None, workers: int,
           warmed: Future[None]) -> tuple[dict[str, dict[str, Any]], dict[str, pl.DataFrame],
                                                             dict[str, Any] | None]:
    """Write the dataset into ``out``: the ``kept`` runs from ``previous``, the others from their shards.

    Returns what each run's manifest entry records, the tables computed from the dataset, and the index of
    its ``epochs.parquet`` (:mod:`.collect_epochs`).
    """
    kept_ids = {s["run_id"] for s in kept}
    changed = [s for s in specs if s["run_id"] not in kept_ids]
    q_epochs: dict[str, list[dict[str, str]]] = {}
    q_samples: dict[str, list[dict[str, str]]] = {}
    samples: dict[str, int] = {}
    state: dict[str, list[str | None]] = {rid: [st.state.value, st.reason] for rid, st in states.items()}
    metas, same = [], []
    # Reusing the previous dataset, the few runs merged share the cores with its reading and linking: one merge
    # thread per core (at 10x the study, 1 % of the runs changed: 2 threads took a tenth less time than 4).
    threads = min(workers, os.cpu_count() or 1) if kept else workers
    with RunProgress(len(specs), "collect", echo, tty=progress) as bar, \
            _merging(layout, changed, out, threads, states) as merged_runs, \
            ThreadPoolExecutor(1, thread_name_prefix="collect-write") as writer, \
            ThreadPoolExecutor(3, thread_name_prefix="collect-read") as helper:
        # The changed runs' epochs are read and the kept runs linked meanwhile (file-system calls, decoding).
        epochs_log = ShardLog()
        fresh = helper.submit(read_epochs, [layout.run(s["run_id"]) for s in changed], epochs_log)
        linked = helper.submit(_link_kept, kept, previous, out) if previous is not None and kept else None
        reused = _epochs_reusable(layout, specs, changed, previous)
        epochs = fresh.result()
        for q in epochs_log.quarantined:  # an epoch shard lies in its run's directory
            q_epochs.setdefault(Path(q["path"]).parent.name, []).append(q)
            bar.note(f"quarantined: {q['reason']}", warn)
        report.shards += epochs_log.shards
        bar.advance(shards=epochs_log.shards, runs=0)
        blocks = Blocks.of_plan([s["run_id"] for s in specs])
        moved = {s["run_id"] for s in kept if s["run_id"] in states  # files as they were, state moved (e.g. LOST)
                 and [states[s["run_id"]].state.value, states[s["run_id"]].reason]
                 != previous.runs[s["run_id"]]["state"]}  # type: ignore[union-attr]
        # The epochs are final here: written while the kept runs are linked, the others merged and the tables
        # computed. ``whole``: the whole table (None where only its changed blocks are written); ``for_runs``:
        # every column of the runs whose rows are made.
        whole, for_runs, written = _epochs(specs, changed, moved, epochs, previous, blocks, out, writer, reused)
        if previous is not None and kept:
            for s in kept:
                rid, entry = s["run_id"], previous.runs[s["run_id"]]
                samples[rid] = entry["samples"]
                for q in entry["quarantined_epochs"] + entry["quarantined_samples"]:
                    bar.note(f"quarantined: {q['reason']}", warn)
                q_epochs[rid], q_samples[rid] = entry["quarantined_epochs"], entry["quarantined_samples"]
                state.setdefault(rid, entry["state"])
                if state[rid] == entry["state"]:
                    same.append(rid)
                else:  # its files are as they were, but time or the scheduler moved its state (e.g. LOST)
                    metas.append(run_meta(s, layout.run(rid), states[rid].state, states[rid].reason))
            bar.advance(samples=sum(samples.values()), runs=len(kept))
        for merged in merged_runs:
            rid = merged.meta["run_id"]
            bar.advance(merged.shards, merged.samples)
            for q in merged.quarantined:
                bar.note(f"quarantined: {q['reason']}", warn)
            report.shards += merged.shards
            metas.append(merged.meta)
            samples[rid], q_samples[rid] = merged.samples, merged.quarantined
        if linked is not None:
            linked.result()
        runs_t = _runs(layout, metas, for_runs(), previous, same, report)
        write_dataset_table(out.runs, runs_t, RUN_SCHEMA)
        if layout.search_dir.is_dir():  # the decisions of a search (``decision_rows``: none without the directory)
            from .search.record import decision_rows, decisions_frame

            decisions = decision_rows(layout)
            if decisions:
                write_dataset_table(out.search, decisions_frame(decisions).to_arrow(), SEARCH_SCHEMA)
        out.samples_dir.mkdir(parents=True, exist_ok=True)
        runs_df = pl.from_arrow(runs_t)
        assert isinstance(runs_df, pl.DataFrame)
        warmed.result()
        summary = _summary(runs_df, whole, epochs, previous, changed)
        summary.write_parquet(out.epoch_summary)
        tables = _tables(layout, specs, runs_df, summary, whole, out)
        epochs_index = written.result()
    # Epoch shards first, then samples, each in plan order: the order of a full collect.
    report.quarantined = ([q for s in specs for q in q_epochs.get(s["run_id"], [])]
                          + [q for s in specs for q in q_samples.get(s["run_id"], [])])
    report.samples = sum(samples.values())
    report.runs = runs_t.num_rows
    report.epochs = whole.height if whole is not None else int(summary["n_epochs"].sum())
    entries = {s["run_id"]: {"state": state[s["run_id"]], "samples": samples.get(s["run_id"], 0),
                             "output": (previous.runs[s["run_id"]]["output"]  # type: ignore[union-attr]
                                        if s["run_id"] in kept_ids  # a link keeps the inode and mtime
                                        else file_stat(_samples_file(out, s))),
                             "quarantined_epochs": q_epochs.get(s["run_id"], []),
                             "quarantined_samples": q_samples.get(s["run_id"], [])} for s in specs}
    return entries, tables, epochs_index


def _epochs_reusable(layout: ResultsLayout, specs: list[dict[str, Any]], changed: list[dict[str, Any]],
                     previous: _Previous | None) -> bool:
    """True where the previous ``epochs.parquet``'s row groups can be reused (:mod:`.collect_epochs`) and the tables
    computed from the previous epoch summary: not without a previous file with an index, where every run
    changed, or with a search (whose tables read the whole epochs table)."""
    return not (previous is None or previous.epochs_index is None or len(changed) == len(specs)
                or any(s.get("search") for s in specs) or layout.search_dir.is_dir())


def _summary(runs: pl.DataFrame, whole: pl.DataFrame | None, fresh: pl.DataFrame, previous: _Previous | None,
             changed: list[dict[str, Any]]) -> pl.DataFrame:
    """Each run's epoch summary: from the ``whole`` epochs table, or (without it) the previous summary with the
    ``changed`` runs' rows computed again from their ``fresh`` epochs (the same rows: each is a function of its
    run alone)."""
    from .tables import epoch_summary

    if whole is not None:
        return epoch_summary(runs, whole)
    assert previous is not None
    replaced = pl.DataFrame({"run_id": [s["run_id"] for s in changed]}, schema={"run_id": pl.String})
    kept = previous.summary.join(replaced, on="run_id", how="anti")
    return pl.concat([kept, epoch_summary(runs, fresh)]).sort("run_id")


def _epochs(specs: list[dict[str, Any]], changed: list[dict[str, Any]], moved: set[str], fresh: pl.DataFrame,
            previous: _Previous | None, blocks: Blocks, out: DatasetPaths, writer: ThreadPoolExecutor,
            reused: bool) -> tuple[pl.DataFrame | None, Callable[[], pl.DataFrame], Future[dict[str, Any] | None]]:
    """The epochs table: the previous one with the ``changed`` runs' rows replaced by ``fresh`` (the rows read
    from their shards), its writing started on ``writer``.

    Returns the whole table (None where it is not decoded), a function giving every column of the changed and
    ``moved`` runs' rows (for their rows of ``runs.parquet``), and the writing (its result: the file's index).
    Where the previous table is ``reused`` (:func:`_epochs_reusable`), only the blocks of those runs are
    decoded and encoded again, on ``writer``, and the other row groups copied (where the previous file turns
    out not to be reusable after all, it is decoded and written whole there); otherwise the whole table is
    decoded here and written.
    """
    from . import collect_epochs

    replaced = [s["run_id"] for s in changed]
    if reused and previous is not None and previous.epochs_index is not None:
        last = collect_epochs.Previous(previous.paths.epochs, previous.epochs_index)
        unusable = (collect_epochs.Unsupported, OSError, KeyError, IndexError, TypeError, ValueError)

        def write() -> tuple[dict[str, Any] | None, pl.DataFrame]:
            try:
                rows, redo = collect_epochs.touched_rows(last, fresh, replaced, set(replaced) | moved, blocks)
                return collect_epochs.write_update(out.epochs, last, rows, redo, blocks,
                                                   out.epochs_scratch), rows
            except unusable:  # an index of another form, a file that cannot be copied: decoded and written whole
                whole = replace_runs(previous.epochs(), fresh, replaced)
                return collect_epochs.write(out.epochs, whole, blocks), whole

        written = writer.submit(write)
        # Only the changed runs' rows unless some kept run's state moved: those are in the blocks decoded.
        return None, (lambda: written.result()[1]) if moved else (lambda: fresh), _first(written)
    epochs = replace_runs(previous.epochs(), fresh, replaced) if previous is not None and len(replaced) < len(specs) \
        else fresh
    epochs = _with_rungs(epochs, specs)
    return epochs, lambda: epochs, writer.submit(collect_epochs.write, out.epochs, epochs, blocks)


def _first(future: Future[tuple[Any, Any]]) -> Future[Any]:
    """A future of the first item of ``future``'s result."""
    out: Future[Any] = Future()

    def done(f: Future[tuple[Any, Any]]) -> None:
        try:
            out.set_result(f.result()[0])
        except BaseException as exc:  # noqa: BLE001 - handed on to whoever waits
            out.set_exception(exc)

    future.add_done_callback(done)
    return out


def _with_rungs(epochs: pl.DataFrame, specs: list[dict[str, Any]]) -> pl.DataFrame:
    """``epochs`` with each searched run's rungs (:func:`energybench.search.record.with_rungs`, which leaves a plan
    without searched runs as it is: then neither the search's code nor the config's, pydantic, is imported)."""
    if not any(s.get("search") for s in specs):
        return epochs
    from .search.record import with_rungs

    return with_rungs(epochs, specs)


def _link_kept(kept: list[dict[str, Any]], previous: _Previous, out: DatasetPaths) -> None:
    """The kept runs' samples files, linked from the previous dataset into ``out``."""
    made: set[str] = set()
    into = str(out.samples_dir)
    for s in kept:
        if previous.runs[s["run_id"]]["output"] is None:
            continue
        target = _samples_path(into, s)
        parent = os.path.dirname(target)
        if parent not in made:
            os.makedirs(parent, exist_ok=True)
            made.add(parent)
        link_or_copy(_samples_path(previous.samples_dir, s), target)


def _runs(layout: ResultsLayout, metas: list[dict[str, Any]], epochs: pl.DataFrame, previous: _Previous | None,
          same: list[str], report: CollectReport) -> pa.Table:
    """``runs.parquet``: rows of ``metas`` from their epochs; those of ``same`` as ``previous`` had them."""
    runs_t = runs_table(metas, epochs.filter(pl.col("run_id").is_in([m["run_id"] for m in metas]))
                        if same else epochs)
    if same:
        kept = previous.runs_table.filter(pc.is_in(previous.runs_table["run_id"],  # type: ignore[union-attr]
                                                   pa.array(same, pa.string())))
        runs_t = pa.concat_tables([runs_t, kept]).sort_by("run_id")
    report.scheduler_energy, energy = _scheduler_energy(layout, runs_t["run_id"].to_pylist())
    column = RUN_SCHEMA.get_field_index("sched_energy_j")
    values = pa.array([energy.get(r) for r in runs_t["run_id"].to_pylist()], RUN_SCHEMA.field(column).type)
    return runs_t.set_column(column, RUN_SCHEMA.field(column), values)


def _tables(layout: ResultsLayout, specs: list[dict[str, Any]], runs: pl.DataFrame, summary: pl.DataFrame,
            epochs: pl.DataFrame | None, out: DatasetPaths) -> dict[str, pl.DataFrame]:
    """The tables of the dataset in ``out``, from the frames it is written from (a pure function of it):
    ``summary`` is its runs' epoch summary; ``epochs`` the whole epochs table (there for a search)."""
    from .tables import tables_of

    tables = tables_of(runs, summary)
    settings = report_settings(layout)
    if settings is not None:
        from . import conversions

        if conversions.enabled(settings):
            tables["conversions"] = conversions.conversions(tables["total_energy"], settings)
    if out.search.exists():
        from .search.record import cost_table, rung_table

        assert epochs is not None, "a search's epochs are decoded whole (_epochs_reusable)"
        decided = pl.read_parquet(out.search)
        tables["search_rungs"] = rung_table(epochs, decided)
        tables["search_cost"] = cost_table(runs, epochs, specs)
    return tables


def report_settings(layout: ResultsLayout) -> Report | None:
    """The ``report:`` section of the directory's ``experiment.yaml`` (PUE, carbon intensity); None without one."""
    if not layout.experiment.is_file():
        return None
    from .config import load_config  # pydantic: only for a directory with a config

    try:
        return load_config(layout.experiment).report
    except EnergybenchError:  # a config edited since: the measured tables do not depend on it
        return None


def _scheduler_energy(layout: ResultsLayout, run_ids: list[str]) -> tuple[str, dict[str, float | None]]:
    """Each SLURM run's ``sched_energy_j`` from sacct's ConsumedEnergyRaw (by run id), and a note on what was found."""
    from .slurm.accounting import consumed_energy
    from .slurm.manifest import Manifest

    if not layout.manifest.exists():
        return "not asked (no SLURM jobs in this directory)", {}
    manifest = Manifest.load(layout.manifest)
    try:
        energy = consumed_energy(manifest.array_job_ids())
    except EnergybenchError as exc:
        return f"not asked ({str(exc).splitlines()[0]})", {}
    jobs = manifest.jobs()
    by_run = {rid: energy.get(jobs[rid].job_id) for rid in run_ids if rid in jobs}
    n = sum(v is not None for v in by_run.values())
    return (f"{n} of {len(jobs)} jobs accounted" if n else "not accounted (no energy plugin on this cluster)"), by_run


def _swap(new: Path, target: Path) -> Path | None:
    """Replace directory ``target`` by ``new`` (rename-based; readers see old or new).

    Returns where the replaced directory went, for the caller to remove (None when there was none).
    """
    old = target.with_name(f".{target.name}.old-{os.getpid()}")
    if not target.exists():
        new.rename(target)
        return None
    target.rename(old)
    new.rename(target)
    return old


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
