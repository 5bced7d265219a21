"""``celeba-multitask``: ResNet18 + both heads, alpha-weighted loss.

The validation accuracy the threshold watches is the identity top-1 accuracy (the harder
task); both accuracies are in the task's metrics."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _celeba
from .base import SyntheticProfile, Workload

HEADS = ("identity", "attributes")


@dataclass(frozen=True)
class CelebaMultitask(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        return _celeba.task(self.name, self.monitor, spec, device, HEADS)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        return _celeba.model(data, HEADS)


WORKLOAD = CelebaMultitask(
    name="celeba-multitask", doc="ResNet18 + both heads, alpha-weighted loss", dataset="celeba", needs=frozenset({"identities"}),
    family="celeba", role="multitask", label="both", headline=False,
    synthetic=SyntheticProfile(11_217_552, 11_217_552, 592_838_656, _celeba.TRAIN_IMAGES, _celeba.VAL_IMAGES,
                               _celeba.IMAGE_INPUT_SIZE, 6.5e-3, 48, 0.05, 0.85, 13))
