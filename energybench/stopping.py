"""Threshold early stopping, as in the study. Pure; no torch.

For accuracy-monitored runs, patience counting starts only once the monitored
validation accuracy first reaches the threshold; from then on the run stops
after ``patience_epochs`` epochs without an improvement of the best accuracy
(by more than ``min_delta``). Loss-monitored runs (the autoencoder) have no
threshold: patience counts from the first epoch on the best validation loss.
Every run stops at ``max_epochs``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ThresholdEarlyStopping:
    """Decides after each epoch whether to stop; its state goes into checkpoints."""

    monitor: str | None  # "val_accuracy" (maximise, threshold rule), "val_loss" (minimise), None (max_epochs only)
    threshold: float
    patience_epochs: int
    max_epochs: int
    min_delta: float = 0.0
    epoch: int = 0
    best: float | None = None
    best_epoch: int | None = None
    threshold_epoch: int | None = None
    stop_reason: str | None = field(default=None)

    @property
    def armed(self) -> bool:
        """Whether patience is being counted."""
        return self.monitor == "val_loss" or self.threshold_epoch is not None

    def _improved(self, value: float) -> bool:
        if self.best is None:
            return True
        if self.monitor == "val_loss":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def update(self, value: float | None) -> bool:
        """Record the monitored value of the epoch just finished; True means stop."""
        self.epoch += 1
        if value is not None and value == value:  # NaN never improves
            if self.monitor == "val_accuracy" and self.threshold_epoch is None and value >= self.threshold:
                self.threshold_epoch = self.epoch
                self.best, self.best_epoch = value, self.epoch
            elif self._improved(value):
                self.best, self.best_epoch = value, self.epoch
        if self.armed and self.best_epoch is not None:
            since = self.epoch - max(self.best_epoch, self.threshold_epoch or 0)
            if since >= self.patience_epochs:
                self.stop_reason = "patience"
                return True
        if self.epoch >= self.max_epochs:
            self.stop_reason = "max_epochs"
            return True
        return False

    def state_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "ThresholdEarlyStopping":
        return cls(**state)
