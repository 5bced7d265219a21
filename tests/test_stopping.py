from __future__ import annotations

import pytest

from energybench.stopping import ThresholdEarlyStopping


def run(values: list[float | None], **kw) -> ThresholdEarlyStopping:
    s = ThresholdEarlyStopping(**{"monitor": "val_accuracy", "threshold": 0.8, "patience_epochs": 3,
                                  "max_epochs": 100, **kw})
    for v in values:
        if s.update(v):
            break
    return s


def test_never_reaches_threshold_runs_to_max_epochs() -> None:
    s = run([0.5, 0.6, 0.55, 0.7, 0.79, 0.6], max_epochs=6)
    assert s.stop_reason == "max_epochs" and s.epoch == 6 and s.threshold_epoch is None


def test_patience_counts_only_after_threshold() -> None:
    # 10 epochs without improvement before the threshold do not stop the run
    s = run([0.5] * 10 + [0.81, 0.80, 0.80, 0.80, 0.9])
    assert s.threshold_epoch == 11
    assert s.stop_reason == "patience" and s.epoch == 14


def test_reaches_then_plateaus() -> None:
    s = run([0.7, 0.85, 0.86, 0.9, 0.9, 0.89, 0.9, 0.5])
    assert s.threshold_epoch == 2 and s.best == 0.9 and s.best_epoch == 4
    assert s.stop_reason == "patience" and s.epoch == 7


def test_max_epochs_wins_while_improving() -> None:
    s = run([0.81, 0.82, 0.83, 0.84], max_epochs=4)
    assert s.stop_reason == "max_epochs" and s.epoch == 4


def test_loss_monitor_has_no_threshold() -> None:
    s = run([1.0, 0.5, 0.6, 0.7, 0.8], monitor="val_loss")
    assert s.stop_reason == "patience" and s.epoch == 5 and s.best == 0.5


def test_nan_never_improves_and_state_roundtrips() -> None:
    s = run([0.81, float("nan"), None])
    t = ThresholdEarlyStopping.from_state(s.state_dict())
    assert t == s
    assert t.update(0.5) is True and t.stop_reason == "patience"


@pytest.mark.parametrize("patience", [1, 40])
def test_stops_exactly_patience_epochs_after_best(patience: int) -> None:
    s = run([0.9] + [0.9] * 100, patience_epochs=patience, max_epochs=1000)
    assert s.epoch == 1 + patience
