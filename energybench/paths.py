"""The results layout. This module is the only place that joins result paths.

:data:`LAYOUT` lists every path of a results directory with what it holds;
``docs/results-layout.md`` is generated from it (``python -m energybench.paths
> docs/results-layout.md``). ``tests/test_paths.py`` checks that the file equals
the generated text and that every path :class:`ResultsLayout`, :class:`RunPaths`
and :class:`DatasetPaths` build matches an entry of :data:`LAYOUT`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import DiskFullError


_NO_SPACE = {errno.ENOSPC: "No space left on device", errno.EDQUOT: "Disk quota exceeded"}


def _no_space(exc: BaseException, directory: Path) -> str | None:
    """Why ``exc`` means the filesystem is full ("No space left on device", ...), or None.

    Python and pyarrow raise ``OSError(ENOSPC)``; torch.save raises a RuntimeError
    that wraps it (a file object) or nothing at all (a path): then a filesystem
    with no block left decides. Call it before the partial file is removed.
    """
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        if isinstance(cur, OSError) and cur.errno in _NO_SPACE:
            return _NO_SPACE[cur.errno]
        cur = cur.__cause__ or cur.__context__
    if isinstance(exc, (OSError, RuntimeError)):
        try:
            if os.statvfs(directory).f_bavail == 0:
                return _NO_SPACE[errno.ENOSPC]
        except OSError:
            pass
    return None


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it over ``target`` on success.

    A reader never sees a half-written file; on error the temporary is removed
    and ``target`` keeps its previous content. A full filesystem raises
    :class:`~energybench.errors.DiskFullError` naming ``target`` (one line).
    """
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        if (why := _no_space(exc, target.parent)) is not None:
            raise DiskFullError(f"{why} while writing {target}") from None
        raise
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, target)
    except Exception as exc:
        if (why := _no_space(exc, target.parent)) is not None:
            raise DiskFullError(f"{why} while writing {target}") from exc
        raise
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_json(target: Path, data: Any) -> None:
    """Write ``data`` as JSON atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Read a JSON file."""
    return json.loads(path.read_text())


@dataclass(frozen=True)
class RunPaths:
    """Every file of one run's directory."""

    dir: Path

    def sibling(self, run_id: str) -> "RunPaths":
        """Another run of the same results directory (e.g. the one holding our encoder)."""
        return RunPaths(self.dir.parent / run_id)

    def siblings(self) -> list["RunPaths"]:
        """Every other run directory of the same results directory (energy-aware early stopping)."""
        return [RunPaths(p) for p in sorted(self.dir.parent.iterdir()) if p.is_dir() and p != self.dir]

    @property
    def spec(self) -> Path:
        return self.dir / "spec.json"

    @property
    def record(self) -> Path:
        return self.dir / "run.json"

    @property
    def started(self) -> Path:
        return self.dir / "started.json"

    @property
    def heartbeat(self) -> Path:
        return self.dir / "heartbeat.json"

    @property
    def done(self) -> Path:
        return self.dir / "done.json"

    @property
    def failed(self) -> Path:
        return self.dir / "failed.json"

    @property
    def samples_dir(self) -> Path:
        return self.dir / "samples"

    def sample_part(self, attempt: int, seq: int) -> Path:
        return self.samples_dir / f"part-a{attempt:03d}-{seq:06d}.parquet"

    def sample_segment(self, attempt: int, first_seq: int, last_seq: int) -> Path:
        return self.samples_dir / f"seg-a{attempt:03d}-{first_seq:06d}-{last_seq:06d}.parquet"

    def sample_parts(self, attempt: int | None = None) -> list[Path]:
        """Uncompacted sampler parts (of one attempt, or all)."""
        pattern = f"part-a{attempt:03d}-*.parquet" if attempt is not None else "part-a*.parquet"
        return sorted(self.samples_dir.glob(pattern)) if self.samples_dir.is_dir() else []

    def sample_files(self) -> list[Path]:
        """Every samples shard: compacted segments and parts."""
        return sorted(self.samples_dir.glob("*.parquet")) if self.samples_dir.is_dir() else []

    def epochs(self, attempt: int) -> Path:
        return self.dir / f"epochs-a{attempt:03d}.parquet"

    def epoch_shards(self) -> list[Path]:
        return sorted(self.dir.glob("epochs-a*.parquet"))

    @property
    def checkpoint(self) -> Path:
        return self.dir / "checkpoint.pt"

    @property
    def encoder(self) -> Path:
        return self.dir / "encoder.pt"

    @property
    def log(self) -> Path:
        return self.dir / "worker.log"

    @property
    def paused(self) -> Path:
        return self.dir / "paused.json"

    @property
    def rungs(self) -> Path:
        return self.dir / "rungs.json"

    @property
    def lease_dir(self) -> Path:
        """The worker's lease (:mod:`energybench.worker.lease`): one file per generation."""
        return self.dir / "lease"

    def lease(self, generation: int) -> Path:
        return self.lease_dir / f"{generation:06d}.json"

    def command_log(self, attempt: int) -> Path:
        """A command workload's output (stdout and stderr) in one attempt (:mod:`energybench.worker.command`)."""
        return self.dir / f"command-a{attempt:03d}.log"

    @property
    def command_state(self) -> Path:
        """A command workload's progress across attempts: last completed epoch, early stopping state."""
        return self.dir / "command-state.json"


@dataclass(frozen=True)
class ResultsLayout:
    """Paths of one results directory."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root).absolute())

    @property
    def experiment(self) -> Path:
        return self.root / "experiment.yaml"

    @property
    def plan(self) -> Path:
        return self.root / "plan.json"

    @property
    def manifest(self) -> Path:
        return self.root / "manifest.json"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    def run(self, run_id: str) -> RunPaths:
        return RunPaths(self.runs_dir / run_id)

    def run_dirs(self) -> list[RunPaths]:
        if not self.runs_dir.is_dir():
            return []
        return [RunPaths(p) for p in sorted(self.runs_dir.iterdir()) if p.is_dir()]

    def archive(self, run_id: str, stamp: str) -> Path:
        """Where ``submit --force`` moves a run's earlier measurements (never deleted)."""
        return self.root / "archive" / f"{run_id}-{stamp}"

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def submitit_dir(self) -> Path:
        return self.jobs_dir / "submitit"

    def job_log(self, job_id: str) -> Path:
        """The log of one SLURM array task (``<array>_<index>``), named as submitit names it."""
        return self.submitit_dir / f"{job_id}_0_log.out"

    @property
    def dry_run_dir(self) -> Path:
        return self.jobs_dir / "dry-run"

    def dry_run_script(self, array_name: str) -> Path:
        """The sbatch script ``submit --dry-run`` writes for one job array."""
        return self.dry_run_dir / f"{array_name}.sbatch"

    @property
    def dry_run_index(self) -> Path:
        """What ``submit --dry-run`` would submit: array -> partition, dependency, run ids by index."""
        return self.dry_run_dir / "arrays.json"

    @property
    def scheduler_cache(self) -> Path:
        """The last scheduler answer (sacct/squeue), reused for a few seconds."""
        return self.jobs_dir / "scheduler.json"

    @property
    def submit_lock(self) -> Path:
        """Held while submitting (or, locally, executing), so two ``submit`` calls cannot run a run twice."""
        return self.root / ".submit.lock"

    @property
    def search_dir(self) -> Path:
        return self.root / "search"

    def rung_decision(self, bracket: str, rung: int) -> Path:
        """The decision after rung ``rung`` of one bracket (``<workload>.<hardware>``)."""
        return self.search_dir / bracket / f"rung-{rung}.json"

    @property
    def dataset_dir(self) -> Path:
        return self.root / "dataset"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def figures_dir(self) -> Path:
        return self.root / "figures"

    @property
    def report(self) -> Path:
        return self.root / "report.md"

    @property
    def quarantine_log(self) -> Path:
        return DatasetPaths(self.dataset_dir).quarantine

    @property
    def collect_lock(self) -> Path:
        """Held by ``collect`` while it builds and swaps in the dataset."""
        return self.root / ".collect.lock"

    def dataset_staging(self, pid: int) -> Path:
        """Where collect process ``pid`` builds the next dataset before swapping it in."""
        return self.root / f".dataset.tmp-{pid}"

    @property
    def estimate_dir(self) -> Path:
        """``energybench estimate``: the fitted model and the evaluation's Markdown summary."""
        return self.root / "estimate"

    @property
    def estimator_model(self) -> Path:
        """Default model file of ``energybench estimate fit``."""
        return self.estimate_dir / "model.joblib"

    @property
    def estimate_report(self) -> Path:
        """The evaluation table and figure as a Markdown section (``energybench estimate evaluate``)."""
        return self.estimate_dir / "evaluation.md"


@dataclass(frozen=True)
class DatasetPaths:
    """Files of a dataset directory (``collect`` output, or an imported one)."""

    dir: Path

    @property
    def runs(self) -> Path:
        return self.dir / "runs.parquet"

    @property
    def epochs(self) -> Path:
        return self.dir / "epochs.parquet"

    @property
    def samples_dir(self) -> Path:
        return self.dir / "samples"

    @property
    def search(self) -> Path:
        return self.dir / "search.parquet"

    @property
    def schema(self) -> Path:
        return self.dir / "schema.json"

    @property
    def quarantine(self) -> Path:
        """What collect refused to merge, with one-line reasons (JSON)."""
        return self.dir / "quarantine.json"

    @property
    def merged(self) -> Path:
        """What collect merged, file by file, so the next collect re-reads only what changed (JSON)."""
        return self.dir / ".merged.json"

    @property
    def epoch_summary(self) -> Path:
        """Each run's epoch summary, what the tables read of its epochs (:func:`energybench.tables.epoch_summary`)."""
        return self.dir / ".epoch-summary.parquet"

    @property
    def epochs_scratch(self) -> Path:
        """Where an incremental collect encodes the changed row groups of ``epochs.parquet`` (removed after)."""
        return self.dir / ".epochs-blocks.parquet"


def table_paths(tables_dir: Path, name: str) -> tuple[Path, Path]:
    """The CSV and Parquet files of the table ``name``."""
    return tables_dir / f"{name}.csv", tables_dir / f"{name}.parquet"


def figure_paths(figures_dir: Path, name: str) -> tuple[Path, Path]:
    """The PNG and PDF files of the figure ``name``."""
    return figures_dir / f"{name}.png", figures_dir / f"{name}.pdf"


#: Every path of a results directory: (pattern relative to the directory, what it holds), in
#: pipeline order. ``<name>`` stands for one value; a trailing ``/`` marks a directory. The
#: single source of ``docs/results-layout.md`` (:func:`layout_markdown`); a test checks that
#: every path the classes above build matches one pattern here.
LAYOUT: tuple[tuple[str, str], ...] = (
    ("experiment.yaml", "the config file as first submitted (`submit`)"),
    ("plan.json", "the experiment name, every planned run spec and the plan's fingerprint (a hash of the "
                  "sorted run ids): `submit` refuses a config whose plan differs; `synthetic: true` when "
                  "`energybench.estimate.synthetic` simulated the directory"),
    ("manifest.json", "SLURM: run id -> array job id, index, array, attempt, partition, submit time and "
                      "earlier submissions; array job id -> name, partition, tasks, dependency"),
    (".submit.lock", "held by `submit` while it submits (SLURM) or executes runs (local): one `submit` at a "
                     "time per results directory, so no run is started twice"),
    ("runs/", "one directory per planned run"),
    ("runs/<run_id>/", "one run, named by its stable id (a hash of what is trained and how it is measured)"),
    ("runs/<run_id>/spec.json", "the resolved run spec the worker executes (`submit`)"),
    ("runs/<run_id>/run.json", "the run record, written when the run completes: status, stop reason, "
                               "meter, its sources and errors, idle power, provenance, model characteristics"),
    ("runs/<run_id>/started.json", "worker marker: attempt, host, pid, SLURM ids of the latest attempt"),
    ("runs/<run_id>/heartbeat.json", "worker marker, refreshed at every shard flush and epoch: attempt, "
                                     "epoch, validation accuracy and loss, this attempt's energy so far"),
    ("runs/<run_id>/done.json", "worker marker: the run completed (epochs)"),
    ("runs/<run_id>/failed.json", "marker: the run failed, with a one-line reason (written by the worker, "
                                  "or by the executor or job for a worker that could not)"),
    ("runs/<run_id>/samples/", "the sampler's shards"),
    ("runs/<run_id>/samples/part-a<attempt>-<seq>.parquet", "one flush of the sampler (attempt and seq "
                                                           "zero-padded to 3 and 6 digits)"),
    ("runs/<run_id>/samples/seg-a<attempt>-<first>-<last>.parquet", "the parts first..last of one attempt, "
                                                                   "compacted when the attempt ends"),
    ("runs/<run_id>/epochs-a<attempt>.parquet", "one row per epoch of that attempt, rewritten after each epoch"),
    ("runs/<run_id>/checkpoint.pt", "model, optimiser, early stopping and RNG states after the last epoch "
                                    "(a restarted run resumes from it)"),
    ("runs/<run_id>/encoder.pt", "a pretraining workload's artefact (the built-in autoencoder's last-epoch "
                                 "encoder), which the same setup's and repeat's dependent runs train on"),
    ("runs/<run_id>/paused.json", "search: the run reached the end of its rung and waits for the rung's "
                                  "decision (rung, epoch, attempt); cleared when it starts again"),
    ("runs/<run_id>/rungs.json", "search: every rung the run finished (rung, epoch, attempt, time), never cleared"),
    ("runs/<run_id>/lease/", "the worker's lease: one live worker per run (a requeued attempt never trains "
                             "beside a stale worker that survived)"),
    ("runs/<run_id>/lease/<generation>.json", "one generation of the lease (zero-padded to 6 digits), created "
                                              "once with a hard link: owner host, pid, attempt and token, "
                                              "renewal counter; rewritten by its owner every period, "
                                              "`released` when the worker ends; the highest one holds the run"),
    ("runs/<run_id>/worker.log", "local executor: the worker's stdout and stderr (on SLURM: `jobs/submitit/`)"),
    ("runs/<run_id>/command-a<attempt>.log", "command workloads: the program's stdout and stderr in that attempt "
                                             "(attempt zero-padded to 3 digits)"),
    ("runs/<run_id>/command-state.json", "command workloads: the last epoch the program completed, its early "
                                         "stopping state and best validation accuracy, carried across attempts"),
    ("archive/<run_id>-<time>/", "`submit --force`: a run's earlier directory, moved aside before it is "
                                 "rerun (never deleted)"),
    ("search/", "`search:` configs: the successive-halving decisions"),
    ("search/<bracket>/", "one bracket: the setups of one workload on one hardware (`<workload>.<hardware>`)"),
    ("search/<bracket>/rung-<rung>.json", "the decision after one rung: every candidate setup's score and "
                                          "measures, the survivors, the pruned, the missing; written once, "
                                          "atomically, by the first worker or executor that needs it"),
    ("jobs/", "SLURM submissions"),
    ("jobs/submitit/", "submitit's folder, mode 0700 (its pickles execute code when loaded): sbatch "
                       "scripts, pickled jobs, one log per task"),
    ("jobs/submitit/<job>_<index>_0_log.out", "the log of array task `<job>_<index>` (stdout and stderr)"),
    ("jobs/dry-run/", "`submit --dry-run`: what would be submitted (replaced by the next dry run)"),
    ("jobs/dry-run/<array>.sbatch", "the sbatch script of one job array (`<hardware>.<paradigm>.<n>`)"),
    ("jobs/dry-run/arrays.json", "every array: partition, paradigm, hardware, dependency, run id of each index"),
    ("jobs/scheduler.json", "the last sacct/squeue answer, reused for up to 5 s by `status` and `collect`"),
    ("dataset/", "`collect`: the dataset"),
    ("dataset/runs.parquet", "one row per planned run"),
    ("dataset/epochs.parquet", "one row per measured epoch (the latest attempt's, once)"),
    ("dataset/samples/", "every sample, partitioned by hardware and dataset (hive style)"),
    ("dataset/samples/hardware=<hardware>/dataset=<dataset>/<run_id>.parquet", "one run's samples"),
    ("dataset/search.parquet", "`search:` configs: one row per candidate run of every rung decision"),
    ("dataset/schema.json", "the schema version and every column with its type and unit"),
    ("dataset/quarantine.json", "the shards `collect` refused to merge, each with a one-line reason "
                                "(the files stay where they are)"),
    ("dataset/.merged.json", "`collect`'s manifest of what it merged: per run, a digest of its shards' and "
                             "markers' inode, size and mtime (ns), its state, its samples file and where it "
                             "sits in plan.json; the next `collect` re-reads only the runs whose files "
                             "changed (`--full`: all)"),
    ("dataset/.epoch-summary.parquet", "one row per run with epochs: what the tables read of them (epoch "
                                       "means, energy to the threshold epoch); `collect` computes again only "
                                       "the changed runs' rows"),
    ("dataset/.epochs-blocks.parquet", "while an incremental `collect` runs: the re-encoded row groups of "
                                       "`epochs.parquet` (removed after)"),
    (".collect.lock", "held by `collect` while it builds and swaps in the dataset"),
    (".dataset.tmp-<pid>/", "where `collect` (process `<pid>`) builds the next dataset before the swap"),
    ("tables/", "`collect` or `tables`: one table per name, a pure function of the dataset (and "
                "`estimate_evaluation` from `estimate evaluate`)"),
    ("tables/<table>.csv", "a table as CSV"),
    ("tables/<table>.parquet", "the same table as Parquet"),
    ("figures/", "`figures`, and `estimate evaluate`"),
    ("figures/<figure>.png", "a figure as PNG"),
    ("figures/<figure>.pdf", "the same figure as PDF"),
    ("estimate/", "`energybench estimate`"),
    ("estimate/model.joblib", "the offline estimators (`estimate fit`; a pickle: load only files you made)"),
    ("estimate/predictions.csv", "`estimate evaluate`: every estimator's prediction for every run"),
    ("estimate/predictions.parquet", "the same as Parquet"),
    ("estimate/evaluation.md", "`estimate evaluate`: the evaluation table and figure as a Markdown section"),
    ("report.md", "`report`: the findings, then every table and figure beside the study's published values"),
    ("report.html", "the same report as one HTML page: CSS and tables inline, figures by relative path, no scripts"),
)


def layout_markdown() -> str:
    """``docs/results-layout.md``: :data:`LAYOUT` as a Markdown table."""
    lines = [
        "# Results layout",
        "",
        "<!-- Generated from LAYOUT in energybench/paths.py: "
        "python -m energybench.paths > docs/results-layout.md -->",
        "",
        "`energybench submit CONFIG` writes `results/<experiment name>/` unless `--results DIR` is given;",
        "every later command takes that directory. `<name>` stands for one value; a trailing `/` marks a",
        "directory. Dataset columns and their units: [schema.md](schema.md).",
        "",
        "| path | what it holds |",
        "|---|---|",
    ]
    lines += [f"| `{path}` | {what.replace('|', chr(92) + '|')} |" for path, what in LAYOUT]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(layout_markdown(), end="")
