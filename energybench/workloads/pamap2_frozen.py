"""``pamap2-frozen``: a new classifier on the pretrained encoder, which stays frozen."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _pamap2
from .base import SyntheticProfile, Workload


@dataclass(frozen=True)
class Pamap2Frozen(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        return _pamap2.classifier_task(self.name, self.monitor, spec, device,
                                       upstream.encoder if upstream is not None else None,
                                       upstream=self.depends_on, frozen=True)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        return _pamap2.classifier_model(data, frozen=True)


WORKLOAD = Pamap2Frozen(
    name="pamap2-frozen", doc="classifier on the pretrained encoder, encoder frozen", dataset="pamap2",
    depends_on="pamap2-autoencoder", family="pamap2", role="frozen",
    synthetic=SyntheticProfile(141_293, 21_021, 10_916_220, _pamap2.TRAIN_WINDOWS, _pamap2.VAL_WINDOWS,
                               _pamap2.WINDOW_INPUT_SIZE, 1.8e-3, 1000, 0.45, 0.84, 4, train_cost=1.3))
