"""``pamap2-baseline``: the conv encoder + classifier trained from scratch on PAMAP2's activity windows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _pamap2
from .base import SyntheticProfile, Workload


@dataclass(frozen=True)
class Pamap2Baseline(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        return _pamap2.classifier_task(self.name, self.monitor, spec, device)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        return _pamap2.classifier_model(data)


WORKLOAD = Pamap2Baseline(
    name="pamap2-baseline", doc="conv encoder + classifier trained from scratch", dataset="pamap2",
    family="pamap2", role="scratch", headline=True,
    synthetic=SyntheticProfile(141_293, 141_293, 10_916_220, _pamap2.TRAIN_WINDOWS, _pamap2.VAL_WINDOWS,
                               _pamap2.WINDOW_INPUT_SIZE, 2.5e-3, 1000, 0.35, 0.88, 6))
