"""``submit``: validate, plan, check the inputs, lay out the results directory, hand runs to an executor.

One way through: :func:`prepare` (config, plan, results directory: nothing
written), :func:`~energybench.executors.open_executor` (the backend's own
checks: profile and cluster on SLURM), :func:`~energybench.inputs.check_inputs`,
:func:`write_layout`; then, holding the directory's submission lock, the
executor's view of the runs, :func:`select_runs` (pure), and
:meth:`Executor.run <energybench.executors.base.Executor.run>`. Everything
that can be wrong with the input is found before anything is written.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Experiment, load_config, override_executor
from .errors import ResultsError, SubmitError
from .executors import open_executor
from .executors.base import Outcome, Prepared, Selection, submission_lock
from .inputs import check_inputs
from .paths import ResultsLayout, write_json
from .plan import RunSpec, plan
from .planfile import fingerprint, read_plan, write_plan
from .states import State
from .status import RunState, run_states

__all__ = ["Prepared", "Submission", "follow", "prepare", "select_runs", "submit", "write_layout"]

#: ``submit --follow``: the shortest interval between two top-ups, seconds (one scheduler round each).
MIN_FOLLOW_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Submission:
    """What one ``submit`` planned and what its executor did."""

    prepared: Prepared
    outcome: Outcome

    @property
    def experiment(self) -> Experiment:
        return self.prepared.experiment

    @property
    def layout(self) -> ResultsLayout:
        return self.prepared.layout

    @property
    def specs(self) -> list[RunSpec]:
        return self.prepared.specs


def default_results_dir(exp: Experiment) -> Path:
    return Path("results") / exp.name


def _check_results_dir(layout: ResultsLayout, exp: Experiment, fp: str) -> None:
    root = layout.root
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    if root.exists() and not root.is_dir():
        raise ResultsError(f"{root}: results path exists and is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"{probe}: results directory is not writable; choose another with --results")
    if layout.plan.exists():
        old = read_plan(layout)
        if old.get("fingerprint") != fp:
            raise ResultsError(
                f"{root}: made by another config (experiment {old.get('experiment')!r}, "
                f"{len(old.get('runs', []))} runs); submit {exp.name!r} into a new --results directory")


def prepare(config: Path, results: Path | None, executor: str | None, profile: Path | None = None) -> Prepared:
    """Validate the config, plan it, and check (not yet write) the results directory."""
    exp = override_executor(load_config(config), executor)
    if profile is not None:
        exp = exp.model_copy(update={"executor": exp.executor.model_copy(
            update={"profile": Path(profile).absolute()})})
    specs = plan(exp)
    layout = ResultsLayout(results if results is not None else default_results_dir(exp))
    fp = fingerprint(specs)
    _check_results_dir(layout, exp, fp)
    return Prepared(exp, specs, layout, fp, Path(config))


def write_layout(p: Prepared) -> None:
    """Write the directory's identity (the config as submitted), its plan and every run spec."""
    layout = p.layout
    layout.root.mkdir(parents=True, exist_ok=True)
    if not layout.experiment.exists() and p.config is not None:
        layout.experiment.write_text(Path(p.config).read_text())
    write_plan(layout, p.experiment.name, p.specs)


def _busy(s: RunState) -> bool:
    """Completed, running, or queued with a job: not to be executed again."""
    return s.state in (State.COMPLETED, State.RUNNING) or (s.state == State.PENDING and s.job_id is not None)


def _live(s: RunState) -> bool:
    """Running, or queued with a job."""
    return s.state == State.RUNNING or (s.state == State.PENDING and s.job_id is not None)


def select_runs(specs: list[RunSpec], states: list[RunState], force: bool = False,
                root: Path | None = None) -> Selection:
    """The runs to execute: missing, failed, cancelled, timed out or lost ones (all of them with ``force``).

    Never one that completed or is queued or running; ``force`` refuses while
    any run is queued or running (it would run twice). Runs an earlier
    submission still has queued or running are passed on with their task ids
    (their dependants wait for them).
    """
    queued = {s.run_id: s.job_id for s in states
              if s.job_id is not None and _busy(s) and s.state != State.COMPLETED}
    if force:
        live = [s for s in states if _live(s)]
        if live:
            job = f", job {live[0].job_id}" if live[0].job_id else ""
            raise SubmitError(f"{root or 'DIR'}: --force would run {len(live)} queued or running runs twice "
                              f"(e.g. {live[0].run_id}{job}); cancel them first: energybench cancel {root or 'DIR'}")
        return Selection(list(specs), {})
    busy = {s.run_id for s in states if _busy(s)}
    return Selection([s for s in specs if s.run_id not in busy], queued)


def _archive(layout: ResultsLayout, specs: list[RunSpec]) -> None:
    """``--force``: move each run's earlier measurements to ``DIR/archive/`` (never deleted)."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for spec in specs:
        run = layout.run(spec.run_id)
        if run.started.exists() or run.failed.exists():
            target = layout.archive(spec.run_id, stamp)
            target.parent.mkdir(parents=True, exist_ok=True)
            run.dir.rename(target)
            run.dir.mkdir(parents=True)
            write_json(run.spec, spec.to_dict())


def submit(config: Path, results: Path | None = None, executor: str | None = None,
           force: bool = False, echo: Callable[[str], None] = print, dry_run: bool = False,
           profile: Path | None = None) -> Submission:
    """Validate everything, write the layout, and hand the runs that are not done to the executor.

    Locally this returns once every run has ended; on SLURM once the arrays
    are submitted. ``dry_run`` (SLURM) validates config and profile, writes
    the sbatch scripts to ``DIR/jobs/dry-run/`` and nothing else: no cluster,
    no data needed.
    """
    p = prepare(config, results, executor, profile)
    ex = open_executor(p.experiment, dry_run=dry_run)
    head = f"{p.experiment.name}: {len(p.specs)} planned runs"
    if dry_run:
        sel = select_runs(p.specs, run_states(p.layout) if p.layout.plan.exists() else [], force)
        echo(f"{head}, {len(sel.todo)} to run (dry run)")
        return Submission(p, ex.dry_run(p, sel, echo=echo))
    check_inputs(p.experiment, config)
    write_layout(p)
    with submission_lock(p.layout):
        sel = select_runs(p.specs, ex.states(p.layout), force, p.layout.root)
        echo(f"{head}, {len(sel.todo)} {ex.verb}, executor {ex.kind}, "
             f"results in {p.layout.root}")
        if force:
            _archive(p.layout, sel.todo)
        return Submission(p, ex.run(p, sel, echo=echo))


def follow(config: Path, results: Path | None = None, executor: str | None = None, *,
           interval_s: float = 60.0, max_rounds: int | None = None, echo: Callable[[str], None] = print,
           profile: Path | None = None, sleep: Callable[[float], None] = time.sleep) -> Submission:
    """``submit --follow``: submit, then top up what the submission limits held back, every ``interval_s``.

    Each round is one ``submit`` (one sacct and one squeue query, two sacctmgr);
    returns once nothing is held back (or after ``max_rounds``). Ctrl-C stops it
    between or during rounds; what was submitted stays queued.
    """
    if interval_s < MIN_FOLLOW_INTERVAL_S:
        raise SubmitError(f"--interval {interval_s:g}: at least {MIN_FOLLOW_INTERVAL_S:g} s between two top-ups "
                          "(each asks the scheduler; a login node is shared)")
    rounds = 0
    while True:
        sub = submit(config, results, executor, echo=echo, profile=profile)
        rounds += 1
        if sub.outcome.held == 0 or sub.outcome.waited or (max_rounds is not None and rounds >= max_rounds):
            return sub
        echo(f"follow: {sub.outcome.held} runs held back; next top-up in {interval_s:g} s (Ctrl-C stops following; "
             "what is submitted stays queued)")
        sleep(interval_s)
