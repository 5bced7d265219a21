"""``pamap2-unfrozen``: a new classifier on the pretrained encoder, which is fine-tuned with it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _pamap2
from .base import SyntheticProfile, Workload


@dataclass(frozen=True)
class Pamap2Unfrozen(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        return _pamap2.classifier_task(self.name, self.monitor, spec, device,
                                       upstream.encoder if upstream is not None else None,
                                       upstream=self.depends_on, frozen=False)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        return _pamap2.classifier_model(data)


WORKLOAD = Pamap2Unfrozen(
    name="pamap2-unfrozen", doc="classifier on the pretrained encoder, encoder fine-tuned", dataset="pamap2",
    depends_on="pamap2-autoencoder", family="pamap2", role="unfrozen",
    synthetic=SyntheticProfile(141_293, 141_293, 10_916_220, _pamap2.TRAIN_WINDOWS, _pamap2.VAL_WINDOWS,
                               _pamap2.WINDOW_INPUT_SIZE, 2.5e-3, 1000, 0.50, 0.90, 3))
