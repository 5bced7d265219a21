"""``tiny-cnn``: an example third-party energybench workload (registered by an entry point).

A small CNN made of torchvision building blocks (``Conv2dNormActivation``),
trained to classify generated 32 x 32 colour images into 10 classes. The
grid axis ``width`` (``grid.params: {width: [8, 16]}``) sets its channels.

This module is imported wherever a config is validated (a login node, say):
it declares the workload with plain attributes and imports torch and
torchvision only inside :meth:`TinyCnn.build` and :meth:`TinyCnn.build_model`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from energybench.workloads import Param, Workload

__version__ = "0.1.0"

#: Images per split, classes, side in pixels; the data seed (the same images for every run).
N_TRAIN, N_VAL, CLASSES, SIZE, DATA_SEED = 400, 200, 10, 32, 1234


@dataclass(frozen=True)
class TinyCnn(Workload):
    """The workload: its declaration is the dataclass fields, its behaviour these two methods."""

    def build(self, spec: Any, device: Any, upstream: Any) -> Any:
        """The task of one run: the CNN at this grid point's ``width``, the generated images on ``device``."""
        from energybench.worker.tasks import ClassifierTask

        from . import data, model

        width = int(spec.params.get("width", self.params["width"].default))
        train, val = data.images(N_TRAIN, N_VAL, CLASSES, SIZE, DATA_SEED)
        return ClassifierTask(self.name, model.tiny_cnn(width, CLASSES), train, val, device,
                              loader=spec.loader, workers=spec.loader_workers, monitor=self.monitor)

    def build_model(self, data: Any) -> tuple[Any, Any, tuple[int, int]]:
        """For the estimators: (model, an example input of one sample, (training, validation) samples)."""
        import torch

        from . import model

        width = int((data or {}).get("width", self.params["width"].default))
        return model.tiny_cnn(width, CLASSES), torch.zeros(1, 3, SIZE, SIZE), (N_TRAIN, N_VAL)


WORKLOAD = TinyCnn(
    name="tiny-cnn",
    doc="example package: torchvision Conv2dNormActivation CNN on generated 32x32 images, 10 classes",
    dataset=None,  # it brings its own data: no data: section needed
    monitor="val_accuracy",
    params={"width": Param("int", 16, "channels of the first conv block (doubled in the second)")},
)
