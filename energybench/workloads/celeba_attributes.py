"""``celeba-attributes``: ResNet18 + conv head, 40 binary attributes (mean accuracy)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _celeba
from .base import SyntheticProfile, Workload

HEADS = ("attributes",)


@dataclass(frozen=True)
class CelebaAttributes(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        return _celeba.task(self.name, self.monitor, spec, device, HEADS)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        return _celeba.model(data, HEADS)


WORKLOAD = CelebaAttributes(
    name="celeba-attributes", doc="ResNet18 + conv head, 40 binary attributes (mean accuracy)", dataset="celeba", needs=frozenset(),
    family="celeba", role="single", label="attribute", headline=False,
    synthetic=SyntheticProfile(11_197_032, 11_197_032, 592_510_976, _celeba.TRAIN_IMAGES, _celeba.VAL_IMAGES,
                               _celeba.IMAGE_INPUT_SIZE, 6e-3, 48, 0.80, 0.90, 3))
