"""``pamap2-autoencoder``: pretraining of the conv encoder by reconstructing the normalised window.

Monitors the validation loss (no accuracy threshold) and leaves ``encoder.pt``
for the runs of the same setup and repeat that train on it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import _pamap2
from .base import SyntheticProfile, Workload


@dataclass(frozen=True)
class Pamap2Autoencoder(Workload):
    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        from ..worker import models
        from ..worker.tasks import Pamap2AutoencoderTask

        s = _pamap2.splits(spec.data)
        train, val = _pamap2.tensors(s)
        return Pamap2AutoencoderTask(self.name, models.Pamap2Autoencoder(len(s.channels)), train, val, device,
                                     loader=spec.loader, workers=spec.loader_workers, monitor=self.monitor)

    def build_model(self, data: dict[str, Any]) -> tuple[Any, Any, tuple[int, int]]:
        import torch

        from ..worker import models

        s = _pamap2.splits(data)
        example = torch.zeros(1, len(s.channels), int(data["window_samples"]))
        return models.Pamap2Autoencoder(len(s.channels)), example, (len(s.train[0]), len(s.val[0]))

    def save_artefacts(self, task: Any, run: Any) -> None:
        task.save_artifacts(run.encoder)


WORKLOAD = Pamap2Autoencoder(
    name="pamap2-autoencoder", doc="autoencoder pretraining of the encoder (reconstruction loss)",
    dataset="pamap2", monitor="val_loss", artefacts=("encoder.pt",), family="pamap2", role="pretrain",
    synthetic=SyntheticProfile(227_020, 227_020, 17_465_344, _pamap2.TRAIN_WINDOWS, _pamap2.VAL_WINDOWS,
                               _pamap2.WINDOW_INPUT_SIZE, 3.0e-3, 800, 1.0, 0.25, 10))
