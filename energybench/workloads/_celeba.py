"""What the CelebA workloads share: the data section, ResNet18 with identity and/or attribute heads."""

from __future__ import annotations

from typing import Any


def splits(data: Any, need_identities: bool) -> Any:
    """The images and labels of a run's ``data`` section (object or JSON form), decoded once per process."""
    from ..worker.tasks import celeba_splits

    get = data.get if isinstance(data, dict) else lambda k, d=None: getattr(data, k, d)
    size = get("image_size_px")
    size = tuple(size) if isinstance(size, list) else size  # hashable for the cache
    return celeba_splits(str(get("path")), int(get("identities")), size, get("max_images"), need_identities)


def _heads(s: Any, heads: tuple[str, ...]) -> dict[str, int]:
    sizes = {"identity": len(s.identity_ids), "attributes": len(s.attribute_names)}
    return {h: sizes[h] for h in heads}


def task(name: str, monitor: str | None, spec: Any, device: Any, heads: tuple[str, ...]) -> Any:
    """ResNet18 (the data section's weights) + ``heads`` on ``device``; loss alpha-weighted when both."""
    import torch

    from ..worker import models
    from ..worker.tasks import CelebaTask

    s = splits(spec.data, "identity" in heads)
    model = models.CelebaNet(models.build_resnet18(spec.data.weights), _heads(s, heads))
    train = tuple(torch.from_numpy(a) for a in s.train)
    val = tuple(torch.from_numpy(a) for a in s.val)
    return CelebaTask(name, model, train, val, device, alpha=spec.training.multitask_alpha,
                      loader=spec.loader, workers=spec.loader_workers, monitor=monitor)


def model(data: dict[str, Any], heads: tuple[str, ...]) -> tuple[Any, Any, tuple[int, int]]:
    """(ResNet18 + heads without weights, example image, sample counts) for the estimators."""
    import torch

    from ..worker import models

    s = splits(data, "identity" in heads)
    net = models.CelebaNet(models.build_resnet18("none"), _heads(s, heads))
    return net, torch.zeros(1, 3, *s.image_hw), (len(s.train[0]), len(s.val[0]))


#: The synthetic generator's shared figures for the CelebA models.
IMAGE_INPUT_SIZE = 3 * 128 * 128
TRAIN_IMAGES, VAL_IMAGES = 990, 124
