"""What the PAMAP2 workloads share: their data section, the classifier and its encoder."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def splits(data: Any) -> Any:
    """The windows of a run's ``data`` section (an object or its JSON form), decoded once per process."""
    from ..worker.tasks import pamap2_splits

    get = data.get if isinstance(data, dict) else lambda k, d=None: getattr(data, k, d)
    return pamap2_splits(str(get("path")), int(get("window_samples")), int(get("stride_samples")),
                         get("max_windows"))


def tensors(s: Any) -> tuple[tuple[Any, Any], tuple[Any, Any]]:
    import torch

    return ((torch.from_numpy(s.train[0]), torch.from_numpy(s.train[1])),
            (torch.from_numpy(s.val[0]), torch.from_numpy(s.val[1])))


def classifier_task(name: str, monitor: str | None, spec: Any, device: Any, encoder_from: Path | None = None,
                    upstream: str | None = None, frozen: bool = False) -> Any:
    """Encoder + classifier on activity windows; the encoder loaded from ``encoder_from`` (and frozen) if given."""
    from ..worker import models
    from ..worker.tasks import Pamap2ClassifierTask, load_encoder

    s = splits(spec.data)
    train, val = tensors(s)
    model = models.Pamap2Classifier(len(s.channels), s.n_classes)
    if upstream is not None:
        load_encoder(model.encoder, encoder_from, name, upstream)
    return Pamap2ClassifierTask(name, model, train, val, device, (model.encoder,) if frozen else (),
                                loader=spec.loader, workers=spec.loader_workers, monitor=monitor)


def classifier_model(data: dict[str, Any], frozen: bool = False) -> tuple[Any, Any, tuple[int, int]]:
    """(classifier, example window, sample counts) for the estimators."""
    import torch

    from ..worker import models

    s = splits(data)
    model = models.Pamap2Classifier(len(s.channels), s.n_classes)
    if frozen:
        model.encoder.requires_grad_(False)
    return model, torch.zeros(1, len(s.channels), int(data["window_samples"])), (len(s.train[0]), len(s.val[0]))


#: The synthetic generator's shared figures for the PAMAP2 models (see energybench.estimate.synthetic).
WINDOW_INPUT_SIZE = 28 * 256
TRAIN_WINDOWS, VAL_WINDOWS = 11_500, 1_900
