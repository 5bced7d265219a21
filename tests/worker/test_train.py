"""The epoch loop (energybench/worker/train.py) with a scripted task and sampler: rows, stopping, resuming."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
import torch

from energybench.config import parse_config
from energybench.paths import ResultsLayout, RunPaths
from energybench.plan import RunSpec, plan
from energybench.worker.checkpoint import load_checkpoint
from energybench.worker.signals import Interrupted
from energybench.worker.train import epoch_row, run_epochs

from ..conftest import minimal_config

EPOCH_J = 5.0  # what the scripted sampler measures per epoch, joules


def _spec(tmp: Path, **early_stopping: Any) -> RunSpec:
    cfg = minimal_config(tmp, early_stopping={"threshold": 0.8, "patience_epochs": 2, "max_epochs": 4,
                                              **early_stopping})
    return plan(parse_config(cfg, tmp / "c.yaml"))[0]


class Task:
    """A tiny model whose validation accuracy per epoch is scripted."""

    def __init__(self, accuracies: list[float], monitor: str = "val_accuracy") -> None:
        self.accuracies, self.monitor = accuracies, monitor
        self.model = torch.nn.Linear(2, 2)
        self.evaluated = 0

    def parameters_to_train(self) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())

    def set_train_mode(self) -> None:
        self.model.train()

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Any:
        for _ in range(2):
            yield torch.randn(4, 2, generator=generator), torch.zeros(4, dtype=torch.long)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return torch.nn.functional.cross_entropy(self.model(x), y)

    def evaluate(self, batch_size: int) -> tuple[float, float | None]:
        self.evaluated += 1
        return 1.0 / self.evaluated, self.accuracies[self.evaluated - 1]


@dataclass
class Stats:
    samples: int = 10
    mean_power_w: float = 50.0
    start_s: float = 0.0
    end_s: float = 0.1

    def energy_j(self) -> float:
        return EPOCH_J


class Sampler:
    """Records the phases it is told; measures EPOCH_J per epoch."""

    def __init__(self) -> None:
        self.phases: list[tuple[int, str]] = []

    def begin(self, epoch: int, phase: str) -> None:
        self.phases.append((epoch, phase))

    def stats(self, epoch: int) -> Stats:
        return Stats()


def _run(tmp: Path) -> RunPaths:
    return ResultsLayout(tmp / "res").run("r")


def _rows(run: RunPaths, attempt: int = 1) -> list[dict[str, Any]]:
    return pq.read_table(run.epochs(attempt)).to_pylist()


def test_every_epoch_writes_one_row_until_max_epochs(tmp_path: Path) -> None:
    spec, run, sampler = _spec(tmp_path), _run(tmp_path), Sampler()
    progress: list[dict[str, Any]] = []
    result = run_epochs(spec, run, 1, Task([0.1, 0.2, 0.3, 0.4]), sampler, torch.device("cpu"), None,
                        lambda **p: progress.append(p))
    assert (result.epochs, result.stop_reason, result.threshold_epoch) == (4, "max_epochs", None)
    assert (result.best_val_accuracy, result.resumed_from_epoch, result.energy_budget) == (0.4, 0, None)
    rows = _rows(run)
    assert [(r["epoch"], r["attempt"], r["run_id"]) for r in rows] == [(e, 1, spec.run_id) for e in (1, 2, 3, 4)]
    assert [r["energy_j"] for r in rows] == [EPOCH_J] * 4 and [r["val_accuracy"] for r in rows] == [0.1, 0.2, 0.3, 0.4]
    assert sampler.phases == [(e, p) for e in (1, 2, 3, 4) for p in ("train", "eval", "checkpoint")]
    assert [p["energy_j_this_attempt"] for p in progress] == [5.0, 10.0, 15.0, 20.0]
    assert [p["epoch"] for p in progress] == [1, 2, 3, 4]
    assert load_checkpoint(run.checkpoint)["epoch"] == 4


def test_patience_counts_from_the_threshold(tmp_path: Path) -> None:
    spec, run = _spec(tmp_path, max_epochs=10), _run(tmp_path)
    result = run_epochs(spec, run, 1, Task([0.5, 0.85, 0.84, 0.83, 0.9, 0.9]), Sampler(), torch.device("cpu"),
                        None, lambda **p: None)
    # threshold at epoch 2; epochs 3 and 4 do not improve on 0.85: patience 2 is spent
    assert (result.epochs, result.stop_reason, result.threshold_epoch, result.best_val_accuracy) == (
        4, "patience", 2, 0.85)
    assert len(_rows(run)) == 4


def test_a_stopped_run_resumes_after_its_checkpoint(tmp_path: Path) -> None:
    spec, run = _spec(tmp_path), _run(tmp_path)
    stop = threading.Event()

    def after_epoch(**p: Any) -> None:
        if p["epoch"] == 2:
            stop.set()

    with pytest.raises(Interrupted) as exc:
        run_epochs(spec, run, 1, Task([0.1] * 4), Sampler(), torch.device("cpu"), None, after_epoch,
                   stop_requested=stop)
    assert exc.value.epoch == 2
    sampler = Sampler()
    result = run_epochs(spec, run, 2, Task([0.3, 0.4]), sampler, torch.device("cpu"), None, lambda **p: None)
    assert (result.resumed_from_epoch, result.epochs, result.stop_reason) == (2, 4, "max_epochs")
    assert [r["epoch"] for r in _rows(run, 1)] == [1, 2] and [r["epoch"] for r in _rows(run, 2)] == [3, 4]
    assert sampler.phases[0] == (3, "train")


@dataclass
class Decision:
    stop: bool
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {"stop": self.stop, "reason": self.reason}


class BudgetRule:
    """Stops once the energy so far exceeds ``budget_j``."""

    stop_reason = "energy_budget"

    def __init__(self, budget_j: float) -> None:
        self.budget_j, self.spent_j, self.seen = budget_j, 0.0, []

    def after_epoch(self, energy_j: float, val_accuracy: float | None) -> Decision:
        self.spent_j += energy_j
        self.seen.append((energy_j, val_accuracy))
        return Decision(self.spent_j > self.budget_j, f"{self.spent_j} J > {self.budget_j} J")


def test_the_energy_rule_it_is_given_can_stop_the_run(tmp_path: Path) -> None:
    spec, run = _spec(tmp_path), _run(tmp_path)
    made: list[tuple[Any, ...]] = []
    rule = BudgetRule(budget_j=1.5 * EPOCH_J)

    def factory(*args: Any) -> BudgetRule:
        made.append(args)
        return rule

    result = run_epochs(spec, run, 1, Task([0.1, 0.2, 0.3, 0.4]), Sampler(), torch.device("cpu"), None,
                        lambda **p: None, energy_rule=factory)
    assert made == [(spec, run, 1, 0)]  # (spec, run, attempt, start epoch), once per attempt
    assert rule.seen == [(EPOCH_J, 0.1), (EPOCH_J, 0.2)]
    assert (result.epochs, result.stop_reason) == (2, "energy_budget")
    assert result.energy_budget == {"stop": True, "reason": "10.0 J > 7.5 J"}
    assert load_checkpoint(run.checkpoint)["stopper"]["stop_reason"] == "energy_budget"  # a resume stays stopped


def test_the_energy_rule_is_not_asked_about_a_loss_monitored_run(tmp_path: Path) -> None:
    spec, run = _spec(tmp_path), _run(tmp_path)
    calls: list[Any] = []
    result = run_epochs(spec, run, 1, Task([None] * 4, monitor="val_loss"), Sampler(),  # type: ignore[list-item]
                        torch.device("cpu"), None, lambda **p: None, energy_rule=lambda *a: calls.append(a))
    assert calls == [] and result.epochs == 4 and result.best_val_accuracy is None


def test_epoch_row_energy_both_ways_and_net_of_idle(tmp_path: Path) -> None:
    spec = _spec(tmp_path)
    row = epoch_row(spec, 1, 3, 100.0, 2.0, Stats(samples=4, mean_power_w=40.0, start_s=0.0, end_s=1.0), 10.0,
                    0.5, 0.4, 0.7)
    assert (row["energy_j"], row["energy_eq1_j"], row["net_energy_j"]) == (EPOCH_J, 80.0, EPOCH_J - 20.0)
    assert (row["coverage_frac"], row["low_samples"], row["samples"]) == (0.5, False, 4)
    empty = epoch_row(spec, 1, 3, 100.0, 2.0, None, 10.0, 0.5, 0.4, 0.7)
    assert (empty["energy_j"], empty["energy_eq1_j"], empty["net_energy_j"]) == (None, None, None)
    assert (empty["samples"], empty["low_samples"], empty["coverage_frac"]) == (0, True, 0.0)
    assert epoch_row(spec, 1, 3, 100.0, 2.0, Stats(), None, 0.5, 0.4, 0.7)["net_energy_j"] is None  # no idle
