"""Tasks: what one paradigm trains, the seam between the training loop and models/data.

A :class:`Task` owns the model, the resident data and the loss; the loop in
:mod:`.train` only asks it for batches, losses and an evaluation.

* ``pamap2-baseline``: encoder + classifier, cross-entropy.
* ``pamap2-autoencoder``: encoder + decoder, MSE on the normalised window;
  monitors ``val_loss`` (accuracy None); saves the encoder for the next stage.
* ``pamap2-frozen``: the autoencoder's encoder, frozen (no gradients, not in
  the optimiser, always in eval mode) + a new classifier.
* ``pamap2-unfrozen``: the same encoder, fine-tuned with the classifier.
* ``celeba-identity``: ResNet18 + head, 40-way cross-entropy; top-1 accuracy.
* ``celeba-attributes``: ResNet18 + head, 40 binary cross-entropies (with
  logits); accuracy = mean per-attribute accuracy (logit > 0).
* ``celeba-multitask``: one ResNet18, both heads, loss = alpha * L_attr +
  (1 - alpha) * L_id (alpha = ``training.multitask_alpha``). The accuracy the
  threshold watches is the identity top-1 accuracy, the harder of the two
  (attribute accuracy starts near 0.8 from class priors alone); both
  accuracies are in :attr:`Task.last_metrics`.

Data stay resident on the device (when a split takes less than a quarter of
the free GPU memory; pinned host memory otherwise); each epoch indexes them
with a fresh permutation. Images stay uint8 and are normalised per batch with
the ImageNet mean and standard deviation.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import WorkerError
from ..paradigms import PARADIGMS
from ..paths import atomic_path
from ..plan import RunSpec
from . import models

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _resident(t: Tensor, device: torch.device) -> Tensor:
    """``t`` on ``device`` if it fits comfortably, else in pinned host memory."""
    if device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(device)
        if t.numel() * t.element_size() > free_bytes // 4:
            return t.pin_memory()
    return t.to(device)


class Task:
    """One paradigm's model, data and loss (see the module docstring)."""

    monitor: str  # "val_accuracy" or "val_loss"
    model: nn.Module
    example_input: Tensor  # [1, ...] on the device, for MACs
    n_train: int
    n_val: int

    def __init__(self, paradigm: str, model: nn.Module, train: tuple[Tensor, ...],
                 val: tuple[Tensor, ...], device: torch.device,
                 frozen: tuple[nn.Module, ...] = ()) -> None:
        self.paradigm = paradigm
        self.monitor = PARADIGMS[paradigm].monitor
        self.device = device
        self.model = model.to(device)
        self._frozen = frozen
        for module in frozen:
            module.requires_grad_(False)
            module.eval()
        self._train = tuple(_resident(t, device) for t in train)
        self._val = tuple(_resident(t, device) for t in val)
        self.n_train, self.n_val = len(train[0]), len(val[0])
        self.example_input = self._prepare(self._train[0][:1].to(device))
        self.last_metrics: dict[str, float] = {}  # every metric of the last evaluation

    # -- hooks for the families -------------------------------------------------------------
    def _prepare(self, x: Tensor) -> Tensor:
        """A batch of inputs as the model takes it."""
        return x

    def _metrics(self, x: Tensor, target: Any) -> dict[str, Tensor]:
        """Sums over the batch: "loss" (mean loss x batch size) and any accuracies."""
        raise NotImplementedError

    def loss(self, x: Tensor, y: Any) -> Tensor:
        """Forward pass and the scalar training loss of one batch."""
        raise NotImplementedError

    def save_artifacts(self, encoder_path: Path) -> None:
        """Persist what a later stage needs (only the autoencoder has something)."""

    # -- shared -----------------------------------------------------------------------------
    def parameters_to_train(self) -> list[nn.Parameter]:
        """Parameters the optimiser updates (a frozen encoder's are excluded)."""
        return [p for p in self.model.parameters() if p.requires_grad]

    def set_train_mode(self) -> None:
        """Training mode, except for frozen modules (their BatchNorm statistics stay fixed)."""
        self.model.train()
        for module in self._frozen:
            module.eval()

    def _batches(self, data: tuple[Tensor, ...], order: Tensor,
                 batch_size: int) -> Iterator[tuple[Tensor, Any]]:
        n = len(order)
        starts = list(range(0, n, batch_size))
        if len(starts) > 1 and n - starts[-1] == 1:
            starts.pop()  # a last batch of one sample joins the previous one (BatchNorm)
        ends = [*starts[1:], n]
        order = order.to(data[0].device)
        for start, end in zip(starts, ends):
            idx = order[start:end]
            parts = [t[idx].to(self.device, non_blocking=True) for t in data]
            target = parts[1] if len(parts) == 2 else tuple(parts[1:])
            yield self._prepare(parts[0]), target

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Any]]:
        """One epoch of training batches in a fresh random order (drawn from ``generator``)."""
        return self._batches(self._train, torch.randperm(self.n_train, generator=generator),
                             batch_size)

    def val_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Any]]:
        """The validation split in order."""
        return self._batches(self._val, torch.arange(self.n_val), batch_size)

    def evaluate(self, batch_size: int) -> tuple[float, float | None]:
        """(mean validation loss, validation accuracy 0..1 or None), in eval mode, no gradients."""
        self.model.eval()
        sums: dict[str, Tensor] = {}
        with torch.no_grad():
            for x, target in self.val_batches(batch_size):
                for k, v in self._metrics(x, target).items():
                    sums[k] = sums[k] + v if k in sums else v
        n = max(self.n_val, 1)
        self.last_metrics = {k: float(v.item()) / n for k, v in sums.items()}
        return self.last_metrics.get("loss", float("nan")), self.last_metrics.get("accuracy")


# --- PAMAP2 ------------------------------------------------------------------------------

class Pamap2ClassifierTask(Task):
    """Encoder + classifier on activity windows (baseline, frozen, unfrozen)."""

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self.model(x), y)

    def _metrics(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        logits = self.model(x)
        return {"loss": F.cross_entropy(logits, y, reduction="sum"),
                "accuracy": (logits.argmax(1) == y).sum().float()}


class Pamap2AutoencoderTask(Task):
    """Reconstruction of the normalised window; the encoder is this stage's product."""

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(self.model(x), x)

    def _metrics(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        per_sample = F.mse_loss(self.model(x), x, reduction="none").flatten(1).mean(1)
        return {"loss": per_sample.sum()}

    def save_artifacts(self, encoder_path: Path) -> None:
        """Write the encoder's state dict atomically (the frozen/unfrozen runs load it)."""
        state = {k: v.detach().cpu() for k, v in self.model.encoder.state_dict().items()}
        with atomic_path(Path(encoder_path)) as tmp:
            torch.save(state, tmp)


# --- CelebA ------------------------------------------------------------------------------

class CelebaTask(Task):
    """ResNet18 with an identity head, an attribute head, or both (multitask)."""

    def __init__(self, paradigm: str, model: nn.Module, train: tuple[Tensor, ...],
                 val: tuple[Tensor, ...], device: torch.device, alpha: float) -> None:
        self._mean_255 = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self._std_255 = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
        self.alpha = alpha
        super().__init__(paradigm, model, train, val, device)

    def _prepare(self, x: Tensor) -> Tensor:
        return (x.float() - self._mean_255) / self._std_255

    def _losses(self, out: dict[str, Tensor], target: tuple[Tensor, Tensor],
                reduction: str) -> Tensor:
        identity, attributes = target
        loss_id = F.cross_entropy(out["identity"], identity, reduction=reduction) \
            if "identity" in out else None
        loss_attr = None
        if "attributes" in out:
            loss_attr = F.binary_cross_entropy_with_logits(
                out["attributes"], attributes, reduction="none").mean(1)
            loss_attr = loss_attr.sum() if reduction == "sum" else loss_attr.mean()
        if loss_id is not None and loss_attr is not None:
            return self.alpha * loss_attr + (1 - self.alpha) * loss_id
        return loss_id if loss_id is not None else loss_attr  # type: ignore[return-value]

    def loss(self, x: Tensor, y: tuple[Tensor, Tensor]) -> Tensor:
        return self._losses(self.model(x), y, "mean")

    def _metrics(self, x: Tensor, y: tuple[Tensor, Tensor]) -> dict[str, Tensor]:
        out = self.model(x)
        m = {"loss": self._losses(out, y, "sum")}
        if "identity" in out:
            m["identity_accuracy"] = (out["identity"].argmax(1) == y[0]).sum().float()
        if "attributes" in out:
            hits = ((out["attributes"] > 0).float() == y[1]).float().mean(1)
            m["attribute_accuracy"] = hits.sum()
        m["accuracy"] = m.get("identity_accuracy", m.get("attribute_accuracy"))
        return m


# --- building ----------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _pamap2(path: str, window_samples: int, stride_samples: int, max_windows: int | None) -> Any:
    from .data.pamap2 import load_pamap2

    return load_pamap2(Path(path), window_samples=window_samples, stride_samples=stride_samples,
                       max_windows=max_windows)


@functools.lru_cache(maxsize=2)
def _celeba(path: str, identities: int, image_size_px: int, max_images: int | None) -> Any:
    from .data.celeba import load_celeba

    return load_celeba(Path(path), identities=identities, image_size_px=image_size_px,
                       max_images=max_images)


def _load_encoder(encoder: nn.Module, encoder_path: Path | None, paradigm: str) -> None:
    if encoder_path is None:
        raise WorkerError(f"{paradigm} needs the encoder of its pamap2-autoencoder run, "
                          f"but no encoder path was given")
    try:
        state = torch.load(encoder_path, map_location="cpu", weights_only=True)
        encoder.load_state_dict(state)
    except FileNotFoundError:
        raise WorkerError(f"{encoder_path}: encoder missing; the pamap2-autoencoder run of this "
                          f"setup must complete first") from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise WorkerError(f"{encoder_path}: not a usable encoder: "
                          f"{str(exc).splitlines()[0]}") from None


def build_task(spec: RunSpec, device: torch.device, encoder_path: Path | None = None) -> Task:
    """The task of ``spec.paradigm``, with its data loaded from ``spec.data`` onto ``device``."""
    if spec.paradigm not in PARADIGMS:
        raise WorkerError(f"unknown paradigm {spec.paradigm!r}; known: {', '.join(PARADIGMS)}")
    d = spec.data
    if PARADIGMS[spec.paradigm].dataset == "pamap2":
        s = _pamap2(str(d["path"]), int(d["window_samples"]), int(d["stride_samples"]),
                    d.get("max_windows"))
        train = (torch.from_numpy(s.train[0]), torch.from_numpy(s.train[1]))
        val = (torch.from_numpy(s.val[0]), torch.from_numpy(s.val[1]))
        channels = len(s.channels)
        if spec.paradigm == "pamap2-autoencoder":
            return Pamap2AutoencoderTask(spec.paradigm, models.Pamap2Autoencoder(channels),
                                         train, val, device)
        model = models.Pamap2Classifier(channels, s.n_classes)
        frozen: tuple[nn.Module, ...] = ()
        if spec.paradigm in ("pamap2-frozen", "pamap2-unfrozen"):
            _load_encoder(model.encoder, encoder_path, spec.paradigm)
            if spec.paradigm == "pamap2-frozen":
                frozen = (model.encoder,)
        return Pamap2ClassifierTask(spec.paradigm, model, train, val, device, frozen)

    s = _celeba(str(d["path"]), int(d["identities"]), int(d["image_size_px"]), d.get("max_images"))
    n_ids, n_attrs = len(s.identity_ids), len(s.attribute_names)
    heads = {"celeba-identity": {"identity": n_ids}, "celeba-attributes": {"attributes": n_attrs},
             "celeba-multitask": {"identity": n_ids, "attributes": n_attrs}}[spec.paradigm]
    model = models.CelebaNet(models.build_resnet18(str(d.get("weights", "imagenet"))), heads)
    train = tuple(torch.from_numpy(a) for a in s.train)
    val = tuple(torch.from_numpy(a) for a in s.val)
    return CelebaTask(spec.paradigm, model, train, val, device,
                      alpha=float(spec.training.get("multitask_alpha", 0.5)))
