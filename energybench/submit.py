"""``submit``: validate, plan, lay out the results directory, hand runs to an executor.

Everything that can be wrong with the input is checked before anything is
written: the config, the plan, the results directory, the data.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .config import Experiment, load_config, override_executor
from .errors import DataError, ResultsError, SubmitError
from .paths import ResultsLayout, read_json, write_json
from .plan import RunSpec, plan, stable_hash
from .status import RunState, current_states, run_states


@dataclass(frozen=True)
class Prepared:
    """A validated experiment, its plan and its results directory."""

    experiment: Experiment
    specs: list[RunSpec]
    layout: ResultsLayout
    fingerprint: str


def default_results_dir(exp: Experiment) -> Path:
    return Path("results") / exp.name


def fingerprint(specs: list[RunSpec]) -> str:
    """Identity of a plan: the sorted run ids (paths and executor settings excluded)."""
    return stable_hash(sorted(s.run_id for s in specs))


def _check_results_dir(layout: ResultsLayout, exp: Experiment, fp: str) -> None:
    root = layout.root
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    if root.exists() and not root.is_dir():
        raise ResultsError(f"{root}: results path exists and is not a directory")
    if not os.access(probe, os.W_OK | os.X_OK):
        raise ResultsError(f"{probe}: results directory is not writable; choose another with --results")
    if layout.plan.exists():
        try:
            old = read_json(layout.plan)
        except (OSError, ValueError):
            raise ResultsError(f"{layout.plan}: unreadable plan; move the directory aside") from None
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
    return Prepared(exp, specs, layout, fp)


def _named(source: Path | None, field: str, exc: DataError) -> DataError:
    """``exc`` prefixed with the config file and the field it is about."""
    return DataError(f"{source}: {field}: {exc}" if source is not None else str(exc))


def check_data(exp: Experiment, source: Path | None = None) -> dict[str, bool]:
    """Check (and, for ``generate: true``, create) every dataset the plan uses.

    ``source`` (the config file) and the field are named in errors.
    """
    from .worker.data import ensure_data

    out = {}
    for ds in exp.datasets:
        try:
            out[ds] = ensure_data(ds, getattr(exp.data, ds).model_dump(mode="json"))
        except DataError as exc:
            raise _named(source, f"data.{ds}.path", exc) from None
    return out


def check_inputs(exp: Experiment, source: Path | None = None) -> None:
    """Every input a run reads, checked on the login node: the weights (cheap) first, then the
    datasets (which ``generate: true`` may have to write)."""
    if "celeba" in exp.datasets and exp.data.celeba is not None and exp.data.celeba.weights != "none":
        from .prefetch import check_weights

        try:
            check_weights(exp.data.celeba.weights)
        except DataError as exc:
            raise _named(source, "data.celeba.weights", exc) from None
    check_data(exp, source)


def write_layout(p: Prepared, config: Path) -> None:
    """Write the directory's identity, its plan and every run spec."""
    layout = p.layout
    layout.root.mkdir(parents=True, exist_ok=True)
    if not layout.experiment.exists():
        layout.experiment.write_text(Path(config).read_text())
    write_json(layout.plan, {"experiment": p.experiment.name, "fingerprint": p.fingerprint,
                             "runs": [s.to_dict() for s in p.specs]})
    for s in p.specs:
        write_json(layout.run(s.run_id).spec, s.to_dict())


def _busy(s: RunState) -> bool:
    """Completed, running, or queued with a job: not to be submitted again."""
    return s.state in ("COMPLETED", "RUNNING") or (s.state == "PENDING" and s.job_id is not None)


def runs_to_submit(p: Prepared, force: bool = False, states: list[RunState] | None = None) -> list[RunSpec]:
    """Runs that are missing, failed, cancelled, timed out or lost (all of them with ``force``).

    Never one that completed or is queued or running; ``states`` default to
    the markers (and manifest) without asking the scheduler.
    """
    if force:
        return list(p.specs)
    if states is None:
        states = run_states(p.layout) if p.layout.plan.exists() else []
    busy = {s.run_id for s in states if _busy(s)}
    return [s for s in p.specs if s.run_id not in busy]


def submit(config: Path, results: Path | None = None, executor: str | None = None,
           force: bool = False, echo: Callable[[str], None] = print, dry_run: bool = False,
           profile: Path | None = None) -> Prepared:
    """Validate everything, write the layout, and execute the missing runs.

    On SLURM this returns once the arrays are submitted. ``dry_run`` (SLURM
    only) validates config and profile, writes the sbatch scripts to
    ``DIR/jobs/dry-run/`` and nothing else: no cluster, no data needed.
    """
    p = prepare(config, results, executor, profile)
    kind = p.experiment.executor.kind
    if dry_run:
        if kind != "slurm":
            raise SubmitError("--dry-run renders the SLURM job scripts; add --executor slurm "
                              "(`energybench plan CONFIG` lists the runs)")
        from .executors.slurm import dry_run as render, preflight

        target = preflight(p.experiment, dry_run=True)
        todo = runs_to_submit(p, force)
        echo(f"{p.experiment.name}: {len(p.specs)} planned runs, {len(todo)} to run (dry run)")
        render(p.experiment, p.layout, todo, target, echo=echo)
        return p
    if kind == "slurm":
        return _submit_slurm(p, config, force, echo)
    check_inputs(p.experiment, config)
    write_layout(p, config)
    todo = runs_to_submit(p, force)
    echo(f"{p.experiment.name}: {len(p.specs)} planned runs, {len(todo)} to run, "
         f"executor {kind}, results in {p.layout.root}")
    if not todo:
        return p
    from .executors import get_executor

    get_executor(kind)(p.experiment, p.layout, todo, force=force, echo=echo)
    return p


def _submit_slurm(p: Prepared, config: Path, force: bool, echo: Callable[[str], None]) -> Prepared:
    """Profile and cluster checks, data, layout; then submit what is not done, queued or running."""
    from .executors.slurm import preflight, run_slurm, submission_lock

    target = preflight(p.experiment)
    check_inputs(p.experiment, config)
    write_layout(p, config)
    with submission_lock(p.layout):
        states, _ = current_states(p.layout, max_age_s=0, required=True)
        if force:
            live = [s for s in states if s.state == "RUNNING" or (s.state == "PENDING" and s.job_id)]
            if live:
                raise SubmitError(f"{p.layout.root}: --force would run {len(live)} queued or running runs twice "
                                  f"(e.g. {live[0].run_id}, job {live[0].job_id}); "
                                  f"cancel them first: energybench cancel {p.layout.root}")
        todo = runs_to_submit(p, force, states)
        echo(f"{p.experiment.name}: {len(p.specs)} planned runs, {len(todo)} to submit, "
             f"executor slurm, results in {p.layout.root}")
        if todo:
            queued = {s.run_id: (s.job_id.split("_")[0], int(s.job_id.split("_")[1]))
                      for s in states if s.job_id and _busy(s) and s.state != "COMPLETED"}
            run_slurm(p.experiment, p.layout, todo, force=force, echo=echo, target=target, queued_encoders=queued)
    return p
