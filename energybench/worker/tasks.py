"""Tasks: what one run trains, the seam between the training loop and models/data.

A :class:`Task` owns the model, the resident data and the loss; the loop in
:mod:`.train` only asks it for batches, losses and an evaluation. The
workloads (``energybench.workloads``) build them; the families here are:

* :class:`ClassifierTask`: any model giving logits, cross-entropy and top-1
  accuracy (what a third-party classification workload builds).
* :class:`Pamap2ClassifierTask`: encoder + classifier, cross-entropy; an
  encoder given as ``frozen`` gets no gradients, stays out of the optimiser
  and in eval mode.
* :class:`Pamap2AutoencoderTask`: encoder + decoder, MSE on the normalised
  window; its encoder is saved for the runs that train on it.
* :class:`CelebaTask`: ResNet18 with an identity head (40-way cross-entropy,
  top-1 accuracy), an attribute head (40 binary cross-entropies with logits;
  accuracy = mean per-attribute accuracy, logit > 0) or both (loss = alpha *
  L_attr + (1 - alpha) * L_id). With both heads the accuracy the threshold
  watches is the identity top-1 accuracy, the harder of the two (attribute
  accuracy starts near 0.8 from class priors alone); both accuracies are in
  :attr:`Task.last_metrics`.

The input pipeline is the config's ``data.loader``:

* ``resident`` (default): every split stays on the device (when it takes less
  than a quarter of the free GPU memory; pinned host memory otherwise) and
  each epoch indexes it with a fresh permutation: no host-to-device copies,
  no loader stalls.
* ``dataloader``: the splits stay in host memory and a torch ``DataLoader``
  (worker processes from the job's CPUs, pinned memory on CUDA) collates each
  batch and copies it to the device, what a practitioner writes and what the
  study's "less energy is wasted for GPU idling" is about.

Both draw the same permutation from the run's generator and cut it into the
same batches, so they train on identical batches in identical order. Images
stay uint8 and are normalised per batch with the ImageNet mean and standard
deviation.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..errors import WorkerError
from ..paths import atomic_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


#: Most DataLoader workers picked from the job's CPUs (more rarely help a single GPU).
MAX_LOADER_WORKERS = 16


def job_cpus() -> int:
    """CPUs this process may run on (the SLURM allocation shows in the affinity mask)."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not Linux
        return os.cpu_count() or 1


def loader_workers(requested: int | None) -> int:
    """DataLoader worker processes: ``requested``, else the job's CPUs minus the training process."""
    if requested is not None:
        return requested
    return max(0, min(MAX_LOADER_WORKERS, job_cpus() - 1))


def batch_bounds(n: int, batch_size: int) -> list[tuple[int, int]]:
    """(start, end) of each batch of ``n`` samples; a last batch of one joins the previous one (BatchNorm)."""
    starts = list(range(0, n, batch_size))
    if len(starts) > 1 and n - starts[-1] == 1:
        starts.pop()
    return list(zip(starts, [*starts[1:], n]))


class _OrderBatches:
    """A batch sampler over an order set before each epoch (one DataLoader, persistent workers)."""

    def __init__(self) -> None:
        self.order: list[int] = []
        self.batch_size = 1

    def __iter__(self) -> Iterator[list[int]]:
        for start, end in batch_bounds(len(self.order), self.batch_size):
            yield self.order[start:end]

    def __len__(self) -> int:
        return len(batch_bounds(len(self.order), self.batch_size))


class _Loader:
    """A torch DataLoader over host tensors, fed the task's order and batch size each epoch."""

    def __init__(self, data: tuple[Tensor, ...], workers: int, pin_memory: bool) -> None:
        from torch.utils.data import DataLoader, TensorDataset

        self.sampler = _OrderBatches()
        # Its own generator: the seed DataLoader draws per epoch for its workers would otherwise come from
        # torch's global RNG and shift the dropout masks, so the two pipelines would train differently.
        self.loader = DataLoader(TensorDataset(*data), batch_sampler=self.sampler, num_workers=workers,
                                 pin_memory=pin_memory, persistent_workers=workers > 0,
                                 generator=torch.Generator().manual_seed(0))

    def batches(self, order: Tensor, batch_size: int) -> Iterator[list[Tensor]]:
        self.sampler.order, self.sampler.batch_size = order.tolist(), batch_size
        return iter(self.loader)


def _resident(t: Tensor, device: torch.device) -> Tensor:
    """``t`` on ``device`` if it fits comfortably, else in pinned host memory."""
    if device.type == "cuda":
        free_bytes, _ = torch.cuda.mem_get_info(device)
        if t.numel() * t.element_size() > free_bytes // 4:
            return t.pin_memory()
    return t.to(device)


class Task:
    """One run's model, data and loss (see the module docstring)."""

    monitor: str | None  # "val_accuracy", "val_loss" or None (no early stopping)
    model: nn.Module
    example_input: Tensor  # [1, ...] on the device, for MACs
    n_train: int
    n_val: int

    def __init__(self, paradigm: str, model: nn.Module, train: tuple[Tensor, ...],
                 val: tuple[Tensor, ...], device: torch.device,
                 frozen: tuple[nn.Module, ...] = (), loader: str = "resident",
                 workers: int | None = None, monitor: str | None = "val_accuracy") -> None:
        self.paradigm = paradigm
        self.monitor = monitor
        self.device = device
        self.model = model.to(device)
        self._frozen = frozen
        for module in frozen:
            module.requires_grad_(False)
            module.eval()
        if loader not in ("resident", "dataloader"):
            raise WorkerError(f"data.loader {loader!r} is not one of 'resident', 'dataloader'")
        self.loader = loader
        self._loaders: dict[str, _Loader] = {}
        if loader == "dataloader":  # host memory; the DataLoader copies each batch
            self.loader_workers = loader_workers(workers)
            self._train, self._val = tuple(train), tuple(val)
            pin = device.type == "cuda"
            self._loaders = {"train": _Loader(self._train, self.loader_workers, pin),
                             "val": _Loader(self._val, self.loader_workers, pin)}
        else:
            self.loader_workers = 0
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

    def _batches(self, split: str, order: Tensor, batch_size: int) -> Iterator[tuple[Tensor, Any]]:
        data = self._train if split == "train" else self._val
        if split in self._loaders:
            chunks: Iterator[list[Tensor]] = self._loaders[split].batches(order, batch_size)
        else:
            order = order.to(data[0].device)
            chunks = ([t[order[start:end]] for t in data] for start, end in batch_bounds(len(order), batch_size))
        for chunk in chunks:
            parts = [t.to(self.device, non_blocking=True) for t in chunk]
            target = parts[1] if len(parts) == 2 else tuple(parts[1:])
            yield self._prepare(parts[0]), target

    def train_batches(self, batch_size: int, generator: torch.Generator) -> Iterator[tuple[Tensor, Any]]:
        """One epoch of training batches in a fresh random order (drawn from ``generator``)."""
        return self._batches("train", torch.randperm(self.n_train, generator=generator), batch_size)

    def val_batches(self, batch_size: int) -> Iterator[tuple[Tensor, Any]]:
        """The validation split in order."""
        return self._batches("val", torch.arange(self.n_val), batch_size)

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

class ClassifierTask(Task):
    """Any classifier: the model maps a batch to logits, the targets are class indices.

    Cross-entropy loss, top-1 accuracy; what a third-party workload builds for a
    plain classification model (``Task(name, model, train, val, device, ...)``).
    """

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.cross_entropy(self.model(x), y)

    def _metrics(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        logits = self.model(x)
        return {"loss": F.cross_entropy(logits, y, reduction="sum"),
                "accuracy": (logits.argmax(1) == y).sum().float()}


class Pamap2ClassifierTask(ClassifierTask):
    """Encoder + classifier on activity windows (baseline, frozen, unfrozen)."""


class Pamap2AutoencoderTask(Task):
    """Reconstruction of the normalised window; the encoder is this stage's product."""

    def loss(self, x: Tensor, y: Tensor) -> Tensor:
        return F.mse_loss(self.model(x), x)

    def _metrics(self, x: Tensor, y: Tensor) -> dict[str, Tensor]:
        per_sample = F.mse_loss(self.model(x), x, reduction="none").flatten(1).mean(1)
        return {"loss": per_sample.sum()}

    def save_artifacts(self, encoder_path: Path) -> None:
        """Write the encoder's state dict atomically (the frozen/unfrozen runs load it)."""
        save_encoder(self.model.encoder, encoder_path)


# --- CelebA ------------------------------------------------------------------------------

class CelebaTask(Task):
    """ResNet18 with an identity head, an attribute head, or both (multitask)."""

    def __init__(self, paradigm: str, model: nn.Module, train: tuple[Tensor, ...],
                 val: tuple[Tensor, ...], device: torch.device, alpha: float, loader: str = "resident",
                 workers: int | None = None, monitor: str | None = "val_accuracy") -> None:
        self._mean_255 = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
        self._std_255 = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
        self.alpha = alpha
        super().__init__(paradigm, model, train, val, device, loader=loader, workers=workers, monitor=monitor)

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


# --- data the families share (decoded once per process) ----------------------------------

@functools.lru_cache(maxsize=2)
def pamap2_splits(path: str, window_samples: int, stride_samples: int, max_windows: int | None) -> Any:
    """The PAMAP2 windows of a data section, cached per process (a worker may build several tasks)."""
    from .data.pamap2 import load_pamap2

    return load_pamap2(Path(path), window_samples=window_samples, stride_samples=stride_samples,
                       max_windows=max_windows)


@functools.lru_cache(maxsize=2)
def celeba_splits(path: str, identities: int, image_size_px: str | int | tuple[int, int], max_images: int | None,
                  need_identities: bool = True) -> Any:
    """The CelebA images and labels of a data section, cached per process."""
    from .data.celeba import load_celeba

    return load_celeba(Path(path), identities=identities, image_size_px=image_size_px,
                       max_images=max_images, need_identities=need_identities)


def load_encoder(encoder: nn.Module, encoder_path: Path | None, workload: str, upstream: str) -> None:
    """Load the encoder an upstream run left (its state dict) into ``encoder``; one-line errors."""
    if encoder_path is None:
        raise WorkerError(f"{workload} needs the encoder of its {upstream} run, but no encoder path was given")
    try:
        state = torch.load(encoder_path, map_location="cpu", weights_only=True)
        encoder.load_state_dict(state)
    except FileNotFoundError:
        raise WorkerError(f"{encoder_path}: encoder missing; the {upstream} run of this "
                          f"setup must complete first") from None
    except (RuntimeError, OSError, ValueError) as exc:
        raise WorkerError(f"{encoder_path}: not a usable encoder: "
                          f"{str(exc).splitlines()[0]}") from None


def save_encoder(encoder: nn.Module, encoder_path: Path) -> None:
    """Write ``encoder``'s state dict atomically (the runs that train on it load it)."""
    state = {k: v.detach().cpu() for k, v in encoder.state_dict().items()}
    with atomic_path(Path(encoder_path)) as tmp:
        torch.save(state, tmp)
