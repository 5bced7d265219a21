"""Energy-aware early stopping: the rule, the run's family, and the real epoch loop stopping on it."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
import torch

from energybench.config import EarlyStopping, parse_config
from energybench.estimate import budget
from energybench.meter.sampler import PhaseStats
from energybench.paths import ResultsLayout, write_json
from energybench.plan import plan
from energybench.schema import EPOCH_SCHEMA
from energybench.shards import write_table

RULE = {"threshold": 0.9, "patience_epochs": 5, "max_epochs": 200, "min_delta": 0.0,
        "stable_epoch": 3, "window_epochs": 2}
SLOW = [0.95 - 0.65 * math.exp(-e / 8) for e in range(1, 40)]  # reaches 0.9 at epoch 21: about 1000 J at 50 J an epoch


def test_off_by_default() -> None:
    es = EarlyStopping().model_dump()
    assert es["energy_budget_wh"] is None and es["energy_budget_factor"] is None
    assert (es["stable_epoch"], es["window_epochs"]) == (10, 5)
    assert not budget.enabled(es)
    assert budget.check([50.0] * 20, SLOW[:20], es) is None


def test_budget_in_wh_stops_only_after_the_window() -> None:
    es = {**RULE, "energy_budget_wh": 700 / 3600}  # 700 J
    assert budget.check([50.0] * 3, SLOW[:3], es) is None  # window 3..4 not complete
    d = budget.check([50.0] * 4, SLOW[:4], es)
    assert d is not None and d.stop and d.limit_j == pytest.approx(700.0)
    assert d.forecast_energy_to_threshold_j > 700.0 and "exceeds" in d.reason
    roomy = budget.check([50.0] * 4, SLOW[:4], {**RULE, "energy_budget_wh": 1.0})  # 3600 J
    assert roomy is not None and not roomy.stop


def test_never_applies_once_the_threshold_is_reached() -> None:
    es = {**RULE, "energy_budget_wh": 1e-6}
    assert budget.check([50.0] * 6, [0.5, 0.6, 0.95, 0.9, 0.9, 0.9], es) is None


def test_factor_rule_waits_for_a_completed_family_run() -> None:
    es = {**RULE, "energy_budget_factor": 2.0}
    assert budget.check([50.0] * 6, SLOW[:6], es, lambda: None) is None
    d = budget.check([50.0] * 6, SLOW[:6], es, lambda: 400.0)
    assert d is not None and d.stop and d.limit_j == 800.0 and d.family_best_j == 400.0


def _sibling(layout: ResultsLayout, run_id: str, spec: dict[str, Any], energies: list[float],
             record: dict[str, Any]) -> None:
    run = layout.run(run_id)
    write_json(run.spec, {**spec, "run_id": run_id})
    rows = [{"run_id": run_id, "attempt": 1, "epoch": i + 1, "start_s": 0.0, "duration_s": 1.0, "energy_j": e,
             "energy_eq1_j": e, "mean_power_w": e, "samples": 3, "coverage_frac": 1.0, "low_samples": False,
             "net_energy_j": None, "train_loss": None, "val_loss": None, "val_accuracy": None}
            for i, e in enumerate(energies)]
    write_table(run.epochs(1), pa.Table.from_pylist(rows, schema=EPOCH_SCHEMA), EPOCH_SCHEMA)
    write_json(run.record, {"status": "COMPLETED", **record})
    write_json(run.done, {"attempt": 1})


def test_family_is_same_paradigm_and_hardware_completed_and_reached(tmp_path: Path) -> None:
    layout = ResultsLayout(tmp_path)
    me = {"paradigm": "pamap2-baseline", "hardware": "h100"}
    write_json(layout.run("me").spec, {**me, "run_id": "me"})
    _sibling(layout, "a", me, [10, 20, 30, 40], {"threshold_epoch": 3, "stop_reason": "patience"})  # 60 J
    _sibling(layout, "b", me, [50, 50, 50], {"threshold_epoch": 2, "stop_reason": "patience"})  # 100 J
    _sibling(layout, "c", {**me, "hardware": "a100"}, [1, 1], {"threshold_epoch": 1, "stop_reason": "patience"})
    _sibling(layout, "d", {**me, "paradigm": "pamap2-frozen"}, [1], {"threshold_epoch": 1, "stop_reason": "patience"})
    _sibling(layout, "e", me, [1, 1], {"threshold_epoch": None, "stop_reason": "max_epochs"})
    _sibling(layout, "f", me, [1, 1], {"threshold_epoch": 1, "stop_reason": "energy_budget"})
    assert budget.family_best_j(layout.run("me"), me) == 60.0
    assert budget.family_best_j(layout.run("me"), {**me, "hardware": "rtx3090"}) is None


# --- the real loop --------------------------------------------------------------------------

class _Task:
    """Trains a one-weight model; its validation accuracy follows a script."""

    monitor = "val_accuracy"

    def __init__(self, accuracies: list[float]) -> None:
        self.model = torch.nn.Linear(1, 1)
        self._acc = iter(accuracies)

    def parameters_to_train(self) -> list[torch.nn.Parameter]:
        return list(self.model.parameters())

    def set_train_mode(self) -> None:
        self.model.train()

    def train_batches(self, batch_size: int, generator: torch.Generator):
        yield torch.ones(2, 1), torch.zeros(2, 1)

    def loss(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((self.model(x) - y) ** 2).mean()

    def evaluate(self, batch_size: int) -> tuple[float, float]:
        return 1.0, next(self._acc)


class _Sampler:
    """Every epoch: 50 J."""

    def begin(self, epoch: int, phase: str) -> None:
        return None

    def stats(self, epoch: int) -> PhaseStats:
        return PhaseStats(start_s=0.0, end_s=1.0, samples=3, mean_power_w=50.0, trapz_energy_j=50.0,
                          counter_energy_j=None)


@pytest.mark.parametrize(("extra", "reason", "epochs"), [
    ({}, "max_epochs", 30),
    ({"energy_budget_wh": 700 / 3600, "stable_epoch": 3, "window_epochs": 2}, "energy_budget", 4),
])
def test_the_epoch_loop_stops_on_the_budget_and_records_why(tmp_path: Path, extra: dict, reason: str,
                                                            epochs: int) -> None:
    from energybench.estimate.budget import rule_for
    from energybench.worker.train import run_epochs

    cfg = {"name": "b", "grid": {"batch_sizes": [2], "learning_rates": [0.01]}, "paradigms": ["pamap2-baseline"],
           "hardware": ["cpu"], "data": {"pamap2": {"path": str(tmp_path)}},
           "early_stopping": {"threshold": 0.9, "patience_epochs": 5, "max_epochs": 30, **extra}}
    spec = plan(parse_config(cfg, tmp_path / "c.yaml"))[0]
    run = ResultsLayout(tmp_path / "res").run(spec.run_id)
    result = run_epochs(spec, run, 1, _Task(SLOW), _Sampler(), torch.device("cpu"), None, lambda **_: None,
                        stop_requested=threading.Event(), energy_rule=rule_for)
    assert (result.stop_reason, result.epochs) == (reason, epochs)
    if reason == "energy_budget":
        assert result.energy_budget is not None and result.energy_budget["stop"]
        assert result.energy_budget["forecast_energy_to_threshold_j"] > 700.0
    else:
        assert result.energy_budget is None
