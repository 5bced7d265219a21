"""The executor protocol: what ``submit`` hands a backend, and what it gets back.

``submit`` validates, plans, checks the inputs and lays out the results
directory once; then it asks the executor which runs are queued or running
(:meth:`Executor.states`), selects what to do (:func:`energybench.submit.select_runs`)
and hands the :class:`Prepared` plan and the :class:`Selection` to
:meth:`Executor.run` (or :meth:`Executor.dry_run`). Both backends, local and
SLURM, implement this protocol and return an :class:`Outcome`.
"""

from __future__ import annotations

import fcntl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from ..config import Experiment
from ..errors import SubmitError
from ..paths import ResultsLayout
from ..plan import RunSpec
from ..status import RunState

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Prepared:
    """A validated experiment, its plan and its (checked) results directory."""

    experiment: Experiment
    specs: list[RunSpec]
    layout: ResultsLayout
    fingerprint: str  # identity of the plan: the hash of its sorted run ids
    config: Path | None = None  # the config file it came from (named in errors)


@dataclass(frozen=True)
class Selection:
    """The runs to execute, and what an earlier submission still has queued or running."""

    todo: list[RunSpec]
    #: run id -> SLURM task id (``<job>_<index>``) of runs queued or running from an earlier submission
    queued: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Outcome:
    """What an executor did with a selection."""

    executor: str  # "local" | "slurm"
    runs: int  # runs handed to the backend
    waited: bool  # True: returned once every run ended (local); False: queued, not waited for (SLURM)
    job_ids: dict[str, str] = field(default_factory=dict)  # array name -> SLURM job id
    written: list[Path] = field(default_factory=list)  # files a dry run wrote
    held: int = 0  # runs held back by the user's submission limits (a later submit tops up)


class Executor(Protocol):
    """A backend that executes planned runs. Built by :func:`energybench.executors.open_executor`,
    which has already run the backend's own checks (nothing written yet)."""

    kind: str  # "local" | "slurm"
    verb: str  # how submit's summary line says what it will do: "to run", "to submit"

    def states(self, layout: ResultsLayout) -> list[RunState]:
        """Every planned run's state as this backend sees it (the markers, joined with the scheduler)."""
        ...

    def run(self, prepared: Prepared, selection: Selection, *, echo: Echo) -> Outcome:
        """Execute (or submit) ``selection.todo``."""
        ...

    def dry_run(self, prepared: Prepared, selection: Selection, *, echo: Echo) -> Outcome:
        """Show what :meth:`run` would do, writing only under ``DIR/jobs/dry-run/``."""
        ...


@contextmanager
def submission_lock(layout: ResultsLayout) -> Iterator[None]:
    """One ``submit`` at a time per results directory, on either backend (no run is executed twice).

    An advisory ``flock``: released by the kernel when the holder dies.
    """
    layout.root.mkdir(parents=True, exist_ok=True)
    with open(layout.submit_lock, "a") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SubmitError(f"{layout.root}: another `energybench submit` is submitting into this "
                              "directory; wait for it to return") from None
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
