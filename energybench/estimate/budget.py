"""Energy-aware early stopping (del Rey et al., section 5.4), off by default.

After the stable window (``early_stopping.stable_epoch`` and
``window_epochs``), while a run has not yet reached the accuracy threshold,
its energy to reach the threshold is forecast (:func:`.forecast.forecast`:
energy so far + the stable per-epoch energy x the epochs the learning curve
still needs, or to ``max_epochs`` if the curve never gets there). The run
stops, with stop reason ``energy_budget``, when that forecast exceeds

* ``energy_budget_wh``, or
* ``energy_budget_factor`` (k) x the least energy any *completed run of its
  family* spent to reach the threshold. The family of a run is the other
  grid cells of the same paradigm on the same hardware in the same results
  directory (any setup, any repeat): the runs it competes with. Runs that
  never reached the threshold, or were stopped by this rule, do not count;
  until one has completed, the factor rule waits.

A run that has reached the threshold is never stopped by this rule, and
neither is a loss-monitored run (the autoencoder): patience decides.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import pyarrow.parquet as pq

from ..paths import RunPaths, read_json
from ..states import State
from ..units import J_PER_WH
from . import forecast, online

STOP_REASON = "energy_budget"


@dataclass(frozen=True)
class Decision:
    """One check of the rule."""

    stop: bool
    epoch: int
    forecast_energy_to_threshold_j: float
    threshold_epoch_forecast: float | None  # None: not before max_epochs
    limit_j: float  # the smaller of the budget and k x the family's best
    budget_j: float | None
    family_best_j: float | None
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def enabled(early_stopping: dict[str, Any]) -> bool:
    """Whether the spec's early stopping asks for the energy rule."""
    return bool(early_stopping.get("energy_budget_wh") or early_stopping.get("energy_budget_factor"))


def check(energy_j: list[float], val_accuracy: list[float | None], early_stopping: dict[str, Any],
          family_best: Callable[[], float | None] = lambda: None) -> Decision | None:
    """The rule after the latest epoch of ``energy_j``; None when it does not apply (yet).

    The caller passes every epoch's energy (joules) and accuracy so far, all
    attempts, and a function giving the family's best energy to the
    threshold (joules), asked only when the rule has a factor and is due.
    """
    es = early_stopping
    k = es.get("stable_epoch", online.STABLE_EPOCH)
    w = es.get("window_epochs", online.WINDOW_EPOCHS)
    if (len(energy_j) < k + w - 1 or not enabled(es)
            or any(a is not None and a >= es["threshold"] for a in val_accuracy)):
        return None
    budget_j = es["energy_budget_wh"] * J_PER_WH if es.get("energy_budget_wh") else None
    factor = es.get("energy_budget_factor")
    family_best_j = family_best() if factor else None
    limits = [v for v in (budget_j, factor * family_best_j if factor and family_best_j else None) if v]
    if not limits:
        return None
    fc = forecast.forecast(energy_j, val_accuracy, threshold=es["threshold"],
                         patience_epochs=es["patience_epochs"], max_epochs=es["max_epochs"],
                         min_delta=es.get("min_delta", 0.0), stable_epoch=k, window_epochs=w)
    if fc is None:
        return None
    limit = min(limits)
    stop = fc.energy_to_threshold_j > limit
    when = (f"at epoch {fc.threshold_epoch:.0f}" if fc.threshold_epoch is not None
            else f"never before epoch {es['max_epochs']}")
    reason = (f"forecast {fc.energy_to_threshold_j / J_PER_WH:.4g} Wh to reach accuracy {es['threshold']} ({when}) "
              f"{'exceeds' if stop else 'within'} {limit / J_PER_WH:.4g} Wh")
    return Decision(stop=stop, epoch=len(energy_j), forecast_energy_to_threshold_j=fc.energy_to_threshold_j,
                    threshold_epoch_forecast=fc.threshold_epoch, limit_j=limit, budget_j=budget_j,
                    family_best_j=family_best_j, reason=reason)


def epoch_rows(run: RunPaths, columns: tuple[str, ...] = ("energy_j", "val_accuracy")) -> list[dict[str, Any]]:
    """The run's epochs so far, across attempts (a later attempt's row of an epoch wins), by epoch.

    Reads the worker's epoch shards directly, so it works while the run trains.
    """
    rows: dict[int, dict[str, Any]] = {}
    for path in run.epoch_shards():
        try:
            table = pq.read_table(path, columns=["attempt", "epoch", *columns])
        except (OSError, ValueError):
            continue  # a shard being replaced or damaged: collect quarantines it, the rule skips it
        for r in sorted(table.to_pylist(), key=lambda r: r["attempt"]):
            rows[r["epoch"]] = r
    return [rows[e] for e in sorted(rows)]


def history(run: RunPaths, before_attempt: int) -> tuple[list[float], list[float | None]]:
    """(energy_j, val_accuracy) of the epochs earlier attempts measured (resume), epoch 1 on."""
    rows = [r for r in epoch_rows(run) if r["attempt"] < before_attempt]
    return [r["energy_j"] or 0.0 for r in rows], [r["val_accuracy"] for r in rows]


def energy_to_threshold_j(run: RunPaths, threshold_epoch: int) -> float | None:
    """Energy a finished run spent in epochs 1..threshold_epoch; None if an epoch is missing or unmeasured."""
    rows = [r for r in epoch_rows(run) if r["epoch"] <= threshold_epoch]
    if len(rows) != threshold_epoch or any(r["energy_j"] is None for r in rows):
        return None
    return float(sum(r["energy_j"] for r in rows))


def family_best_j(run: RunPaths, spec: dict[str, Any]) -> float | None:
    """Least energy to the threshold among completed runs of the family (see the module docstring)."""
    best = None
    for other in run.siblings():
        if not (other.done.exists() and other.record.exists() and other.spec.exists()):
            continue
        try:
            sib, rec = read_json(other.spec), read_json(other.record)
        except (OSError, ValueError):
            continue
        if (sib.get("paradigm"), sib.get("hardware")) != (spec["paradigm"], spec["hardware"]):
            continue
        if rec.get("status") != State.COMPLETED or rec.get("stop_reason") == STOP_REASON or not rec.get("threshold_epoch"):
            continue
        e = energy_to_threshold_j(other, int(rec["threshold_epoch"]))
        if e is not None and (best is None or e < best):
            best = e
    return best


class BudgetRule:
    """The rule for one run, as the epoch loop asks it (:class:`energybench.worker.rules.EnergyRule`).

    It keeps every epoch's energy and accuracy so far, starting from what
    earlier attempts measured before ``start_epoch`` (a resumed run).
    """

    stop_reason = STOP_REASON

    def __init__(self, spec: dict[str, Any], run: RunPaths, attempt: int, start_epoch: int) -> None:
        self.spec, self.run = spec, run
        energy_j, val_accuracy = history(run, attempt)
        self.energy_j, self.val_accuracy = energy_j[:start_epoch], val_accuracy[:start_epoch]

    def after_epoch(self, energy_j: float, val_accuracy: float | None) -> Decision | None:
        self.energy_j.append(energy_j)
        self.val_accuracy.append(val_accuracy)
        return check(self.energy_j, self.val_accuracy, self.spec["early_stopping"],
                     lambda: family_best_j(self.run, self.spec))


def rule_for(spec: Any, run: RunPaths, attempt: int, start_epoch: int) -> BudgetRule | None:
    """The energy-budget rule of one run (an ``EnergyRuleFactory``), or None when its config turns it off."""
    d = spec.to_dict()
    return BudgetRule(d, run, attempt, start_epoch) if enabled(d["early_stopping"]) else None
