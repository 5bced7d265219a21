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
from .errors import ResultsError
from .paths import ResultsLayout, read_json, write_json
from .plan import RunSpec, plan, stable_hash
from .status import run_states


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


def prepare(config: Path, results: Path | None, executor: str | None) -> Prepared:
    """Validate the config, plan it, and check (not yet write) the results directory."""
    exp = override_executor(load_config(config), executor)
    specs = plan(exp)
    layout = ResultsLayout(results if results is not None else default_results_dir(exp))
    fp = fingerprint(specs)
    _check_results_dir(layout, exp, fp)
    return Prepared(exp, specs, layout, fp)


def check_data(exp: Experiment) -> dict[str, bool]:
    """Check (and, for ``generate: true``, create) every dataset the plan uses."""
    from .worker.data import ensure_data

    return {ds: ensure_data(ds, getattr(exp.data, ds).model_dump(mode="json")) for ds in exp.datasets}


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


def runs_to_submit(p: Prepared, force: bool = False) -> list[RunSpec]:
    """Runs that are not completed, queued or running (all of them with ``force``)."""
    if force:
        return list(p.specs)
    skip = {"COMPLETED", "RUNNING"}
    states = {s.run_id: s.state for s in run_states(p.layout)}
    return [s for s in p.specs if states.get(s.run_id) not in skip]


def submit(config: Path, results: Path | None = None, executor: str | None = None,
           force: bool = False, echo: Callable[[str], None] = print) -> Prepared:
    """Validate everything, write the layout, and execute the missing runs."""
    p = prepare(config, results, executor)
    check_data(p.experiment)
    write_layout(p, config)
    todo = runs_to_submit(p, force)
    echo(f"{p.experiment.name}: {len(p.specs)} planned runs, {len(todo)} to run, "
         f"executor {p.experiment.executor.kind}, results in {p.layout.root}")
    if not todo:
        return p
    from .executors import get_executor

    get_executor(p.experiment.executor.kind)(p.experiment, p.layout, todo, force=force, echo=echo)
    return p
