"""Stopping rules the worker is given, not the worker's own: the seam for policies from above.

The epoch loop knows threshold early stopping (:mod:`energybench.stopping`).
Anything else that may stop a run after an epoch (the energy-budget rule of
:mod:`energybench.estimate.budget`) comes in as an :data:`EnergyRuleFactory`
passed to :func:`~energybench.worker.entry.main`, so the worker imports no
higher layer.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from ..paths import RunPaths
    from ..plan import RunSpec


class RuleDecision(Protocol):
    """One check of a rule: whether to stop, why (one line), and what to record in ``run.json``."""

    stop: bool
    reason: str

    def to_dict(self) -> dict[str, Any]: ...


class EnergyRule(Protocol):
    """Asked after every epoch of an accuracy-monitored run that early stopping did not stop."""

    #: The ``stop_reason`` a run stopped by this rule records.
    stop_reason: str

    def after_epoch(self, energy_j: float, val_accuracy: float | None) -> RuleDecision | None:
        """The rule after one more epoch (its energy in joules, its validation accuracy); None: not due."""
        ...


#: ``(spec, run, attempt, start_epoch) -> rule`` for one run, or None when the run's config turns it off.
EnergyRuleFactory = Callable[["RunSpec", "RunPaths", int, int], "EnergyRule | None"]


class Admission(Protocol):
    """What one launch of a searched run may do."""

    rung: int  # the rung this launch trains in
    until_epoch: int | None  # pause (checkpointed) after this epoch; None: train to early stopping
    pruned: bool  # a rung's decision pruned the run: it is finished, nothing trains


class RungGate(Protocol):
    """Successive halving's gate (:mod:`energybench.search.rungs`), passed at every launch of a run."""

    def admit(self) -> Admission:
        """Where the run stands: its rung and the epoch it pauses at, or pruned."""
        ...

    def paused(self, rung: int, epoch: int, attempt: int) -> None:
        """The run reached the end of ``rung`` after ``epoch`` (checkpointed); record it."""
        ...


#: ``(spec, run) -> gate`` for one run, or None when its config has no search.
RungGateFactory = Callable[["RunSpec", "RunPaths"], "RungGate | None"]


#: ``spec -> workload`` (an ``energybench.workloads.Workload``): how the worker finds what a run trains.
#: Passed in from above (``energybench.launch``) like the rules: the worker imports no registry.
WorkloadResolver = Callable[["RunSpec"], Any]
